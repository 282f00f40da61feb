"""What a running app holds: settings, database, clock, secret, metrics, Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ai_docs import Transcriber, WhisperOptions
from ai_docs.live import LiveTranscriber
from api.metrics import Metrics
from api.settings import Settings
from core.clock import Clock
from core.database import create_engine, create_sessionmaker
from core.settings import resolve_secret_key


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    secret: str
    metrics: Metrics
    redis: Redis | None
    transcriber: Transcriber
    live_transcriber: LiveTranscriber
    # Told a student's user id when their recording consent no longer holds (a guardian
    # withdrew it): the signaling server stops their recording in any live room.
    recording_withdrawn: list[Callable[[str], Awaitable[object]]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> Services:
        """Build every client; none connects until first used."""
        engine = create_engine(settings)
        redis = None
        if settings.redis_url:
            timeout = settings.readiness_timeout_seconds
            redis = Redis.from_url(
                settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            clock=clock,
            secret=resolve_secret_key(settings),
            metrics=Metrics(),
            redis=redis,
            # Loads Whisper on first use, starts its threads then too.
            transcriber=Transcriber(WhisperOptions.from_settings(settings)),
            # Starts its worker processes on the first live stream (a recorded room).
            live_transcriber=LiveTranscriber(
                WhisperOptions.from_settings(settings),
                workers=settings.live_transcription_workers,
            ),
        )

    async def aclose(self) -> None:
        await self.live_transcriber.aclose()
        await self.transcriber.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
