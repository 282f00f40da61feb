"""Which lost packets to ask a publisher for again, and when: pure, clock passed in.

aiortc's receiver asks once, when a gap first shows; a retransmission lost on a
lossy uplink (one in ten at 10% loss) then leaves a hole that only a keyframe
mends. Browsers ask again, every round trip, while the packet could still be
played. ``NackTracker`` does the same: every missing sequence number is asked
for at first sight, then again each ``retry_after`` (at least one round trip)
up to ``max_tries`` times, and forgotten after ``max_age`` seconds, when it
would come too late to play.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sfu.rtp_rewrite import SEQ_MOD, seq_newer


@dataclass
class _Missing:
    since: float
    asked: float
    tries: int


@dataclass
class NackTracker:
    retry_after: float = 0.05
    max_tries: int = 4
    max_age: float = 1.0
    max_missing: int = 512  # a longer gap is an outage: a keyframe, not NACKs, repairs it
    rtt: float = 0.0  # seconds; retries wait at least this long
    _newest: int | None = None
    _missing: dict[int, _Missing] = field(default_factory=dict)

    @property
    def missing(self) -> list[int]:
        return sorted(self._missing)

    def add(self, sequence_number: int, now: float) -> list[int]:
        """One packet arrived; returns the sequence numbers to NACK now (maybe none)."""
        newest = self._newest
        if newest is None:
            self._newest = sequence_number
            return []
        if seq_newer(sequence_number, newest):
            gap = (sequence_number - newest) % SEQ_MOD - 1
            if gap > self.max_missing:
                self._missing.clear()  # an outage: asking would only flood the publisher
            else:
                for i in range(1, gap + 1):
                    self._missing[(newest + i) % SEQ_MOD] = _Missing(now, now - 1e9, 0)
            self._newest = sequence_number
        else:
            self._missing.pop(sequence_number, None)
        return self._due(now)

    def _due(self, now: float) -> list[int]:
        wait = max(self.retry_after, self.rtt * 1.2)
        due = []
        for seq, item in list(self._missing.items()):
            if now - item.since > self.max_age or item.tries >= self.max_tries:
                del self._missing[seq]
            elif now - item.asked >= wait:
                item.asked = now
                item.tries += 1
                due.append(seq)
        return sorted(due)
