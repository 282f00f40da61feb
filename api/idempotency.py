"""Idempotency keys: a retried booking request gets the first answer instead of a second booking.

A client that sends ``Idempotency-Key: <key>`` on an endpoint declared
``idempotent=True`` may send the same request again (after a timeout, a lost
connection) without booking twice:

- the first request claims the key (a row in ``idempotency_keys`` for the
  caller's principal) before the handler runs, and its response (status and
  body) is stored in that row in the same transaction as what the handler
  wrote: both commit or neither does;
- a retry with the same key and the same request gets the stored response,
  marked ``Idempotent-Replayed: true``, and nothing runs again;
- the same key with a different request is refused (422 ``idempotency_key_reused``);
- a request that fails writes nothing, the key included, so its retry runs afresh;
- keys expire ``TTL`` after the first request.

Two concurrent requests with the same key meet at the unique constraint on
(principal, key): the second waits for the first and then replays its answer,
or gets 409 ``request_in_progress`` when that answer cannot be read yet.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from api.models import IdempotencyKey
from core.errors import Conflict, ErrorDetail, ValidationFailed

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_hash(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the request, with the JSON body in canonical form (key order ignored)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        canonical = body.decode("latin-1")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters; "
            "send a fresh random value (e.g. a UUID) per booking",
            code="invalid_idempotency_key",
            details=[
                ErrorDetail(
                    loc=["header", HEADER], message="invalid", type="invalid_idempotency_key"
                )
            ],
        )


def _replay(row: IdempotencyKey, digest: str) -> Response:
    if row.request_hash != digest:
        raise ValidationFailed(
            f"this {HEADER} was already used for a different request; "
            "use a new key for a new booking",
            code="idempotency_key_reused",
            details=[
                ErrorDetail(
                    loc=["header", HEADER],
                    message="used before with another body",
                    type="idempotency_key_reused",
                )
            ],
        )
    if row.status_code is None or row.response_body is None:
        raise Conflict(
            f"a request with this {HEADER} is still being handled; retry in a moment",
            code="request_in_progress",
        )
    return Response(
        row.response_body,
        status_code=row.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def claim(
    db: AsyncSession, *, principal_id: str, key: str, digest: str, now: datetime
) -> IdempotencyKey | Response:
    """Claim ``key`` for this request, or return the response stored for it.

    Returns the new row (the caller runs the request, then ``remember``s its
    response) or the stored response of an earlier identical request.

    Raises:
        ValidationFailed: the key is malformed or was used for a different request.
        Conflict: an identical request holding the key has not finished.
    """
    _check_key(key)
    await db.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.principal_id == principal_id, IdempotencyKey.created_at <= now - TTL
        )
    )
    mine = select(IdempotencyKey).where(
        IdempotencyKey.principal_id == principal_id, IdempotencyKey.key == key
    )
    row = await db.scalar(mine)
    if row is not None:
        return _replay(row, digest)
    row = IdempotencyKey(principal_id=principal_id, key=key, request_hash=digest, created_at=now)
    try:
        async with db.begin_nested():
            db.add(row)
            await db.flush()
    except IntegrityError:
        # A concurrent request with this key committed first; answer as it did.
        earlier = await db.scalar(mine.execution_options(populate_existing=True))
        if earlier is None:
            raise Conflict(
                f"a request with this {HEADER} is still being handled; retry in a moment",
                code="request_in_progress",
            ) from None
        return _replay(earlier, digest)
    return row


async def remember(db: AsyncSession, row: IdempotencyKey, response: Response) -> None:
    """Store the response the claimed request is about to commit with."""
    row.status_code = response.status_code
    row.response_body = bytes(response.body).decode()
    await db.flush()
