"""Matching ranks qualified, free tutors and places batches that greedy first fit cannot."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduling.availability import DateException, ExceptionKind, Interval, WeeklyRule
from scheduling.conflicts import Booked, Limits, TutorSchedule
from scheduling.match_batch import UnplacedCode, match_batch, match_greedy
from scheduling.matching import ExclusionCode, MatchRequest, Snapshot, TutorSnapshot, rank

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = tuple(WeeklyRule(d, 9 * 60, 17 * 60) for d in range(5))
MATHS = frozenset({("maths", "gcse")})
NO_LIMITS = Limits()


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the week of Monday 2030-01-14 (winter: London is UTC, New York UTC-5)."""
    return datetime(2030, 1, day, hour, minute, tzinfo=UTC)


def tutor(
    tid: str,
    *,
    zone: ZoneInfo = LONDON,
    quals: frozenset[tuple[str, str]] = MATHS,
    booked: tuple[tuple[datetime, datetime], ...] = (),
    limits: Limits = NO_LIMITS,
    rules: tuple[WeeklyRule, ...] = WEEKDAYS_9_TO_5,
    exceptions: tuple[DateException, ...] = (),
) -> TutorSnapshot:
    return TutorSnapshot(
        tid,
        TutorSchedule(
            zone=zone, rules=rules, exceptions=exceptions, qualifications=quals, limits=limits
        ),
        tuple(
            Booked(f"ses_{tid}_{n}", tid, frozenset({f"other_{tid}_{n}"}), a, b)
            for n, (a, b) in enumerate(booked)
        ),
    )


def request(
    *windows: tuple[datetime, datetime],
    student: str = "stu_1",
    minutes: int = 60,
    rid: str = "",
    subject: str = "maths",
) -> MatchRequest:
    return MatchRequest(
        student,
        subject,
        "gcse",
        tuple(Interval(a, b) for a, b in windows),
        timedelta(minutes=minutes),
        id=rid,
    )


def tuesday_sessions(n: int) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((utc(15, 9 + 2 * k), utc(15, 10 + 2 * k)) for k in range(n))


def test_continuity_first_then_fewer_sessions_that_week() -> None:
    """The student's own tutor ranks first even when busier; then the least loaded."""
    snapshot = Snapshot(
        tutors=(
            tutor("t_heavy", booked=tuesday_sessions(2)),
            tutor("t_light"),
            tutor("t_own", booked=tuesday_sessions(3)),
        ),
        history={("stu_1", "t_own"): 4},
    )
    ranking = rank(request((utc(14, 14), utc(14, 16))), snapshot)
    assert [c.tutor_id for c in ranking.candidates] == ["t_own", "t_light", "t_heavy"]
    own, light, heavy = ranking.candidates
    assert (own.sessions_with_student, own.sessions_that_week) == (4, 3)
    assert (light.sessions_that_week, heavy.sessions_that_week) == (0, 2)
    assert (own.start, own.end) == (utc(14, 14), utc(14, 15))
    assert any("taught this student 4 time(s)" in r for r in own.reasons)
    assert any("2 other session(s) booked that week" in r for r in heavy.reasons)
    assert ranking.excluded == []


def test_unqualified_and_busy_tutors_are_left_out_with_the_reason() -> None:
    """A tutor without the qualification, and one booked over the whole window, say why."""
    snapshot = Snapshot(
        tutors=(
            tutor("t_french", quals=frozenset({("french", "gcse")})),
            tutor("t_busy", booked=((utc(14, 13), utc(14, 17)),)),
            tutor("t_free"),
        )
    )
    ranking = rank(request((utc(14, 14), utc(14, 16))), snapshot)
    assert [c.tutor_id for c in ranking.candidates] == ["t_free"]
    excluded = {x.tutor_id: x for x in ranking.excluded}
    assert excluded["t_french"].code is ExclusionCode.NOT_QUALIFIED
    assert "not qualified for maths at level gcse" in excluded["t_french"].reasons[0]
    assert excluded["t_busy"].code is ExclusionCode.NOT_FREE
    assert any("already teaches session ses_t_busy_0" in r for r in excluded["t_busy"].reasons)


def test_the_student_being_busy_rules_out_a_slot() -> None:
    """The student's own booked session pushes the offer past it."""
    theirs = Booked("ses_s", "t_else", frozenset({"stu_1"}), utc(14, 14), utc(14, 15))
    snapshot = Snapshot(tutors=(tutor("t1"),), student_sessions={"stu_1": (theirs,)})
    [c] = rank(request((utc(14, 14), utc(14, 17))), snapshot).candidates
    assert c.start == utc(14, 15)


def test_limits_and_time_off_exclude_a_tutor() -> None:
    """A tutor at their weekly limit, and one on time off that day, are not offered."""
    snapshot = Snapshot(
        tutors=(
            tutor(
                "t_full",
                booked=tuesday_sessions(2),
                limits=Limits(max_sessions_per_week=2),
            ),
            tutor(
                "t_away",
                exceptions=(DateException(ExceptionKind.TIME_OFF, on_date=utc(14, 0).date()),),
            ),
        )
    )
    ranking = rank(request((utc(14, 14), utc(14, 16))), snapshot)
    assert ranking.candidates == []
    reasons = {x.tutor_id: " ".join(x.reasons) for x in ranking.excluded}
    assert "limit is 2 a week" in reasons["t_full"]
    assert "outside the tutor's availability" in reasons["t_away"]


