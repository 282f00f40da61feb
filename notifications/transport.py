"""Where emails go: an SMTP server, or ``.eml`` files in ``DATA_DIR/outbox/``.

Both transports work in two steps around the dispatcher's commit: ``prepare``
does everything that can fail (SMTP: the conversation up to the end-of-data
mark; files: writing a temporary file), ``release`` makes it count (the final
dot; the rename), ``abort`` leaves no trace (a dropped connection; the
temporary file removed).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote

from aiosmtplib import SMTP

from notifications import _smtp
from notifications.invites import INVITE_NAME, invite_method
from notifications.models import Delivery
from notifications.settings import MailSettings, check_smtp_url


class Prepared(Protocol):
    async def release(self) -> None: ...
    def abort(self) -> None: ...


class MailTransport(Protocol):
    """Something that can take one message up to the point of no return."""

    async def prepare(self, *, sender: str, recipient: str, message: bytes, name: str) -> Prepared:
        """Raises MailError (see errors.py) when the message cannot get that far."""
        ...


def build_message(delivery: Delivery, *, mail_from: str) -> bytes:
    """The MIME message (text and HTML alternatives, and its attachment if it has one:
    a PDF, or an iCalendar invite) for a delivery, with CRLF line ends.

    Built only from stored columns, so every resend is the same message.
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = mail_from
    msg["To"] = formataddr(("", delivery.to_address))
    msg["Subject"] = delivery.subject or ""
    msg["Date"] = format_datetime(delivery.created_at)
    msg["Message-ID"] = delivery.message_id
    msg["Auto-Submitted"] = "auto-generated"
    if delivery.unsubscribe_url:
        # RFC 8058: mail clients offer their own "Unsubscribe" and POST it here.
        msg["List-Unsubscribe"] = f"<{delivery.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(delivery.text_body or "")
    msg.add_alternative(delivery.html_body or "", subtype="html")
    if delivery.attachment is not None:
        method = invite_method(delivery.attachment)
        if method is not None:
            # An invite: text/calendar with its METHOD, which calendar-aware clients
            # (Gmail, Outlook, Apple Mail) read to add, update or remove the event.
            msg.add_attachment(
                delivery.attachment,
                maintype="text",
                subtype="calendar",
                filename=delivery.attachment_name or INVITE_NAME,
                params={"method": method, "charset": "utf-8"},
            )
        else:
            msg.add_attachment(
                delivery.attachment,
                maintype="application",
                subtype="pdf",
                filename=delivery.attachment_name or "attachment.pdf",
            )
    return msg.as_bytes()


def sender_address(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


@dataclass(frozen=True)
class SmtpTransport:
    """An SMTP server, reached anew for each message."""

    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float, tls_context: ssl.SSLContext | None = None
    ) -> SmtpTransport:
        """From ``smtp://user:pass@host:port[?starttls=true]`` or ``smtps://...``."""
        parts = check_smtp_url(url)
        implicit = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", ["false"])[-1].lower() == "true"
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 587 if starttls else 25),
            use_tls=implicit,
            start_tls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
            tls_context=tls_context,
        )

    def client(self) -> SMTP:
        """A new, unconnected client for this server."""
        return SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )

    async def prepare(
        self, *, sender: str, recipient: str, message: bytes, name: str
    ) -> _smtp.HeldMessage:
        return await _smtp.hold(
            self.client(), sender=sender, recipient=recipient, message=message, timeout=self.timeout
        )


@dataclass
class _PendingFile:
    temp: Path
    final: Path

    async def release(self) -> None:
        await asyncio.to_thread(os.replace, self.temp, self.final)

    def abort(self) -> None:
        self.temp.unlink(missing_ok=True)


@dataclass(frozen=True)
class OutboxTransport:
    """``.eml`` files in a folder, one per delivery, named by its id.

    A resend replaces the same file, so each delivery is one file whatever
    happened; the rename makes a file appear whole or not at all.
    """

    folder: Path

    async def prepare(self, *, sender: str, recipient: str, message: bytes, name: str) -> Prepared:
        final = self.folder / f"{name}.eml"
        temp = self.folder / f".{name}.{os.getpid()}.tmp"

        def write() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as fh:
                fh.write(message)
                fh.flush()
                os.fsync(fh.fileno())

        await asyncio.to_thread(write)
        return _PendingFile(temp, final)


def build_transport(settings: MailSettings) -> MailTransport:
    """SMTP when ``LIVECLASS_SMTP_URL`` is set, else ``DATA_DIR/outbox/``."""
    if settings.smtp_url is not None:
        return SmtpTransport.from_url(
            settings.smtp_url.get_secret_value(), timeout=settings.mail_timeout_seconds
        )
    return OutboxTransport(settings.data_dir / "outbox")
