"""What signaling reads: the room cap, message limits, timeouts and join tokens' grace."""

from __future__ import annotations

from pydantic import Field

from core.settings import LiveclassSettings


class SignalingSettings(LiveclassSettings):
    """Limits of one room and one signaling connection."""

    join_token_grace_seconds: int = Field(
        default=1800,
        ge=0,
        le=86_400,
        description="How long after a session's scheduled end its join tokens stay valid.",
    )

    max_participants: int = Field(
        default=8, ge=2, le=50, description="Participants allowed in one session's room at once."
    )

    max_message_bytes: int = Field(
        default=65_536, ge=4096, le=1_048_576, description="Largest signaling message accepted."
    )

    join_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Time a new WebSocket has to send its join message."
    )

    idle_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="A signaling connection that sends nothing (not even ping) this long "
        "is closed.",
    )

    reconnect_grace_seconds: float = Field(
        default=15.0,
        ge=0,
        le=300,
        description="How long a participant whose connection dropped keeps their seat: "
        "the others see them reconnecting, and they come back into it with the resume "
        "token. 0: a drop is a leave.",
    )
