"""The browser client's page; its scripts and styles are served from /static."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from api.routing import Call, Router

router = Router()
WEB = Path(__file__).resolve().parent.parent / "web"


@router.get("/join/{session_id}", tags=["client"], auth=False, media_type="text/html")
async def join_page(call: Call, session_id: str) -> Response:
    """The browser client for a live session.

    Open it with `?token=<join token>` (the link `liveclass demo` prints), or
    without one to log in first. The page needs camera and microphone access.
    """
    return FileResponse(
        WEB / "join.html", media_type="text/html", headers={"cache-control": "no-store"}
    )
