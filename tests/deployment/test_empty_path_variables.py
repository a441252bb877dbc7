"""An empty path variable, as compose files and Helm's `${VAR:-}`-style defaults give, in every
settings class of the project: "not set" for an optional path, refused for a required one.

The rule lives once, in `mynaflow.settings.SettingsBase`; this walks every service's class (and
the CLI's) so that a path setting added anywhere is held to it. Unit level: nothing is started.
"""

from __future__ import annotations

from pathlib import Path
from types import NoneType
from typing import get_args

import pytest
from card_registry.settings import CardRegistrySettings
from deadline_watcher.settings import DeadlineWatcherSettings
from mynaflow.settings import MynaflowSettings
from mynaflow_tools.cli.settings import CliSettings
from notice_intake.settings import NoticeIntakeSettings
from notifier.settings import NotifierSettings
from pydantic import ValidationError

pytestmark = pytest.mark.unit

SETTINGS_CLASSES: list[type[MynaflowSettings]] = [
    MynaflowSettings,
    NoticeIntakeSettings,
    CardRegistrySettings,
    DeadlineWatcherSettings,
    NotifierSettings,
    CliSettings,
]


def path_variables(settings_class: type[MynaflowSettings]) -> dict[str, bool]:
    """Each path setting's variable, and whether it is optional."""
    found = {}
    for name, field in settings_class.model_fields.items():
        kinds = get_args(field.annotation) or (field.annotation,)
        if Path in kinds:
            found[name.upper()] = NoneType in kinds
    return found


CASES = [
    pytest.param(cls, variable, optional, id=f"{cls.__name__}-{variable}")
    for cls in SETTINGS_CLASSES
    for variable, optional in path_variables(cls).items()
]


def test_the_walk_finds_the_path_settings_the_services_are_known_to_have() -> None:
    # Guards the walk itself: finding nothing would make every case below vacuous.
    assert path_variables(DeadlineWatcherSettings)["DEADLINE_POLICIES_FILE"] is True
    notifier = path_variables(NotifierSettings)
    assert {v: notifier[v] for v in ("SMTP_CA_FILE", "ROUTING_FILE", "STAFF_FILE")} == {
        "SMTP_CA_FILE": True,
        "ROUTING_FILE": True,
        "STAFF_FILE": True,
    }
    assert (notifier["LETTERS_DIR"], notifier["LETTER_FONT_PATH"]) == (False, False)
    assert path_variables(MynaflowSettings)["MIGRATIONS_DIR"] is True


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
@pytest.mark.parametrize(("settings_class", "variable", "optional"), CASES)
def test_an_empty_path_variable_is_unset_when_optional_and_refused_when_required(
    monkeypatch: pytest.MonkeyPatch,
    settings_class: type[MynaflowSettings],
    variable: str,
    optional: bool,
    value: str,
) -> None:
    for other in path_variables(settings_class):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, value)
    if optional:
        assert getattr(settings_class(), variable.lower()) is None
    else:
        with pytest.raises(ValidationError, match=f"{variable} is empty"):
            settings_class()
