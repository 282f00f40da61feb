"""What scheduling reads: the notice policy."""

from __future__ import annotations

from pydantic import Field

from core.settings import LiveclassSettings


class SchedulingSettings(LiveclassSettings):
    """When a cancellation or move counts as late."""

    late_cancel_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 14,
        description="A session cancelled or moved with less notice than this before its start "
        "is flagged as late (on the session, its event and the emails). 0 flags none.",
    )
