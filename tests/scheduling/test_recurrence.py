"""Expanding a series' rule: local time kept across DST, and rules that never end refused."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.errors import InvalidRecurrence
from scheduling.recurrence import MAX_OCCURRENCES, expand

LONDON = ZoneInfo("Europe/London")


def test_weekly_byday_keeps_local_time_across_the_london_dst_change() -> None:
    """Monday and Wednesday 16:00 London stays 16:00 local after the clocks go forward."""
    occ = expand(
        "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6",
        start_date=date(2030, 3, 25),  # the clocks go forward on Sun 2030-03-31
        start_time=time(16, 0),
        duration=timedelta(minutes=60),
        zone=LONDON,
    )
    local = [o.start.astimezone(LONDON) for o in occ]
    assert [d.date() for d in local] == [
        date(2030, 3, 25),
        date(2030, 3, 27),
        date(2030, 4, 1),
        date(2030, 4, 3),
        date(2030, 4, 8),
        date(2030, 4, 10),
    ]
    assert {(d.hour, d.minute) for d in local} == {(16, 0)}
    assert occ[0].start == datetime(2030, 3, 25, 16, tzinfo=UTC)
    assert occ[2].start == datetime(2030, 4, 1, 15, tzinfo=UTC)
    assert all(o.end - o.start == timedelta(hours=1) for o in occ)
    assert all(o.occurrence_start == o.start for o in occ)


def test_until_in_utc_ends_the_series() -> None:
    """UNTIL (in UTC) is inclusive and stops the expansion."""
    occ = expand(
        "RRULE:FREQ=WEEKLY;UNTIL=20300408T150000Z",
        start_date=date(2030, 3, 25),
        start_time=time(16, 0),
        duration=timedelta(minutes=45),
        zone=LONDON,
    )
    assert [o.start.date() for o in occ] == [date(2030, 3, 25), date(2030, 4, 1), date(2030, 4, 8)]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=WEEKLY;BYDAY=MO", "add COUNT"),
        (f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}", f"more than {MAX_OCCURRENCES} sessions"),
        ("FREQ=MONTHLY;UNTIL=20330101T000000Z", "more than 366 days"),
        ("FREQ=HOURLY;COUNT=3", "FREQ must be DAILY"),
        ("FREQ=WEEKLY;UNTIL=20300401T000000", "write UNTIL in UTC"),
        ("FREQ=WEEKLY;COUNT=3\nRRULE:FREQ=DAILY;COUNT=2", "give one rule"),
    ],
    ids=["unbounded", "too-many", "too-long", "hourly", "floating-until", "two-rules"],
)
def test_rules_that_cannot_be_booked_say_how_to_fix_them(rule: str, says: str) -> None:
    """Each refusal is a 422 invalid_recurrence whose message names the fix."""
    with pytest.raises(InvalidRecurrence) as refused:
        expand(
            rule,
            start_date=date(2030, 3, 25),
            start_time=time(16, 0),
            duration=timedelta(minutes=60),
            zone=LONDON,
        )
    assert refused.value.status_code == 422 and refused.value.code == "invalid_recurrence"
    assert says in refused.value.message
