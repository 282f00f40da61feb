"""The conflict checker finds every reason a booking is refused, and explains each."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.availability import DateException, ExceptionKind, WeeklyRule
from scheduling.conflicts import (
    Booked,
    ConflictCode,
    Limits,
    Proposal,
    TutorSchedule,
    find_conflicts,
)

LONDON = ZoneInfo("Europe/London")
MON = datetime(2030, 1, 7, tzinfo=UTC)  # a Monday; London is on UTC in January


def at(hours: float) -> datetime:
    return MON + timedelta(hours=hours)


def proposal(start: float, end: float, **kw: object) -> Proposal:
    fields: dict[str, object] = {
        "tutor_id": "t1",
        "student_ids": ("s1",),
        "subject": "maths",
        "start": at(start),
        "end": at(end),
    }
    fields.update(kw)
    return Proposal(**fields)  # type: ignore[arg-type]


def booked(sid: str, start: float, end: float, tutor: str = "t1", *students: str) -> Booked:
    return Booked(sid, tutor, frozenset(students), at(start), at(end))


FREE = TutorSchedule(zone=LONDON)


def codes(found: list[object]) -> list[str]:
    return [c.code.value for c in found]  # type: ignore[attr-defined]


def test_nothing_in_the_way() -> None:
    """An unconfigured tutor with an empty calendar may be booked at any time."""
    assert find_conflicts(proposal(10, 11), [], FREE) == []


def test_tutor_double_booked_names_the_session() -> None:
    """An overlapping session of the same tutor is a conflict naming that session."""
    [c] = find_conflicts(proposal(10, 11), [booked("ses_a", 10.5, 11.5, "t1", "s9")], FREE)
    assert c.code is ConflictCode.TUTOR_DOUBLE_BOOKED and c.session_id == "ses_a"
    assert c.field == "tutor_id"
    assert "ses_a" in c.message and "Mon 2030-01-07 10:30-11:30 Europe/London" in c.message


def test_student_double_booked_with_another_tutor() -> None:
    """A student already in another tutor's session at that time is named, with the session."""
    [c] = find_conflicts(proposal(10, 11), [booked("ses_b", 9, 10.25, "t2", "s1")], FREE)
    assert c.code is ConflictCode.STUDENT_DOUBLE_BOOKED
    assert (c.session_id, c.student_id, c.field) == ("ses_b", "s1", "student_ids")
    assert "student s1 is already in session ses_b" in c.message


def test_back_to_back_cancelled_and_self_do_not_conflict() -> None:
    """Touching sessions, cancelled ones and the session being changed never clash."""
    existing = [
        booked("ses_before", 9, 10, "t1", "s1"),
        booked("ses_after", 11, 12, "t1", "s1"),
        Booked("ses_x", "t1", frozenset({"s1"}), at(10), at(11), cancelled=True),
        booked("ses_me", 10, 11, "t1", "s1"),
    ]
    assert find_conflicts(proposal(10, 11, session_id="ses_me"), existing, FREE) == []


def test_outside_availability_lists_the_days_windows() -> None:
    """Outside the weekly windows, the message gives the windows of that local day."""
    tutor = TutorSchedule(
        zone=LONDON, rules=(WeeklyRule(0, 9 * 60, 12 * 60), WeeklyRule(0, 14 * 60, 17 * 60))
    )
    assert find_conflicts(proposal(9, 12), [], tutor) == []
    [c] = find_conflicts(proposal(11, 15), [], tutor)
    assert c.code is ConflictCode.OUTSIDE_AVAILABILITY and c.field == "scheduled_start"
    assert "available 09:00-12:00, 14:00-17:00" in c.message and "Europe/London" in c.message


def test_time_off_applies_even_without_weekly_rules() -> None:
    """A tutor with no weekly rules is free except their time off."""
    off = DateException(ExceptionKind.TIME_OFF, on_date=date(2030, 1, 7))
    tutor = TutorSchedule(zone=LONDON, exceptions=(off,))
    [c] = find_conflicts(proposal(10, 11), [], tutor)
    assert c.code is ConflictCode.OUTSIDE_AVAILABILITY
    assert "not available at all" in c.message
    assert find_conflicts(proposal(34, 35), [], tutor) == []  # Tuesday


