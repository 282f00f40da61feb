"""Identifiers: a short type prefix and a time-ordered random part.

``ses_01JD3...`` tells a reader in a log line what kind of thing an id names,
and the ULID-style body (48-bit millisecond time, 80 random bits, Crockford
base32) sorts by creation time, which keeps B-tree inserts local.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PREFIX = re.compile(r"^[a-z]{2,5}$")
ID_PATTERN = r"^[a-z]{2,5}_[0-9A-HJKMNP-TV-Z]{26}$"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """Return a new id such as ``tut_01JD3Q8Z6W4V1M2N3P4Q5R6S7T``.

    Args:
        prefix: two to five lowercase letters naming the kind of object.
        at_ms: the millisecond timestamp to embed; now when omitted.
    """
    if not _PREFIX.match(prefix):
        raise ValueError(f"id prefix must be 2-5 lowercase letters, got {prefix!r}")
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    body = (ms << 80) | secrets.randbits(80)
    return f"{prefix}_{_encode(body, 26)}"
