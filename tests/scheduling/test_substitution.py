"""Ranking substitutes: qualified, free tutors only; continuity first, then load; reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.applications import Starlette

from core.ids import new_id
from scheduling.availability import WeeklyRule
from scheduling.bookings import book_session
from scheduling.conflicts import Booked, Limits, TutorSchedule
from scheduling.matching import Snapshot, TutorSnapshot
from scheduling.models import LiveSession, Role, SessionStatus, TutorQualification
from scheduling.people import create_person
from scheduling.substitutes import Vacancy, rank, substitutes_for
from tests.conftest import NOW, World

LONDON = ZoneInfo("Europe/London")
START = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # a Monday
END = START + timedelta(hours=1)
VACANCY = Vacancy(
    session_id="ses_vacant",
    tutor_id="tut_gone",
    subject="maths",
    start=START,
    end=END,
    student_ids=("stu_sam",),
    student_levels={"stu_sam": "gcse"},
    student_names={"stu_sam": "Sam"},
)
MATHS = frozenset({("maths", "gcse")})


def _session(sid: str, tutor: str, start: datetime, students: tuple[str, ...] = ()) -> Booked:
    return Booked(sid, tutor, frozenset(students), start, start + timedelta(hours=1))


def _tutor(
    tid: str,
    *,
    quals: frozenset[tuple[str, str]] = MATHS,
    booked: tuple[Booked, ...] = (),
    rules: tuple[WeeklyRule, ...] = (),
) -> TutorSnapshot:
    schedule = TutorSchedule(zone=LONDON, rules=rules, qualifications=quals)
    return TutorSnapshot(tid, schedule, booked)


def _week_of(tid: str, n: int) -> tuple[Booked, ...]:
    """``n`` sessions later that week (Tuesday onwards), none clashing with the vacancy."""
    return tuple(_session(f"ses_{tid}_{i}", tid, START + timedelta(days=1 + i)) for i in range(n))


def test_only_qualified_free_tutors_other_than_the_replaced_one_are_offered() -> None:
    """Busy, unqualified and unavailable tutors are left out, as is the tutor being replaced."""
    vacant = _session("ses_vacant", "tut_gone", START, ("stu_sam",))
    snapshot = Snapshot(
        tutors=(
            _tutor("tut_gone", booked=(vacant,)),
            _tutor("tut_busy", booked=(_session("ses_other", "tut_busy", START),)),
            _tutor("tut_physics", quals=frozenset({("physics", "gcse")})),
            _tutor("tut_alevel", quals=frozenset({("maths", "a-level")})),
            _tutor("tut_mornings", rules=(WeeklyRule(0, 7 * 60, 9 * 60),)),  # Mon 07:00-09:00
            _tutor("tut_free"),
        ),
        student_sessions={"stu_sam": (vacant,)},  # the session itself is no clash
    )
    assert [s.tutor_id for s in rank(VACANCY, snapshot)] == ["tut_free"]


def test_a_tutor_whose_buffer_the_session_breaks_is_not_offered() -> None:
    """Limits count: a tutor who needs 30 minutes between sessions and has one ending at 10:00."""
    before = _session("ses_before", "tut_tight", START - timedelta(hours=1))
    tight = TutorSnapshot(
        "tut_tight",
        TutorSchedule(
            zone=LONDON,
            qualifications=MATHS,
            limits=Limits(buffer_minutes=30),
        ),
        (before,),
    )
    assert rank(VACANCY, Snapshot(tutors=(tight,))) == []


def test_continuity_comes_first_then_the_lighter_week() -> None:
    """Those who taught Sam most rank first; among equals, fewer sessions that week; then id."""
    snapshot = Snapshot(
        tutors=(
            _tutor("tut_a", booked=_week_of("tut_a", 3)),  # taught once, busy week
            _tutor("tut_b"),  # never taught, empty week
            _tutor("tut_c", booked=_week_of("tut_c", 2)),  # taught three times
            _tutor("tut_d", booked=_week_of("tut_d", 1)),  # never taught, one session
            _tutor("tut_e"),  # never taught, empty week: after tut_b by id
        ),
        history={("stu_sam", "tut_a"): 1, ("stu_sam", "tut_c"): 3},
    )
    ranked = rank(VACANCY, snapshot)
    assert [s.tutor_id for s in ranked] == ["tut_c", "tut_a", "tut_b", "tut_e", "tut_d"]
    assert [(s.sessions_with_students, s.sessions_that_week) for s in ranked] == [
        (3, 2),
        (1, 3),
        (0, 0),
        (0, 0),
        (0, 1),
    ]
    assert ranked[0].taught_before and not ranked[2].taught_before


def test_reasons_say_why_each_tutor_is_offered() -> None:
    """Each candidate says what they are qualified for, when they are free, their history with
    each student and their week, in words a coordinator reads."""
    snapshot = Snapshot(
        tutors=(
            _tutor("tut_c", booked=_week_of("tut_c", 2)),
            _tutor("tut_new", quals=frozenset(), booked=_week_of("tut_new", 1)),
        ),
        history={("stu_sam", "tut_c"): 3},
    )
    first, second = rank(VACANCY, snapshot, tutor_names={"tut_c": "Casey"})
    assert first.name == "Casey"
    assert first.reasons == (
        "qualified for maths at level gcse",
        "free Mon 2030-01-07 10:00-11:00 Europe/London",
        "taught Sam 3 times before",
        "2 sessions that week",
    )
    assert second.reasons == (
        "no qualifications recorded, so any subject is accepted",
        "free Mon 2030-01-07 10:00-11:00 Europe/London",
        "has not taught Sam before",
        "1 session that week",
    )
    assert first.to_json()["reasons"] == list(first.reasons)


async def test_substitutes_for_counts_only_sessions_taught_before(
    app: Starlette, world: World
) -> None:
    """From the database: past ended sessions with the student count as continuity; cancelled,
    future ones do not; the tutor teaching elsewhere then (t2) is left out."""
    async with app.state.services.sessionmaker() as db, db.begin():
        t3 = await create_person(
            db,
            Role.TUTOR,
            org_id=world.ids["orgA"],
            email="t3@schoola.example.org",
            display_name="Person t3",
            password_hash=None,
            now=NOW,
        )
        db.add(
            TutorQualification(
                id=new_id("qal"), tutor_id=t3, subject="maths", level="gcse", created_at=NOW
            )
        )
        ses1_start = NOW + timedelta(hours=1)
        for days, status in (
            (-7, SessionStatus.ENDED),
            (-14, SessionStatus.DOCUMENTED),
            (-21, SessionStatus.CANCELLED),
            (2, SessionStatus.SCHEDULED),
        ):
            past = await book_session(
                db,
                org_id=world.ids["orgA"],
                tutor_id=t3,
                student_ids=[world.ids["s1"]],
                subject="maths",
                scheduled_start=ses1_start + timedelta(days=days),
                scheduled_end=ses1_start + timedelta(days=days, hours=1),
                now=NOW,
            )
            past.status = status
    async with app.state.services.sessionmaker() as db:
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        [only] = await substitutes_for(db, live)
    assert only.tutor_id == t3 and only.name == "Person t3"
    assert only.sessions_with_students == 2
    assert "taught Person s1 twice before" in only.reasons
    assert "1 session that week" in only.reasons  # the one on Wednesday
