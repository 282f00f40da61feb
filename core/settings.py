"""Typed settings, read from ``LIVECLASS_*`` environment variables and ``.env``.

Each package declares the settings it reads in a class of its own
(``eventbus.settings``, ``sfu.settings``, ...); the process's ``Settings`` in
``api.settings`` is all of them at once, so a package can be built from its
own settings alone and the environment names stay flat (``LIVECLASS_REDIS_URL``).
This module holds their shared base and what every package needs: where data
lives, the database, the secret, logging.

Every unset setting means the embedded default, so that ``liveclass serve`` runs
on a fresh machine with no services: a SQLite file and generated secret under
``var/``, no Redis. Each service is opt-in by setting its URL.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.sealing import KeyRing


class LiveclassSettings(BaseSettings):
    """The base of every package's settings: ``LIVECLASS_`` variables and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="LIVECLASS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )


class CoreSettings(LiveclassSettings):
    """Where data lives, the database, the signing secret and logging."""

    data_dir: Path = Field(
        default=Path("var"),
        description="Folder for the embedded database, the generated secret and other local files.",
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite at DATA_DIR/liveclass.db. "
        "postgresql:// URLs are used through asyncpg.",
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs access and join tokens. Unset means one generated once and "
        "kept in DATA_DIR/secret_key (single node only).",
    )

    readiness_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, description="How long /readyz waits for each dependency."
    )

    encryption_keys: SecretStr | None = Field(
        default=None,
        description="AES-256-GCM keys for recordings and transcripts at rest, as "
        "ID:KEY pairs separated by commas; the first seals, the others only open "
        "(`liveclass keys generate`, `liveclass keys rotate`). Unset: nothing is sealed.",
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

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'liveclass.db').resolve()}"

    @field_validator("encryption_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        KeyRing.parse(value.get_secret_value() if value is not None else None)
        return value

    @property
    def key_ring(self) -> KeyRing:
        """The encryption keys (``core.sealing``); empty when none are set."""
        keys = self.encryption_keys
        return KeyRing.parse(keys.get_secret_value() if keys is not None else None)

    @property
    def recordings_dir(self) -> Path:
        """Where recordings go: one folder per session below it."""
        return self.data_dir / "recordings"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the message says which to change."""


def resolve_secret_key(settings: CoreSettings) -> str:
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
