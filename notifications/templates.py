"""The words of each email, in plain text and HTML, from the standard library.

``string.Template`` fills the gaps; every value that goes into HTML passes
through ``html.escape`` first (names and summaries are typed by people), and
the plain-text part gets the values as they are. Times are shown in the
recipient's own zone, with the zone named, because a family abroad reads
"10:00" as their own ten o'clock. Guardian emails are chosen by kind
(``LETTERS``); session reminders have one letter per recipient role
(``REMINDERS``), each with a footer that says why that person gets it, as
have a cancelled or moved session's (``CHANGES``), and a substitution has
one letter for each tutor (``SUBSTITUTION_TUTORS``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Template
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifications.errors import InvalidNotice
from notifications.models import DeliveryKind, RecipientRole


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_GUARDIAN_FOOTER = Template(
    "You receive this because you are $student_name's\n"
    "guardian at Liveclass. Ask your coordinator to change which emails you get."
)


@dataclass(frozen=True)
class Letter:
    subject: Template
    text: Template
    html: Template
    # The HTML page's closing line (the text part writes its own).
    footer: Template = _GUARDIAN_FOOTER


_HTML_FRAME = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$subject</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">
$content
<p style="color: #666; font-size: 0.9em">$footer</p>
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
            "Stop these emails about missed sessions with one click: $stop_url\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p><strong>$student_name</strong> did not join the <strong>$session_subject"
            "</strong> session scheduled for <strong>$scheduled_local</strong>.</p>\n"
            "<p>If you expected them to be there, please get in touch with your "
            "coordinator.</p>"
        ),
        footer=Template(
            "You receive this because you are $student_name's guardian at Liveclass. "
            '<a href="$stop_url">Stop these emails about missed sessions</a>.'
        ),
    ),
    DeliveryKind.SESSION_SUMMARY: Letter(
        subject=Template("$student_name's $session_subject session on $session_date"),
        text=Template(
            "Dear $guardian_name,\n\n"
            "Here is how $student_name's $session_subject session on $session_date went:\n\n"
            "$summary\n\n"
            "$approval\n\n"
            "Read it, and the summaries before it, in your family portal:\n$summary_url\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "Stop these summaries with one click: $stop_url\n"
            "Choose which emails you get, and what Liveclass may do with $student_name's "
            "lessons, at $family_url\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p>Here is how $student_name's $session_subject session on "
            "<strong>$session_date</strong> went:</p>\n"
            '<blockquote style="white-space: pre-wrap">$summary</blockquote>\n'
            "<p>$approval</p>\n"
            '<p><a href="$summary_url">Read it in your family portal</a>, with the summaries '
            "before it.</p>"
        ),
        footer=Template(
            "You receive this because you are $student_name's guardian at Liveclass. "
            '<a href="$stop_url">Stop these summaries</a>, or '
            '<a href="$family_url">choose which emails you get</a> and what Liveclass may do '
            "with $student_name's lessons."
        ),
    ),
    DeliveryKind.PROGRESS_REPORT: Letter(
        subject=Template("$student_name's progress report for $period_label"),
        text=Template(
            "Dear $guardian_name,\n\n"
            "Here is $student_name's progress report for $period_label. The full report "
            "is attached as a PDF.\n\n"
            "$summary\n\n"
            "$attendance\n\n"
            "$approval\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "Stop these reports and the session summaries with one click: $stop_url\n"
            "Choose which emails you get, and what Liveclass may do with $student_name's "
            "lessons, at $family_url\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p>Here is $student_name's progress report for <strong>$period_label</strong>. "
            "The full report is attached as a PDF.</p>\n"
            '<blockquote style="white-space: pre-wrap">$summary</blockquote>\n'
            "<p>$attendance</p>\n"
            "<p>$approval</p>"
        ),
        footer=Template(
            "You receive this because you are $student_name's guardian at Liveclass. "
            '<a href="$stop_url">Stop these reports and the session summaries</a>, or '
            '<a href="$family_url">choose which emails you get</a> and what Liveclass may do '
            "with $student_name's lessons."
        ),
    ),
    DeliveryKind.TUTOR_SUBSTITUTED: Letter(
        subject=Template("$student_name's $session_subject session has a new tutor"),
        text=Template(
            "Dear $guardian_name,\n\n"
            "$student_name's $session_subject session on $scheduled_local will be taught by "
            "$new_tutor_name instead of $old_tutor_name.\n\n"
            "Nothing else changes: $student_name joins from their Liveclass page as usual.\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "Ask your coordinator to change which emails you get.\n"
        ),
        html=Template(
            "<p>Dear $guardian_name,</p>\n"
            "<p><strong>$student_name</strong>'s <strong>$session_subject</strong> session on "
            "<strong>$scheduled_local</strong> will be taught by <strong>$new_tutor_name"
            "</strong> instead of $old_tutor_name.</p>\n"
            "<p>Nothing else changes: $student_name joins from their Liveclass page as usual.</p>"
        ),
    ),
}

_TUTOR_FOOTER = Template("You receive this because you are a tutor at Liveclass.")

# A substitution's emails to the tutors: ``incoming`` to the one who takes the
# session, ``outgoing`` to the one replaced. Values: recipient_name,
# session_subject, scheduled_local, student_names, new_tutor_name, old_tutor_name.
SUBSTITUTION_TUTORS: dict[str, Letter] = {
    "incoming": Letter(
        subject=Template("You now teach a $session_subject session with $student_names"),
        text=Template(
            "Dear $recipient_name,\n\n"
            "You now teach the $session_subject session with $student_names on "
            "$scheduled_local, in place of $old_tutor_name.\n\n"
            "Join from your Liveclass page a few minutes before the start.\n\n"
            "You receive this because you are a tutor at Liveclass.\n"
        ),
        html=Template(
            "<p>Dear $recipient_name,</p>\n"
            "<p>You now teach the <strong>$session_subject</strong> session with "
            "<strong>$student_names</strong> on <strong>$scheduled_local</strong>, in place of "
            "$old_tutor_name.</p>\n"
            "<p>Join from your Liveclass page a few minutes before the start.</p>"
        ),
        footer=_TUTOR_FOOTER,
    ),
    "outgoing": Letter(
        subject=Template("Your $session_subject session is now taught by $new_tutor_name"),
        text=Template(
            "Dear $recipient_name,\n\n"
            "Your $session_subject session with $student_names on $scheduled_local is now "
            "taught by $new_tutor_name. You no longer need to join it.\n\n"
            "You receive this because you are a tutor at Liveclass.\n"
        ),
        html=Template(
            "<p>Dear $recipient_name,</p>\n"
            "<p>Your <strong>$session_subject</strong> session with <strong>$student_names"
            "</strong> on <strong>$scheduled_local</strong> is now taught by <strong>"
            "$new_tutor_name</strong>. You no longer need to join it.</p>"
        ),
        footer=_TUTOR_FOOTER,
    ),
}

_REMINDER_HTML_WHEN = (
    "<p>It starts <strong>$scheduled_local</strong> (in $starts_in).</p>\n<p>$join_line</p>"
)

# One letter per recipient of a session reminder. Values: recipient_name,
# session_subject, scheduled_local, starts_in, tutor_name, student_name (the
# student it is about), student_names (everyone booked, for the tutor) and, for the
# tutor and students, join_line (how to get in: their link into the lesson); for the
# tutor, briefing (empty, or the students' briefings after two line breaks).
REMINDERS: dict[RecipientRole, Letter] = {
    RecipientRole.TUTOR: Letter(
        subject=Template("Reminder: your $session_subject session in $starts_in"),
        text=Template(
            "Dear $recipient_name,\n\n"
            "Your $session_subject session with $student_names starts $scheduled_local "
            "(in $starts_in).\n\n"
            "$join_line$briefing\n\n"
            "You receive this because you teach this session at Liveclass.\n"
        ),
        html=Template(
            "<p>Dear $recipient_name,</p>\n"
            "<p>Your <strong>$session_subject</strong> session with "
            "<strong>$student_names</strong> is coming up.</p>\n"
            + _REMINDER_HTML_WHEN
            + '\n<div style="white-space: pre-line">$briefing</div>'
        ),
        footer=Template("You receive this because you teach this session at Liveclass."),
    ),
    RecipientRole.STUDENT: Letter(
        subject=Template("Reminder: your $session_subject session in $starts_in"),
        text=Template(
            "Dear $recipient_name,\n\n"
            "Your $session_subject session with $tutor_name starts $scheduled_local "
            "(in $starts_in).\n\n"
            "$join_line\n\n"
            "You receive this because you are booked into this session at Liveclass.\n"
        ),
        html=Template(
            "<p>Dear $recipient_name,</p>\n"
            "<p>Your <strong>$session_subject</strong> session with "
            "<strong>$tutor_name</strong> is coming up.</p>\n" + _REMINDER_HTML_WHEN
        ),
        footer=Template("You receive this because you are booked into this session at Liveclass."),
    ),
    RecipientRole.GUARDIAN: Letter(
        subject=Template("Reminder: $student_name's $session_subject session in $starts_in"),
        text=Template(
            "Dear $recipient_name,\n\n"
            "$student_name's $session_subject session with $tutor_name starts "
            "$scheduled_local (in $starts_in).\n\n"
            "You receive this because you are $student_name's guardian at Liveclass. "
            "$stop_line\n"
        ),
        html=Template(
            "<p>Dear $recipient_name,</p>\n"
            "<p><strong>$student_name</strong>'s <strong>$session_subject</strong> "
            "session with <strong>$tutor_name</strong> is coming up.</p>\n"
            "<p>It starts <strong>$scheduled_local</strong> (in $starts_in).</p>"
        ),
        footer=Template(
            "You receive this because you are $student_name's guardian at Liveclass. $stop_line"
        ),
    ),
}


_STAFF_FOOTER = Template("You receive this because you teach this session at Liveclass.")
_STUDENT_FOOTER = Template(
    "You receive this because you are booked into this session at Liveclass."
)


def _change_letters(subject: str, what: str, what_html: str) -> dict[RecipientRole, Letter]:
    """One letter per recipient of a change: the same news, from where each stands.

    ``what`` ends the sentence "...session with X on <time> ``what``" (it may
    use $new_local); ``$notice`` is an empty string or a short-notice sentence.
    """
    return {
        RecipientRole.TUTOR: Letter(
            subject=Template(f"Your $session_subject session with $student_names {subject}"),
            text=Template(
                "Dear $recipient_name,\n\n"
                f"Your $session_subject session with $student_names on $scheduled_local {what}"
                "$notice\n\nYou receive this because you teach this session at Liveclass.\n"
            ),
            html=Template(
                "<p>Dear $recipient_name,</p>\n<p>Your <strong>$session_subject</strong> "
                "session with <strong>$student_names</strong> on <strong>$scheduled_local"
                f"</strong> {what_html}$notice</p>"
            ),
            footer=_STAFF_FOOTER,
        ),
        RecipientRole.STUDENT: Letter(
            subject=Template(f"Your $session_subject session with $tutor_name {subject}"),
            text=Template(
                "Dear $recipient_name,\n\n"
                f"Your $session_subject session with $tutor_name on $scheduled_local {what}"
                "$notice\n\nYou receive this because you are booked into this session at "
                "Liveclass.\n"
            ),
            html=Template(
                "<p>Dear $recipient_name,</p>\n<p>Your <strong>$session_subject</strong> "
                "session with <strong>$tutor_name</strong> on <strong>$scheduled_local"
                f"</strong> {what_html}$notice</p>"
            ),
            footer=_STUDENT_FOOTER,
        ),
        RecipientRole.GUARDIAN: Letter(
            subject=Template(f"$student_name's $session_subject session {subject}"),
            text=Template(
                "Dear $recipient_name,\n\n"
                f"$student_name's $session_subject session with $tutor_name on $scheduled_local "
                f"{what}$notice\n\n"
                "You receive this because you are $student_name's guardian at Liveclass. "
                "Ask your coordinator to change which emails you get.\n"
            ),
            html=Template(
                "<p>Dear $recipient_name,</p>\n<p><strong>$student_name</strong>'s "
                "<strong>$session_subject</strong> session with <strong>$tutor_name</strong> on "
                f"<strong>$scheduled_local</strong> {what_html}$notice</p>"
            ),
        ),
    }


# The emails of a booked, cancelled or moved session, per recipient. Values:
# recipient_name, session_subject, tutor_name, student_names, student_name
# (a guardian's children in it), scheduled_local (the old time), new_local (the
# new time, for a move), requested ("at the tutor's request", ...), notice.
CHANGES: dict[DeliveryKind, dict[RecipientRole, Letter]] = {
    DeliveryKind.SESSION_CANCELLED: _change_letters(
        "is cancelled",
        "has been cancelled $requested.",
        "has been cancelled $requested.",
    ),
    DeliveryKind.SESSION_RESCHEDULED: _change_letters(
        "has moved",
        "has moved $requested to $new_local.",
        "has moved $requested to <strong>$new_local</strong>.",
    ),
    DeliveryKind.SESSION_BOOKED: _change_letters(
        "is booked",
        "is booked. The invite attached puts it in your calendar; if the session moves, "
        "the next email's invite moves it there too.",
        "is booked. The invite attached puts it in your calendar; if the session moves, "
        "the next email's invite moves it there too.",
    ),
}

# A series' confirmation: the first occurrence's email stands for all of them. Values as
# above, with count (how many) and last_local (the last one's time).
SERIES_BOOKED: dict[RecipientRole, Letter] = _change_letters(
    "and the rest of its series are booked",
    "is the first of $count sessions booked in this series; the last is on $last_local. "
    "The calendar file attached adds them all; a change to one of them comes with its "
    "own invite.",
    "is the first of <strong>$count</strong> sessions booked in this series; the last is "
    "on <strong>$last_local</strong>. The calendar file attached adds them all; a change "
    "to one of them comes with its own invite.",
)


def zone(name: str) -> ZoneInfo:
    """The guardian's zone, or UTC when what is stored is not a zone name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def join_names(names: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``: people as a sentence names them."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """E.g. ``Monday 7 January 2030, 11:00 (Europe/Paris)``."""
    local = at.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz.key})"


