"""The routing table: which template, to whom and over which channels, for each event.

A rule names an event `type` and optionally `when`: data fields that must equal given values
(for deadline events `policy`, `stage`, `role`; for receipts `kind`, ...). The most specific
matching rule wins (the most `when` fields; ties go to the later rule, so a configuration file
overrides the shipped defaults). `to` lists audience roles; for deadline events it defaults to
the stage's own `role`. `ignore` lists types that carry no message (heartbeats, scheduling
facts); anything else without a rule is *unrouted*: counted and logged by the caller, never
silently dropped.

Channels follow the audience (docs/notifier.md): residents get a letter always and email or SMS
where they gave one; staff and managers get email and webhook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notifier.domain.templates_catalogue import TEMPLATES

# Who a message goes to. The deadline roles, plus `staff` (the staff member named in the event:
# `staff_id`) and `all_desk_managers` (ward-wide alerts with no queue).
Audience = Literal[
    "resident", "queue", "assignee", "desk_manager", "section_chief", "staff", "all_desk_managers"
]
RESIDENT_AUDIENCES: frozenset[str] = frozenset({"resident"})


class RoutingConfigError(ValueError):
    """The routing configuration cannot be used; the service refuses to start."""


class RouteRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1)
    when: dict[str, str | int | bool | None] = Field(default_factory=dict)
    template: str
    to: tuple[Audience, ...] = ()

    def matches(self, event_type: str, data: Mapping[str, Any]) -> bool:
        return event_type == self.type and all(data.get(k) == v for k, v in self.when.items())


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[RouteRule] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Route:
    """The decision for one event: a template and the audiences to resolve to people."""

    template: str
    audiences: tuple[Audience, ...]


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RouteRule, ...]
    ignored: frozenset[str] = field(default_factory=frozenset)

    def route(self, event_type: str, data: Mapping[str, Any]) -> Route | None:
        """The route of an event, or None when it has none (ignored or unrouted)."""
        best: RouteRule | None = None
        for rule in self.rules:
            if rule.matches(event_type, data) and (
                best is None or len(rule.when) >= len(best.when)
            ):
                best = rule
        if best is None:
            return None
        audiences = best.to or _stage_role(data)
        return Route(best.template, audiences)

    def ignores(self, event_type: str) -> bool:
        return event_type in self.ignored

    def extended(self, config: RoutingConfig) -> RoutingTable:
        """These rules followed by `config`'s (which win ties), its ignores added."""
        return RoutingTable((*self.rules, *config.routes), self.ignored | frozenset(config.ignore))


def _stage_role(data: Mapping[str, Any]) -> tuple[Audience, ...]:
    role = data.get("role")
    if role in ("resident", "queue", "assignee", "desk_manager", "section_chief"):
        return (role,)
    return ()


def parse_routing(raw: Any, *, origin: str) -> RoutingConfig:
    try:
        config = RoutingConfig.model_validate(raw)
    except ValidationError as error:
        raise RoutingConfigError(f"{origin}: {error}") from error
    unknown = sorted({rule.template for rule in config.routes} - set(TEMPLATES))
    if unknown:
        raise RoutingConfigError(f"{origin}: unknown templates {unknown}")
    return config


def routing_table(configs: Iterable[tuple[str, Any]]) -> RoutingTable:
    """The table of each (origin, raw configuration) in order: later rules win ties."""
    table = RoutingTable(())
    for origin, raw in configs:
        table = table.extended(parse_routing(raw, origin=origin))
    return table
