"""sfu.transport_wide: numbering, feedback off the RTCP, and the pacer's budget."""

from __future__ import annotations

import struct

import pytest

from sfu.transport_wide import MAX_PACE_DELAY, TransportWide


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _paced(rate_bps: int) -> tuple[TransportWide, Clock, list[bytes]]:
    clock = Clock()
    transport = TransportWide(clock=clock)
    transport.estimate.estimate_bps = rate_bps
    transport.estimate.updated_at = clock.now
    transport.estimate.decreased_at = clock.now  # a queue just built: paced strictly
    return transport, clock, []


def _run_pacer(transport: TransportWide, clock: Clock, steps: int, step: float) -> None:
    """Let ``steps`` times ``step`` seconds pass, feedback coming all along, the pacer
    sending what its budget allows at each."""
    for _ in range(steps):
        clock.now += step
        transport.estimate.updated_at = clock.now
        transport._drain()


async def test_without_an_estimate_video_leaves_at_once() -> None:
    transport = TransportWide()
    sent: list[bytes] = []
    for n in range(20):
        transport.pace(bytes([n]) * 1000, sent.append)
    assert len(sent) == 20 and transport.queued == 0


async def test_a_burst_waits_for_the_budget_and_leaves_in_order() -> None:
    """80 kbit/s is 10 KB a second: ten 1000-byte packets take about a second to leave."""
    transport, clock, sent = _paced(80_000)
    burst = [bytes([n]) * 1000 for n in range(10)]
    for packet in burst:
        transport.pace(packet, sent.append)
    assert len(sent) <= 3  # the budget starts with its slack: 2400 bytes
    departures = []
    for _ in range(20):
        clock.now += 0.1
        transport.estimate.updated_at = clock.now  # feedback keeps coming
        transport._drain()
        departures.append(len(sent))
    assert sent == burst
    # At 0.5 s: the slack (3 packets), 5 KB of budget, and one packet on credit.
    assert departures[4] <= 9
    assert departures[9] == 10


async def test_audio_goes_first_and_spends_the_budget() -> None:
    transport, clock, sent = _paced(80_000)
    clock.now += 0.5  # the budget is full: its slack, 2400 bytes
    for _ in range(10):
        transport.spend(200)  # audio: left at once
    transport.pace(b"v" * 1000, sent.append)
    transport.pace(b"w" * 1000, sent.append)
    assert sent == [b"v" * 1000]  # 400 left after the audio: one more packet, then none
    clock.now += 0.1
    transport._drain()
    assert sent == [b"v" * 1000, b"w" * 1000]


async def test_video_held_too_long_is_dropped_not_sent_late() -> None:
    transport, clock, sent = _paced(8_000)  # 1 KB a second
    for n in range(5):
        transport.pace(bytes([n]) * 1000, sent.append)
    clock.now += MAX_PACE_DELAY + 0.5
    transport.estimate.updated_at = clock.now
    transport._drain()
    assert sent == [bytes([n]) * 1000 for n in range(3)]  # the slack, then nothing
    assert transport.paced_drops == 2
    transport.close()
    assert transport.queued == 0


async def test_a_stale_estimate_stops_pacing() -> None:
    """No feedback for a second (a cut link): nothing to pace by, video goes as it comes."""
    transport, clock, sent = _paced(8_000)
    clock.now += 5
    transport.pace(b"x" * 1000, sent.append)
    assert sent == [b"x" * 1000]


def test_numbers_wrap_at_sixteen_bits() -> None:
    transport = TransportWide()
    seen = [transport.take(100) for _ in range(70_000)]
    assert seen[0] == 0 and seen[65_535] == 65_535 and seen[65_536] == 0