def local_date(at: datetime, tz: ZoneInfo) -> str:
    """E.g. ``Monday 7 January 2030``, the date where the guardian lives."""
    local = at.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y}"


def lead_time(remaining: timedelta) -> str:
    """How long until the start, as a reminder says it: ``24 hours``, ``1 hour``, ``25 minutes``."""
    minutes = max(round(remaining.total_seconds() / 60), 1)
    if minutes >= 90:
        return f"{round(minutes / 60)} hours"
    if minutes >= 55:
        return "1 hour"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def approval_note(
    *, automatic: bool | None, approver_name: str | None = None, after_minutes: int | None = None
) -> str:
    """How a session summary came to be sent, as the guardian's email says it.

    Args:
        automatic: True when the sweep approved it, False when a person did, None
            when the event does not say (one written before it did): then a line
            that claims neither.
        approver_name: who approved it (a person's display name), when a person did.
        after_minutes: for an automatic approval, the wait without review that ran
            out (``LIVECLASS_SUMMARY_AUTO_APPROVE_MINUTES``).
    """
    drafted = "This summary was drafted automatically from the session's recording"
    if automatic is False:
        if approver_name:
            return f"{drafted}, then reviewed and approved by {approver_name}."
        return f"{drafted}, then reviewed and approved before it was sent."
    if automatic is True:
        if after_minutes:
            wait = f"{after_minutes} minute{'s' if after_minutes != 1 else ''}"
            return f"{drafted} and sent without review, as nobody reviewed it within {wait}."
        return f"{drafted} and sent without review."
    return f"{drafted}."


def render(
    kind: DeliveryKind,
    values: dict[str, str],
    *,
    role: RecipientRole = RecipientRole.GUARDIAN,
    letter: Letter | None = None,
) -> Rendered:
    """Fill the templates of the kind (and, for reminders, the recipient's role) with
    ``values`` (plain strings; HTML is escaped here).

    Args:
        letter: the letter to fill instead of the kind's own (a substitution's
            ``SUBSTITUTION_TUTORS``).

    Raises:
        InvalidNotice: a value the template needs is missing.
    """
    if letter is None:
        letter = REMINDERS[role] if kind is DeliveryKind.SESSION_REMINDER else LETTERS[kind]
    try:
        subject = letter.subject.substitute(values)
        text = letter.text.substitute(values)
        escaped = {k: html.escape(v) for k, v in values.items()}
        content = letter.html.substitute(escaped)
        page = Template(_HTML_FRAME).substitute(
            subject=html.escape(subject),
            content=content,
            footer=letter.footer.substitute(escaped),
        )
    except KeyError as exc:
        raise InvalidNotice(f"{kind.value} needs a value for {exc.args[0]!r}") from None
    return Rendered(subject=subject, text=text, html=page)
