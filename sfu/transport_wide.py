"""One peer connection's transport-wide numbering, and what its feedback says.

Every packet the SFU sends a subscriber over its (bundled) connection takes
the next transport-wide number, audio, video and retransmissions alike, when
the far end accepted transport-wide feedback for that m-section
(``sfu.transport_feedback``). The feedback comes back as RTCP, which aiortc
parses without understanding (it is not a NACK) and hands to one sender
chosen by SSRC; so it is read here off the DTLS transport's RTCP, before
aiortc sees it, and fed to the leg's ``DelayEstimate``. When a building
queue cuts the estimate, ``on_congestion`` is called at once: the room's
allocator takes video off the leg in the same moment, not at its next pass.

The same estimate paces the leg's video (``pace``): a video packet leaves
only while the leg's budget allows: ``PACE_FACTOR`` times the estimate, or
the estimate itself for ``PACE_STRICT_FOR`` after a queue built (and
``DRAIN_SHARE`` of it while that queue drains), with ``PACE_BURST`` of
slack; audio and retransmissions leave at once but spend the budget too. A
keyframe's burst, or the moment before the allocator steps down, then waits
here, where it delays only video, instead of in the bottleneck's queue, where
the audio waits behind it. A video packet held
longer than ``MAX_PACE_DELAY`` is dropped: it would come too late to show.

A far end that does not speak it (aiortc, so the bot) keeps REMB, and the
allocator reads that instead; its video is not paced.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from core.logging import get_logger
from sfu.delay_estimate import DelayEstimate, DelaySettings
from sfu.transport_feedback import feedback_messages, parse_feedback

log = get_logger("liveclass.sfu.transport_wide")

# Bytes a packet takes on the wire beyond the RTP it was: SRTP's tag, UDP and IPv4.
WIRE_OVERHEAD = 10 + 8 + 20
# ...and with the RTP header and its extensions: what a packet carries beyond payload.
PACKET_OVERHEAD = WIRE_OVERHEAD + 12 + 16
# Feedback older than this (seconds) says nothing of the link now (Chromium sends
# several a second): the estimate is stale, as a REMB is after sfu.allocator's limit.
STALE_FEEDBACK = 1.0
# Video may leave at this multiple of the estimate (libwebrtc's pacing factor): on
# a link with room, a frame's packets go out together and nothing waits...
PACE_FACTOR = 2.5
# ...but for this long after a queue built (seconds), at the estimate itself: the
# link has shown where it ends, and a burst past it queues in front of the audio.
PACE_STRICT_FOR = 10.0
# While the queue that cut the estimate still stands, for this long at most (seconds),
# video leaves at this share of the estimate: sent at the estimate (0.85 of the link)
# the queue drains at 0.15 of the link's rate, and a 300 ms queue in front of the
# audio takes two seconds to go; at half, it goes in about half a second, the video
# waiting here meanwhile, behind the audio instead of in front of it.
DRAIN_FOR = 1.0
DRAIN_SHARE = 0.5
PACE_BURST = 0.02  # seconds of the budget that may leave at once...
PACE_BURST_MIN = 2400  # ...and never less than two full packets, bytes
MAX_PACE_DELAY = 1.0  # seconds a video packet may wait for the budget
PROBE_PACKETS = 5  # a probe cluster: enough to time, small enough not to fill a queue
PROBE_EVERY = 1.0  # seconds between probes while video is held back for bandwidth...
PROBE_EVERY_MAX = 4.0  # ...doubled after each queue, up to this...
PROBE_CALM = 5.0  # ...and back to the first after this long without one...
# ...or once a step up went this long (seconds) without one: the link has room again
# (a cap lifted), and the next layer is a probe away (sfu.allocation: delay_held).
PROBE_HELD = 1.5
# Sends one paced packet: the packet's bytes, numbered and stamped as it leaves.
Depart = Callable[[bytes], None]


class TransportWide:
    """Numbers a peer's outgoing packets and reads the feedback on them."""

    def __init__(
        self,
        *,
        settings: DelaySettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.estimate = DelayEstimate(settings)
        self.accepted: set[str] = set()  # mids whose far end gives feedback
        self.on_congestion: Callable[[], None] | None = None
        self.feedback_count = 0
        self._clock = clock
        self._next = 0
        self._tokens = 0.0  # bytes the budget allows now; negative: owed
        self._filled_at = 0.0
        self._queue: deque[tuple[Depart, bytes, float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.paced_drops = 0  # video packets that waited too long and were dropped
        self._probe_every = PROBE_EVERY
        self._probed_at: float | None = None
        self._next_probe = 0.0
        self._stepped_at: float | None = None  # when the step up now on trial began

    def accepts(self, mid: str | None) -> bool:
        return mid is not None and mid in self.accepted

    def take(self, size: int) -> int:
        """The next number, for a packet of ``size`` bytes (RTP) about to be sent."""
        seq = self._next
        self._next = (seq + 1) & 0xFFFF
        self.estimate.sent(seq, size + WIRE_OVERHEAD, self._clock())
        return seq

    def pace(self, data: bytes, depart: Depart) -> None:
        """Send a video packet through the budget: now, if it allows, else when it does."""
        rate = self._refill()
        if rate is None:
            depart(data)
            return
        if not self._queue and self._tokens > 0:
            self._tokens -= len(data)
            depart(data)
            return
        self._queue.append((depart, data, self._filled_at))
        self._schedule(rate)

    def spend(self, size: int) -> None:
        """An audio packet or a retransmission left at once: it uses the budget too."""
        if self._refill() is not None:
            self._tokens -= size

    @property
    def queued(self) -> int:
        """Video packets waiting for the budget."""
        return len(self._queue)

    def _refill(self) -> float | None:
        """Top the budget up to now; its rate in bytes a second, None when not paced."""
        now = self._clock()
        estimate = self.fresh_estimate(now)
        if estimate is None:
            # Unpaced: what leaves meanwhile owes nothing to the budget that follows.
            self._filled_at, self._tokens = now, 0.0
            return None
        cut = self.estimate.decreased_at
        if cut is None:
            # No queue seen yet: nothing to pace against. An estimate made from the first
            # packets of a leg is small, and pacing by it held a bot's first keyframe
            # back for three seconds (tests/api/test_cli.py).
            self._filled_at, self._tokens = now, 0.0
            return None
        if self.estimate.draining and now - cut < DRAIN_FOR:
            share = DRAIN_SHARE
        else:
            share = 1.0 if now - cut < PACE_STRICT_FOR else PACE_FACTOR
        rate = estimate / 8 * share
        burst = max(rate * PACE_BURST, PACE_BURST_MIN)
        self._tokens = min(self._tokens + rate * (now - self._filled_at), burst)
        self._filled_at = now
        return rate

    def _schedule(self, rate: float) -> None:
        if self._timer is not None:
            return
        wait = max(-self._tokens / rate, 0.002) if self._tokens <= 0 else 0.002
        self._timer = asyncio.get_running_loop().call_later(wait, self._drain)

    def _drain(self) -> None:
        self._timer = None
        rate = self._refill()
        queue = self._queue
        now = self._filled_at
        while queue and (rate is None or self._tokens > 0):
            depart, data, queued_at = queue.popleft()
            if now - queued_at > MAX_PACE_DELAY:
                self.paced_drops += 1
                continue
            self._tokens -= len(data)
            try:
                depart(data)
            except Exception:
                log.exception("sending a paced packet failed")
        if queue and rate is not None:
            self._schedule(rate)

    def close(self) -> None:
        """Drop what waits: the connection is closing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def on_trial(self, now: float, until: float) -> None:
        """The caller sends more (a step up) on the strength of the estimate, from ``now``
        till ``until``; ``until`` at ``now`` ends a trial (a step down)."""
        self.estimate.on_trial(until)
        self._stepped_at = now if until > now else None

    def probe_due(self, now: float) -> bool:
        """Whether to probe now (the caller's video is held back for bandwidth)."""
        cut = self.estimate.decreased_at
        stepped = self._stepped_at
        held = (
            stepped is not None and now - stepped >= PROBE_HELD and (cut is None or cut < stepped)
        )
        if self._probe_every > PROBE_EVERY and (cut is None or now - cut > PROBE_CALM or held):
            # No queue for a while, or a step up that held: probe often again, from now.
            self._probe_every = PROBE_EVERY
            if self._probed_at is not None:
                self._next_probe = min(self._next_probe, self._probed_at + PROBE_EVERY)
        return self.fresh_estimate(now) is not None and now >= self._next_probe

    def probing(self, now: float) -> None:
        """A probe cluster starts now; the next waits ``_probe_every``."""
        self.estimate.start_probe(PROBE_PACKETS, now)
        self._probed_at = now
        self._next_probe = now + self._probe_every

    def fresh_estimate(self, now: float) -> int | None:
        """The estimate while feedback keeps coming; None before it or when it stopped."""
        at = self.estimate.updated_at
        if at is None or now - at > STALE_FEEDBACK:
            return None
        return self.estimate.estimate_bps

    def payload_estimate(self, now: float) -> int | None:
        """The estimate less what the packets' headers take (``PACKET_OVERHEAD`` each, at
        the rate the leg delivers packets): what media payload may use. The allocator's
        rates count payload; the estimate counts every byte on the wire, and at the
        40-90 packets a second of a thinned lesson the difference is 30-60 kbit/s."""
        estimate = self.fresh_estimate(now)
        if estimate is None:
            return None
        return max(int(estimate - self.estimate.delivered_pps * PACKET_OVERHEAD * 8), 0)

    def congested_since(self, since: float) -> bool:
        """Whether a building queue cut the estimate after ``since``."""
        at = self.estimate.decreased_at
        return at is not None and at > since

    def watch(self, dtls: Any) -> None:
        """Read feedback off ``dtls`` (an ``RTCDtlsTransport``) from now on. Idempotent."""
        if getattr(dtls, "_liveclass_feedback", None) is self:
            return
        dtls._liveclass_feedback = self
        aiortc_handle = dtls._handle_rtcp_data

        async def handle_rtcp_data(data: bytes) -> None:
            self.rtcp(data)
            await aiortc_handle(data)

        dtls._handle_rtcp_data = handle_rtcp_data

    def rtcp(self, compound: bytes) -> None:
        """Take the transport-wide feedback out of one (unprotected) RTCP compound."""
        for message in feedback_messages(compound):
            try:
                feedback = parse_feedback(message)
            except ValueError as exc:
                log.debug("transport-wide feedback unreadable", error=str(exc))
                continue
            self.feedback_count += 1
            congested = self.estimate.feedback(feedback.arrivals, self._clock())
            if congested:
                # Each queue makes probing rarer, up to a limit: under a cap that
                # hides its rate behind a burst allowance, probes and the steps up
                # they allow cost a short queue each; a cap that lifts must still be
                # found within seconds.
                self._probe_every = min(2 * self._probe_every, PROBE_EVERY_MAX)
                log.info(
                    "queue building on a leg",
                    queueing_ms=round(self.estimate.queueing * 1000),
                    estimate=self.estimate.estimate_bps,
                    delivered=round(self.estimate.delivered_bps),
                )
                if self.on_congestion is not None:
                    try:
                        self.on_congestion()
                    except Exception:
                        log.exception("congestion handler failed")
