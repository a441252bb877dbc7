"""Residents as the registry knows them, from `resident.moves` (no individual number, ever)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from mynaflow.contracts.resident import ResidentMovedIn, ResidentMovedOut, ResidentUpserted


@dataclass(frozen=True)
class Resident:
    resident_id: str
    household_id: str
    name: str
    address: str
    birth_date: date
    email: str | None = None
    phone: str | None = None
    postal_code: str | None = None
    name_kana: str | None = None
    moved_in_on: date | None = None
    moved_out_on: date | None = None


def resident_from(event: ResidentMovedIn | ResidentUpserted, known: Resident | None) -> Resident:
    """The resident after a move-in or an upsert (move dates are kept from what was known)."""
    resident = Resident(
        resident_id=event.resident_id,
        household_id=event.household_id,
        name=event.name,
        address=event.address,
        birth_date=event.birth_date,
        email=event.email,
        phone=event.phone,
        postal_code=event.postal_code,
        name_kana=event.name_kana,
        moved_in_on=known.moved_in_on if known else None,
        moved_out_on=known.moved_out_on if known else None,
    )
    if isinstance(event, ResidentMovedIn):
        return replace(resident, moved_in_on=event.moved_in_on, moved_out_on=None)
    return resident


def moved_out(resident: Resident, event: ResidentMovedOut) -> Resident:
    return replace(resident, household_id=event.household_id, moved_out_on=event.moved_out_on)