def test_not_qualified_for_subject_or_level() -> None:
    """Qualifications must cover the subject at every student's level (case-insensitive)."""
    tutor = TutorSchedule(zone=LONDON, qualifications=frozenset({("Maths", "GCSE")}))
    levels = {"s1": "gcse", "s2": "a-level"}
    assert find_conflicts(proposal(10, 11, student_levels=levels), [], tutor) == []
    [c] = find_conflicts(
        proposal(10, 11, student_ids=("s1", "s2"), student_levels=levels), [], tutor
    )
    assert c.code is ConflictCode.TUTOR_NOT_QUALIFIED and c.field == "subject"
    assert "maths at level a-level" in c.message
    [c] = find_conflicts(proposal(10, 11, subject="physics"), [], tutor)
    assert "physics at any level" in c.message


def test_daily_and_weekly_limits_count_in_the_tutors_zone() -> None:
    """The nth+1 session of a local day or week is refused, with the count and the limit."""
    tutor = TutorSchedule(
        zone=ZoneInfo("America/New_York"),
        limits=Limits(max_sessions_per_day=2, max_sessions_per_week=3),
    )
    # Monday 01:00-02:00 UTC is still Sunday evening in New York (last week).
    existing = [booked("a", 1, 2), booked("b", 14, 15), booked("c", 16, 17), booked("d", 40, 41)]
    found = find_conflicts(proposal(18, 19), existing, tutor)
    assert codes(found) == ["daily_limit_reached", "weekly_limit_reached"]
    assert "2 session(s) on Mon 2030-01-07" in found[0].message
    assert "3 session(s) in the week of 2030-01-07" in found[1].message


def test_inside_buffer() -> None:
    """A session closer than the buffer is named; one exactly the buffer away is fine."""
    tutor = TutorSchedule(zone=LONDON, limits=Limits(buffer_minutes=15))
    existing = [booked("near", 8, 9.9), booked("ok", 11.25, 12)]
    [c] = find_conflicts(proposal(10, 11), existing, tutor)
    assert c.code is ConflictCode.INSIDE_BUFFER and c.session_id == "near"
    assert "15 minutes between sessions" in c.message


def test_every_conflict_is_reported_at_once() -> None:
    """One proposal that breaks every rule gets one conflict of every kind."""
    tutor = TutorSchedule(
        zone=LONDON,
        rules=(WeeklyRule(0, 9 * 60, 10 * 60),),
        qualifications=frozenset({("art", "gcse")}),
        limits=Limits(max_sessions_per_day=1, max_sessions_per_week=1, buffer_minutes=30),
    )
    existing = [
        booked("x", 10.5, 11.5, "t1"),
        booked("y", 11.5, 12.5, "t2", "s1"),
        booked("z", 12, 13),
    ]
    found = find_conflicts(proposal(11, 12), existing, tutor)
    assert sorted(codes(found)) == sorted(c.value for c in ConflictCode)
    assert all(c.message for c in found)


# Property: accepting only bookings the checker passes never double-books anyone.

TUTORS = ["t1", "t2", "t3"]
STUDENTS = ["s1", "s2", "s3", "s4"]
requests = st.lists(
    st.tuples(
        st.sampled_from(TUTORS),
        st.lists(st.sampled_from(STUDENTS), min_size=1, max_size=3, unique=True),
        st.integers(min_value=0, max_value=96),  # quarter hours into the day
        st.integers(min_value=1, max_value=12),  # length in quarter hours
        st.booleans(),  # later cancelled
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_accepted_bookings_never_double_book(
    reqs: list[tuple[str, list[str], int, int, bool]],
) -> None:
    """Whatever is asked, no two accepted live sessions share a tutor or student in time."""
    calendar: list[Booked] = []
    for n, (tutor, students, start_q, length_q, cancel) in enumerate(reqs):
        p = proposal(
            start_q / 4, (start_q + length_q) / 4, tutor_id=tutor, student_ids=tuple(students)
        )
        if not find_conflicts(p, calendar, FREE):
            calendar.append(
                Booked(f"ses{n}", tutor, frozenset(students), p.start, p.end, cancelled=cancel)
            )
    live = [b for b in calendar if not b.cancelled]
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            if a.start < b.end and b.start < a.end:
                assert a.tutor_id != b.tutor_id
                assert not a.student_ids & b.student_ids
