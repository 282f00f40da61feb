"""Weekly availability in the tutor's zone expands to UTC, right across DST changes."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduling.availability import (
    DateException,
    ExceptionKind,
    Interval,
    WeeklyRule,
    expand,
    merge,
    subtract,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_FIVE = [WeeklyRule(d, 9 * 60, 17 * 60) for d in range(5)]  # Monday to Friday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iv(a: datetime, b: datetime) -> Interval:
    return Interval(a, b)


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # London: GMT until Sunday 2030-03-31, BST (UTC+1) from then.
        (
            LONDON,
            (utc(2030, 3, 29, 9), utc(2030, 3, 29, 17)),
            (utc(2030, 4, 1, 8), utc(2030, 4, 1, 16)),
        ),
        # New York: EST (UTC-5) until Sunday 2030-03-10, EDT (UTC-4) from then.
        (
            NEW_YORK,
            (utc(2030, 3, 8, 14), utc(2030, 3, 8, 22)),
            (utc(2030, 3, 11, 13), utc(2030, 3, 11, 21)),
        ),
    ],
    ids=["london", "new-york"],
)
def test_nine_to_five_stays_local_across_spring_change(
    zone: ZoneInfo, before: tuple[datetime, datetime], after: tuple[datetime, datetime]
) -> None:
    """The Friday before and the Monday after the change are both 09:00-17:00 local."""
    windows = expand(NINE_TO_FIVE, [], zone=zone, start=before[0].replace(hour=0), end=after[1])
    assert windows == [iv(*before), iv(*after)]
    for w in windows:
        local = (w.start.astimezone(zone), w.end.astimezone(zone))
        assert (local[0].hour, local[1].hour) == (9, 17)


def test_autumn_change_in_both_zones() -> None:
    """Back to winter time: London after 2030-10-27, New York after 2030-11-03."""
    london = expand(NINE_TO_FIVE, [], zone=LONDON, start=utc(2030, 10, 25), end=utc(2030, 10, 29))
    assert london == [
        iv(utc(2030, 10, 25, 8), utc(2030, 10, 25, 16)),
        iv(utc(2030, 10, 28, 9), utc(2030, 10, 28, 17)),
    ]
    ny = expand(NINE_TO_FIVE, [], zone=NEW_YORK, start=utc(2030, 11, 1), end=utc(2030, 11, 5))
    assert ny == [
        iv(utc(2030, 11, 1, 13), utc(2030, 11, 1, 21)),
        iv(utc(2030, 11, 4, 14), utc(2030, 11, 4, 22)),
    ]


def test_window_over_the_change_itself_follows_the_wall_clock() -> None:
    """A Sunday 00:00-06:00 window in London on the spring-forward night lasts 5 real hours."""
    rules = [WeeklyRule(6, 0, 6 * 60)]
    [w] = expand(rules, [], zone=LONDON, start=utc(2030, 3, 30), end=utc(2030, 4, 1))
    assert w == iv(utc(2030, 3, 31, 0), utc(2030, 3, 31, 5))


def test_time_off_and_extra_hours() -> None:
    """Time off on a local date removes it; extra hours on a Saturday and a UTC range add."""
    exceptions = [
        DateException(ExceptionKind.TIME_OFF, on_date=date(2030, 1, 8)),
        DateException(
            ExceptionKind.TIME_OFF,
            on_date=date(2030, 1, 9),
            start_minute=12 * 60,
            end_minute=13 * 60,
        ),
        DateException(
            ExceptionKind.EXTRA_HOURS, on_date=date(2030, 1, 12), start_minute=600, end_minute=720
        ),
        DateException(
            ExceptionKind.EXTRA_HOURS, starts_at=utc(2030, 1, 7, 22), ends_at=utc(2030, 1, 7, 23)
        ),
    ]
    got = expand(
        NINE_TO_FIVE, exceptions, zone=NEW_YORK, start=utc(2030, 1, 7), end=utc(2030, 1, 13)
    )
    assert got == [
        iv(utc(2030, 1, 7, 14), utc(2030, 1, 7, 23)),  # 09-17 EST joined by the extra 17-18 EST
        iv(utc(2030, 1, 9, 14), utc(2030, 1, 9, 17)),  # Tuesday 8th off; lunch off on the 9th
        iv(utc(2030, 1, 9, 18), utc(2030, 1, 9, 22)),
        iv(utc(2030, 1, 10, 14), utc(2030, 1, 10, 22)),
        iv(utc(2030, 1, 11, 14), utc(2030, 1, 11, 22)),
        iv(utc(2030, 1, 12, 15), utc(2030, 1, 12, 17)),  # Saturday extra 10-12 EST
    ]


def test_rule_to_midnight_and_range_clipping() -> None:
    """A window to 24:00 ends at the next local midnight; results are clipped to the range."""
    rules = [WeeklyRule(0, 20 * 60, 24 * 60), WeeklyRule(1, 0, 60)]
    got = expand(rules, [], zone=LONDON, start=utc(2030, 1, 7, 21), end=utc(2030, 1, 8, 0, 30))
    assert got == [iv(utc(2030, 1, 7, 21), utc(2030, 1, 8, 0, 30))]


def test_merge_and_subtract() -> None:
    """Touching intervals merge; a hole splits an interval in two."""
    a, b = iv(utc(2030, 1, 1, 9), utc(2030, 1, 1, 10)), iv(utc(2030, 1, 1, 10), utc(2030, 1, 1, 12))
    assert merge([b, a]) == [iv(a.start, b.end)]
    hole = iv(utc(2030, 1, 1, 10), utc(2030, 1, 1, 11))
    assert subtract([a, b], [hole]) == [a, iv(hole.end, b.end)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: WeeklyRule(7, 0, 60),
        lambda: WeeklyRule(0, 600, 600),
        lambda: WeeklyRule(0, 0, 1441),
        lambda: DateException(ExceptionKind.TIME_OFF),
        lambda: DateException(ExceptionKind.TIME_OFF, on_date=date(2030, 1, 1), start_minute=5),
        lambda: DateException(
            ExceptionKind.TIME_OFF, starts_at=utc(2030, 1, 2), ends_at=utc(2030, 1, 1)
        ),
        lambda: DateException(
            ExceptionKind.TIME_OFF, starts_at=datetime(2030, 1, 1), ends_at=datetime(2030, 1, 2)
        ),
    ],
    ids=["weekday", "empty", "past-midnight", "no-date", "half-window", "backwards", "naive"],
)
def test_bad_rules_and_exceptions_are_refused(make: object) -> None:
    """Rules and exceptions check their own shape."""
    assert callable(make)
    with pytest.raises(ValueError):
        make()
