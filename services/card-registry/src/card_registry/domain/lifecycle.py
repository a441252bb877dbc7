"""The card lifecycle (docs/domain.md, "Card lifecycle"): states, and the only moves between them.

- new → held (a record-update notice holds it) → delivered; or new → delivered.
- delivered → pickup_notice_sent → pickup_re_notice_sent (the second notice is the re-notice).
- delivered, pickup_notice_sent or pickup_re_notice_sent → handed_over.
- pickup_re_notice_sent → destroyed, when the pickup period ends.
- handed_over (also a card brought by a move-in) → expired.

Anything else is rejected with `invalid_transition`, naming the state and the action.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from mynaflow.contracts.registry import CardState, RejectionReason

from card_registry.domain.move_in import MoveInCase
from card_registry.domain.rejections import Rejected


class CardAction(StrEnum):
    HOLD = "hold"
    DELIVER = "deliver"
    SEND_PICKUP_NOTICE = "send_pickup_notice"
    HAND_OVER = "hand_over"
    DESTROY = "destroy"
    EXPIRE = "expire"


_AWAITING_PICKUP = (
    CardState.DELIVERED,
    CardState.PICKUP_NOTICE_SENT,
    CardState.PICKUP_RE_NOTICE_SENT,
)

TRANSITIONS: dict[tuple[CardState | None, CardAction], CardState] = {
    (None, CardAction.HOLD): CardState.HELD,
    (None, CardAction.DELIVER): CardState.DELIVERED,
    (CardState.HELD, CardAction.DELIVER): CardState.DELIVERED,
    (CardState.DELIVERED, CardAction.SEND_PICKUP_NOTICE): CardState.PICKUP_NOTICE_SENT,
    (CardState.PICKUP_NOTICE_SENT, CardAction.SEND_PICKUP_NOTICE): CardState.PICKUP_RE_NOTICE_SENT,
    **{(state, CardAction.HAND_OVER): CardState.HANDED_OVER for state in _AWAITING_PICKUP},
    (CardState.PICKUP_RE_NOTICE_SENT, CardAction.DESTROY): CardState.DESTROYED,
    (CardState.HANDED_OVER, CardAction.EXPIRE): CardState.EXPIRED,
}


def next_state(state: CardState | None, action: CardAction) -> CardState:
    """The state `action` leads to from `state`; `Rejected(invalid_transition)` if none."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        shown = state.value if state is not None else "not known yet"
        raise Rejected(
            RejectionReason.INVALID_TRANSITION, f"cannot {action.value} a card that is {shown}"
        )
    return target


@dataclass(frozen=True)
class Card:
    """A card the registry knows, with its move-in case if it has one.

    `state_since` is when the card entered `state` (as performed, not as recorded).
    """

    card_id: str
    resident_id: str
    household_id: str | None
    state: CardState
    state_since: datetime
    previous_state: CardState | None = None
    application_date: date | None = None
    issued_on: date | None = None
    card_valid_until: date | None = None
    certificate_valid_until: date | None = None
    case: MoveInCase | None = None

    def state_as_of(self, at: datetime) -> CardState:
        """The state at instant `at`, for commands performed before the last change."""
        if at < self.state_since and self.previous_state is not None:
            return self.previous_state
        return self.state


def move(card: Card, action: CardAction, at: datetime) -> Card:
    """The card after `action` performed at `at`, judged by its state at that instant."""
    target = next_state(card.state_as_of(at), action)
    return replace(card, state=target, previous_state=card.state, state_since=at)
