"""The at-risk rules as pure decisions: each pattern found at its threshold, not below it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sessions.risk import (
    RiskKind,
    StudentPoint,
    TutorPoint,
    is_new,
    student_findings,
    tutor_findings,
)

T0 = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


def students(n: int, **changes: dict[int, dict[str, object]]) -> list[StudentPoint]:
    """``n`` weekly sessions of a student who comes on time and talks a third of the time;
    ``changes["at"]`` maps a position to the fields it has instead."""
    at = changes.get("at", {})
    out = []
    for i in range(n):
        values: dict[str, object] = {
            "session_id": f"s{i:02d}",
            "at": T0 + timedelta(weeks=i),
            "present": True,
            "late_minutes": 0,
            "talk_share": 0.33,
            "documented": True,
        }
        values.update(at.get(i, {}))
        out.append(StudentPoint(**values))  # type: ignore[arg-type]
    return out


def kinds(points: list[StudentPoint]) -> list[RiskKind]:
    return [f.kind for f in student_findings("stu", points, names=["Sam"])]


def test_a_steady_student_raises_nothing() -> None:
    """Twenty ordinary sessions, with one absence and one late arrival, find nothing."""
    points = students(20, at={5: {"present": False, "late_minutes": None}, 9: {"late_minutes": 8}})
    assert kinds(points) == []


def test_attendance_falling_needs_four_of_six_missed_the_last_among_them() -> None:
    """Missing four of the last six after coming regularly is found on the fourth absence;
    three of six is not, nor four when the newest session was attended."""
    absent = {"present": False, "late_minutes": None, "talk_share": None, "documented": False}
    four = students(16, at=dict.fromkeys((11, 12, 14, 15), absent))
    [finding] = student_findings("stu", four)
    assert finding.kind is RiskKind.ATTENDANCE_FALLING
    assert finding.sessions == ("s11", "s12", "s14", "s15")
    assert finding.why == "missed 4 of the last 6 sessions, after coming to 10 of the 10 before"
    assert kinds(students(16, at=dict.fromkeys((12, 14, 15), absent))) == []
    assert kinds(students(16, at=dict.fromkeys((10, 11, 12, 14), absent))) == []


def test_lateness_rising_needs_three_later_each_time_and_ten_minutes() -> None:
    """Late 6, 9, 12 minutes running is found; 6, 9, 9 or 5, 7, 9 is not."""

    def late(*minutes: int) -> list[StudentPoint]:
        return students(12, at={9 + i: {"late_minutes": m} for i, m in enumerate(minutes)})

    [finding] = student_findings("stu", late(6, 9, 12))
    assert finding.kind is RiskKind.LATENESS_RISING
    assert finding.why.endswith("6 min, 9 min, 12 min")
    assert kinds(late(6, 9, 9)) == [] and kinds(late(5, 7, 9)) == []


def test_talk_share_falling_is_against_the_students_own_baseline() -> None:
    """Speaking 12% of the time after a third is found; a quiet student who was always
    quiet is not, and unknown shares (no consent) are never counted as zero."""
    falling = students(13, at={10: {"talk_share": 0.2}, 11: {"talk_share": 0.15},
                               12: {"talk_share": 0.12}})  # fmt: skip
    [finding] = student_findings("stu", falling)
    assert finding.kind is RiskKind.TALK_SHARE_FALLING
    assert "down from 33%" in finding.why
    quiet = [StudentPoint(**{**p.__dict__, "talk_share": 0.12}) for p in students(13)]
    assert kinds(quiet) == []
    unknown = [StudentPoint(**{**p.__dict__, "talk_share": None}) for p in students(13)]
    assert kinds(unknown) == []


def test_the_same_difficulty_three_times_in_four_documented_sessions() -> None:
    """A difficulty worded a little differently still counts as the same one; different
    difficulties in the same words around them do not."""
    same = students(8, at={
        5: {"difficulties": ("Sam finds carrying over in subtraction hard.",)},
        6: {"difficulties": ("Sam still struggles with carrying over in subtraction.",)},
        7: {"difficulties": ("Carrying over in subtraction was still difficult.",)},
    })  # fmt: skip
    [finding] = student_findings("stu", same, names=["Sam"])
    assert finding.kind is RiskKind.REPEATED_DIFFICULTY
    assert finding.sessions == ("s05", "s06", "s07")
    different = students(8, at={
        5: {"difficulties": ("Sam was unsure about fractions.",)},
        6: {"difficulties": ("Sam was unsure about decimals.",)},
        7: {"difficulties": ("Sam was unsure about percentages.",)},
    })  # fmt: skip
    assert kinds(different) == []


def test_homework_not_followed_up_three_times_running() -> None:
    """Homework due and not taken up at three sessions running is found; a follow-up in
    between starts the count again."""
    missed = {"homework_due": True, "homework_followed_up": False}
    taken = {"homework_due": True, "homework_followed_up": True}
    [finding] = student_findings("stu", students(8, at={5: missed, 6: missed, 7: missed}))
    assert finding.kind is RiskKind.HOMEWORK_NOT_FOLLOWED_UP
    assert kinds(students(8, at={4: missed, 5: missed, 6: taken, 7: missed})) == []


def tutors(n: int, **at: dict[str, object]) -> list[TutorPoint]:
    out = []
    for i in range(n):
        start = T0 + timedelta(weeks=i)
        values: dict[str, object] = {
            "session_id": f"s{i:02d}",
            "at": start,
            "present": True,
            "late_minutes": 0,
            "drafted_at": start + timedelta(hours=1),
            "approved_at": start + timedelta(hours=5),
        }
        values.update(at.get(str(i), {}))
        out.append(TutorPoint(**values))  # type: ignore[arg-type]
    return out


def test_reviews_overdue_counts_drafts_still_waiting_at_now() -> None:
    """Two drafts of the last five left longer than 72 hours are found; the same drafts
    seen before their 72 hours are up are not."""
    points = tutors(6, **{"3": {"approved_at": None}, "4": {"approved_at": None}})
    late_now = points[4].drafted_at + timedelta(hours=73)  # type: ignore[operator]
    [finding] = tutor_findings("tut", points, now=late_now + timedelta(weeks=2))
    assert finding.kind is RiskKind.REVIEWS_OVERDUE and finding.sessions == ("s03", "s04")
    early = points[4].drafted_at + timedelta(hours=2)  # type: ignore[operator]
    assert tutor_findings("tut", points[:5], now=early) == []


def test_late_starts_three_of_five_with_the_newest_late() -> None:
    """Three late starts in five sessions, the newest one of them, is found; two are not."""
    late = {"late_minutes": 9}
    now = T0 + timedelta(weeks=10)
    [finding] = tutor_findings("tut", tutors(8, **{"5": late, "6": late, "7": late}), now=now)
    assert finding.kind is RiskKind.LATE_STARTS
    assert tutor_findings("tut", tutors(8, **{"6": late, "7": late}), now=now) == []
    assert tutor_findings("tut", tutors(8, **{"4": late, "5": late, "6": late}), now=now) == []


def test_a_finding_is_new_only_once_per_stretch() -> None:
    """Not while one is open; after one is resolved, only for sessions it did not cite."""
    absent = {"present": False, "late_minutes": None}
    [finding] = student_findings("stu", students(16, at=dict.fromkeys((11, 12, 14, 15), absent)))
    assert is_new(finding, [])
    assert not is_new(finding, [(True, ["s01"])])  # one still open
    assert not is_new(finding, [(False, ["s11", "s12", "s14"])])  # the same stretch
    assert is_new(finding, [(False, ["s01", "s02"])])  # an earlier, resolved stretch
