"""Encryption at rest: AES-256-GCM for recordings (files, streamed) and transcripts (text).

Keys come from ``LIVECLASS_ENCRYPTION_KEYS``: ``id:key`` pairs, comma-separated, each
key 32 bytes in URL-safe base64 (``liveclass keys generate`` makes one). The first is
the one that seals; the others still open what they sealed, so a rotation is: put a
new key first, keep the old ones after it, run ``liveclass keys rotate`` (which
re-seals every file and text under the new key), then drop the old ones. Unset:
nothing is sealed, and whatever was sealed cannot be opened (a clear error says so).

A sealed file is a header and a run of chunks, so a recording is sealed as it is
written and a crash loses at most the chunk being filled::

    b"LCS1" | id length (1 byte) | key id | nonce prefix (8 random bytes)
    then per chunk: ciphertext length (4 bytes, big-endian) | ciphertext with its tag

Chunk ``n`` is sealed with the nonce ``prefix || n`` (4 bytes) and, as associated
data, the header, ``n`` and whether it is the last one: chunks cannot be reordered,
moved between files or dropped from the end without the open failing. A file that
never got its last chunk (the process died) opens with ``complete=False`` only.

A sealed text is ``"lcs1:" + id + ":" + base64(nonce || ciphertext)``; text without
the prefix is read as it is (written before keys were set).
"""

from __future__ import annotations

import base64
import os
import secrets
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import LiveclassError

__all__ = [
    "CHUNK",
    "KeyRing",
    "SealError",
    "SealedWriter",
    "generate_key",
    "is_sealed",
    "open_file",
    "open_text",
    "read_maybe_sealed",
    "reseal_file",
    "seal_text",
]

MAGIC = b"LCS1"
TEXT_PREFIX = "lcs1:"
CHUNK = 64 * 1024  # plaintext bytes per chunk at most
_LENGTH = struct.Struct(">I")


class SealError(LiveclassError):
    """Sealed data could not be opened: no key for it, or it was altered or cut short."""

    code = "sealed_data_unreadable"


def generate_key() -> str:
    """A new random 256-bit key, URL-safe base64, for ``LIVECLASS_ENCRYPTION_KEYS``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class KeyRing:
    """The keys by id; ``current`` seals. Empty: sealing is off."""

    keys: Mapping[str, bytes]
    current: str | None

    @classmethod
    def parse(cls, value: str | None) -> KeyRing:
        """From ``id:key,id:key`` (the first seals).

        Raises:
            ValueError: a pair without an id, a key that is not 32 bytes of base64, or
                an id given twice; the message says which.
        """
        keys: dict[str, bytes] = {}
        current = None
        for n, pair in enumerate(p.strip() for p in (value or "").split(",") if p.strip()):
            key_id, sep, encoded = pair.partition(":")
            if not sep or not key_id or len(key_id) > 32 or not key_id.isascii():
                raise ValueError(
                    f"key {n + 1}: write it as ID:KEY (an ASCII id of at most 32 characters); "
                    "make one with `liveclass keys generate`"
                )
            try:
                padded = encoded + "=" * (-len(encoded) % 4)
                key = base64.b64decode(padded, altchars=b"-_", validate=True)
            except ValueError as exc:
                raise ValueError(f"key {key_id!r}: not base64 ({exc})") from exc
            if len(key) != 32:
                raise ValueError(
                    f"key {key_id!r}: {len(key)} bytes, AES-256 needs 32; make one with "
                    "`liveclass keys generate`"
                )
            if key_id in keys:
                raise ValueError(f"key id {key_id!r} is given twice")
            keys[key_id] = key
            current = current or key_id
        return cls(keys=keys, current=current)

    @property
    def on(self) -> bool:
        return self.current is not None

    def key(self, key_id: str) -> AESGCM:
        try:
            return AESGCM(self.keys[key_id])
        except KeyError:
            raise SealError(
                f"sealed with key {key_id!r}, which LIVECLASS_ENCRYPTION_KEYS does not hold; "
                "add it back (after the current key) to read this data"
            ) from None

    def sealing(self) -> tuple[str, AESGCM]:
        if self.current is None:
            raise SealError("no encryption key is set (LIVECLASS_ENCRYPTION_KEYS)")
        return self.current, AESGCM(self.keys[self.current])


# --- files -----------------------------------------------------------------------------


def _header(key_id: str, prefix: bytes) -> bytes:
    encoded = key_id.encode()
    return MAGIC + bytes([len(encoded)]) + encoded + prefix


def _aad(header: bytes, n: int, last: bool) -> bytes:
    return header + _LENGTH.pack(n) + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A write-only binary file that seals what is written to it, chunk by chunk.

    ``flush`` seals what is buffered (so what reached the disk survives a crash),
    ``close`` seals the rest as the last chunk and closes the file underneath.
    """

    def __init__(self, file: BinaryIO, ring: KeyRing) -> None:
        self._file = file
        key_id, self._aead = ring.sealing()
        self._prefix = secrets.token_bytes(8)
        self._header = _header(key_id, self._prefix)
        self._buffer = bytearray()
        self._n = 0
        self.closed = False
        file.write(self._header)

    @property
    def name(self) -> str:
        return str(getattr(self._file, "name", ""))

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._seal(bytes(self._buffer), last=False)
            self._buffer.clear()
        self._file.flush()

    def close(self) -> None:
        if self.closed:
            return
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._file.close()
        self.closed = True

    def _seal(self, plain: bytes, *, last: bool) -> None:
        nonce = self._prefix + _LENGTH.pack(self._n)
        sealed = self._aead.encrypt(nonce, plain, _aad(self._header, self._n, last))
        self._file.write(_LENGTH.pack(len(sealed)) + sealed)
        self._n += 1


