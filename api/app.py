"""The composition root: ``create_app(settings)`` wires every part together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from api.middleware import RequestIdMiddleware
from api.openapi import build_openapi
from api.routes import (
    api_keys,
    auth,
    guardians,
    health,
    lifecycle,
    pages,
    sessions,
    students,
    tutors,
)
from api.routes.health import app_version
from api.routing import Router, error_response
from api.services import Services
from core.clock import Clock, SystemClock
from core.errors import LiveclassError, NotFound
from core.settings import Settings, get_settings
from scheduling.models import LiveSession, PresenceType
from sessions.service import record_presence as write_presence
from sessions.timers import TimerPolicy, sweep_forever
from sfu import ice
from signaling.server import PresenceRecord, SignalingLimits, SignalingServer


def build_router() -> Router:
    router = Router()
    for module in (health, auth, tutors, students, guardians, sessions, lifecycle, api_keys, pages):
        router.include(module.router)
    return router


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in our error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"no route {request.url.path}; see /openapi.json for the API")
        )
    err = LiveclassError(str(exc.detail), code=f"http_{exc.status_code}")
    err.status_code = exc.status_code
    return error_response(err, dict(exc.headers or {}))


def build_signaling(services: Services) -> SignalingServer:
    """The signaling server: ICE confined as configured, sessions looked up in the database,
    and every join and leave written to ``presence_records`` as it happens."""
    settings = services.settings
    ice.confine(settings.ice_addresses, settings.ice_port_range)

    async def session_exists(session_id: str) -> bool:
        async with services.sessionmaker() as db:
            status = await db.scalar(select(LiveSession.status).where(LiveSession.id == session_id))
        return status is not None and not status.is_closed

    async def record_presence(record: PresenceRecord) -> None:
        # Its own transaction, committed before signaling moves on: a crash after a
        # join still leaves the join. A failure is the server's to log; it goes on.
        # The lifecycle moves with it: the first join opens the session and starts it.
        async with services.sessionmaker() as db, db.begin():
            await write_presence(
                db,
                session_id=record.session_id,
                participant_id=record.participant_id,
                role=record.role,
                type_=PresenceType(record.type),
                at=record.at,
                reason=record.reason,
            )

    return SignalingServer(
        secret=services.secret,
        clock=services.clock,
        limits=SignalingLimits(
            max_participants=settings.max_participants,
            max_message_bytes=settings.max_message_bytes,
            join_timeout=settings.join_timeout_seconds,
            idle_timeout=settings.idle_timeout_seconds,
        ),
        ice_servers=settings.ice_servers,
        session_exists=session_exists,
        on_presence=record_presence,
    )


def timer_policy(settings: Settings) -> TimerPolicy:
    return TimerPolicy(
        open_before=timedelta(minutes=settings.session_open_before_minutes),
        no_show_after=timedelta(minutes=settings.no_show_after_minutes),
        end_grace=timedelta(minutes=settings.end_grace_minutes),
        empty_room_end=timedelta(minutes=settings.empty_room_end_minutes),
    )


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, run_timers: bool = False
) -> Starlette:
    """Build the Liveclass ASGI app.

    Args:
        settings: configuration; read from the environment when omitted.
        clock: time source; the system clock when omitted (tests pass a FixedClock).
        run_timers: run the lifecycle sweep (``sessions.timers``) while the app
            lives; ``liveclass serve`` does, tests that drive time themselves don't.
    """
    settings = settings or get_settings()
    services = Services.build(settings, clock or SystemClock())
    signaling = build_signaling(services)
    router = build_router()
    spec: dict[str, Any] = build_openapi(router.endpoints, version=app_version())

    async def openapi(_: Request) -> Response:
        return JSONResponse(spec)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        sweeper = None
        if run_timers and services.settings.lifecycle_sweep_seconds > 0:
            sweeper = asyncio.create_task(
                sweep_forever(
                    services.sessionmaker,
                    services.clock.now,
                    timer_policy(services.settings),
                    interval=services.settings.lifecycle_sweep_seconds,
                ),
                name="lifecycle-sweep",
            )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await signaling.aclose()
            await services.aclose()

    app = Starlette(
        routes=[
            *router.routes(),
            Route("/openapi.json", openapi, include_in_schema=False),
            WebSocketRoute("/rtc", signaling.handle),
            Mount("/static", StaticFiles(directory=pages.WEB), name="static"),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.signaling = signaling
    app.state.openapi = spec
    return app
