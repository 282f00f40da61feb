"""The browser pages: the lesson client (/join) and the web app (/app). Their scripts and
styles are served from /static, this origin only."""

from __future__ import annotations

from html import escape

from starlette.responses import FileResponse, Response

from api.html import WEB, html_page
from api.routing import Call, Router
from scheduling.models import SessionStatus
from sessions.service import session_status

__all__ = ["WEB", "router"]

router = Router()

_ASK = "ask your coordinator for a new session and its link"
_CLOSED = {
    SessionStatus.ENDED: f"This session has ended, so it can no longer be joined. If it should "
    f"still be running, {_ASK}.",
    SessionStatus.DOCUMENTED: "This session has ended and its notes are written, so it can no "
    f"longer be joined. For another lesson, {_ASK}.",
    SessionStatus.CANCELLED: "This session was cancelled, so it cannot be joined. Ask your "
    "coordinator whether it has been booked again, and for the new link.",
    SessionStatus.NO_SHOW: "This session was closed because nobody came, so it can no longer "
    f"be joined. To try again, {_ASK}.",
}


def _closed_reason(status: SessionStatus) -> str:
    return _CLOSED.get(status, f"This session is {status.value} and can no longer be joined.")


# The web app and the lesson page run our own modules only and talk to this origin only
# (the signaling WebSocket included: 'self' covers ws: and wss: to the same host);
# nothing they show from the API is ever markup, and the browser is told so.
APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@router.get("/join/{session_id}", tags=["client"], auth=False, media_type="text/html", errors=[410])
async def join_page(call: Call, session_id: str) -> Response:
    """The browser client for a live session.

    Open it with `?token=<join token>` (the link `liveclass demo` prints), or
    without one to log in first. The page needs camera and microphone access.
    An id that names no session answers 404, and a session that is over (ended,
    documented, cancelled or a no-show) 410 Gone, each with a page that says why.
    """
    status = await session_status(call.db, session_id)
    if status is None:
        return html_page(
            "No such session",
            f"    <p>No session has the id <code>{escape(session_id)}</code>. Check the link, "
            "or ask your coordinator for a new one.</p>",
            status_code=404,
        )
    if status.is_closed:
        return html_page(
            "This session is over",
            f"    <p>{escape(_closed_reason(status))}</p>",
            status_code=410,
        )
    return FileResponse(
        WEB / "join.html",
        media_type="text/html",
        headers={"cache-control": "no-store", "content-security-policy": APP_POLICY},
    )


@router.get("/app", tags=["client"], auth=False, media_type="text/html")
async def web_app(call: Call) -> Response:
    """The web app: log in, then each role's pages (the family portal for guardians,
    lessons and Join for students). A client of this API like any other; emails link
    to its pages (`/app#/summaries/{session_id}`, `/app#/family`)."""
    return FileResponse(
        WEB / "portal.html",
        media_type="text/html",
        headers={"cache-control": "no-cache", "content-security-policy": APP_POLICY},
    )