def is_sealed(path: Path) -> bool:
    """Whether the file at ``path`` starts as a sealed file does."""
    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def _chunks(data: bytes, ring: KeyRing, where: str) -> Iterator[tuple[bytes, bool]]:
    """Each chunk's plaintext and whether it was sealed as the last one."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 1:
        raise SealError(f"{where}: not a sealed file")
    id_len = data[len(MAGIC)]
    start = len(MAGIC) + 1
    key_id = data[start : start + id_len].decode(errors="replace")
    prefix = data[start + id_len : start + id_len + 8]
    header = data[: start + id_len + 8]
    aead = ring.key(key_id)
    at, n = len(header), 0
    while at < len(data):
        if at + _LENGTH.size > len(data):
            return  # cut inside a length: the chunk never reached the disk
        (size,) = _LENGTH.unpack_from(data, at)
        sealed = data[at + _LENGTH.size : at + _LENGTH.size + size]
        if len(sealed) < size:
            return  # cut inside the chunk
        nonce = prefix + _LENGTH.pack(n)
        for last in (False, True):
            try:
                plain = aead.decrypt(nonce, sealed, _aad(header, n, last))
            except InvalidTag:
                continue
            yield plain, last
            break
        else:
            raise SealError(f"{where}: chunk {n} fails its check (altered, or another file's)")
        at += _LENGTH.size + size
        n += 1


def open_file(path: Path, ring: KeyRing, *, complete: bool = True) -> bytes:
    """The plaintext of the sealed file at ``path``.

    Raises:
        SealError: no key for it; a chunk was altered; data after the last chunk; or,
            with ``complete``, the last chunk is missing (the writer died first).
    """
    plain, ended = bytearray(), False
    for chunk, last in _chunks(path.read_bytes(), ring, str(path)):
        if ended:
            raise SealError(f"{path}: data after its last chunk")
        plain += chunk
        ended = last
    if complete and not ended:
        raise SealError(
            f"{path}: cut short (its last chunk is missing: the recorder stopped while "
            "writing); open it with complete=False to read what was sealed"
        )
    return bytes(plain)


def read_maybe_sealed(path: Path, ring: KeyRing) -> bytes:
    """A file's bytes: opened if sealed (a crashed writer's file too), else as they are."""
    if is_sealed(path):
        return open_file(path, ring, complete=False)
    return path.read_bytes()


def reseal_file(path: Path, ring: KeyRing) -> bool:
    """Seal ``path`` under the current key, in place (a new file renamed over it): a
    plain file, or one sealed under another key. Whether it changed."""
    key_id, _ = ring.sealing()
    if is_sealed(path):
        with path.open("rb") as f:
            head = f.read(len(MAGIC) + 1 + 255)
        if head[len(MAGIC) + 1 : len(MAGIC) + 1 + head[len(MAGIC)]] == key_id.encode():
            return False
    plain = read_maybe_sealed(path, ring)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.sealing")
    with temp.open("xb") as raw:
        writer = SealedWriter(raw, ring)
        writer.write(plain)
        writer.flush()
        os.fsync(raw.fileno())
        writer.close()
    os.replace(temp, path)
    return True


# --- text ------------------------------------------------------------------------------

# The process's keys for sealed columns (``SealedText``): a column type cannot be handed
# them per query, so ``core.database.create_engine`` installs the settings' ring here.
_ring = KeyRing(keys={}, current=None)


def use_keys(ring: KeyRing) -> None:
    """Seal and open text columns with ``ring`` from now on, in this process."""
    global _ring
    _ring = ring


def process_keys() -> KeyRing:
    return _ring


def seal_text(text: str, ring: KeyRing) -> str:
    """``text`` sealed under the current key, as text a column holds."""
    key_id, aead = ring.sealing()
    nonce = secrets.token_bytes(12)
    sealed = aead.encrypt(nonce, text.encode(), (TEXT_PREFIX + key_id).encode())
    return f"{TEXT_PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def text_key(value: str) -> str | None:
    """The id of the key that sealed ``value``; None for plain text."""
    if not value.startswith(TEXT_PREFIX):
        return None
    return value[len(TEXT_PREFIX) :].partition(":")[0]


def open_text(value: str, ring: KeyRing) -> str:
    """The text in ``value``: opened if sealed, as it is otherwise.

    Raises:
        SealError: no key for it, or it was altered.
    """
    key_id = text_key(value)
    if key_id is None:
        return value
    blob = value[len(TEXT_PREFIX) + len(key_id) + 1 :]
    try:
        raw = base64.b64decode(blob, validate=True)
        aad = (TEXT_PREFIX + key_id).encode()
        return ring.key(key_id).decrypt(raw[:12], raw[12:], aad).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealError(f"a sealed text under key {key_id!r} fails its check") from exc
