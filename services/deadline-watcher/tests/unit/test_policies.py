"""Policies from configuration: defaults, the offset syntax, and what is refused."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest
from deadline_watcher.domain.policies import (
    DEFAULT_POLICY_CONFIG,
    Offset,
    OffsetUnit,
    PolicyConfigError,
    load_policies,
    policy_from_config,
)
from deadline_watcher.settings import DeadlineWatcherSettings

pytestmark = pytest.mark.unit


def test_the_five_default_policies_exist_and_each_has_one_breach() -> None:
    policies = load_policies()
    assert set(policies) == {
        "notice_sla",
        "chip_rewrite_90d",
        "surface_chip_same_day",
        "card_pickup",
        "card_renewal",
    }
    for policy in policies.values():
        assert [stage.name for stage in policy.stages].count("breach") == 1


def test_chip_rewrite_ladder_is_the_one_the_issue_asks_for() -> None:
    policy = load_policies()["chip_rewrite_90d"]
    ladder = [(stage.role, str(stage.offset)) for stage in policy.stages]
    assert ladder == [
        ("resident", "-60d"),
        ("resident", "-30d"),
        ("resident", "-14d"),
        ("desk_manager", "-7d"),
        ("desk_manager", "+0s"),
        ("section_chief", "+2bd"),
    ]
    assert policy.stage("section_chief").at_time == time(9, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-60d", Offset(-60, OffsetUnit.CALENDAR_DAYS)),
        ("+2bd", Offset(2, OffsetUnit.BUSINESS_DAYS)),
        ("-3h", Offset(-3, OffsetUnit.HOURS)),
        ("90min", Offset(90, OffsetUnit.MINUTES)),
        ("-30s", Offset(-30, OffsetUnit.SECONDS)),
        ("0", Offset(0, OffsetUnit.SECONDS)),
    ],
)
def test_offsets_parse(text: str, expected: Offset) -> None:
    assert Offset.parse(text) == expected


@pytest.mark.parametrize("text", ["-60", "2 weeks", "d", "+1.5h", ""])
def test_bad_offsets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        Offset.parse(text)


@pytest.mark.parametrize(
    ("stages", "why"),
    [
        ([{"name": "r", "offset": "-1d", "role": "queue"}], "exactly one stage named 'breach'"),
        (
            [{"name": "breach", "role": "queue"}, {"name": "breach", "role": "queue"}],
            "unique",
        ),
        ([{"name": "breach", "offset": "+1d", "role": "queue"}], "due time itself"),
        (
            [
                {"name": "r", "offset": "-3h", "at": "09:00", "role": "queue"},
                {"name": "breach", "role": "queue"},
            ],
            "day offset",
        ),
        ([{"name": "breach", "role": "mayor"}], "role"),
        (
            [{"name": "breach", "role": "queue", "repeat": {"every": "-1bd"}}],
            "positive",
        ),
    ],
)
def test_unusable_policies_are_refused_with_the_reason(stages: list[object], why: str) -> None:
    with pytest.raises(PolicyConfigError, match=why):
        policy_from_config("broken", {"stages": stages})


def test_configured_json_adds_and_replaces_policies() -> None:
    configured = {
        "notice_sla": {"stages": [{"name": "breach", "role": "queue"}]},
        "dog_licence": {"stages": [{"name": "breach", "role": "resident"}]},
    }
    policies = load_policies(json.dumps(configured))
    assert [stage.name for stage in policies["notice_sla"].stages] == ["breach"]
    assert "dog_licence" in policies
    assert "card_pickup" in policies


def test_default_configuration_is_valid_json_for_the_docs() -> None:
    assert load_policies(json.dumps(DEFAULT_POLICY_CONFIG)).keys() == load_policies().keys()


def test_policies_that_are_not_json_are_refused() -> None:
    with pytest.raises(PolicyConfigError, match="not valid JSON"):
        load_policies("{notice_sla:")


def test_settings_read_policies_from_the_variable_then_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = tmp_path / "policies.json"
    policy_file.write_text(
        json.dumps({"from_file": {"stages": [{"name": "breach", "role": "queue"}]}}),
        encoding="utf-8",
    )
    monkeypatch.setenv(
        "DEADLINE_POLICIES",
        json.dumps({"from_env": {"stages": [{"name": "breach", "role": "resident"}]}}),
    )
    monkeypatch.setenv("DEADLINE_POLICIES_FILE", str(policy_file))
    policies = DeadlineWatcherSettings().policies()
    assert {"from_env", "from_file", "notice_sla"} <= policies.keys()


def test_a_bad_configured_policy_stops_the_service_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEADLINE_POLICIES", json.dumps({"oops": {"stages": []}}))
    with pytest.raises(PolicyConfigError, match="oops"):
        DeadlineWatcherSettings().policies()
    monkeypatch.setenv("DEADLINE_POLICIES", "")
    monkeypatch.setenv("DEADLINE_POLICIES_FILE", "/nonexistent/policies.json")
    with pytest.raises(PolicyConfigError, match="DEADLINE_POLICIES_FILE"):
        DeadlineWatcherSettings().policies()
