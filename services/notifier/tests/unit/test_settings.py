"""Unit tests of the notifier's settings: a relay CA that cannot be used stops the start, and an
empty path variable is "not set" (optional) or refused (required), never the working directory."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import certifi
import pytest
from notifier.app import smtp_config
from notifier.settings import NotifierSettings
from pydantic import ValidationError

pytestmark = pytest.mark.unit

# Any readable PEM bundle will do; this one ships with httpx's dependencies.
A_PEM_BUNDLE = Path(certifi.where())


@pytest.fixture(autouse=True)
def _no_smtp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states the variables it reads; none leak in from the shell running pytest."""
    for name in list(os.environ):
        if name.startswith(("SMTP_", "ROUTING_", "STAFF_", "LETTER")):
            monkeypatch.delenv(name)


def test_without_smtp_ca_file_the_system_cas_verify_the_relay() -> None:
    assert smtp_config(NotifierSettings(smtp_starttls=True)).ca_file is None


def test_smtp_ca_file_reaches_the_senders_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("SMTP_CA_FILE", str(A_PEM_BUNDLE))
    config = smtp_config(NotifierSettings())
    assert (config.starttls, config.ca_file) == (True, A_PEM_BUNDLE)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda folder: folder / "missing.pem", "No such file"),
        (lambda folder: folder, "Is a directory"),
        (lambda folder: write(folder / "ca.pem", "not a certificate\n"), "no certificate"),
        (lambda folder: write(folder / "empty.pem", ""), "no certificate"),
    ],
    ids=["missing", "a-directory", "not-pem", "empty"],
)
def test_an_smtp_ca_file_that_cannot_be_loaded_stops_the_settings_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make: Callable[[Path], Path], why: str
) -> None:
    path = make(tmp_path)
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("SMTP_CA_FILE", str(path))
    with pytest.raises(ValidationError, match=f"SMTP_CA_FILE={re.escape(str(path))} .*{why}"):
        NotifierSettings()


def test_an_smtp_ca_file_without_starttls_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CA would never be used, and the mail would go in clear text.
    monkeypatch.setenv("SMTP_CA_FILE", str(A_PEM_BUNDLE))
    with pytest.raises(ValidationError, match="SMTP_STARTTLS is off"):
        NotifierSettings()


@pytest.mark.parametrize("value", ["", "  "], ids=["empty", "blank"])
@pytest.mark.parametrize("starttls", ["true", "false"])
def test_an_empty_smtp_ca_file_means_the_system_cas_and_starts(
    monkeypatch: pytest.MonkeyPatch, value: str, starttls: str
) -> None:
    # `SMTP_CA_FILE=` is what a compose file or `${SMTP_CA_FILE:-}` gives when no CA is meant:
    # read as Path(".") it stopped the start ("a directory"), or ("without SMTP_STARTTLS").
    monkeypatch.setenv("SMTP_STARTTLS", starttls)
    monkeypatch.setenv("SMTP_CA_FILE", value)
    settings = NotifierSettings()
    assert settings.smtp_ca_file is None
    assert smtp_config(settings).ca_file is None


@pytest.mark.parametrize("variable", ["ROUTING_FILE", "STAFF_FILE"])
def test_an_empty_routing_or_staff_file_keeps_the_shipped_defaults(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "")
    assert getattr(NotifierSettings(), variable.lower()) is None


@pytest.mark.parametrize("variable", ["LETTERS_DIR", "LETTER_FONT_PATH"])
def test_an_empty_letters_dir_or_font_stops_the_settings_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # Required paths: an empty value would have put the letters (or looked for the font) in
    # the working directory.
    monkeypatch.setenv(variable, "")
    with pytest.raises(ValidationError, match=f"{variable} is empty"):
        NotifierSettings()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
