"""The RTP packets one subscriber leg sends, built as bytes: pure, no I/O.

Every packet a leg sends has the same version, payload type, SSRC and MID;
only the marker, sequence number, timestamp, payload and one varying header
extension (abs-send-time on video, the audio level on audio) change. Building
an aiortc ``RtpPacket`` and serialising it per packet redid all of that, with
a list of extensions and a pass over them each time, and was a tenth of the
SFU's CPU. ``LegPackets`` lays the fixed parts out once per leg and packs one
``struct`` per packet; ``rtx`` wraps a kept packet for retransmission (RFC
4588) from its bytes. The layout is what aiortc's ``serialize`` gives (RFC
8285 one-byte extension headers where every id and length allows, two-byte
ones otherwise); ``tests/sfu/test_rtp_header.py`` checks them byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_FIXED = struct.Struct("!BBHLL")
_FIXED_EXT = struct.Struct("!BBHLLHH")
_SEQ = struct.Struct("!H")
_WORDS = struct.Struct("!HH")
_ONE_BYTE, _TWO_BYTE = 0xBEDE, 0x1000


@dataclass(frozen=True, slots=True)
class _Layout:
    """The extension block for one choice of elements: its head and where the value goes."""

    profile: int
    before: bytes  # the elements ahead of the varying one, and its own element header
    after: bytes  # padding to a 32-bit boundary
    words: int  # the block's length in 32-bit words

    @classmethod
    def of(cls, fixed: list[tuple[int, bytes]], varying: tuple[int, int] | None) -> _Layout | None:
        """``varying``: (id, length) of the element whose value each packet brings, if any."""
        elements = [(i, len(v)) for i, v in fixed] + ([varying] if varying else [])
        if not elements:
            return None
        one_byte = all(0 < i <= 14 and 0 < n <= 16 for i, n in elements)
        head = b""
        for x_id, value in fixed:
            head += (
                bytes([(x_id << 4) | (len(value) - 1)]) if one_byte else bytes([x_id, len(value)])
            )
            head += value
        size = len(head)
        if varying:
            x_id, n = varying
            head += bytes([(x_id << 4) | (n - 1)]) if one_byte else bytes([x_id, n])
            size += (1 if one_byte else 2) + n
        pad = -size % 4
        return cls(
            profile=_ONE_BYTE if one_byte else _TWO_BYTE,
            before=head,
            after=b"\x00" * pad,
            words=(size + pad) // 4,
        )


class LegPackets:
    """Packs the RTP packets of one leg: ``payload_type``, ``ssrc``, and a MID if negotiated.

    ``mid_id``, ``abs_send_time_id``, ``audio_level_id``: the leg's negotiated
    extension ids (0 or None: not negotiated). Video packets carry
    abs-send-time (the far end's bandwidth estimate needs it); audio packets
    carry the audio level the publisher's packet had, when it had one.
    """

    def __init__(
        self,
        payload_type: int,
        ssrc: int,
        *,
        mid: str | None,
        mid_id: int | None,
        abs_send_time_id: int | None = None,
        audio_level_id: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        fixed = [(mid_id, mid.encode())] if mid is not None and mid_id else []
        self._plain = _Layout.of(fixed, None)
        self._with_abs = _Layout.of(fixed, (abs_send_time_id, 3)) if abs_send_time_id else None
        self._with_level = _Layout.of(fixed, (audio_level_id, 1)) if audio_level_id else None

    def restamped(self, packet: bytes, abs_send_time: int) -> bytes:
        """``packet`` (made by this leg) with a new abs-send-time, to send it again.

        A retransmission that kept its first send time reads, to the far end's
        delay-based estimator, as a packet that spent the whole repair in a
        queue: one NACK round and the estimate collapses. Senders stamp the time
        they actually send (libwebrtc's pacer does); so does this. A packet
        without the extension comes back unchanged.
        """
        layout = self._with_abs
        if layout is None or not packet[0] & 0x10:
            return packet
        head = 12 + 4 * (packet[0] & 0x0F)
        if _WORDS.unpack_from(packet, head) != (layout.profile, layout.words):
            return packet  # not laid out with abs-send-time
        at = head + 4 + len(layout.before)
        value = (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        return b"".join((packet[:at], value, packet[at + 3 :]))

    def packet(
        self,
        marker: int,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        *,
        abs_send_time: int | None = None,
        audio_level: tuple[bool, int] | None = None,
    ) -> bytes:
        """One packet; ``abs_send_time`` is 24 bits (6.18 fixed-point seconds)."""
        second = (marker << 7) | self.payload_type
        if abs_send_time is not None and self._with_abs is not None:
            layout = self._with_abs
            value = (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        elif audio_level is not None and self._with_level is not None:
            layout = self._with_level
            value = bytes([(0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F)])
        elif self._plain is not None:
            layout, value = self._plain, b""
        else:
            return _FIXED.pack(0x80, second, sequence_number, timestamp, self.ssrc) + payload
        return b"".join(
            (
                _FIXED_EXT.pack(
                    0x90,
                    second,
                    sequence_number,
                    timestamp,
                    self.ssrc,
                    layout.profile,
                    layout.words,
                ),
                layout.before,
                value,
                layout.after,
                payload,
            )
        )


def header_length(packet: bytes) -> int:
    """Where the payload of an RTP packet (no padding, as ``LegPackets`` makes them) starts."""
    size = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        size += 4 + 4 * int.from_bytes(packet[size + 2 : size + 4], "big")
    return size


def rtx(packet: bytes, payload_type: int, sequence_number: int, ssrc: int) -> bytes:
    """``packet`` wrapped for retransmission (RFC 4588): RTX numbering, the original seq first.

    Marker, timestamp, CSRCs and extensions are the original's, as aiortc's
    ``wrap_rtx`` keeps them.
    """
    head = header_length(packet)
    return b"".join(
        (
            bytes([packet[0], (packet[1] & 0x80) | payload_type]),
            _SEQ.pack(sequence_number),
            packet[4:8],
            ssrc.to_bytes(4, "big"),
            packet[12:head],
            packet[2:4],
            packet[head:],
        )
    )


def sequence_number(packet: bytes) -> int:
    return (packet[2] << 8) | packet[3]
