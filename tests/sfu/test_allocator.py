"""The room's allocation loop on real publications and send slots, the legs' RTCP stood in for."""

from __future__ import annotations

import time

from aiortc.rtp import RtpPacket

from sfu.allocation import AllocationSettings, Reason
from sfu.allocator import RATE_WINDOW, Allocator, _Rates
from sfu.forwarding import Publication, SendSlot
from sfu.passthrough import LegState


class _Leg:
    """A subscriber leg's sender: what it would send, and what its far end reported."""

    ready = True
    transport = None  # no transport-wide feedback: REMB

    def __init__(self) -> None:
        self.state = LegState()
        self.sent = 0

    def send(self, source: RtpPacket, seq: int, ts: int, payload: bytes, **_: object) -> bool:
        self.sent += 1
        return True


async def _nothing() -> bool:
    return True


def _video(n: int) -> RtpPacket:
    tid = (0, 2, 1, 2)[n % 4]
    descriptor = bytes((0x90, 0xE0, 0x80, n & 0x7F, 0, tid << 6))
    return RtpPacket(
        97, 1, 1000 + n, 3000 * n, 1, descriptor + (b"\x10" if n == 0 else b"\x11") + bytes(1000)
    )


async def test_a_leg_whose_estimate_falls_is_thinned_then_paused_and_told() -> None:
    now = [100.0]
    pub = Publication(participant_id="T", kind="video", send_keyframe_request=_nothing)
    leg = _Leg()
    slot = SendSlot("video", leg)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())
    changes = []
    peers: list[tuple[str, list[tuple[str | None, SendSlot]]]] = [("S", [("T", slot)])]
    allocator = Allocator(
        peers=lambda: peers,
        settings=AllocationSettings(step_up_after=2.0),
        on_change=lambda sub, publisher, source, after, before: changes.append(
            (sub, publisher, after.layer, after.reason)
        ),
        clock=lambda: now[0],
    )

    def second(estimate: int | None) -> None:
        for n in range(15):
            pub.receive(_video(int(now[0] * 15) + n))
        leg.state.remb_bps, leg.state.remb_at = estimate, now[0]
        now[0] += 1.0
        allocator.step()

    second(None)  # rates measured from here on
    second(None)
    assert changes == [] and slot.layer == 2
    # The stream is 15 packets of about 1 kB a second: 120 kbit/s, layer 0 about a quarter.
    second(100_000)  # a first estimate: the receiver is still learning the link
    second(100_000)  # the same again within a REMB's interval: still learning
    second(100_000)  # a little short, and no longer climbing: not yet
    assert changes == []
    second(100_000)  # as short, but no sign of congestion: a cautious receiver
    assert changes == []
    second(95_000)  # short for longer than down_after, and falling: congestion
    assert changes[-1][:3] == ("S", "T", 1) and slot.layer is not None
    second(10_000)  # far short: at once
    assert changes[-1] == ("S", "T", None, Reason.BANDWIDTH)
    sent = leg.sent
    second(10_000)
    assert leg.sent == sent  # paused: nothing goes out
    assert allocator.allocation(slot) is not None
    peers.clear()  # the subscriber left: its state goes with it
    allocator.step()
    assert allocator.allocation(slot) is None
    await pub.aclose()


async def test_loss_on_the_leg_itself_thins_video_and_upstream_gaps_do_not() -> None:
    """Loss is what the leg's far end NACKs of what this leg sent, not its receiver reports."""
    now = [100.0]
    pub = Publication(participant_id="T", kind="video", send_keyframe_request=_nothing)
    leg = _Leg()
    slot = SendSlot("video", leg)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())
    allocator = Allocator(peers=lambda: [("S", [("T", slot)])], clock=lambda: now[0])
    frame = [0]

    def second(*, nacked: int = 0, reported: float = 0.0) -> None:
        for _ in range(15):
            pub.receive(_video(frame[0]))
            frame[0] += 1
        leg.state.remb_bps, leg.state.remb_at = 5_000_000, now[0]
        leg.state.lost_on_leg += nacked
        leg.state.fraction_lost = reported
        now[0] += 1.0
        allocator.step()

    for _ in range(4):
        second(reported=0.3)  # the receiver reports loss the publisher's uplink caused
    assert slot.layer == 2
    for _ in range(4):
        second(nacked=5, reported=0.3)  # a third of what this leg sent is lost on it
    assert slot.layer is not None and slot.layer < 2
    allocation = allocator.allocation(slot)
    assert allocation is not None and allocation.reason is Reason.LOSS
    await pub.aclose()


