"""The room's allocation loop: measures each leg, asks ``sfu.allocation``, applies the answer.

Every ``interval`` seconds, for each participant's video send slots: the
leg's estimate is the largest REMB its far end sent (one REMB covers the
whole connection), its loss the share of the packets it sent that its far
end asked for again (a receiver report would also count what the publisher's
own uplink lost, which thinning this leg cannot help), its audio the
rate of the audio it was sent since the last pass, and each source's layer
rates the bytes its publisher sent per temporal layer since then. The
estimate left after audio is shared evenly between the participant's video
slots. A slot whose allocation changes is told (``SendSlot.set_layer``), and
so is the room's owner (``on_change``), who tells the subscriber.

Each video publication also learns its audience: the most any of its
subscribers' legs can take for it (``Publication.audience_bps``, never under
``audience_floor_bps``), which the REMB sent to its publisher does not exceed:
in a 1:1 lesson a student's poor downlink makes the tutor's browser encode
lower, rather than the SFU leaving out most of what it sends.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from core.logging import get_logger
from core.tasks import cancel_and_wait
from sfu.allocation import (
    TOP_LAYER,
    Allocation,
    AllocationSettings,
    LegReport,
    Reason,
    allocate,
)
from sfu.forwarding import Publication, SendSlot
from sfu.transport_wide import TransportWide

log = get_logger("liveclass.sfu.allocator")

# (subscriber id, publisher id, source: camera or screen, the new allocation, the one before)
AllocationChange = Callable[[str, str, str, Allocation, Allocation], None]


@dataclass
class _SlotState:
    publication: Publication  # what the slot carries: a slot recycled starts anew
    allocation: Allocation
    sent: int = 0  # packets the leg had sent at the last pass
    lost: int = 0  # of its packets, NACKed by its far end, at the last pass
    loss: float = 0.0  # smoothed share of the leg's packets its far end lost


# Seconds a step up on a leg with transport-wide feedback is judged strictly for
# (sfu.delay_estimate: trial_overuse).
TRIAL = 5.0
# A REMB older than this (seconds) says nothing of the link now: receivers send one
# about every second, so its absence means the link was cut. The first one after
# that starts a new estimate (sfu.allocation: a first estimate is still learning).
STALE_ESTIMATE = 2.5
# A rate is a byte counter's growth over this long (seconds): long enough to hold a
# keyframe (ten times a delta frame), several frames of a 3.75 fps layer, and a
# publisher's own swings from scene to scene. A rate smoothed per pass was not: a pass
# that a queue brings forward (``nudge``) comes milliseconds after the last, and its
# sample (a frame, or none) swung layer 0's measured need from 70 to 172 kbit/s in
# one run, so steps up were tried that could not fit; over 2 s, the bench's synthetic
# loop (4 s, frames of 0.3-9 KB) still read 134-697 kbit/s for all three layers
# (bench.network, 2026-12-05).
RATE_WINDOW = 4.0
# A probe goes at this multiple of what the leg's video needs at its top layer, with
# its audio. The estimate rises to 0.9 of what a probe got through at
# (sfu.delay_estimate), and the allocator counts payload, the estimate the wire: at 1.1
# a probe that passed in full said 0.99 of the need, less its headers, and the top layer
# waited on timer jitter to space a probe tighter than asked (bench.network, 2026-12-05).
PROBE_OVER = 1.4
# Weight of the newest pass in a leg's loss.
_SMOOTHING = 0.3
_RATE_MIN_SPAN = 0.4  # seconds of counting before a first rate


@dataclass
class _Rates:
    """A byte counter's rate over the last ``RATE_WINDOW``, in bits per second."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)
    bps: float | None = None

    @property
    def at(self) -> float | None:
        return self.samples[-1][0] if self.samples else None

    def update(self, value: int, now: float) -> float:
        samples = self.samples
        if samples and (value < samples[-1][1] or now < samples[-1][0]):
            samples.clear()  # the counter started again (a new source): count anew
        samples.append((now, value))
        # Keep the newest sample at or before the window's start: the rate spans it all.
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        first_at, first = samples[0]
        if now - first_at >= _RATE_MIN_SPAN:
            self.bps = 8 * (value - first) / (now - first_at)
        return self.bps or 0.0


