"""A leg's capacity from transport-wide feedback: queueing delay, delivered rate. Pure.

Each feedback says when the packets the SFU numbered arrived. A packet's
one-way delay (arrival on the receiver's clock less send time on ours) is the
path's own delay, which the least seen over ``base_window`` measures, plus
what it waited in queues. A queue that builds is the bottleneck being asked
for more than it carries, and it is the same queue the audio waits in: under
a 300 kbit/s cap the link's buffer held 530 ms (docs/benchmarks.md), and
Chromium's jitter buffer kept that delay long after the queue drained.

So the rule is the one libwebrtc's send-side estimate follows, kept small:

- **Queueing** (the least delay over the last ``window`` of arrivals, above the
  base, more than ``overuse``; the least, so one packet a busy receiver
  stamped late is not a queue): the estimate drops to ``decrease`` times the
  rate at which the packets that waited in that queue arrived, which is what
  the bottleneck carries (or, before enough of them came, what the leg
  delivered over the last ``cut_window``). The caller is told
  (``feedback`` returns True), so video comes off now, not at the next pass.
  While the queue still grows, each feedback whose delivered rate says less
  cuts again: at first that rate can include a link's burst allowance (a tbf
  passes 15 KB at line rate), and a queue that grows while the allocator
  obeys the first cut means it was not enough. Cuts never go under what the
  link delivers while a queue stands, which is the link's rate; a queue that
  drains is the last cut working, and is left to drain.
- **On trial** (the caller sent more on the strength of the estimate, until
  ``on_trial``'s end): a queue of ``trial_overuse`` already counts. A link
  with a burst allowance (a token bucket) passes a probe at any rate and shows
  its rate only once the allowance is spent, with the step up's queue: caught
  early, that queue stays short.
- **Clear** (under half of ``overuse``): the estimate climbs by ``ramp`` a
  second, but not past ``ceiling`` times the delivered rate (plus
  ``ceiling_extra``): an estimate far above what the link was ever seen to
  carry says nothing. A dip in what is sent (a publisher's quiet second)
  does not lower it: only a queue does. For ``capacity_memory`` after a cut
  it stops at ``capacity_share`` of what the link delivered at the cut: the
  climb would only find that queue again, and each time the audio waits in
  it. A probe (``start_probe``) that shows more lifts that limit.
- In between, it holds.

Clock offsets cancel: only differences of one-way delays are used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

_SEQ_MOD = 1 << 16


@dataclass(frozen=True, slots=True)
class DelaySettings:
    overuse: float = 0.04  # seconds of queueing that mean the bottleneck is full
    # ...and while a step up is on trial (``on_trial``): a link that hid its rate behind
    # a burst allowance shows it late, and each such queue reaches the audio.
    trial_overuse: float = 0.015
    window: float = 0.1  # queueing is the least delay over this much of arrivals
    settle: float = 1.0  # seconds of arrivals before a queue can cut the estimate
    base_window: float = 10.0  # the path's own delay: the least seen over this long
    rate_window: float = 0.5  # the delivered rate is measured over this long
    cut_window: float = 0.1  # ...and, when a queue builds, over this long
    decrease: float = 0.85  # of the delivered rate, when a queue builds
    hold: float = 0.3  # seconds after a decrease that the packets judging it were sent
    ramp: float = 0.25  # the estimate's climb while the queue is clear, per second
    ceiling: float = 1.5  # the estimate never exceeds this times the delivered rate...
    ceiling_extra: float = 20_000  # ...plus this, bits per second
    # For this long after a cut (seconds), the climb stops at this share of what the
    # link delivered then: past it lies the queue just seen. Only a probe goes further.
    capacity_memory: float = 30.0
    capacity_share: float = 0.95
    probe_step: float = 1.25  # a probe lifts the estimate past that capacity by this at most

    def __post_init__(self) -> None:
        if min(self.overuse, self.window, self.base_window, self.rate_window) <= 0:
            raise ValueError("delay estimate windows and thresholds must be positive")
        if not 0 < self.decrease < 1:
            raise ValueError("delay estimate decrease must be a fraction in (0, 1)")


class DelayEstimate:
    """What one leg's transport-wide feedback says: ``estimate_bps``, ``queueing``, ``loss``.

    ``sent`` records each numbered packet as it goes; ``feedback`` takes one
    message's arrivals. Times are seconds: ``sent`` and ``now`` on the SFU's
    monotonic clock, arrivals on the receiver's.
    """

    def __init__(self, settings: DelaySettings | None = None, *, history: int = 8192) -> None:
        self.settings = settings or DelaySettings()
        self._size = history
        self._sent: list[tuple[int, float, int] | None] = [None] * history  # (seq, at, bytes)
        self._reported: set[int] = set()  # numbers already reported received
        self.estimate_bps: int | None = None
        self.queueing = 0.0  # seconds, the newest measure
        self.delivered_bps = 0.0
        self.delivered_pps = 0.0
        self.loss = 0.0  # share of the numbered packets reported missing, smoothed
        self.updated_at: float | None = None  # when the last feedback came (our clock)
        self.decreased_at: float | None = None  # when a queue last cut the estimate
        self.capacity_bps: float | None = None  # what the link delivered at that cut
        self._hold_until = 0.0
        self._congested = False  # cut, and the queue has not cleared since
        self._grown_at = 0.0
        self._first_arrival = float("inf")
        self._latest_arrival = float("-inf")
        self.trial_until = 0.0  # a step up is on trial until then: see ``trial_overuse``
        self._base: deque[tuple[float, float]] = deque()  # (arrival, least delay) per second
        self._recent: deque[tuple[float, float]] = deque()  # (arrival, delay)
        self._delivered: deque[tuple[float, int]] = deque()  # (arrival, bytes)
        self._queued: deque[tuple[float, int]] = deque()  # (arrival, bytes) that waited
        self._delivered_bytes = 0
        # The probe cluster under way: its numbers and, once reported, (arrival, sent, size).
        self._cluster: dict[int, tuple[float, float, int] | None] = {}
        self._cluster_size = 0
        self._cluster_at = 0.0
        self.probe_bps: float | None = None  # what the last probe showed the link carries

    @property
    def draining(self) -> bool:
        """A queue cut the estimate and has not cleared since (under half of ``overuse``)."""
        return self._congested

    def sent(self, sequence_number: int, size: int, at: float) -> None:
        """Packet ``sequence_number`` (16 bits) of ``size`` bytes left at ``at``."""
        self._sent[sequence_number % self._size] = (sequence_number, at, size)
        self._reported.discard(sequence_number)

    def on_trial(self, until: float) -> None:
        """More is being sent on the strength of this estimate: judge it strictly till then."""
        self.trial_until = until

    def start_probe(self, size: int, now: float) -> None:
        """A probe cluster of ``size`` packets begins; each is named by ``probe_sent``."""
        self._cluster = {}
        self._cluster_size = size
        self._cluster_at = now

    def probe_sent(self, sequence_number: int) -> None:
        self._cluster[sequence_number] = None

    def feedback(self, arrivals: tuple[tuple[int, float | None], ...], now: float) -> bool:
        """Take one feedback message; True when a building queue just cut the estimate."""
        settings = self.settings
        missing = received = 0
        newest_sent = 0.0
        cluster = self._cluster
        for seq, arrival in arrivals:
            record = self._sent[seq % self._size]
            if record is None or record[0] != seq:
                continue  # not ours, or so old its slot was reused
            if cluster and seq in cluster and arrival is not None:
                cluster[seq] = (arrival, record[1], record[2])
            if arrival is None:
                if seq not in self._reported:
                    missing += 1
                continue
            if seq in self._reported:
                continue  # reported before, in a feedback that crossed a later one
            if len(self._reported) > self._size:
                self._reported.clear()
            self._reported.add(seq)
            received += 1
            newest_sent = max(newest_sent, record[1])
            self._arrived(arrival, arrival - record[1], record[2])
        if missing + received:
            self.loss += 0.2 * (missing / (missing + received) - self.loss)
        if cluster:
            self._judge_probe(now)
        if not received:
            return False
        self.updated_at = now
        queueing = min(d for _, d in self._recent) - min(d for _, d in self._base)
        rising = queueing > self.queueing + 0.002
        overuse = settings.trial_overuse if now < self.trial_until else settings.overuse
        self.queueing = queueing
        # The path's own delay is known only after a while of arrivals: before that, any
        # packet the first ones beat reads as queued (bots on loopback were cut at once).
        settled = self._latest_arrival - self._first_arrival >= settings.settle
        if queueing > overuse and settled:
            capacity = self._queued_rate() or self._recent_rate()
            cut = int(settings.decrease * capacity)
            if self._congested and not (
                rising and self.estimate_bps is not None and cut < 0.95 * self.estimate_bps
            ):
                return False  # draining (the last cut is working), or nothing to cut
            self.estimate_bps = cut if self.estimate_bps is None else min(self.estimate_bps, cut)
            self.decreased_at = now
            self.capacity_bps = capacity
            self._congested = True
            # Feedback lags by the queue and a round trip: only packets sent a while
            # after the cut can show the link has room again.
            self._hold_until = now + settings.hold
            return True
        if queueing < settings.overuse / 2:
            self._congested = False
        ceiling = settings.ceiling * self.delivered_bps + settings.ceiling_extra
        if self.estimate_bps is None:
            span = self._delivered[-1][0] - self._delivered[0][0] if self._delivered else 0.0
            if span >= settings.rate_window / 2:
                self.estimate_bps = int(ceiling)
        elif queueing < settings.overuse / 2 and newest_sent >= self._hold_until:
            grown = self.estimate_bps * (1 + settings.ramp * min(now - self._grown_at, 0.5))
            if self.capacity_bps is not None and self.decreased_at is not None:
                if now - self.decreased_at < settings.capacity_memory:
                    ceiling = min(ceiling, settings.capacity_share * self.capacity_bps)
            self.estimate_bps = max(self.estimate_bps, int(min(grown, ceiling)))
        self._grown_at = now
        return False

    def _judge_probe(self, now: float) -> None:
        """Once the cluster is all heard of (or a second passed): the rate it got through at.

        The rate is the lesser of the rate it was sent at and the rate it arrived at
        (each over the packets after the first): a bottleneck under the probe's rate
        spreads it out. The estimate rises to 0.9 of that, unless a queue cut it
        meanwhile: the probe may have been what filled it.
        """
        cluster = self._cluster
        heard = [v for v in cluster.values() if v is not None]
        if len(heard) < self._cluster_size and now - self._cluster_at < 1.0:
            return
        self._cluster = {}
        if len(heard) < 3 or len(heard) < 2 * self._cluster_size / 3:
            return  # too few got through to say anything
        by_arrival = sorted(heard)
        by_sending = sorted(heard, key=lambda v: v[1])
        arrival_span = by_arrival[-1][0] - by_arrival[0][0]
        sending_span = by_sending[-1][1] - by_sending[0][1]
        if arrival_span <= 0 or sending_span <= 0:
            return
        received_bps = 8 * sum(v[2] for v in by_arrival[1:]) / arrival_span
        sent_bps = 8 * sum(v[2] for v in by_sending[:-1]) / sending_span
        self.probe_bps = min(received_bps, sent_bps)
        cut = self.decreased_at is not None and self.decreased_at >= self._cluster_at
        if not cut:
            found = int(0.9 * self.probe_bps)
            if self.capacity_bps is not None:
                # Soon after a cut, a probe may only have slipped through a burst
                # allowance: a step past the last capacity by a quarter at most, so
                # that if the link has not changed its queue grows slowly, and is
                # caught short. The next probe may go further.
                found = min(found, int(self.settings.probe_step * self.capacity_bps))
            if found > (self.estimate_bps or 0):
                self.estimate_bps = found
                self.capacity_bps = None  # the link carries more than it did at the cut

    def _queued_rate(self) -> float | None:
        """The rate the newest run of queued packets arrived at; None if too short to say.

        A packet that waited in the bottleneck's queue (over half of ``overuse``
        above the path's own delay) left it right after the one before: a run of
        them arrives at exactly the bottleneck's rate. The rate over the last
        ``cut_window`` instead mixes in what came before the queue, which under a
        token bucket is its burst at line rate (a cap's first cut said 400 kbit/s
        of a 300 kbit/s link), and over a few packets is noise.
        """
        run = self._queued
        if len(run) < 4 or run[-1][0] - run[0][0] < 0.02:
            return None
        return 8 * (sum(size for _, size in run) - run[0][1]) / (run[-1][0] - run[0][0])

    def _recent_rate(self) -> float:
        """What the leg delivered over the last ``cut_window``: the bottleneck's rate once
        a queue stands in front of it. The longer window still holds the time before."""
        delivered = self._delivered
        if not delivered:
            return 0.0
        last = delivered[-1][0]
        total = oldest = 0
        first = last
        for arrival, size in reversed(delivered):
            if last - arrival > self.settings.cut_window:
                break
            total += size
            first, oldest = arrival, size
        if first == last:
            return self.delivered_bps
        return 8 * (total - oldest) / (last - first)

    def _arrived(self, arrival: float, delay: float, size: int) -> None:
        settings = self.settings
        self._first_arrival = min(self._first_arrival, arrival)
        self._latest_arrival = max(self._latest_arrival, arrival)
        base = self._base
        if base and arrival - base[-1][0] < 1.0:
            if delay < base[-1][1]:
                base[-1] = (base[-1][0], delay)
        else:
            base.append((arrival, delay))
        while base and arrival - base[0][0] > settings.base_window:
            base.popleft()
        # The newest run of packets that waited in a queue: see ``_queued_rate``.
        queued = self._queued
        if delay - min(d for _, d in base) > settings.overuse / 2:
            queued.append((arrival, size))
            while arrival - queued[0][0] > settings.rate_window:
                queued.popleft()
        elif queued:
            queued.clear()
        recent = self._recent
        recent.append((arrival, delay))
        while arrival - recent[0][0] > settings.window:
            recent.popleft()
        delivered = self._delivered
        delivered.append((arrival, size))
        self._delivered_bytes += size
        while arrival - delivered[0][0] > settings.rate_window:
            self._delivered_bytes -= delivered.popleft()[1]
        # The first packet in the window arrived at its start: what came after it, over
        # the time it took, is the rate.
        span = max(arrival - delivered[0][0], settings.rate_window / 5)
        self.delivered_bps = 8 * (self._delivered_bytes - delivered[0][1]) / span
        self.delivered_pps = (len(delivered) - 1) / span
