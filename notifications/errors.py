"""Errors of guardian notifications.

    MailError                 (``retryable`` says whether another try may work)
    ├── MailUnavailable       the server could not be reached or dropped us; retryable
    └── MailRejected          the server answered with an error code; retryable on 4xx

``InvalidNotice`` is a caller's mistake (an unknown kind, a missing field),
not a delivery problem.
"""

from __future__ import annotations

from core.errors import LiveclassError


class MailError(Exception):
    """Sending one email failed."""

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class MailUnavailable(MailError):
    """No conversation with the mail server: refused, timed out, or cut off."""


class MailRejected(MailError):
    """The mail server said no; a 5xx reply will not change on retry."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}", retryable=code < 500)
        self.code = code


class InvalidNotice(LiveclassError, ValueError):
    """A notice was asked for with a kind or context this module cannot render."""
