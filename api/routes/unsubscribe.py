"""One-click stops from a guardian's email: a page to confirm, and the POST that stops.

The link in each email (``notifications.unsubscribe``) is its own permission, so
neither needs a login. GET only shows what the link would stop, with one button:
mail scanners open links, and must not unsubscribe anyone. POST stops it; mail
clients that offer "Unsubscribe" from the ``List-Unsubscribe`` headers POST here
(RFC 8058) with ``List-Unsubscribe=One-Click``, which needs no other field.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse, Response

from api.html import html_page
from api.routing import Call, Router
from core.logging import get_logger
from notifications.unsubscribe import Stop, read_stop_token
from scheduling import guardianships
from scheduling.models import Guardian, Student

router = Router()
TAGS = ["client"]
log = get_logger("liveclass.guardians")

# Which emails each switch stops, as the page says it.
WHAT = {
    "notify_summaries": "the summary after each lesson",
    "notify_absences": "the email when they miss a lesson",
    "notify_reminders": "the reminders before each lesson",
}
# The confirm page posts its own form: the only page whose policy lets a form go anywhere.
FORM_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _unknown() -> Response:
    return html_page(
        "This link does not work",
        "    <p>This link is not one Liveclass sent, or it was cut short. Copy the whole "
        'link from the email, or choose your emails in <a href="/app#/family">your family '
        "portal</a>.</p>",
        status_code=404,
    )


async def _named(call: Call, token: str) -> tuple[Stop, Guardian, Student] | None:
    """What the link names, if Liveclass sent it and its guardian and child still exist."""
    try:
        stop = read_stop_token(token, secret=call.services.secret)
    except ValueError:
        return None
    guardian = await call.db.get(Guardian, stop.guardian_id)
    student = await call.db.get(Student, stop.student_id)
    if guardian is None or student is None:
        return None
    return stop, guardian, student


@router.get("/unsubscribe/{token}", tags=TAGS, auth=False, media_type="text/html", errors=[404])
async def confirm_stop(call: Call, token: str) -> Response:
    """What this email link stops, with one button to stop it (no login needed)."""
    named = await _named(call, token)
    if named is None:
        return _unknown()
    stop, _, student = named
    what = WHAT[stop.term]
    response = html_page(
        "Stop these emails",
        f"    <p>Stop {escape(what)} about {escape(student.user.display_name)}?</p>\n"
        f'    <form method="post" action="/unsubscribe/{escape(token)}">\n'
        '      <button type="submit">Stop these emails</button>\n'
        "    </form>\n"
        '    <p>You can turn them back on, and choose the others, in <a href="/app#/family">'
        "your family portal</a>.</p>",
    )
    response.headers["content-security-policy"] = FORM_POLICY
    return response


@router.post("/unsubscribe/{token}", tags=TAGS, auth=False, media_type="text/html", errors=[404])
async def stop_emails(call: Call, token: str) -> Response:
    """Stop the kind of email this link names, about that child, at once (RFC 8058
    one-click: the mail client's own Unsubscribe posts here too)."""
    named = await _named(call, token)
    if named is None:
        return _unknown()
    stop, guardian, student = named
    changed = await guardianships.change_terms(
        call.db, guardian, student_id=student.id, changes={stop.term: False}, now=call.now
    )
    if changed is None:  # no longer this child's guardian: nothing of theirs is sent
        return _unknown()
    log.info(
        "guardianship terms changed",
        guardian=guardian.id,
        student=student.id,
        by="email link",
        changes={stop.term: False},
    )
    page: HTMLResponse = html_page(
        "Emails stopped",
        f"    <p>You will no longer get {escape(WHAT[stop.term])} about "
        f"{escape(student.user.display_name)}.</p>\n"
        '    <p>To turn them back on, or to choose the others, go to <a href="/app#/family">'
        "your family portal</a>.</p>",
    )
    return page
