"""What email reads: the SMTP server, the sender, timeouts and tries."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator

from core.settings import CoreSettings


class MailSettings(CoreSettings):
    """Where email goes (SMTP, or files under DATA_DIR/outbox/) and how it is sent."""

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
