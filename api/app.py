"""The composition root: ``create_app(settings)`` wires every part together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
    agenda,
    analytics,
    api_keys,
    attendance,
    audit,
    auth,
    availability,
    calendar,
    dead_letters,
    documents,
    exceptions,
    guardians,
    health,
    home,
    lifecycle,
    match_requests,
    matching,
    notifications,
    ops,
    pages,
    privacy,
    progress_reports,
    series,
    sessions,
    students,
    substitutes,
    tutors,
    unsubscribe,
    utilisation,
)
from api.routing import Router, error_response
from api.services import Services
from api.settings import Settings, get_settings
from api.version import app_version
from api.workers import Runner, build_event_bus, mail_dispatcher, timer_policy
from core.clock import Clock, SystemClock
from core.errors import LiveclassError, NotFound
from core.logging import get_logger
from sessions import admission, consent
from sessions.chat import record_chat
from sessions.documentation import record_recording, record_recording_decision
from sessions.live_transcript import LiveTranscription
from sessions.models import PresenceType
from sessions.service import record_presence as write_presence
from sessions.service import session_status
from sfu import ice
from sfu.media_metrics import MediaCollector, first_media_histogram
from sfu.recording import RecordedTrack, Recorder
from signaling.presence import ChatRecord, RoomRecord
from signaling.server import RecordingSink, SignalingLimits, SignalingServer
from signaling.tokens import JoinGrant

log = get_logger("liveclass.api")


def build_router() -> Router:
    router = Router()
    for module in (
        health,
        auth,
        tutors,
        availability,
        students,
        guardians,
        sessions,
        substitutes,
        series,
        calendar,
        lifecycle,
        documents,
        notifications,
        attendance,
        exceptions,
        ops,
        api_keys,
        matching,
        match_requests,
        utilisation,
        agenda,
        analytics,
        dead_letters,
        pages,
        progress_reports,
        privacy,
        audit,
        unsubscribe,
        home,
    ):
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


def build_signaling(
    services: Services, *, on_recording: RecordingSink | None = None
) -> SignalingServer:
    """The signaling server: ICE confined as configured, sessions looked up in the database,
    every join and leave written to ``presence_records`` as it happens, and, with
    ``LIVECLASS_RECORDING``, each room's audio recorded under DATA_DIR/recordings/{session_id}/
    (consenting participants only). A closed room's files go to ``on_recording``, by
    default ``recording.ready`` in the outbox, which starts transcription. With
    ``LIVECLASS_LIVE_TRANSCRIPTION`` too, what may be transcribed is transcribed as it is
    recorded (``sessions.live_transcript``) and shown as the room's live captions."""
    settings = services.settings
    ice.confine(settings.ice_addresses, settings.ice_port_range)
    first_media = first_media_histogram(services.metrics.registry)

    async def session_exists(session_id: str) -> bool:
        async with services.sessionmaker() as db:
            status = await session_status(db, session_id)
        return status is not None and not status.is_closed

    async def still_admitted(grant: JoinGrant) -> bool:
        async with services.sessionmaker() as db:
            return await admission.still_admitted(
                db,
                session_id=grant.session_id,
                participant_id=grant.participant_id,
                role=grant.role,
            )

    async def record_presence(record: RoomRecord) -> None:
        # Its own transaction, written by signaling's presence writer in order and off
        # the join path (signaling.presence): a busy database delays no one's media.
        # The lifecycle moves with it: the first join opens the session and starts it.
        async with services.sessionmaker() as db, db.begin():
            if isinstance(record, ChatRecord):
                await record_chat(
                    db,
                    line_id=record.id,
                    session_id=record.session_id,
                    participant_id=record.participant_id,
                    name=record.name,
                    role=record.role,
                    text=record.text,
                    at=record.at,
                )
                return
            await write_presence(
                db,
                session_id=record.session_id,
                participant_id=record.participant_id,
                role=record.role,
                type_=PresenceType(record.type),
                at=record.at,
                reason=record.reason,
            )

    async def may_record(participant_id: str) -> bool:
        async with services.sessionmaker() as db:
            return await consent.may_record(
                db,
                participant_id=participant_id,
                rule=settings.consent_rule(services.clock.now().date()),
            )

    async def recording_ready(session_id: str, tracks: list[RecordedTrack]) -> None:
        async with services.sessionmaker() as db, db.begin():
            await record_recording(db, session_id, tracks, now=services.clock.now())
        log.info("recording ready", session=session_id, files=len(tracks))

    live = (
        LiveTranscription(
            services.live_transcriber,
            services.sessionmaker,
            services.clock,
            consent_age=settings.consent_age,
        )
        if settings.live_transcription
        else None
    )

    def recorder_for(session_id: str) -> Recorder | None:
        if not settings.recording:
            return None

        async def decided(participant_id: str, role: str, recorded: bool) -> None:
            async with services.sessionmaker() as db, db.begin():
                await record_recording_decision(
                    db, session_id, participant_id, role, recorded, now=services.clock.now()
                )

        return Recorder(
            settings.recordings_dir / session_id,
            may_record=may_record,
            on_decision=decided,
            live=live.source(session_id) if live is not None else None,
            keys=settings.key_ring,
        )

    server = SignalingServer(
        secret=services.secret,
        clock=services.clock,
        limits=SignalingLimits(
            max_participants=settings.max_participants,
            max_message_bytes=settings.max_message_bytes,
            join_timeout=settings.join_timeout_seconds,
            idle_timeout=settings.idle_timeout_seconds,
            reconnect_grace=settings.reconnect_grace_seconds,
        ),
        ice_servers=settings.ice_servers,
        session_exists=session_exists,
        still_admitted=still_admitted,
        on_presence=record_presence,
        recorder_for=recorder_for,
        on_recording=on_recording or recording_ready,
        on_first_media=first_media.observe,
        live_captions=live is not None and settings.recording,
    )
    if live is not None:
        live.on_caption = server.caption
    return server


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_timers: bool = False,
    on_recording: RecordingSink | None = None,
    run_workers: bool = False,
) -> Starlette:
    """Build the Liveclass ASGI app.

    Args:
        settings: configuration; read from the environment when omitted.
        clock: time source; the system clock when omitted (tests pass a FixedClock).
        run_timers: run the lifecycle sweep (``sessions.timers``) while the app
            lives; ``liveclass serve`` does, tests that drive time themselves don't.
        on_recording: hears each closed room's recorded files (``sfu.recording``)
            instead of the default, which writes ``recording.ready`` to the outbox.
        run_workers: run the event bus while the app lives: the embedded bus and
            its handlers, or with Redis only the outbox relay (``liveclass
            worker`` runs the handlers). ``app.state.bus`` exists either way, for
            replays.
    """
    settings = settings or get_settings()
    services = Services.build(settings, clock or SystemClock())
    signaling = build_signaling(services, on_recording=on_recording)
    services.recording_withdrawn.append(signaling.withdraw_recording)
    services.metrics.registry.register(
        MediaCollector(lambda: [state.room for state in list(signaling.rooms.values())])
    )
    bus = build_event_bus(services, consume=False)
    router = build_router()
    spec: dict[str, Any] = build_openapi(router.endpoints, version=app_version())

    async def openapi(_: Request) -> Response:
        return JSONResponse(spec)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        runner = Runner(
            bus if run_workers else None,
            services,
            sweep_policy=timer_policy(services.settings) if run_timers else None,
            mail=mail_dispatcher(services) if run_workers else None,
        )
        runner.start()
        try:
            yield
        finally:
            await runner.aclose()
            await bus.aclose()
            await signaling.aclose()
            await services.aclose()

    app = Starlette(
        routes=[
            *router.routes(),
            Route("/openapi.json", openapi, include_in_schema=False),
            WebSocketRoute("/rtc", signaling.handle),
            Mount("/static", StaticFiles(directory=pages.WEB), name="static"),
            Mount("/docs/assets", home.DocsAssets(), name="docs-assets"),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.signaling = signaling
    app.state.bus = bus
    app.state.openapi = spec
    return app
