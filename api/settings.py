"""What the HTTP API reads, and ``Settings``: every package's settings in one object."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator

from ai_docs.settings import AIDocsSettings
from core.settings import CoreSettings, LiveclassSettings
from eventbus.settings import EventBusSettings
from notifications.settings import MailSettings
from scheduling.settings import SchedulingSettings
from sessions.settings import LifecycleSettings
from sfu.settings import MediaSettings
from signaling.settings import SignalingSettings


class ApiSettings(LiveclassSettings):
    """The public URL, login tokens and the ops feed."""

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people use to reach this server; "
        "the base of the links it gives out (join links, calendar feeds). Unset means the "
        "address 'liveclass serve' listens on (http://HOST:PORT).",
    )

    access_token_ttl_seconds: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of a login token."
    )

    login_failures_per_account: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Wrong passwords for one account within the login throttle window "
        "before its logins are refused (429) until the window has passed.",
    )

    login_failures_per_address: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Failed logins from one address within the window before logins "
        "from it are refused (429).",
    )

    login_throttle_minutes: int = Field(
        default=15, ge=1, le=1440, description="The login throttle's sliding window."
    )

    ops_feed_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the coordinators' ops feed (GET /api/v1/ops/feed) looks for new "
        "events in the outbox.",
    )

    ops_feed_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="How often the ops feed sends a comment line when nothing happens, so "
        "proxies keep the stream open.",
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")


class Settings(
    ApiSettings,
    MailSettings,
    AIDocsSettings,
    LifecycleSettings,
    SchedulingSettings,
    SignalingSettings,
    MediaSettings,
    EventBusSettings,
    CoreSettings,
):
    """All of Liveclass's configuration in one validated object: each package's class,
    so each part can be handed the whole and read only its own."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
