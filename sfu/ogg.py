"""An Ogg Opus writer (RFC 7845) for encoded Opus packets, in pure Python.

The SFU records audio as it forwards it: packets as they came off the wire,
never decoded. This module muxes them into Ogg: an ``OpusHead`` page, an
``OpusTags`` page, then audio pages whose granule position counts 48 kHz
samples (RFC 3533 paging, with its CRC).

Time is kept by the caller, not by the packet count: ``write(packet, at=...)``
says where on the file's timeline a packet starts. A gap before it (packet
loss, a participant away) is filled with Opus silence frames, so the file
plays silence for as long as the gap lasted in any decoder, including those
that concatenate samples and ignore granule positions. The silence frames are
constant CELT packets (RFC 6716: silence flag set), made without an encoder.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

OPUS_RATE = 48_000
VENDOR = b"liveclass"
# Keep at most this much audio in memory before it becomes a page (and reaches the file).
PAGE_SAMPLES = OPUS_RATE
MAX_SEGMENTS = 255
# CELT-only fullband frames (RFC 6716 configs 28..31), code 0, with a payload that
# decodes as the silence flag. Largest first: a gap is filled greedily.
_SILENCE_FRAMES = ((31, 960), (30, 480), (29, 240), (28, 120))
_SILENCE_PAYLOAD = b"\xff\xfe"
MIN_GAP = 120  # samples: the shortest silence frame (2.5 ms); smaller gaps are absorbed

_HEADER_BOS = 0x02
_HEADER_EOS = 0x04


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, zero start."""
    crc = 0
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def opus_samples(packet: bytes) -> int:
    """Samples (at 48 kHz) in one Opus packet, read from its TOC byte (RFC 6716 3.1).

    0 for a packet too short to say (such a packet is not written).
    """
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config % 4]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config % 2]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config % 4]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        if len(packet) < 2:
            return 0
        count = packet[1] & 0x3F
    return frame * count


def silence_packet(samples: int, *, stereo: bool) -> bytes:
    """One Opus packet of ``samples`` (120, 240, 480 or 960) of silence."""
    config = next(c for c, n in _SILENCE_FRAMES if n == samples)
    return bytes([(config << 3) | (0x04 if stereo else 0)]) + _SILENCE_PAYLOAD


def opus_head(channels: int, *, pre_skip: int = 0) -> bytes:
    """The identification header (RFC 7845 5.1), mapping family 0."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, OPUS_RATE, 0, 0)


def opus_tags(comments: dict[str, str] | None = None) -> bytes:
    """The comment header (RFC 7845 5.2)."""
    items = [f"{k}={v}".encode() for k, v in (comments or {}).items()]
    out = b"OpusTags" + struct.pack("<I", len(VENDOR)) + VENDOR + struct.pack("<I", len(items))
    for item in items:
        out += struct.pack("<I", len(item)) + item
    return out


def _lacing(length: int) -> bytes:
    return b"\xff" * (length // 255) + bytes([length % 255])


class OggOpusWriter:
    """Appends encoded Opus packets to an Ogg Opus file, placed on a sample timeline.

    Not thread-safe: one owner calls it (``sfu.recording`` calls it from one
    worker thread at a time). The headers are written on the first packet, so
    the channel count can follow that packet (its TOC stereo flag).

    Args:
        out: a binary file opened for writing.
        serial: the Ogg stream's serial number.
        comments: OpusTags comments.
    """

    def __init__(
        self, out: BinaryIO, *, serial: int, comments: dict[str, str] | None = None
    ) -> None:
        self._out = out
        self._serial = serial & 0xFFFFFFFF
        self._comments = comments
        self._sequence = 0
        self._stereo = False
        self._started = False
        self._closed = False
        self._pending: list[bytes] = []  # packets of the page being built
        self._pending_segments = 0
        self._pending_samples = 0
        self.position = 0  # samples written (granule position of everything so far)
        self.packets = 0  # audio packets written, silence included
        self.silence_samples = 0

    @property
    def duration(self) -> float:
        """Seconds of audio written so far, gaps included."""
        return self.position / OPUS_RATE

    def write(self, packet: bytes, *, at: int | None = None) -> bool:
        """Append ``packet``, starting it at sample ``at`` of the timeline (default: right after
        the last one). A gap of ``MIN_GAP`` samples or more before ``at`` becomes silence; a
        packet due earlier than the end of what is written follows it directly.

        Returns False, writing nothing, for a packet whose length cannot be read.

        Raises:
            ValueError: the writer is closed.
        """
        if self._closed:
            raise ValueError("cannot write to an Ogg Opus file that is already closed")
        samples = opus_samples(packet)
        if samples == 0:
            return False
        if not self._started:
            self._start(stereo=bool(packet[0] & 0x04))
        if at is not None and at - self.position >= MIN_GAP:
            self._fill(at - self.position)
        self._add(packet, samples)
        return True

    def _start(self, *, stereo: bool) -> None:
        self._started = True
        self._stereo = stereo
        self._page([opus_head(2 if stereo else 1)], granule=0, flags=_HEADER_BOS)
        self._page([opus_tags(self._comments)], granule=0, flags=0)

    def _fill(self, gap: int) -> None:
        for config_samples in (n for _, n in _SILENCE_FRAMES):
            silence = silence_packet(config_samples, stereo=self._stereo)
            while gap >= config_samples:
                self._add(silence, config_samples)
                self.silence_samples += config_samples
                gap -= config_samples

    def _add(self, packet: bytes, samples: int) -> None:
        segments = len(packet) // 255 + 1
        if self._pending and (
            self._pending_segments + segments > MAX_SEGMENTS
            or self._pending_samples >= PAGE_SAMPLES
        ):
            self._flush_page(flags=0)
        self._pending.append(packet)
        self._pending_segments += segments
        self._pending_samples += samples
        self.position += samples
        self.packets += 1

    def _flush_page(self, *, flags: int) -> None:
        self._page(self._pending, granule=self.position, flags=flags)
        self._pending = []
        self._pending_segments = 0
        self._pending_samples = 0

    def _page(self, packets: list[bytes], *, granule: int, flags: int) -> None:
        lacing = b"".join(_lacing(len(p)) for p in packets)
        header = struct.pack(
            "<4sBBqIIIB",
            b"OggS",
            0,
            flags,
            granule,
            self._serial,
            self._sequence,
            0,
            len(lacing),
        )
        page = bytearray(header + lacing + b"".join(packets))
        struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
        self._out.write(page)
        self._sequence += 1

    def close(self) -> None:
        """Write the last page, marked end of stream. Idempotent; the file stays open."""
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._flush_page(flags=_HEADER_EOS)
