"""The iCalendar invite an email carries (RFC 5546, iTIP): a session lands in the calendar.

``invite`` gives one session as a ``METHOD:REQUEST`` (booked, moved: the calendar
adds or updates its event) or ``METHOD:CANCEL`` (cancelled, or no longer this
person's: the calendar removes it). The event is ``scheduling.feeds.session_event``'s,
so its ``UID`` is the session's for good (the feed's too) and its ``SEQUENCE``
grows with every change: a calendar applies a newer invite over an older one and
ignores one that arrives late. Times are UTC; each client shows them in its own
zone, and the email's text says them in the recipient's.
"""

from __future__ import annotations

import re
from typing import Literal

from icalendar import Calendar, vCalAddress, vText

from scheduling.feeds import session_event
from scheduling.models import LiveSession

__all__ = ["INVITE_NAME", "SERIES_NAME", "Method", "invite", "invite_method", "series_calendar"]

INVITE_NAME = "invite.ics"
SERIES_NAME = "series.ics"
PRODID = "-//Liveclass//Session invite//EN"
Method = Literal["REQUEST", "CANCEL"]


def invite(
    live: LiveSession,
    *,
    method: Method,
    summary: str,
    description: str,
    domain: str,
    organizer: str,
    attendee: str,
    attendee_name: str,
) -> bytes:
    """One session as an invite to ``attendee`` (an address) from ``organizer`` (the
    school's sending address). A ``CANCEL`` marks the event cancelled whatever the
    session's state (a tutor who was replaced gets one for a session that goes on)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = session_event(live, summary=summary, domain=domain)
    event.add("description", description)
    if method == "CANCEL":
        event["status"] = vText("CANCELLED")
    who = vCalAddress(f"mailto:{organizer}")
    who.params["cn"] = vText("Liveclass")
    event["organizer"] = who
    them = vCalAddress(f"mailto:{attendee}")
    them.params["cn"] = vText(attendee_name)
    them.params["role"] = vText("REQ-PARTICIPANT")
    them.params["rsvp"] = vText("FALSE")  # the school keeps the schedule: no replies
    event.add("attendee", them)
    cal.add_component(event)
    return bytes(cal.to_ical())


def series_calendar(
    sessions: list[LiveSession], *, summary: str, description: str, domain: str
) -> bytes:
    """A series' sessions as one ``METHOD:PUBLISH`` calendar (iTIP allows only one ``UID``
    per ``REQUEST``; a published calendar may hold many): opened, it adds every session,
    each under its own ``UID``, so a later ``REQUEST`` or ``CANCEL`` for one of them
    updates that one."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    for live in sessions:
        event = session_event(live, summary=summary, domain=domain)
        event.add("description", description)
        cal.add_component(event)
    return bytes(cal.to_ical())


def invite_method(data: bytes) -> str | None:
    """The ``METHOD`` of an invite's bytes (what its MIME part must say too)."""
    found = re.search(rb"^METHOD:([A-Z-]+)\r?$", data, re.MULTILINE)
    return found.group(1).decode() if found else None