def test_feedback_in_rtcp_reaches_the_estimate() -> None:
    clock = Clock()
    transport = TransportWide(clock=clock)
    for _ in range(3):
        transport.take(1000)
        clock.now += 0.01
    # Three packets received, 10 ms apart (40 ticks of 250 us), reference time 0.
    body = struct.pack("!LLHHL", 1, 2, 0, 3, 0) + struct.pack("!H", (1 << 13) | 3)
    body += bytes([0, 40, 40])
    body += b"\x00" * (-len(body) % 4)
    message = struct.pack("!BBH", 0x8F, 205, (len(body) + 4) // 4 - 1) + body
    receiver_report = struct.pack("!BBHL", 0x80, 201, 1, 5)
    transport.rtcp(receiver_report + message)
    assert transport.feedback_count == 1
    assert transport.estimate.updated_at == pytest.approx(clock.now)
    assert transport.estimate.queueing == pytest.approx(0.0, abs=1e-6)


async def test_while_the_queue_drains_video_leaves_at_half_the_estimate() -> None:
    """A queue still stands after the cut: 80 kbit/s lets 5 KB of video go in a second, not
    10 KB, so the bottleneck's queue drains in front of the audio. Once it cleared, or
    after DRAIN_FOR at most, the budget is the estimate again."""
    transport, clock, sent = _paced(80_000)
    transport.estimate._congested = True  # the cut's queue has not cleared
    for n in range(20):
        transport.pace(bytes([n]) * 1000, sent.append)
    _run_pacer(transport, clock, 10, 0.1)
    assert 7 <= len(sent) <= 9  # the slack (3), then 5 KB in the second
    later = [bytes([100 + n]) * 1000 for n in range(10)]
    for packet in later:
        transport.pace(packet, sent.append)
    _run_pacer(transport, clock, 5, 0.1)
    # 10 KB a second again, though the queue was never seen clear (what waited since the
    # cut went stale meanwhile and was dropped)
    assert len([p for p in sent if p in later]) >= 5


async def test_long_after_a_queue_video_may_leave_faster_than_the_estimate() -> None:
    """Once the queue is 10 s past, the budget is 2.5 times the estimate."""
    transport, clock, sent = _paced(80_000)
    transport.estimate.decreased_at = clock.now - 60
    for n in range(10):
        transport.pace(bytes([n]) * 1000, sent.append)
    _run_pacer(transport, clock, 30, 0.01)
    assert len(sent) == 10  # 25 KB a second: 7.5 KB in 0.3 s, and the slack


def test_the_payload_estimate_leaves_out_what_headers_take() -> None:
    transport, clock, _ = _paced(400_000)
    transport.estimate.delivered_pps = 50  # 50 packets a second, 66 bytes of headers each
    assert transport.payload_estimate(clock.now) == 400_000 - 50 * 66 * 8
    clock.now += 5  # no feedback since: nothing to go by
    assert transport.payload_estimate(clock.now) is None


async def test_before_any_queue_nothing_is_paced() -> None:
    """A leg's first estimate is made from its first packets and is small: pacing by it
    would hold the first keyframe back. Until a queue is seen, video goes as it comes."""
    transport, _, sent = _paced(20_000)
    transport.estimate.decreased_at = None
    for n in range(20):
        transport.pace(bytes([n]) * 1000, sent.append)
    assert len(sent) == 20


async def test_what_left_unpaced_is_not_owed_once_pacing_starts() -> None:
    """Forty seconds of video before the first queue (5 MB, unpaced) left no debt: once a
    queue is seen, video is paced by the estimate from that moment. A debt left video
    stuck in the pacer for the whole of a 20 s cap (bench.network, 2026-12-05)."""
    transport, clock, sent = _paced(200_000)
    transport.estimate.decreased_at = None
    for _ in range(5000):
        transport.pace(b"v" * 1000, sent.append)
    assert len(sent) == 5000
    transport.estimate.decreased_at = clock.now  # the first queue
    clock.now += 0.1
    transport.estimate.updated_at = clock.now
    for _ in range(3):
        transport.pace(b"w" * 1000, sent.append)
    assert sent.count(b"w" * 1000) >= 2  # the budget's slack, at once
    transport.close()


def test_probes_grow_rarer_with_each_queue_and_frequent_again_once_a_step_holds() -> None:
    """Each queue doubles the wait between probes (a cap that hides its rate behind a
    burst allowance lets them through, and the steps up they allow cost the audio a
    queue); a step up that went 1.5 s without a queue means the link has room again, and
    the next probe comes a second after the last, not four."""
    from sfu.transport_wide import PROBE_EVERY, PROBE_EVERY_MAX, PROBE_HELD

    clock = Clock()
    transport = TransportWide(clock=clock)
    estimate = transport.estimate
    estimate.estimate_bps, estimate.updated_at = 300_000, clock.now
    for _ in range(3):  # three queues, each after a probe
        transport.probing(clock.now)
        estimate.decreased_at = clock.now
        transport._probe_every = min(2 * transport._probe_every, PROBE_EVERY_MAX)
        clock.now += 0.5
    estimate.updated_at = clock.now
    transport.probing(clock.now)
    assert not transport.probe_due(clock.now + PROBE_EVERY)  # backed off to four seconds
    transport.on_trial(clock.now, clock.now + 5.0)  # a step up, now on trial
    clock.now += PROBE_HELD
    estimate.updated_at = clock.now
    assert transport.probe_due(clock.now)  # it held: a second after the last probe is due

    # A step up whose trial saw a queue did not hold: the wait stays long.
    transport._probe_every = PROBE_EVERY_MAX
    transport.probing(clock.now)
    transport.on_trial(clock.now, clock.now + 5.0)
    estimate.decreased_at = clock.now + 0.2
    clock.now += PROBE_HELD + 0.1
    estimate.updated_at = clock.now
    assert not transport.probe_due(clock.now)
