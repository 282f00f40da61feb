"""What a receiving client would make of the packets it got: counted per packet, as a browser would.

The bot counts frames out of aiortc's jitter buffer, and that buffer is a poor
stand-in for a browser's under loss: it stalls on every gap (audio: 16 packets,
then drops what it holds; video: up to 512 packets). Measuring the SFU on an
impaired link through it would measure aiortc's receiver. These trackers see
the packets themselves (after RTX is undone) and count what a browser's
receiver could play:

- ``AudioTracker``: every Opus packet is a frame; received and expected (from
  the sequence numbers) per stretch of time;
- ``VideoTracker``: a VP8 frame is decodable when all its packets arrived and
  it follows the last decoded frame without a missing frame between them, or
  it is a key frame. ``longest_freeze`` is the longest stretch of media time
  without a decoded frame; ``stuck_since`` says how long decoding has waited,
  so the caller can ask for a keyframe as a browser does.

Pure and clock-free: the caller passes arrival times in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sfu.rtp_rewrite import SEQ_MOD, TS_MOD, Vp8Descriptor

VIDEO_CLOCK = 90_000
MAX_PENDING = 300  # frames kept while stuck


class _Unwrapper:
    """Turns 16- or 32-bit wrapping counters into ever-rising integers."""

    def __init__(self, modulus: int) -> None:
        self._mod = modulus
        self._last: int | None = None

    def __call__(self, value: int) -> int:
        if self._last is None:
            self._last = value
            return value
        delta = (value - self._last) % self._mod
        if delta >= self._mod // 2:
            delta -= self._mod
        out = self._last + delta
        if delta > 0:
            self._last = out
        return out


@dataclass
class AudioTracker:
    """Opus packets received, by unwrapped sequence number, with their arrival time."""

    arrivals: dict[int, float] = field(default_factory=dict)
    _seq: _Unwrapper = field(default_factory=lambda: _Unwrapper(SEQ_MOD))

    def add(self, sequence_number: int, now: float) -> None:
        self.arrivals.setdefault(self._seq(sequence_number), now)

    def share(self, since: float = 0.0, until: float = float("inf")) -> tuple[int, int]:
        """(received, expected) for packets that arrived in [since, until)."""
        seqs = [s for s, at in self.arrivals.items() if since <= at < until]
        if not seqs:
            return 0, 0
        return len(seqs), max(seqs) - min(seqs) + 1


@dataclass
class _Frame:
    timestamp: int  # unwrapped
    seqs: set[int] = field(default_factory=set)
    first: int | None = None  # seq of the packet with S=1, partition 0
    last: int | None = None  # seq of the packet with the marker bit
    keyframe: bool = False

    @property
    def complete(self) -> bool:
        return (
            self.first is not None
            and self.last is not None
            and len(self.seqs) == self.last - self.first + 1
        )


@dataclass(frozen=True, slots=True)
class Decoded:
    at: float  # arrival time of the packet that made it decodable
    media_time: float  # seconds, from the frame's RTP timestamp
    keyframe: bool


@dataclass
class VideoTracker:
    """VP8 frames a browser could decode, in order, from the packets that arrived."""

    decoded: list[Decoded] = field(default_factory=list)
    stuck_since: float | None = None  # waiting on a missing packet or a keyframe since then
    _frames: dict[int, _Frame] = field(default_factory=dict)
    _last_seq: int | None = None  # last packet of the last decoded frame
    _last_ts: int | None = None
    _seq: _Unwrapper = field(default_factory=lambda: _Unwrapper(SEQ_MOD))
    _ts: _Unwrapper = field(default_factory=lambda: _Unwrapper(TS_MOD))

    def add(
        self, sequence_number: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> int:
        """Take one packet; returns how many frames became decodable."""
        seq, ts = self._seq(sequence_number), self._ts(timestamp)
        if self._last_ts is not None and ts <= self._last_ts:
            return 0  # a frame already decoded or skipped
        frame = self._frames.get(ts)
        if frame is None:
            frame = self._frames[ts] = _Frame(ts)
        frame.seqs.add(seq)
        descriptor = Vp8Descriptor.parse(payload)
        if descriptor is not None and descriptor.start:
            frame.first = seq
            frame.keyframe = descriptor.keyframe_start
        if marker:
            frame.last = seq
        return self._decode(now)

    def _decode(self, now: float) -> int:
        count = 0
        while self._frames:
            oldest = self._frames[min(self._frames)]
            last = self._last_seq
            follows = oldest.complete and last is not None and oldest.first == last + 1
            if follows or (oldest.keyframe and oldest.complete):
                del self._frames[oldest.timestamp]
                self._last_seq, self._last_ts = oldest.last, oldest.timestamp
                self.decoded.append(Decoded(now, oldest.timestamp / VIDEO_CLOCK, oldest.keyframe))
                self.stuck_since = None
                count += 1
                continue
            # Stuck on the oldest frame. A complete keyframe after it starts the picture again.
            keys = [f.timestamp for f in self._frames.values() if f.keyframe and f.complete]
            if keys:
                for ts in [t for t in self._frames if t < min(keys)]:
                    del self._frames[ts]
                continue
            if self.stuck_since is None:
                self.stuck_since = now
            while len(self._frames) > MAX_PENDING:
                del self._frames[min(self._frames)]
            break
        return count

    def frames(self, since: float = 0.0, until: float = float("inf")) -> list[Decoded]:
        return [d for d in self.decoded if since <= d.at < until]

    def longest_freeze(self, since: float = 0.0, until: float = float("inf")) -> float:
        """The longest gap in media time between frames decoded in [since, until), in seconds."""
        window = self.frames(since, until)
        gaps = [b.media_time - a.media_time for a, b in zip(window, window[1:], strict=False)]
        return max(gaps, default=0.0)
