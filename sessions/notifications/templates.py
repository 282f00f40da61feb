"""The words of each email, in plain text and HTML, from the standard library.

``string.Template`` fills the gaps; every value that goes into HTML passes
through ``html.escape`` first (names and summaries are typed by people), and
the plain-text part gets the values as they are. Times are shown in the
guardian's own zone, with the zone named, because a family abroad reads
"10:00" as their own ten o'clock.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from string import Template
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sessions.notifications.errors import InvalidNotice
from sessions.notifications.models import DeliveryKind


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Letter:
    subject: Template
    text: Template
    html: Template


_HTML_FRAME = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$subject</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">
$content
<p style="color: #666; font-size: 0.9em">You receive this because you are $student_name's
guardian at Liveclass. Ask your coordinator to change which emails you get.</p>
</body></html>
"""

LETTERS: dict[DeliveryKind, Letter] = {
    DeliveryKind.ABSENCE_NOTICE: Letter(
        subject=Template("$student_name missed a $session_subject session"),
        text=Template(
            "Dear $guardian_name,\n\n"
            "$student_name did not join the $session_subject session scheduled for "
            "$scheduled_local.\n\n"
            "If you expected them to be there, please get in touch with your coordinator.\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "Ask your coordinator to change which emails you get.\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p><strong>$student_name</strong> did not join the <strong>$session_subject"
            "</strong> session scheduled for <strong>$scheduled_local</strong>.</p>\n"
            "<p>If you expected them to be there, please get in touch with your "
            "coordinator.</p>"
        ),
    ),
    DeliveryKind.SESSION_SUMMARY: Letter(
        subject=Template("$student_name's $session_subject session on $session_date"),
        text=Template(
            "Dear $guardian_name,\n\n"
            "Here is how $student_name's $session_subject session on $session_date went:\n\n"
            "$summary\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "Ask your coordinator to change which emails you get.\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p>Here is how $student_name's $session_subject session on "
            "<strong>$session_date</strong> went:</p>\n"
            '<blockquote style="white-space: pre-wrap">$summary</blockquote>'
        ),
    ),
}


def zone(name: str) -> ZoneInfo:
    """The guardian's zone, or UTC when what is stored is not a zone name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """E.g. ``Monday 7 January 2030, 11:00 (Europe/Paris)``."""
    local = at.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz.key})"


def local_date(at: datetime, tz: ZoneInfo) -> str:
    """E.g. ``Monday 7 January 2030``, the date where the guardian lives."""
    local = at.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y}"


def render(kind: DeliveryKind, values: dict[str, str]) -> Rendered:
    """Fill the kind's templates with ``values`` (plain strings; HTML is escaped here).

    Raises:
        InvalidNotice: a value the template needs is missing.
    """
    letter = LETTERS[kind]
    try:
        subject = letter.subject.substitute(values)
        text = letter.text.substitute(values)
        escaped = {k: html.escape(v) for k, v in values.items()}
        content = letter.html.substitute(escaped)
        page = Template(_HTML_FRAME).substitute(
            escaped, subject=html.escape(subject), content=content
        )
    except KeyError as exc:
        raise InvalidNotice(f"{kind.value} needs a value for {exc.args[0]!r}") from None
    return Rendered(subject=subject, text=text, html=page)
