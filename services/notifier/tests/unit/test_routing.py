"""The routing table: shipped defaults cover every stage of every default policy; overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from card_registry.settings import CardRegistrySettings
from deadline_watcher.domain.policies import DEFAULT_POLICY_CONFIG
from mynaflow.contracts import deadlines, intake, registry, resident
from mynaflow.contracts.deadlines import DEADLINE_BREACHED_V1, DEADLINE_STAGE_REACHED_V1
from notice_intake.domain.routing import DEFAULT_OWNER_QUEUES, DEFAULT_TRIAGE_QUEUE
from notifier.adapters.config_files import load_routing, shipped_staff
from notifier.domain.routing import RoutingConfigError
from notifier.domain.templates_catalogue import TEMPLATES

pytestmark = pytest.mark.unit


def every_default_stage() -> list[tuple[str, str, str]]:
    return [
        (policy, stage["name"], stage["role"])
        for policy, config in DEFAULT_POLICY_CONFIG.items()
        for stage in config["stages"]
    ]


@pytest.mark.parametrize(("policy", "stage", "role"), every_default_stage())
def test_every_stage_of_every_default_policy_has_a_route(
    policy: str, stage: str, role: str
) -> None:
    table = load_routing()
    route = table.route(DEADLINE_STAGE_REACHED_V1, {"policy": policy, "stage": stage, "role": role})
    assert route is not None
    assert route.audiences == (role,)
    reader = TEMPLATES[route.template].reader
    assert reader == ("resident" if role == "resident" else "staff")


@pytest.mark.parametrize("policy", sorted(DEFAULT_POLICY_CONFIG))
def test_every_breach_fact_has_a_route(policy: str) -> None:
    table = load_routing()
    data = {"policy": policy, "stage": "breach", "role": "desk_manager"}
    assert table.route(DEADLINE_BREACHED_V1, data) is not None


def test_an_unknown_policy_is_unrouted_not_ignored() -> None:
    table = load_routing()
    data = {"policy": "made_up", "stage": "x", "role": "queue"}
    assert table.route(DEADLINE_STAGE_REACHED_V1, data) is None
    assert not table.ignores(DEADLINE_STAGE_REACHED_V1)


def test_a_receipt_routes_by_its_kind() -> None:
    table = load_routing()
    receipt = "jp.mynaflow.intake.notice-acknowledged.v1"
    defect = table.route(receipt, {"kind": "application_defect", "status": "accepted"})
    assert defect is not None
    assert defect.template == "application_defect"
    assert table.route(receipt, {"kind": "record_update_required", "status": "accepted"}) is None
    assert table.ignores(receipt)


def test_a_file_overrides_the_default_for_one_stage(tmp_path: Path) -> None:
    override = tmp_path / "routing.json"
    rule = {
        "type": DEADLINE_STAGE_REACHED_V1,
        "when": {"policy": "notice_sla", "stage": "due_today"},
        "template": "manager_escalation",
        "to": ["desk_manager"],
    }
    override.write_text(json.dumps({"routes": [rule]}))
    table = load_routing([override])
    data = {"policy": "notice_sla", "stage": "due_today", "role": "queue"}
    route = table.route(DEADLINE_STAGE_REACHED_V1, data)
    assert route is not None
    assert (route.template, route.audiences) == ("manager_escalation", ("desk_manager",))


def test_an_unknown_template_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps({"routes": [{"type": "x", "template": "nope"}]}))
    with pytest.raises(RoutingConfigError, match="nope"):
        load_routing([bad])


def test_every_event_type_the_notifier_consumes_is_routed_or_deliberately_ignored() -> None:
    """Nothing goes unrouted by omission: each known type has a rule or is listed as ignored."""
    table = load_routing()
    routed_by_data = {
        DEADLINE_STAGE_REACHED_V1,  # by policy and stage (tested above)
        DEADLINE_BREACHED_V1,
        intake.NOTICE_ACKNOWLEDGED_V1,  # by kind
    }
    consumed = {
        *deadlines.EVENT_TYPES,
        *intake.EVENT_TYPES,
        *registry.EVENT_MODELS,
        *resident.EVENT_TYPES,
    }
    unaccounted = {
        t for t in consumed - routed_by_data if table.route(t, {}) is None and not table.ignores(t)
    }
    assert unaccounted == set()


def test_the_shipped_staff_cover_the_queues_the_other_services_name() -> None:
    queues = {*DEFAULT_OWNER_QUEUES.values(), DEFAULT_TRIAGE_QUEUE}
    queues.add(CardRegistrySettings.model_fields["card_queue"].default)
    assert queues <= set(shipped_staff()["queues"])
