"""What the event bus reads: the Redis URL, retries and the Redis stream's keys."""

from __future__ import annotations

from pydantic import Field

from core.settings import CoreSettings


class EventBusSettings(CoreSettings):
    """The bus backend (Redis Streams when ``redis_url`` is set) and its retry policy."""

    redis_url: str | None = Field(
        default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0; unset means no Redis."
    )

    event_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Tries an event handler gets on one event before the event is dead-lettered.",
    )

    event_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Wait before a failed handler's first retry; it doubles on each failure "
        "(at most 10 minutes).",
    )

    event_claim_idle_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Redis bus: an event a worker took and left unacknowledged this long "
        "(the worker died) is claimed and run by another worker.",
    )

    event_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the embedded bus looks for new events, the Redis relay copies "
        "the outbox into the stream, and how long a Redis worker blocks waiting for events.",
    )

    event_stream_prefix: str = Field(
        default="liveclass",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Redis bus: key prefix of the streams, {prefix}:events and {prefix}:dead.",
    )
