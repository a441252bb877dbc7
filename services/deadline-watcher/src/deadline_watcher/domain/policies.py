"""Escalation policies: named ladders of stages, read from configuration.

A policy is a list of stages. Each stage has an offset from the deadline's due time, an audience
role and optionally a repetition. Exactly one stage is the breach, named `breach`: it sits at the
due time itself and is a fact (`deadline.breached`), not a reminder.

Offsets are written as text: `-60d` (calendar days), `+2bd` (business days, 開庁日), `-3h`
(hours), `-90min` / `-30s` (minutes, seconds: for tight SLAs and tests). Day offsets move the
JST date of the due time and keep its JST time of day, unless the stage names another time of
day with `at` ("09:00", JST). Configuration shape (JSON; see docs/deadline-watcher.md):

    {"my_policy": {"description": "...", "stages": [
        {"name": "reminder", "offset": "-1bd", "at": "09:00", "role": "queue"},
        {"name": "breach", "role": "desk_manager", "repeat": {"every": "1bd", "at": "09:00"}},
        {"name": "escalate", "offset": "+2bd", "at": "09:00", "role": "section_chief"}]}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from typing import Any

from mynaflow.contracts.deadlines import Role
from pydantic import BaseModel, ConfigDict, Field, ValidationError

BREACH_STAGE = "breach"

_OFFSET_PATTERN = re.compile(r"^\s*([+-]?\d+)\s*(bd|d|h|min|s)?\s*$")


class PolicyConfigError(ValueError):
    """The configured policies are not usable; the message says which policy and why."""


class OffsetUnit(StrEnum):
    CALENDAR_DAYS = "d"
    BUSINESS_DAYS = "bd"
    HOURS = "h"
    MINUTES = "min"
    SECONDS = "s"

    @property
    def counts_days(self) -> bool:
        return self in (OffsetUnit.CALENDAR_DAYS, OffsetUnit.BUSINESS_DAYS)

    @property
    def seconds(self) -> int:
        """Length of one unit for the fixed-length units (hours, minutes, seconds)."""
        return {OffsetUnit.HOURS: 3600, OffsetUnit.MINUTES: 60, OffsetUnit.SECONDS: 1}[self]


@dataclass(frozen=True)
class Offset:
    amount: int
    unit: OffsetUnit

    @classmethod
    def parse(cls, text: str) -> Offset:
        """`"-60d"`, `"+2bd"`, `"-3h"`, `"90min"`, `"-30s"`; a bare `"0"` is zero."""
        match = _OFFSET_PATTERN.match(text)
        if match is None:
            raise ValueError(f"not an offset (like -60d, +2bd, -3h, 90min, -30s): {text!r}")
        amount, unit = match.groups()
        if unit is None and int(amount) != 0:
            raise ValueError(f"an offset other than 0 needs a unit (d, bd, h, min, s): {text!r}")
        return cls(int(amount), OffsetUnit(unit or "s"))

    def __str__(self) -> str:
        return f"{self.amount:+d}{self.unit.value}"


ZERO = Offset(0, OffsetUnit.SECONDS)


@dataclass(frozen=True)
class Repeat:
    """Fire the stage again every `every` until the deadline is cleared (or `max_repetitions`)."""

    every: Offset
    at_time: time | None = None
    max_repetitions: int | None = None


@dataclass(frozen=True)
class StageRule:
    name: str
    role: Role
    offset: Offset = ZERO
    # JST time of day for day offsets; None keeps the due time's own time of day.
    at_time: time | None = None
    repeat: Repeat | None = None

    @property
    def is_breach(self) -> bool:
        return self.name == BREACH_STAGE


@dataclass(frozen=True)
class Policy:
    name: str
    stages: tuple[StageRule, ...]
    description: str = ""

    @property
    def breach(self) -> StageRule:
        return next(stage for stage in self.stages if stage.is_breach)

    def stage(self, name: str) -> StageRule:
        return next(stage for stage in self.stages if stage.name == name)


def breach_only(name: str) -> Policy:
    """A stand-in for a policy no longer configured: just the breach (role queue)."""
    return Policy(name, (StageRule(BREACH_STAGE, "queue"),), "no longer configured")


# --- configuration --------------------------------------------------------------------------
class _RepeatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every: str
    at: str | None = None
    max: int | None = Field(default=None, ge=1)


class _StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    role: Role
    offset: str = "0"
    at: str | None = None
    repeat: _RepeatConfig | None = None


class _PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    stages: list[_StageConfig] = Field(min_length=1)


def _parse_time_of_day(text: str | None) -> time | None:
    if text is None:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"not a time of day (HH:MM): {text!r}") from error


def _stage_from_config(config: _StageConfig) -> StageRule:
    offset = Offset.parse(config.offset)
    at_time = _parse_time_of_day(config.at)
    repeat = None
    if config.repeat is not None:
        every = Offset.parse(config.repeat.every)
        repeat_at = _parse_time_of_day(config.repeat.at)
        _check_repeat(config.name, every, repeat_at)
        repeat = Repeat(every, repeat_at, config.repeat.max)
    _check_time_of_day(config.name, offset, at_time)
    return StageRule(config.name, config.role, offset, at_time, repeat)


def _check_repeat(stage: str, every: Offset, at_time: time | None) -> None:
    if every.amount <= 0:
        raise ValueError(f"stage {stage!r}: repeat.every must be positive, got {every}")
    if at_time is not None and not every.unit.counts_days:
        raise ValueError(f"stage {stage!r}: repeat.at needs a day unit (d, bd), got {every}")


def _check_time_of_day(stage: str, offset: Offset, at_time: time | None) -> None:
    if at_time is not None and not offset.unit.counts_days and offset.amount != 0:
        raise ValueError(f"stage {stage!r}: 'at' needs a day offset (d, bd), got {offset}")
    if stage == BREACH_STAGE and (offset.amount != 0 or at_time is not None):
        raise ValueError("the breach stage is the due time itself: no offset and no 'at'")


def _check_stage_names(stages: tuple[StageRule, ...]) -> None:
    names = [stage.name for stage in stages]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"stage names must be unique, repeated: {duplicates}")
    if names.count(BREACH_STAGE) != 1:
        raise ValueError(f"a policy needs exactly one stage named {BREACH_STAGE!r}")


def policy_from_config(name: str, raw: Mapping[str, Any]) -> Policy:
    """One policy from its configuration mapping; raises `PolicyConfigError` saying why not."""
    try:
        config = _PolicyConfig.model_validate(raw)
        stages = tuple(_stage_from_config(stage) for stage in config.stages)
        # A zero offset without a unit parses as seconds; with 'at' it means "the due day".
        stages = tuple(_zero_day_offset_for_time_of_day(stage) for stage in stages)
        _check_stage_names(stages)
    except (ValidationError, ValueError) as error:
        raise PolicyConfigError(f"policy {name!r}: {error}") from error
    return Policy(name, stages, config.description)


def _zero_day_offset_for_time_of_day(stage: StageRule) -> StageRule:
    if stage.at_time is not None and not stage.offset.unit.counts_days:
        return StageRule(
            stage.name, stage.role, Offset(0, OffsetUnit.CALENDAR_DAYS), stage.at_time, stage.repeat
        )
    return stage


def policies_from_config(raw: Mapping[str, Any]) -> dict[str, Policy]:
    return {name: policy_from_config(name, value) for name, value in raw.items()}


# --- defaults (documented in docs/deadline-watcher.md) --------------------------------------
# These tables are data, not code: each ladder is the default of one obligation, and they look
# alike only because escalation ladders do. Their differences (offsets, roles, repeats) are the
# point, so keep them written out one by one rather than folded into a generator; a ward
# changes them through DEADLINE_POLICIES, not here.
DEFAULT_POLICY_CONFIG: dict[str, dict[str, Any]] = {
    "notice_sla": {
        "description": "A J-LIS notice must be processed by the end of its SLA business day.",
        "stages": [
            {"name": "due_tomorrow", "offset": "-1bd", "at": "09:00", "role": "queue"},
            {"name": "due_today", "offset": "0d", "at": "09:00", "role": "queue"},
            {
                "name": "breach",
                "role": "desk_manager",
                "repeat": {"every": "1bd", "at": "09:00"},
            },
            {"name": "escalate", "offset": "+2bd", "at": "09:00", "role": "section_chief"},
        ],
    },
    "chip_rewrite_90d": {
        "description": "継続利用: the chip must be rewritten within 90 days of the move-in filing.",
        "stages": [
            {"name": "resident_60d", "offset": "-60d", "at": "09:00", "role": "resident"},
            {"name": "resident_30d", "offset": "-30d", "at": "09:00", "role": "resident"},
            {"name": "resident_14d", "offset": "-14d", "at": "09:00", "role": "resident"},
            {"name": "desk_manager_7d", "offset": "-7d", "at": "09:00", "role": "desk_manager"},
            {"name": "breach", "role": "desk_manager"},
            {"name": "section_chief", "offset": "+2bd", "at": "09:00", "role": "section_chief"},
        ],
    },
    "surface_chip_same_day": {
        "description": "A surface print (券面記載) needs its chip rewrite the same day (Case 2).",
        "stages": [
            {"name": "chip_pending", "offset": "0d", "at": "16:00", "role": "assignee"},
            {"name": "breach", "role": "desk_manager"},
            {"name": "escalate", "offset": "+1bd", "at": "09:00", "role": "section_chief"},
        ],
    },
    "card_pickup": {
        "description": "A finished card waits for pickup until the end of the notice period.",
        "stages": [
            {"name": "resident_30d", "offset": "-30d", "at": "09:00", "role": "resident"},
            {"name": "resident_7d", "offset": "-7d", "at": "09:00", "role": "resident"},
            {"name": "breach", "role": "queue"},
            {"name": "follow_up", "offset": "+5bd", "at": "09:00", "role": "desk_manager"},
        ],
    },
    "card_renewal": {
        "description": "A card expires; renewal opens 3 months before.",
        "stages": [
            {"name": "resident_90d", "offset": "-90d", "at": "09:00", "role": "resident"},
            {"name": "resident_30d", "offset": "-30d", "at": "09:00", "role": "resident"},
            {"name": "resident_7d", "offset": "-7d", "at": "09:00", "role": "resident"},
            {"name": "breach", "role": "queue"},
        ],
    },
}


def default_policies() -> dict[str, Policy]:
    return policies_from_config(DEFAULT_POLICY_CONFIG)


def parse_policy_json(json_text: str) -> dict[str, Policy]:
    """Policies from a JSON object of name -> policy (no defaults added)."""
    try:
        raw = json.loads(json_text)
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"deadline policies are not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise PolicyConfigError("deadline policies must be a JSON object of name -> policy")
    return policies_from_config(raw)


def load_policies(*json_texts: str | None) -> dict[str, Policy]:
    """The defaults, with the policies of each JSON text added or replacing them, in order."""
    policies = default_policies()
    for json_text in json_texts:
        if json_text and json_text.strip():
            policies.update(parse_policy_json(json_text))
    return policies