def test_time_zones_follow_each_tutors_local_hours() -> None:
    """09:00-17:00 in London is 09-17Z in January; in New York it is 14-22Z."""
    snapshot = Snapshot(tutors=(tutor("t_london"), tutor("t_ny", zone=NEW_YORK)))
    morning = rank(request((utc(14, 8), utc(14, 10))), snapshot)
    assert [c.tutor_id for c in morning.candidates] == ["t_london"]
    assert morning.candidates[0].start == utc(14, 9)
    evening = rank(request((utc(14, 20), utc(14, 22))), snapshot)
    [ny] = evening.candidates
    assert (ny.tutor_id, ny.start) == ("t_ny", utc(14, 20))
    assert any("Mon 2030-01-14 15:00-16:00 America/New_York" in r for r in ny.reasons)
    assert {x.tutor_id for x in evening.excluded} == {"t_london"}


def test_batch_places_every_request_where_first_fit_strands_one() -> None:
    """A takes 09:00 first under greedy and leaves B nothing; the solver moves A to 10:00."""
    snapshot = Snapshot(tutors=(tutor("t1"),))
    requests = [
        request((utc(14, 9), utc(14, 11)), student="stu_a", rid="A"),
        request((utc(14, 9), utc(14, 10)), student="stu_b", rid="B"),
    ]
    greedy = match_greedy(requests, snapshot)
    assert [p.request_id for p in greedy.placements] == ["A"]
    [stranded] = greedy.unplaced
    assert (stranded.request_id, stranded.code) == ("B", UnplacedCode.TAKEN_BY_BATCH)
    solved = match_batch(requests, snapshot, time_limit=5)
    assert solved.unplaced == []
    slots = {p.request_id: (p.tutor_id, p.start) for p in solved.placements}
    assert slots == {"A": ("t1", utc(14, 10)), "B": ("t1", utc(14, 9))}


def test_neighbourhood_search_also_places_what_first_fit_strands() -> None:
    """The path large batches take (re-solving around left-out requests) fixes it too."""
    snapshot = Snapshot(tutors=(tutor("t1"),))
    requests = [
        request((utc(14, 9), utc(14, 11)), student="stu_a", rid="A"),
        request((utc(14, 9), utc(14, 10)), student="stu_b", rid="B"),
    ]
    solved = match_batch(requests, snapshot, time_limit=5, whole_model_limit=0)
    assert solved.unplaced == []
    assert {p.request_id: p.start for p in solved.placements} == {
        "A": utc(14, 10),
        "B": utc(14, 9),
    }


def test_batch_respects_daily_limit_and_buffer() -> None:
    """Two a day at most, 30 minutes apart at least; the third request says why it waits."""
    snapshot = Snapshot(
        tutors=(tutor("t1", limits=Limits(max_sessions_per_day=2, buffer_minutes=30)),)
    )
    requests = [
        request((utc(14, 9), utc(14, 12)), student=f"stu_{k}", rid=str(k)) for k in range(3)
    ]
    result = match_batch(requests, snapshot, time_limit=5)
    assert len(result.placements) == 2
    first, second = sorted(result.placements, key=lambda p: p.start)
    assert second.start - first.end >= timedelta(minutes=30)
    [left] = result.unplaced
    assert left.code is UnplacedCode.TAKEN_BY_BATCH
    assert "widen the windows" in left.reason


def test_batch_never_double_books_a_student_and_explains_the_impossible() -> None:
    """One student's two requests get different times; an unteachable subject is named."""
    snapshot = Snapshot(tutors=(tutor("t1"), tutor("t2")))
    requests = [
        request((utc(14, 9), utc(14, 10)), rid="first"),
        request((utc(14, 9), utc(14, 11)), rid="second"),
        request((utc(14, 9), utc(14, 11)), rid="latin", subject="latin"),
        request((utc(14, 18), utc(14, 20)), rid="late", student="stu_2"),
    ]
    result = match_batch(requests, snapshot, time_limit=5)
    times = {p.request_id: p.start for p in result.placements}
    assert times == {"first": utc(14, 9), "second": utc(14, 10)}
    codes = {u.request_id: u.code for u in result.unplaced}
    assert codes == {
        "latin": UnplacedCode.NO_QUALIFIED_TUTOR,
        "late": UnplacedCode.NO_FREE_TUTOR,
    }


def test_batch_keeps_continuity_and_spreads_the_rest() -> None:
    """The student's own tutor gets their request; two others go one to each tutor."""
    snapshot = Snapshot(
        tutors=(tutor("t1"), tutor("t2")),
        history={("stu_own", "t2"): 3},
    )
    requests = [
        request((utc(14, 9), utc(14, 10)), student="stu_own", rid="own"),
        request((utc(14, 11), utc(14, 12)), student="stu_x", rid="x"),
        request((utc(14, 13), utc(14, 14)), student="stu_y", rid="y"),
    ]
    result = match_batch(requests, snapshot, time_limit=5)
    by_request = {p.request_id: p.tutor_id for p in result.placements}
    assert by_request["own"] == "t2"
    assert set(by_request.values()) == {"t1", "t2"}


def test_a_window_that_opens_mid_minute_offers_a_slot_inside_it() -> None:
    """A window from 14:00:00.5 (a client sent seconds) has room from the next slot on the
    grid: offering 14:00 gave a slot the booking then refused as outside the window."""
    opens = utc(15, 14) + timedelta(milliseconds=500)
    ranked = rank(request((opens, utc(15, 17))), Snapshot(tutors=(tutor("t1"),)))
    [offer] = ranked.candidates
    assert offer.start >= opens
    assert offer.start + timedelta(minutes=60) <= utc(15, 17)
