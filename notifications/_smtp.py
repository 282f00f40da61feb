"""The one place that drives aiosmtplib below its public API: a send held before its end.

``hold`` talks SMTP up to and including the message body but does not send the
end-of-data mark (``CRLF . CRLF``). An SMTP server discards a message whose
connection drops before that mark (RFC 5321 §4.1.1.4: nothing is accepted
until the final reply), so a process killed while holding has sent nothing.
``HeldMessage.release`` sends the mark and reads the final reply;
``HeldMessage.abort`` drops the connection. The dispatcher commits "sent" to
its database between the two, which is what makes delivery exactly once
under SIGKILL (see ``dispatcher.py``).

This reaches into ``SMTP.protocol`` (``write`` and the transport's buffer),
which is why aiosmtplib is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import re
from typing import cast

from aiosmtplib import SMTP, SMTPException, SMTPResponseException

from notifications.errors import MailRejected, MailUnavailable

_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
DATA_START = 354
COMPLETED = 250


def stuff(message: bytes) -> bytes:
    """CRLF line endings, dot-stuffed (RFC 5321 §4.5.2), ending in CRLF: the DATA payload
    without its end-of-data mark."""
    message = _LINE_END.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return _LEADING_DOT.sub(b"..", message)


class HeldMessage:
    """A message whose body the server has, waiting for its end-of-data mark."""

    def __init__(self, client: SMTP, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    async def release(self) -> None:
        """Send the end-of-data mark and read the verdict, then say goodbye.

        Raises:
            MailRejected: the server refused the message in its final reply.
            MailUnavailable: the connection broke before the final reply came.
        """
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.execute_command(b".")
        except SMTPException as exc:
            self.abort()
            raise MailUnavailable(f"no reply to end of data: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            self.abort()
            raise MailUnavailable(f"no reply to end of data: {exc!r}") from exc
        if response.code != COMPLETED:
            self.abort()
            raise MailRejected(response.code, response.message)
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.quit()
        except (SMTPException, OSError, TimeoutError):
            self.abort()  # the message is in; a clumsy goodbye changes nothing

    def abort(self) -> None:
        """Drop the connection; a server keeps nothing of a message without its end mark."""
        self._client.close()


async def hold(
    client: SMTP, *, sender: str, recipient: str, message: bytes, timeout: float
) -> HeldMessage:
    """Connect, say MAIL/RCPT/DATA and send ``message`` without its end-of-data mark.

    ``client`` is an unconnected ``aiosmtplib.SMTP`` configured with host, TLS
    and credentials. The body is flushed to the socket before this returns, so
    releasing afterwards only has three bytes to send.

    Raises:
        MailRejected: the server refused a command (sender, recipient, DATA).
        MailUnavailable: it could not be reached, or the connection broke or timed out.
    """
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
            await client.mail(sender)
            await client.rcpt(recipient)
            response = await client.execute_command(b"DATA")
            if response.code != DATA_START:
                raise MailRejected(response.code, response.message)
            protocol = client.protocol
            transport = cast(asyncio.WriteTransport | None, client.transport)
            if protocol is None or transport is None:
                raise MailUnavailable("connection lost before the message body")
            protocol.write(stuff(message))
            while transport.get_write_buffer_size() > 0:
                if transport.is_closing():
                    raise MailUnavailable("connection lost while sending the message body")
                await asyncio.sleep(0.005)
    except MailRejected:
        client.close()
        raise
    except SMTPResponseException as exc:
        client.close()
        raise MailRejected(exc.code, exc.message) from exc
    except (SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise MailUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        client.close()
        raise
    return HeldMessage(client, timeout)
