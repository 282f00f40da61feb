"""Expanding a recurring booking's RFC 5545 RRULE into occurrences, without I/O.

The rule repeats a local start (a date and a wall-clock time) in the series'
IANA zone, and the expansion happens in that zone: a weekly 16:00 lesson in
Europe/London is 16:00 in winter and in summer, so its UTC time moves by an
hour across the change. Occurrences come back in UTC, as they are stored.

A series must end: its rule needs ``COUNT`` or ``UNTIL``, may repeat at most
daily, and must stay within ``MAX_OCCURRENCES`` occurrences and ``MAX_SPAN``
of its first start. Anything else is refused with a message that says how to
fix the rule (``InvalidRecurrence``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from scheduling.errors import InvalidRecurrence

MAX_OCCURRENCES = 200
MAX_SPAN = timedelta(days=366)
_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}


@dataclass(frozen=True)
class Occurrence:
    """One start the rule gives, and the session's times there (all UTC)."""

    occurrence_start: datetime
    start: datetime
    end: datetime


def _parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or "\n" in body or ":" in body:
        raise InvalidRecurrence(
            "give one rule without DTSTART, e.g. 'FREQ=WEEKLY;BYDAY=MO;COUNT=10'; "
            "the series' start_date and start_time are its start"
        )
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise InvalidRecurrence(
                f"{item!r} is not NAME=VALUE; write e.g. 'FREQ=WEEKLY;COUNT=10'"
            )
        parts[name.strip().upper()] = value.strip()
    return parts


def expand(
    text: str, *, start_date: date, start_time: time, duration: timedelta, zone: ZoneInfo
) -> list[Occurrence]:
    """The occurrences of ``text`` from ``start_date`` at ``start_time`` in ``zone``.

    Raises:
        InvalidRecurrence: the rule does not parse, does not end, is more often
            than daily, yields nothing, or runs past the occurrence or span limits.
    """
    parts = _parts(text)
    if parts.get("FREQ", "").upper() not in _FREQUENCIES:
        raise InvalidRecurrence(
            "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, e.g. 'FREQ=WEEKLY;COUNT=10'"
        )
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise InvalidRecurrence(
            f"the rule never ends; add COUNT (at most {MAX_OCCURRENCES}) or UNTIL "
            f"(within {MAX_SPAN.days} days), e.g. '{text.strip()};COUNT=10'"
        )
    if duration <= timedelta(0):
        raise InvalidRecurrence("duration_minutes must be more than 0")
    first = datetime.combine(start_date, start_time, tzinfo=zone)
    try:
        rule = rrulestr(text.strip(), dtstart=first)
    except ValueError as exc:
        hint = (
            "; write UNTIL in UTC, e.g. UNTIL=20300401T000000Z"
            if "UNTIL" in str(exc)
            else "; see RFC 5545 section 3.3.10"
        )
        raise InvalidRecurrence(f"the rule cannot be read ({exc}){hint}") from exc
    assert isinstance(rule, rrule)  # one RRULE without RDATE/EXDATE parses to a plain rule
    limit = first + MAX_SPAN
    out: list[Occurrence] = []
    for local in rule:
        if local > limit:
            raise InvalidRecurrence(
                f"the series runs past {limit:%Y-%m-%d}, more than {MAX_SPAN.days} days after "
                "its first session; lower COUNT or bring UNTIL earlier, and book the rest "
                "as a new series later"
            )
        if len(out) == MAX_OCCURRENCES:
            raise InvalidRecurrence(
                f"the series has more than {MAX_OCCURRENCES} sessions; lower COUNT or bring "
                "UNTIL earlier, and book the rest as a new series later"
            )
        start = local.astimezone(UTC)
        out.append(Occurrence(start, start, (local + duration).astimezone(UTC)))
    if not out:
        raise InvalidRecurrence(
            "the rule gives no session on or after start_date; check BYDAY, BYMONTHDAY and UNTIL"
        )
    return out


def shifted(
    occurrence_start: datetime, *, delta_days: int, new_time: time, zone: ZoneInfo
) -> datetime:
    """An occurrence moved ``delta_days`` local days to ``new_time`` local, in UTC.

    Used when a change applies to this and the following occurrences: each keeps
    its own local date, moved by the same number of days, at the new wall-clock time.
    """
    local_day = occurrence_start.astimezone(zone).date() + timedelta(days=delta_days)
    return datetime.combine(local_day, new_time, tzinfo=zone).astimezone(UTC)
