"""What a forwarded RTP packet becomes on one subscriber leg: pure arithmetic, no I/O.

A send slot of a subscriber's connection carries one stream, whichever publisher
feeds it now. Its receiver must see one continuous stream: sequence numbers
without a gap (a gap asks for retransmissions that cannot come), timestamps
that keep rising with real time, and VP8 PictureIDs that follow on, across
switches between publishers and across packets held back on purpose (a new or
recovering subscriber waits for a keyframe). ``StreamRewriter`` keeps those
offsets; ``Vp8Descriptor`` reads, and rewrites, what the VP8 payload
descriptor (RFC 7741 4.2) says about a packet.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
PICTURE_ID_MOD = 1 << 15
TL0_MOD = 1 << 8


def seq_newer(a: int, b: int) -> bool:
    """Whether sequence number ``a`` comes after ``b`` (RFC 3550 wrap-around)."""
    d = (a - b) % SEQ_MOD
    return 0 < d < SEQ_MOD // 2


@dataclass(frozen=True, slots=True)
class Vp8Descriptor:
    """The parts of a VP8 payload descriptor the SFU acts on.

    ``keyframe_start``: the packet starts a key frame (S=1, partition 0, and the
    VP8 payload header's P bit clear): a decoder can start here.
    ``picture_id_at``/``picture_id_bits``: where the PictureID sits (7 or 15
    bits), or None when the sender sends none.
    """

    start: bool
    keyframe_start: bool
    picture_id: int | None
    picture_id_at: int
    picture_id_bits: int
    tl0picidx: int | None
    tid: int | None
    layer_sync: bool = False  # Y: this frame refers to no frame of its layer or above but TL0
    tl0picidx_at: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> Vp8Descriptor | None:
        """None for a payload too short to hold a descriptor and a payload header."""
        n = len(payload)
        if n < 1:
            return None
        first = payload[0]
        start = bool(first & 0x10) and first & 0x0F == 0
        pos = 1
        picture_id: int | None = None
        picture_at, bits = 0, 0
        tl0: int | None = None
        tl0_at = 0
        tid: int | None = None
        sync = False
        if first & 0x80:  # X: extended control bits follow
            if n < 2:
                return None
            ext = payload[1]
            pos = 2
            if ext & 0x80:  # I: PictureID
                if n <= pos:
                    return None
                picture_at = pos
                if payload[pos] & 0x80:  # M: 15 bits
                    if n <= pos + 1:
                        return None
                    picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                    bits, pos = 15, pos + 2
                else:
                    picture_id = payload[pos] & 0x7F
                    bits, pos = 7, pos + 1
            if ext & 0x40:  # L: TL0PICIDX
                if n <= pos:
                    return None
                tl0, tl0_at, pos = payload[pos], pos, pos + 1
            if ext & 0x30:  # T or K: one byte with TID, Y and KEYIDX
                if n <= pos:
                    return None
                if ext & 0x20:
                    tid = payload[pos] >> 6
                    sync = bool(payload[pos] & 0x20)
                pos += 1
        if n <= pos:
            return None
        keyframe = start and payload[pos] & 0x01 == 0
        return cls(start, keyframe, picture_id, picture_at, bits, tl0, tid, sync, tl0_at)

    @property
    def temporal_layer(self) -> int:
        """The frame's temporal layer; 0 when the sender marks none (all of it is the base)."""
        return self.tid or 0

    def with_picture_id(self, payload: bytes, picture_id: int) -> bytes:
        """``payload`` with its PictureID replaced, in the width the sender chose."""
        at = self.picture_id_at
        if self.picture_id_bits == 15:
            value = picture_id % PICTURE_ID_MOD
            return b"".join(
                (payload[:at], bytes((0x80 | value >> 8, value & 0xFF)), payload[at + 2 :])
            )
        return b"".join((payload[:at], bytes((picture_id % 128,)), payload[at + 1 :]))

    def rewritten(self, payload: bytes, picture_id: int | None, tl0picidx: int | None) -> bytes:
        """``payload`` with either id replaced (None: left as it is)."""
        if tl0picidx is not None and self.tl0picidx is not None:
            at = self.tl0picidx_at
            payload = b"".join((payload[:at], bytes((tl0picidx % TL0_MOD,)), payload[at + 1 :]))
        if picture_id is not None and self.picture_id is not None:
            payload = self.with_picture_id(payload, picture_id)
        return payload


def is_keyframe_start(kind: str, payload: bytes) -> bool:
    """Whether a subscriber waiting for a picture can start with this packet.

    Audio: every packet. VP8: the first packet of a key frame.
    """
    if kind != "video":
        return True
    descriptor = Vp8Descriptor.parse(payload)
    return descriptor is not None and descriptor.keyframe_start


@dataclass(frozen=True, slots=True)
class Rewritten:
    sequence_number: int
    timestamp: int
    picture_id: int | None  # the VP8 PictureID to write, or None to leave it as it is
    tl0picidx: int | None = None  # the VP8 TL0PICIDX to write, or None to leave it


# Drop runs remembered for packets that come late (retransmissions): about 4 s of
# one dropped frame in two at 15 fps.
_DROPS_KEPT = 64


class StreamRewriter:
    """Maps the packets of whichever source feeds a send slot onto one outgoing stream.

    ``restart(new_source=...)`` marks that the next packet begins a new run: a
    switch to another publisher (``new_source=True``), or a resume of the same
    one after packets were held back. The run's first packet follows the last
    packet sent, at sequence number + 1; its timestamp continues the source's
    own timeline on a resume, and on a switch advances by the wall-clock time
    since the last packet (at least ``min_gap`` ticks); its VP8 PictureID and
    TL0PICIDX follow the last ones sent. Within a run, reordered packets keep
    their order; a packet from before the run began is refused (None): the
    receiver was never promised it.

    ``drop`` skips a packet within a run on purpose (a temporal layer the
    subscriber does not get): the packets after it close the gap, in sequence
    numbers and, once per dropped frame, in PictureIDs, so the receiver sees
    no loss to ask for again. A late packet (a retransmission) is numbered
    with the offsets in force where it belongs, for the last ``_DROPS_KEPT``
    runs of drops.
    """

    def __init__(self, *, clock_rate: int, min_gap: int, first_seq: int, first_ts: int) -> None:
        self.clock_rate = clock_rate
        self.min_gap = min_gap
        self._seq_offset = 0
        self._ts_offset = 0
        self._pic_offset = 0
        self._tl0_offset = 0
        self._next_seq = first_seq % SEQ_MOD  # of the next run's first packet
        self._last_ts: int | None = None  # newest timestamp sent
        self._last_pic: int | None = None
        self._last_tl0: int | None = None
        self._last_at = 0.0
        self._run_start: int | None = None  # first input seq of this run
        self._max_seq: int | None = None  # newest input seq of this run
        self._first_ts = first_ts % TS_MOD
        self._pending: bool | None = True  # a restart is due; True: with a new source
        # Runs of dropped packets: (first seq dropped, seq and picture offsets before it).
        self._drops: deque[tuple[int, int, int]] = deque(maxlen=_DROPS_KEPT)
        self._dropping = False  # the newest packet was dropped
        self._dropped_pic: int | None = None

    def restart(self, *, new_source: bool) -> None:
        """The next packet starts a new run; see the class docstring."""
        if self._pending is None or new_source:
            self._pending = new_source

    def drop(self, sequence_number: int, picture_id: int | None = None) -> None:
        """Skip one input packet on purpose; see the class docstring."""
        if self._pending is not None or self._max_seq is None:
            return  # nothing of this run sent yet: its first packet sets the offsets
        if not seq_newer(sequence_number, self._max_seq):
            return  # a late copy: the numbers after it were given out already
        if not self._dropping or (sequence_number - self._max_seq) % SEQ_MOD != 1:
            self._drops.append((sequence_number, self._seq_offset, self._pic_offset))
        self._dropping = True
        self._max_seq = sequence_number
        self._seq_offset = (self._seq_offset - 1) % SEQ_MOD
        if picture_id is not None and picture_id != self._dropped_pic:
            self._dropped_pic = picture_id
            self._pic_offset = (self._pic_offset - 1) % PICTURE_ID_MOD

    def rewrite(
        self,
        sequence_number: int,
        timestamp: int,
        now: float,
        picture_id: int | None = None,
        tl0picidx: int | None = None,
    ) -> Rewritten | None:
        """The outgoing numbers for one input packet, or None to drop it."""
        seq_offset, pic_offset = self._seq_offset, self._pic_offset
        if self._pending is not None:
            new_source = self._pending
            self._pending = None
            self._drops.clear()
            self._dropping = False
            self._dropped_pic = None
            seq_offset = self._seq_offset = (self._next_seq - sequence_number) % SEQ_MOD
            if self._last_ts is None:
                self._ts_offset = (self._first_ts - timestamp) % TS_MOD
            elif new_source:
                elapsed = round((now - self._last_at) * self.clock_rate)
                target = self._last_ts + max(self.min_gap, elapsed)
                self._ts_offset = (target - timestamp) % TS_MOD
            if picture_id is not None:
                pic_offset = self._pic_offset = (
                    0 if self._last_pic is None else (self._last_pic + 1 - picture_id)
                ) % PICTURE_ID_MOD
            if tl0picidx is not None:
                self._tl0_offset = (
                    0 if self._last_tl0 is None else (self._last_tl0 + 1 - tl0picidx)
                ) % TL0_MOD
            self._run_start = self._max_seq = sequence_number
            newest = True
        else:
            start = self._run_start
            if start is not None and seq_newer(start, sequence_number):
                return None
            newest = self._max_seq is None or seq_newer(sequence_number, self._max_seq)
            if newest:
                self._max_seq = sequence_number
                self._dropping = False
            elif self._drops:
                for first, seq_before, pic_before in reversed(self._drops):
                    if not seq_newer(first, sequence_number):
                        break
                    seq_offset, pic_offset = seq_before, pic_before
        out_seq = (sequence_number + seq_offset) % SEQ_MOD
        out_ts = (timestamp + self._ts_offset) % TS_MOD
        out_pic = None if picture_id is None else (picture_id + pic_offset) % PICTURE_ID_MOD
        out_tl0 = None if tl0picidx is None else (tl0picidx + self._tl0_offset) % TL0_MOD
        if newest:
            self._next_seq = (out_seq + 1) % SEQ_MOD
            self._last_ts = out_ts
            self._last_at = now
            if out_pic is not None:
                self._last_pic = out_pic
            if out_tl0 is not None:
                self._last_tl0 = out_tl0
        return Rewritten(
            out_seq,
            out_ts,
            out_pic if pic_offset else None,
            out_tl0 if self._tl0_offset else None,
        )
