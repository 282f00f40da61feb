"""Request ids and the access log, as plain ASGI middleware (no body buffering)."""

from __future__ import annotations

import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import get_logger, request_id_var

log = get_logger("liveclass.access")
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
HEADER = "x-request-id"
# A calendar feed's address is its credential; the access log keeps it out.
_FEED_TOKEN = re.compile(r"^(/api/v1/calendar/)[^/]+(\.ics)$")


class RequestIdMiddleware:
    """Give every request an id: the caller's ``X-Request-ID`` if sane, else a new one.

    The id is echoed in the response header, put on every log line of the
    request and in every error body, so one id ties a user's report to the logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _VALID.match(given) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=_FEED_TOKEN.sub(r"\1***\2", scope["path"]),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            request_id_var.reset(token)
