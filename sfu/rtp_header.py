"""The RTP packets one subscriber leg sends, built as bytes: pure, no I/O.

Every packet a leg sends has the same version, payload type, SSRC and MID;
only the marker, sequence number, timestamp, payload, one varying header
extension (abs-send-time on video, the audio level on audio) and the
transport-wide sequence number change. Building an aiortc ``RtpPacket`` and
serialising it per packet redid all of that, with a list of extensions and a
pass over them each time, and was a tenth of the
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
    """The extension block for one choice of elements: its head and where the values go.

    Elements in aiortc's order: the fixed ones (MID), the varying one if any
    (abs-send-time or audio level), then the transport-wide sequence number if
    the leg has one.
    """

    profile: int
    before: bytes  # the elements ahead of the varying one, and its own element header
    size: int  # the varying value's length (0: none)
    middle: bytes  # the transport-wide sequence number's element header (b"": none)
    after: bytes  # padding to a 32-bit boundary
    words: int  # the block's length in 32-bit words

    @classmethod
    def of(
        cls,
        fixed: list[tuple[int, bytes]],
        varying: tuple[int, int] | None,
        transport_seq_id: int | None = None,
    ) -> _Layout | None:
        """``varying``: (id, length) of the element whose value each packet brings, if any."""
        tail = [(transport_seq_id, 2)] if transport_seq_id else []
        elements = [(i, len(v)) for i, v in fixed] + ([varying] if varying else []) + tail
        if not elements:
            return None
        one_byte = all(0 < i <= 14 and 0 < n <= 16 for i, n in elements)

        def element(x_id: int, n: int) -> bytes:
            return bytes([(x_id << 4) | (n - 1)]) if one_byte else bytes([x_id, n])

        head = b"".join(element(i, len(v)) + v for i, v in fixed)
        size = 0
        if varying:
            head += element(*varying)
            size = varying[1]
        middle = element(transport_seq_id, 2) if transport_seq_id else b""
        total = len(head) + size + len(middle) + (2 if transport_seq_id else 0)
        pad = -total % 4
        return cls(
            profile=_ONE_BYTE if one_byte else _TWO_BYTE,
            before=head,
            size=size,
            middle=middle,
            after=b"\x00" * pad,
            words=(total + pad) // 4,
        )


class LegPackets:
    """Packs the RTP packets of one leg: ``payload_type``, ``ssrc``, and a MID if negotiated.

    ``mid_id``, ``abs_send_time_id``, ``audio_level_id``,
    ``transport_seq_id``: the leg's negotiated extension ids (0 or None: not
    negotiated). Video packets carry abs-send-time (a REMB estimate needs it);
    audio packets carry the audio level the publisher's packet had, when it
    had one; every packet carries a transport-wide sequence number when the
    far end gives transport-wide feedback (``sfu.transport_wide``).
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
        transport_seq_id: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        fixed = [(mid_id, mid.encode())] if mid is not None and mid_id else []
        tseq = transport_seq_id or None
        self.transport_wide = tseq is not None
        self._plain = _Layout.of(fixed, None, tseq)
        self._with_abs = (
            _Layout.of(fixed, (abs_send_time_id, 3), tseq) if abs_send_time_id else None
        )
        self._with_level = _Layout.of(fixed, (audio_level_id, 1), tseq) if audio_level_id else None
        self._layouts = [x for x in (self._with_abs, self._with_level, self._plain) if x]

    def restamped(
        self, packet: bytes, abs_send_time: int | None = None, transport_seq: int | None = None
    ) -> bytes:
        """``packet`` (made by this leg) with a new abs-send-time and transport-wide number.

        A retransmission that kept its first send time reads, to the far end's
        delay-based estimator, as a packet that spent the whole repair in a
        queue: one NACK round and the estimate collapses. Senders stamp the time
        they actually send (libwebrtc's pacer does); so does this. A resent
        packet is a new packet to transport-wide feedback, so it takes a new
        number. A value the packet has no element for is left out.
        """
        found = self._locate(packet)
        if found is None:
            return packet
        layout, at = found
        out = bytearray(packet)
        if abs_send_time is not None and layout is self._with_abs:
            out[at : at + 3] = (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        if transport_seq is not None and layout.middle:
            at += layout.size + len(layout.middle)
            out[at : at + 2] = _SEQ.pack(transport_seq & 0xFFFF)
        return bytes(out)

    def _locate(self, packet: bytes) -> tuple[_Layout, int] | None:
        """The layout ``packet`` was made with, and where its varying value starts."""
        if not packet[0] & 0x10:
            return None
        head = 12 + 4 * (packet[0] & 0x0F)
        words = _WORDS.unpack_from(packet, head)
        for layout in self._layouts:
            at = head + 4 + len(layout.before)
            if (
                words == (layout.profile, layout.words)
                and packet[head + 4 : at] == layout.before
                and packet[at + layout.size : at + layout.size + len(layout.middle)]
                == layout.middle
            ):
                return layout, at
        return None

    def packet(
        self,
        marker: int,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        *,
        abs_send_time: int | None = None,
        audio_level: tuple[bool, int] | None = None,
        transport_seq: int = 0,
    ) -> bytes:
        """One packet; ``abs_send_time`` is 24 bits (6.18 fixed-point seconds).

        ``transport_seq``: its transport-wide number, on a leg that has them.
        """
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
                layout.middle,
                _SEQ.pack(transport_seq & 0xFFFF) if layout.middle else b"",
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
