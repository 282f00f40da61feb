"""The per-subscriber allocator: audio first, then video layer by layer, then a pause."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.allocation import TOP_LAYER, Allocation, AllocationSettings, LegReport, Reason, allocate

SETTINGS = AllocationSettings(step_up_after=2.0, headroom=1.2, loss_limit=0.1, loss_hold=1.0)
LAYERS = (100_000.0, 200_000.0, 400_000.0)  # cumulative: 3.75, 7.5 and 15 fps


def _report(estimate: int | None, *, lost: float = 0.0, audio: float = 40_000) -> LegReport:
    return LegReport(estimate, lost, audio, LAYERS)


def _run(
    allocation: Allocation, estimate: int, seconds: float, *, start: float = 0.0
) -> Allocation:
    now = start
    while now <= start + seconds:
        allocation = allocate(allocation, _report(estimate), now, SETTINGS)
        now += 0.5
    return allocation


def test_no_estimate_yet_keeps_everything() -> None:
    assert allocate(Allocation(), _report(None), 5.0, SETTINGS) == Allocation()


def test_a_link_that_carries_it_all_keeps_every_layer() -> None:
    assert allocate(Allocation(), _report(2_000_000), 5.0, SETTINGS).layer == TOP_LAYER


def test_a_narrow_link_steps_video_down_at_once_and_audio_is_reserved_first() -> None:
    """300 kbit/s less 40 for audio leaves 260: layer 1 (200) fits, layer 2 (400) does not."""
    out = allocate(Allocation(), _report(300_000), 1.0, SETTINGS)
    assert (out.layer, out.reason, out.changed_at) == (1, Reason.BANDWIDTH, 1.0)
    # Audio's own rate counts: at 120 kbit/s of audio only layer 0 fits.
    assert allocate(Allocation(), _report(300_000, audio=120_000), 1.0, SETTINGS).layer == 0


def test_too_narrow_for_any_video_pauses_it() -> None:
    out = allocate(Allocation(), _report(120_000), 1.0, SETTINGS)
    assert out.paused and out.reason is Reason.BANDWIDTH


def test_steps_back_up_one_layer_at_a_time_after_the_estimate_held() -> None:
    paused = allocate(Allocation(), _report(100_000), 0.0, SETTINGS)
    assert paused.paused
    # The link recovers fully; video comes back one layer per step_up_after.
    layers = []
    allocation, now = paused, 0.5
    while now < 12:
        allocation = allocate(allocation, _report(5_000_000), now, SETTINGS)
        layers.append((now, allocation.layer))
        now += 0.5
    changes = [
        (t, layer)
        for (t, layer), (_, before) in zip(layers[1:], layers, strict=False)
        if layer != before
    ]
    assert [layer for _, layer in changes] == [0, 1, 2]
    assert layers[0][1] is None  # not at once
    assert changes[0][0] >= 0.5 + SETTINGS.step_up_after
    assert all(
        b - a >= SETTINGS.step_up_after
        for (a, _), (b, _) in zip(changes, changes[1:], strict=False)
    )
    assert allocation.reason is Reason.FULL


def test_a_flapping_estimate_never_steps_up() -> None:
    """Room for the next layer must hold for step_up_after; a dip starts the wait again."""
    allocation = allocate(Allocation(), _report(300_000), 0.0, SETTINGS)  # layer 1
    now = 0.5
    for _ in range(20):
        allocation = allocate(allocation, _report(600_000), now, SETTINGS)
        allocation = allocate(allocation, _report(290_000), now + 0.5, SETTINGS)
        now += 1.5
    assert allocation.layer == 1


def test_loss_steps_down_once_per_hold_even_when_the_estimate_is_high() -> None:
    allocation = Allocation()
    seen = []
    for i in range(6):
        allocation = allocate(allocation, _report(5_000_000, lost=0.2), 1.0 + 0.5 * i, SETTINGS)
        seen.append(allocation.layer)
    assert seen == [1, 1, 0, 0, None, None]
    assert allocation.reason is Reason.LOSS


def test_bad_settings_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="headroom"):
        AllocationSettings(headroom=0.5)
    with pytest.raises(ValueError, match="loss_limit"):
        AllocationSettings(loss_limit=0)


@given(
    estimates=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=40),
    audio=st.floats(0, 200_000),
)
def test_video_never_takes_what_the_estimate_needs_for_audio(
    estimates: list[int], audio: float
) -> None:
    """Right after any report, the video forwarded fits beside the audio (or is paused)."""
    allocation = Allocation()
    for n, estimate in enumerate(estimates):
        allocation = allocate(
            allocation, LegReport(estimate, 0.0, audio, LAYERS), n * 0.5, SETTINGS
        )
        if allocation.layer is not None:
            assert LAYERS[allocation.layer] <= estimate - (audio or SETTINGS.audio_floor_bps)
