"""Errors shared by every package, and the one JSON shape the API gives them.

Hierarchy::

    LiveclassError                 (500 internal_error)
    ├── ValidationFailed           (422 validation_failed; field-level details)
    ├── NotAuthenticated           (401 not_authenticated)
    ├── PermissionDenied           (403 permission_denied)
    ├── NotFound                   (404 not_found)
    ├── Conflict                   (409 conflict)
    ├── TooManyRequests            (429 too_many_requests; retryable, with Retry-After)
    └── ServiceUnavailable         (503 service_unavailable; retryable)

Each carries a stable machine ``code`` (clients branch on it) and a message
that tells a person what to do next. Packages subclass these for their own
cases and keep the status and code meaningful.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """One problem with one field of a request."""

    loc: list[str | int] = Field(description="Where the problem is, e.g. ['body', 'email'].")
    message: str
    type: str = Field(description="A stable machine name for the kind of problem.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine code, e.g. 'not_found'.")
    message: str = Field(description="What went wrong and what to do about it.")
    request_id: str | None = Field(default=None, description="Quote this when asking for help.")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The JSON shape of every error the API returns."""

    error: ErrorBody


class LiveclassError(Exception):
    """Base of all Liveclass errors; unexpected ones map to HTTP 500."""

    status_code = 500
    code = "internal_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[ErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = list(details)

    def to_response(self, request_id: str | None) -> ErrorResponse:
        return ErrorResponse(
            error=ErrorBody(
                code=self.code,
                message=self.message,
                request_id=request_id,
                details=self.details,
            )
        )


class ValidationFailed(LiveclassError):
    status_code = 422
    code = "validation_failed"


class NotAuthenticated(LiveclassError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(LiveclassError):
    status_code = 403
    code = "permission_denied"


class NotFound(LiveclassError):
    status_code = 404
    code = "not_found"


class Conflict(LiveclassError):
    status_code = 409
    code = "conflict"


class TooManyRequests(LiveclassError):
    """Slow down: ``retry_after`` seconds until the request may succeed (the Retry-After
    header says the same)."""

    status_code = 429
    code = "too_many_requests"
    retryable = True

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(LiveclassError):
    status_code = 503
    code = "service_unavailable"
    retryable = True


def details_from_pydantic(errors: Sequence[Any], *, prefix: str) -> list[ErrorDetail]:
    """Turn ``ValidationError.errors()`` into our field-level details."""
    out: list[ErrorDetail] = []
    for err in errors:
        loc = [prefix, *[part for part in err.get("loc", ()) if isinstance(part, str | int)]]
        out.append(
            ErrorDetail(
                loc=loc,
                message=str(err.get("msg", "invalid")),
                type=str(err.get("type", "invalid")),
            )
        )
    return out
