"""Card lifecycle: every valid transition, and every other one rejected with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from card_registry.domain.lifecycle import TRANSITIONS, Card, CardAction, move, next_state
from card_registry.domain.rejections import Rejected
from mynaflow.contracts.registry import CardState, RejectionReason

pytestmark = pytest.mark.unit

T0 = datetime(2025, 5, 2, tzinfo=UTC)
VALID = {
    (None, CardAction.HOLD): CardState.HELD,
    (None, CardAction.DELIVER): CardState.DELIVERED,
    (CardState.HELD, CardAction.DELIVER): CardState.DELIVERED,
    (CardState.DELIVERED, CardAction.SEND_PICKUP_NOTICE): CardState.PICKUP_NOTICE_SENT,
    (CardState.PICKUP_NOTICE_SENT, CardAction.SEND_PICKUP_NOTICE): CardState.PICKUP_RE_NOTICE_SENT,
    (CardState.DELIVERED, CardAction.HAND_OVER): CardState.HANDED_OVER,
    (CardState.PICKUP_NOTICE_SENT, CardAction.HAND_OVER): CardState.HANDED_OVER,
    (CardState.PICKUP_RE_NOTICE_SENT, CardAction.HAND_OVER): CardState.HANDED_OVER,
    (CardState.PICKUP_RE_NOTICE_SENT, CardAction.DESTROY): CardState.DESTROYED,
    (CardState.HANDED_OVER, CardAction.EXPIRE): CardState.EXPIRED,
}


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == VALID


@pytest.mark.parametrize(("state", "action"), list(VALID), ids=str)
def test_each_valid_transition(state: CardState | None, action: CardAction) -> None:
    assert next_state(state, action) is VALID[(state, action)]


INVALID = [pair for pair in product([None, *CardState], CardAction) if pair not in VALID]


@pytest.mark.parametrize(("state", "action"), INVALID, ids=str)
def test_every_other_transition_is_rejected_with_a_reason(
    state: CardState | None, action: CardAction
) -> None:
    with pytest.raises(Rejected) as rejected:
        next_state(state, action)
    assert rejected.value.reason is RejectionReason.INVALID_TRANSITION
    assert action.value in rejected.value.message


def test_a_transition_is_judged_by_the_state_when_it_was_performed() -> None:
    card = Card("C-1", "R-1", "H-1", CardState.PICKUP_NOTICE_SENT, T0, CardState.DELIVERED)
    # Handed over before the notice was recorded as sent: judged as delivered, still valid.
    assert move(card, CardAction.HAND_OVER, T0 - timedelta(hours=1)).state is CardState.HANDED_OVER
    with pytest.raises(Rejected):
        move(card, CardAction.DESTROY, T0 + timedelta(hours=1))
