"""The Naka Ward incident (docs/incident.md) as data: deterministic, dated relative to `now`.

Nothing here does I/O. `build_scenario(now)` gives everything the demo feeds in, in the form the
other systems would send it:
- J-LIS notices as JSON Lines rows for `mynaflow notices import`;
- resident registry events for `resident.moves` (who lives where: letters need it);
- staff commands for `registry.commands`, in the order the staff did them.

Case 1 and Case 2 carry their historical dates (2022-2023); the normal work is dated minutes
before `now`, so the watcher sees it done in time. The same `now` gives the same scenario, and
two runs a day apart differ only in the normal work's dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from mynaflow.contracts import registry as r
from mynaflow.contracts import resident as res
from mynaflow.domain.time import JST

WARD_CODE = "141046"  # Naka Ward, Yokohama (JIS X 0401 with its check digit)

# Case 1 (docs/incident.md): 48 update requests, 2022-03-01 .. 2023-09-25, never processed.
CASE1_NOTICES = 48
CASE1_FIRST_ISSUED = date(2022, 3, 1)
CASE1_LAST_ISSUED = date(2023, 9, 25)
CASE1_QUEUE = "card-records"
# The last member of the owning queue leaves in March 2022 and nobody takes the duty over.
CASE1_LAST_MEMBER = "S-RECORDS-1"
CASE1_MEMBER_JOINED = datetime(2021, 4, 1, 9, 0, tzinfo=JST)
CASE1_MEMBER_LEFT = datetime(2022, 3, 31, 17, 0, tzinfo=JST)

# Case 2: a household moves in on 2022-03-15; two cards printed, chips never rewritten.
CASE2_NOTIFIED_ON = date(2022, 3, 15)
CASE2_PRINTED_AT = datetime(2022, 3, 15, 11, 0, tzinfo=JST)
CASE2_HOUSEHOLD = "H-CASE2-B"
CASE2_CARDS = ("C-CASE2-SPOUSE", "C-CASE2-CHILD")
CARD_QUEUE = "card-counter"

# Normal work: two queues that are staffed, each resolving its notices in time.
NORMAL_QUEUES = {"application_defect": "card-applications", "card_delivered": "card-issuance"}
NORMAL_STAFF = {"card-applications": "S-APPLICATIONS-1", "card-issuance": "S-ISSUANCE-1"}
NORMAL_NOTICES_PER_KIND = 10
# The four-eyes pair at the counter: A rewrites the chip, B verifies it.
STAFF_A = "S-COUNTER-A"
STAFF_B = "S-COUNTER-B"
GOOD_CARD = "C-GOOD-1"
GOOD_RESIDENT = "R-GOOD-1"
STAFF_JOINED = datetime(2021, 4, 1, 9, 0, tzinfo=JST)


@dataclass(frozen=True)
class ResidentMove:
    """One `resident.moves` event: its type and its data."""

    event_type: str
    data: res.ResidentEvent


@dataclass(frozen=True)
class Scenario:
    now: datetime
    notices: list[dict[str, Any]]
    case1_notice_ids: list[str]
    normal_notice_ids: list[str]
    moves: list[ResidentMove]
    # Staff commands before the notices arrive (joins and the Case 1 leave), and after.
    setup_commands: list[r.RegistryCommand]
    work_commands: list[r.RegistryCommand]
    # A verification by the rewriter herself: rejected, and she is told why.
    rejected_commands: list[r.RegistryCommand] = field(default_factory=list)

    @property
    def notice_count(self) -> int:
        return len(self.notices)


def case1_issue_dates() -> list[date]:
    """48 dates spread evenly from the first to the last issue date, both included."""
    span = (CASE1_LAST_ISSUED - CASE1_FIRST_ISSUED).days
    return [
        CASE1_FIRST_ISSUED + timedelta(days=round(n * span / (CASE1_NOTICES - 1)))
        for n in range(CASE1_NOTICES)
    ]


def case1_notices() -> list[dict[str, Any]]:
    return [
        {
            "notice_id": f"JLIS-C1-{n + 1:03d}",
            "kind": "record_update_required",
            "municipality_code": WARD_CODE,
            "issued_at": datetime.combine(issued, time(10, 0), JST).isoformat(),
            "application_id": f"APP-C1-{n + 1:03d}",
            "resident_ref": case1_resident(n),
            "details": {"理由": "住所確認不可"},
        }
        for n, issued in enumerate(case1_issue_dates())
    ]


def case1_resident(n: int) -> str:
    """Resident A, who called on 2023-09-26, holds the first notice."""
    return "R-C1-A" if n == 0 else f"R-C1-{n + 1:03d}"


def normal_notices(now: datetime) -> list[dict[str, Any]]:
    """Issued in the hour before `now`: due days from now, done minutes after arrival."""
    notices = []
    for k, kind in enumerate(NORMAL_QUEUES):
        for n in range(NORMAL_NOTICES_PER_KIND):
            issued = now - timedelta(minutes=60 - (k * NORMAL_NOTICES_PER_KIND + n))
            notices.append(
                {
                    "notice_id": f"JLIS-N-{kind[:3].upper()}-{n + 1:02d}",
                    "kind": kind,
                    "municipality_code": WARD_CODE,
                    "issued_at": issued.astimezone(JST).isoformat(timespec="seconds"),
                    "resident_ref": f"R-N-{kind[:3].upper()}-{n + 1:02d}",
                }
            )
    return notices


def registered(resident_id: str, household_id: str, name: str, n: int) -> ResidentMove:
    return ResidentMove(
        res.REGISTERED_V1,
        res.ResidentUpserted(
            resident_id=resident_id,
            household_id=household_id,
            postal_code="231-0021",
            name=name,
            name_kana="ナカ ジュウミン",
            address=f"横浜市中区日本大通{n % 50 + 1}番地",
            birth_date=date(1980 + n % 30, 1 + n % 12, 1 + n % 28),
        ),
    )


def notice_residents(notices: list[dict[str, Any]]) -> list[ResidentMove]:
    """Every resident a notice names is known to the resident registry (one household each)."""
    return [
        registered(notice["resident_ref"], f"H-{notice['resident_ref']}", "中区 住民", n)
        for n, notice in enumerate(notices)
    ]


def moved_in(
    resident_id: str, card_id: str | None, notified_on: date, name: str, born: date
) -> ResidentMove:
    household = CASE2_HOUSEHOLD if resident_id.startswith("R-CASE2") else "H-GOOD"
    return ResidentMove(
        res.MOVED_IN_V1,
        res.ResidentMovedIn(
            resident_id=resident_id,
            household_id=household,
            postal_code="231-0023",
            name=name,
            name_kana="テンニュウ カゾク",
            address="横浜市中区山下町1番地",
            birth_date=born,
            notified_on=notified_on,
            moved_in_on=notified_on - timedelta(days=1),
            card_id=card_id,
            card_presented=card_id is not None,
        ),
    )


def case2_moves() -> list[ResidentMove]:
    """B moves in with a spouse and a child; the two card holders are the spouse and child."""
    return [
        moved_in("R-CASE2-B", None, CASE2_NOTIFIED_ON, "転入 一郎", date(1985, 5, 5)),
        moved_in(
            "R-CASE2-SPOUSE", CASE2_CARDS[0], CASE2_NOTIFIED_ON, "転入 花子", date(1987, 7, 7)
        ),
        moved_in("R-CASE2-CHILD", CASE2_CARDS[1], CASE2_NOTIFIED_ON, "転入 次郎", date(2012, 2, 2)),
    ]


def setup_commands() -> list[r.RegistryCommand]:
    """Who is in which queue; the Case 1 queue's last member leaves in March 2022."""
    joins = [
        (CASE1_LAST_MEMBER, CASE1_QUEUE, CASE1_MEMBER_JOINED),
        *[(staff, queue, STAFF_JOINED) for queue, staff in NORMAL_STAFF.items()],
        (STAFF_A, CARD_QUEUE, STAFF_JOINED),
        (STAFF_B, CARD_QUEUE, STAFF_JOINED),
    ]
    commands: list[r.RegistryCommand] = [
        r.StaffJoinedQueue(staff_id=staff, queue=queue, performed_at=at)
        for staff, queue, at in joins
    ]
    commands.append(
        r.StaffLeftQueue(
            staff_id=CASE1_LAST_MEMBER, queue=CASE1_QUEUE, performed_at=CASE1_MEMBER_LEFT
        )
    )
    return commands


