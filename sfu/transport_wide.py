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

A far end that does not speak it (aiortc, so the bot) keeps REMB, and the
allocator reads that instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.logging import get_logger
from sfu.delay_estimate import DelayEstimate, DelaySettings
from sfu.transport_feedback import feedback_messages, parse_feedback

log = get_logger("liveclass.sfu.transport_wide")

# Bytes a packet takes on the wire beyond the RTP it was: SRTP's tag, UDP and IPv4.
WIRE_OVERHEAD = 10 + 8 + 20
# Feedback older than this (seconds) says nothing of the link now (Chromium sends
# several a second): the estimate is stale, as a REMB is after sfu.allocator's limit.
STALE_FEEDBACK = 1.0


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

    def accepts(self, mid: str | None) -> bool:
        return mid is not None and mid in self.accepted

    def take(self, size: int) -> int:
        """The next number, for a packet of ``size`` bytes (RTP) about to be sent."""
        seq = self._next
        self._next = (seq + 1) & 0xFFFF
        self.estimate.sent(seq, size + WIRE_OVERHEAD, self._clock())
        return seq

    def fresh_estimate(self, now: float) -> int | None:
        """The estimate while feedback keeps coming; None before it or when it stopped."""
        at = self.estimate.updated_at
        if at is None or now - at > STALE_FEEDBACK:
            return None
        return self.estimate.estimate_bps

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
