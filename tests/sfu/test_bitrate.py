"""sfu.bitrate against the aiortc parts it stands in for: the same numbers, call by call."""

from __future__ import annotations

import random

from aiortc import rate as aiortc_rate
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.bitrate import MinFramePeriod, WindowRate
from sfu.passthrough import lighten_estimator

# (milliseconds since the last call, add this value or None to ask the rate)
calls = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 40), st.integers(900, 2500)),
        st.one_of(st.none(), st.integers(0, 1500)),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(calls=calls, window=st.sampled_from([1, 5, 100, 1000]), start=st.integers(0, 10**9))
def test_window_rate_gives_what_aiortcs_rate_counter_gives(
    calls: list[tuple[int, int | None]], window: int, start: int
) -> None:
    ours, theirs = WindowRate(window, 8000), aiortc_rate.RateCounter(window, 8000)
    now = start
    for step, value in calls:
        now += step
        if value is None:
            assert ours.rate(now) == theirs.rate(now)
        else:
            ours.add(value, now)
            theirs.add(value, now)
        if step == 0 and value == 0:
            ours.reset()
            theirs.reset()
    assert ours.rate(now + 1) == theirs.rate(now + 1)


@settings(max_examples=200, deadline=None)
@given(deltas=st.lists(st.floats(-100, 1000, allow_nan=False), max_size=200))
def test_min_frame_period_gives_what_aiortcs_estimator_gives(deltas: list[float]) -> None:
    ours = MinFramePeriod(aiortc_rate.MIN_FRAME_PERIOD_HISTORY_LENGTH)
    theirs = aiortc_rate.OveruseEstimator()
    for delta in deltas:
        assert ours(delta) == theirs.update_min_frame_period(delta)


def _trace(seed: int) -> list[tuple[int, int, int]]:
    """Video frames at 15 fps, 1.2 Mbit/s, on a link that congests then clears.

    (arrival ms, abs-send-time, bytes): the arrival delay grows by 4 ms a frame
    for three seconds, then drains, so the estimate goes down and up again.
    """
    rng = random.Random(seed)
    out = []
    delay = 20.0
    for n in range(15 * 12):
        sent_ms = n * 1000 / 15
        if 30 <= n < 75:
            delay += 4
        elif delay > 20:
            delay = max(20.0, delay - 6)
        arrival = int(1_000_000 + sent_ms + delay + rng.uniform(0, 3))
        abs_send = int(sent_ms * (1 << 18) / 1000) & 0xFFFFFF
        out.append((arrival, abs_send, rng.randint(8000, 12000)))
    return out


def test_a_lightened_estimator_sends_the_same_rembs_as_aiortcs() -> None:
    for seed in range(3):
        stock = aiortc_rate.RemoteBitrateEstimator()
        light = aiortc_rate.RemoteBitrateEstimator()
        lighten_estimator(light)
        lighten_estimator(light)  # idempotent
        assert isinstance(light.incoming_bitrate, WindowRate)
        rembs = []
        for arrival, abs_send, size in _trace(seed):
            expected = stock.add(arrival, abs_send, size, 1234)
            assert light.add(arrival, abs_send, size, 1234) == expected
            if expected is not None:
                rembs.append(expected[0])
        # The trace made the estimate move both ways, so the comparison meant something.
        assert len(rembs) > 5
        assert any(b < a for a, b in zip(rembs, rembs[1:], strict=False))