class Allocator:
    """Runs ``allocate`` for every video send slot of a room; owns its task."""

    def __init__(
        self,
        *,
        peers: Callable[[], Iterable[tuple[str, list[tuple[str | None, SendSlot]]]]],
        settings: AllocationSettings | None = None,
        interval: float = 0.5,
        on_change: AllocationChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``peers()``: each participant id with its send slots (``Peer.send_slots``)."""
        self._peers = peers
        self.settings = settings or AllocationSettings()
        self.interval = interval
        self._on_change = on_change
        self._clock = clock
        self._slots: dict[int, _SlotState] = {}  # by id(SendSlot)
        self._audio: dict[str, _Rates] = {}  # by subscriber
        self._layers: dict[int, tuple[_Rates, _Rates, _Rates]] = {}  # by id(Publication)
        self._task: asyncio.Task[None] | None = None
        self._nudged = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="allocator")

    def nudge(self) -> None:
        """Run a pass now: a leg's queue is building (``sfu.transport_wide``)."""
        if self._nudged:
            return
        self._nudged = True

        def run() -> None:
            self._nudged = False
            try:
                self.step()
            except Exception:
                log.exception("allocation pass failed")

        asyncio.get_running_loop().call_soon(run)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.step()
            except Exception:
                log.exception("allocation pass failed")

    def allocation(self, slot: SendSlot) -> Allocation | None:
        state = self._slots.get(id(slot))
        return None if state is None else state.allocation

    def step(self) -> None:
        """One pass over every video send slot (see the module docstring)."""
        now = self._clock()
        seen: set[int] = set()
        sources: set[int] = set()
        audiences: dict[int, tuple[Publication, int]] = {}  # by id(Publication)
        subscribers: set[str] = set()
        for subscriber_id, slots in self._peers():
            subscribers.add(subscriber_id)
            transport = self._transport(slots, now)
            delay_based = transport is not None
            estimate = (
                transport.payload_estimate(now)
                if transport is not None
                else self._estimate(slots, now)
            )
            audio_out = sum(
                s.source.stats.bytes_out for _, s in slots if s.kind == "audio" and s.source
            )
            audio_bps = self._audio.setdefault(subscriber_id, _Rates()).update(audio_out, now)
            video = [
                (pid, s) for pid, s in slots if s.kind == "video" and s.source is not None and pid
            ]
            for publisher_id, slot in video:
                assert slot.source is not None and publisher_id is not None
                seen.add(id(slot))
                sources.add(id(slot.source.publication))
                state = self._slots.get(id(slot))
                if state is None or state.publication is not slot.source.publication:
                    state = self._slots[id(slot)] = _SlotState(
                        slot.source.publication, Allocation()
                    )
                report = LegReport(
                    estimate_bps=estimate,
                    fraction_lost=self._leg_loss(state, slot),
                    audio_bps=audio_bps,
                    layer_bps=self._layer_rates(slot.source.publication, now),
                    share=1 / len(video),
                    delay_based=delay_based,
                    # A cut since the last change, and recent: an old cut is history.
                    congested=transport is not None
                    and transport.congested_since(
                        max(state.allocation.changed_at, now - 2 * self.interval)
                    ),
                )
                if estimate is not None:
                    publication = slot.source.publication
                    share = int(estimate * report.share)
                    best = audiences.get(id(publication))
                    if best is None or share > best[1]:
                        audiences[id(publication)] = (publication, share)
                before = state.allocation
                after = allocate(before, report, now, self.settings)
                if after is before:
                    continue
                state.allocation = after
                if after.layer != before.layer:
                    slot.set_layer(after.layer)
                    if transport is not None:
                        # A step up is judged strictly until its trial ends; a step down
                        # ends it: the queue that follows is the old layer's, draining.
                        transport.on_trial(now, now + TRIAL if after.went_up else now)
                    # Rare, and the first thing to read when a viewer's video thinned.
                    log.info(
                        "video allocation",
                        subscriber=subscriber_id,
                        publisher=publisher_id,
                        source=slot.source.publication.source,
                        layer=after.layer,
                        reason=str(after.reason),
                        estimate=estimate,
                        audio=round(audio_bps),
                        layers=[round(bps) for bps in report.layer_bps],
                    )
                    if self._on_change is not None:
                        try:
                            self._on_change(
                                subscriber_id,
                                publisher_id,
                                slot.source.publication.source,
                                after,
                                before,
                            )
                        except Exception:
                            log.exception("allocation callback failed")
            if transport is not None:
                self._probe(transport, video, audio_bps, now)
        for publication, share in audiences.values():
            publication.audience_bps = max(share, self.settings.audience_floor_bps)
        for slot_id in set(self._slots) - seen:
            del self._slots[slot_id]
        for source_id in set(self._layers) - sources:
            del self._layers[source_id]
        for subscriber_id in set(self._audio) - subscribers:
            del self._audio[subscriber_id]

    @staticmethod
    def _leg_loss(state: _SlotState, slot: SendSlot) -> float:
        """The share of what the leg sent since the last pass that its far end lost."""
        assert slot.source is not None
        sent, lost = slot.source.stats.packets_out, slot.sender.state.lost_on_leg
        if sent >= state.sent and lost >= state.lost and sent > state.sent:
            sample = min(1.0, (lost - state.lost) / (sent - state.sent))
            state.loss += _SMOOTHING * (sample - state.loss)
        state.sent, state.lost = sent, lost
        return state.loss

    def _probe(
        self,
        transport: TransportWide,
        video: Sequence[tuple[str | None, SendSlot]],
        audio_bps: float,
        now: float,
    ) -> None:
        """While a leg's video is held back for bandwidth, probe at what all of it needs.

        What a leg is sent is all its feedback can measure: without a probe, a link that
        has room again (a cap lifted) would look the same as one that does not.
        """
        held = [
            slot
            for _, slot in video
            if (state := self._slots.get(id(slot))) is not None
            and state.allocation.layer != TOP_LAYER
            and state.allocation.reason is not Reason.LOSS
        ]
        if not held or not transport.probe_due(now):
            return
        need = audio_bps + sum(
            self._layer_rates(slot.source.publication, now)[TOP_LAYER]
            for _, slot in video
            if slot.source is not None
        )
        for slot in held:
            if slot.sender.probe(max(need, 100_000) * PROBE_OVER):
                return

    @staticmethod
    def _transport(slots: list[tuple[str | None, SendSlot]], now: float) -> TransportWide | None:
        """The leg's transport-wide feedback, while it keeps coming; None: use REMB."""
        for _, slot in slots:
            transport = slot.sender.transport
            if transport is not None and transport.fresh_estimate(now) is not None:
                return transport
        return None

    @staticmethod
    def _estimate(slots: list[tuple[str | None, SendSlot]], now: float) -> int | None:
        """The leg's newest REMB; None when none came within ``STALE_ESTIMATE`` (a cut link)."""
        estimates = [
            state.remb_bps
            for _, s in slots
            if (state := s.sender.state).remb_bps
            and state.remb_at is not None
            and now - state.remb_at <= STALE_ESTIMATE
        ]
        return max(estimates) if estimates else None

    def _layer_rates(self, publication: Publication, now: float) -> tuple[float, float, float]:
        rates = self._layers.get(id(publication))
        if rates is None:
            rates = self._layers[id(publication)] = (_Rates(), _Rates(), _Rates())
        if rates[0].at != now:
            for rate, count in zip(rates, publication.layer_bytes, strict=True):
                rate.update(count, now)
        base, middle, top = (r.bps or 0.0 for r in rates)
        return base, base + middle, base + middle + top

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