def case2_commands() -> list[r.RegistryCommand]:
    """Staff A prints the new address on both surfaces and hands the cards back."""
    return [
        r.RecordSurfacePrint(staff_id=STAFF_A, card_id=card, performed_at=CASE2_PRINTED_AT)
        for card in CASE2_CARDS
    ]


def normal_work_commands(notices: list[dict[str, Any]]) -> list[r.RegistryCommand]:
    """Each normal notice is assigned and resolved by its queue's member (at the time sent)."""
    commands: list[r.RegistryCommand] = []
    for notice in notices:
        staff = NORMAL_STAFF[NORMAL_QUEUES[notice["kind"]]]
        notice_id = notice["notice_id"]
        commands.append(r.AssignNotice(staff_id=staff, notice_id=notice_id))
        commands.append(
            r.ResolveNotice(staff_id=staff, notice_id=notice_id, resolution="record_updated")
        )
    return commands


def build_scenario(now: datetime) -> Scenario:
    case1 = case1_notices()
    normal = normal_notices(now)
    good = moved_in(
        GOOD_RESIDENT, GOOD_CARD, now.astimezone(JST).date(), "正常 転入", date(1990, 1, 1)
    )
    return Scenario(
        now=now,
        notices=case1 + normal,
        case1_notice_ids=[n["notice_id"] for n in case1],
        normal_notice_ids=[n["notice_id"] for n in normal],
        moves=[*notice_residents(case1 + normal), *case2_moves(), good],
        setup_commands=setup_commands(),
        work_commands=[
            *case2_commands(),
            *normal_work_commands(normal),
            r.RecordSurfacePrint(staff_id=STAFF_A, card_id=GOOD_CARD),
            r.RecordChipRewrite(staff_id=STAFF_A, card_id=GOOD_CARD),
        ],
        rejected_commands=[r.VerifyChipRewrite(staff_id=STAFF_A, card_id=GOOD_CARD)],
    )


def final_commands() -> list[r.RegistryCommand]:
    """After A's own verification was rejected, B verifies: the four-eyes rule satisfied."""
    return [r.VerifyChipRewrite(staff_id=STAFF_B, card_id=GOOD_CARD)]


# Staff and their addresses for the notifier (STAFF_FILE), over its shipped defaults.
DEMO_STAFF: dict[str, Any] = {
    "staff": {
        staff: {"name": name, "email": f"{staff.lower()}@ward.example.jp"}
        for staff, name in [
            (CASE1_LAST_MEMBER, "記録担当(異動済)"),
            ("S-APPLICATIONS-1", "申請担当"),
            ("S-ISSUANCE-1", "交付担当"),
            (STAFF_A, "窓口担当A"),
            (STAFF_B, "窓口担当B"),
        ]
    }
}