async def test_a_publication_learns_the_most_its_audience_can_take() -> None:
    """The best subscriber's share of its estimate, never under the floor (the publisher's REMB)."""
    pub = Publication(participant_id="T", kind="video", send_keyframe_request=_nothing)
    other = Publication(participant_id="U", kind="video", send_keyframe_request=_nothing)
    legs = [_Leg() for _ in range(3)]
    slots = [SendSlot("video", leg) for leg in legs]  # type: ignore[arg-type]
    slots[0].attach(pub.subscribe())  # S1 watches T alone
    slots[1].attach(pub.subscribe())  # S2 watches T and U: half its estimate each
    slots[2].attach(other.subscribe())
    for leg, estimate in zip(legs, (300_000, 2_000_000, 2_000_000), strict=True):
        leg.state.remb_bps, leg.state.remb_at = estimate, time.monotonic()
    peers = [("S1", [("T", slots[0])]), ("S2", [("T", slots[1]), ("U", slots[2])])]
    allocator = Allocator(peers=lambda: peers)
    allocator.step()
    assert pub.audience_bps == 1_000_000 and other.audience_bps == 1_000_000
    for leg in legs[1:]:
        leg.state.remb_bps, leg.state.remb_at = 60_000, time.monotonic()
    allocator.step()
    assert pub.audience_bps == 300_000  # S1 can take more than S2 now
    assert other.audience_bps == allocator.settings.audience_floor_bps
    await pub.aclose()
    await other.aclose()


async def test_a_leg_whose_estimates_stopped_is_not_judged_on_the_last_one() -> None:
    """A cut link sends no REMB: its last one is stale, and the first after the cut is
    learning anew, however low (Chromium's dropped after a 5 s cut and paused its video)."""
    now = [100.0]
    pub = Publication(participant_id="T", kind="video", send_keyframe_request=_nothing)
    leg = _Leg()
    slot = SendSlot("video", leg)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())
    allocator = Allocator(peers=lambda: [("S", [("T", slot)])], clock=lambda: now[0])
    frame = [0]

    def second(estimate: int | None) -> None:
        for _ in range(15):
            pub.receive(_video(frame[0]))
            frame[0] += 1
        if estimate is not None:
            leg.state.remb_bps, leg.state.remb_at = estimate, now[0]
        now[0] += 1.0
        allocator.step()

    for _ in range(4):
        second(5_000_000)
    for _ in range(5):
        second(None)  # the cut: no REMB
    second(10_000)  # the first after it, far short: learning, not congestion
    second(10_000)  # the same again within a REMB's interval: still learning
    assert slot.layer == 2
    second(10_000)  # and it stays there: now it counts
    assert slot.layer is None
    await pub.aclose()


def test_a_rate_is_measured_over_seconds_not_since_the_last_pass() -> None:
    """A layer at 140 kbit/s whose frames land in every other pass (0.5 s apart), and a
    pass a queue brings forward that sees nothing new: the rate stays near 140k through
    it all. Smoothed per pass, it swung by half."""
    rate = _Rates()
    total, seen = 0, []
    for n in range(1, 41):
        now = 0.5 * n
        if n % 2 == 0:
            total += 17_500  # a second's worth
        seen.append(rate.update(total, now))
        if n % 5 == 0:
            seen.append(rate.update(total, now + 0.01))  # a nudged pass, nothing new
    steady = seen[len(seen) // 2 :]
    assert min(steady) > 0.8 * 140_000 and max(steady) < 1.25 * 140_000
    assert RATE_WINDOW >= 1.0


def test_a_rate_starts_again_when_the_counter_does() -> None:
    rate = _Rates()
    rate.update(1_000_000, 0.0)
    rate.update(1_100_000, 1.0)
    assert rate.bps == 800_000
    rate.update(0, 1.5)  # a new source's counter
    rate.update(50_000, 2.5)
    assert rate.bps == 400_000
