"""A live session across veth pairs with real loss and outages (``bench.impaired_session``).

Needs root, like every namespace test. The SFU, the tutor and the student are
real processes (``liveclass serve``, ``liveclass bot``) in namespaces of their
own; the student's bot measures, per packet, what a browser could have played
of the tutor's media. Audio shares, frame rates and freezes are counted in
media time, so a busy machine does not change them; the recovery times after
a cut are wall-clock, so they get the wait factor. The last tests run it again
with Chromium as the student and take Chrome's own getStats figures.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench import impaired_session

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
# After a 5 s cut the picture must come back on its own, without a rejoin or a new
# offer, well inside the 15 s the seat is held. The goal (≤ 1 s) is a wall-clock
# figure that a loaded machine stretches (1.6 s seen in CI beside the suite), so it
# lives in bench.impaired_session's verdicts and docs/benchmarks.md, not here.
BACK_ON_ITS_OWN_S = 3.0


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    result = impaired_session.run(wait_factor=WAIT)
    return impaired_session.figures(result)


def test_ten_percent_uplink_loss_keeps_audio_whole(figures: dict[str, Any]) -> None:
    """10% of the tutor's packets lost on the way in: the student still gets ≥ 95% of audio."""
    loss = figures["loss"]
    assert loss["audio_expected"] > 250, loss  # about 7 s of 20 ms frames were measured
    assert loss["audio_share"] >= 0.95, loss


def test_ten_percent_uplink_loss_keeps_video_moving(figures: dict[str, Any]) -> None:
    """Video keeps at least 12 of its 15 frames a second, and never freezes for over 1 s."""
    loss = figures["loss"]
    assert loss["video_fps"] >= 12, (loss, figures["allocations"])
    assert loss["longest_freeze_s"] <= 1.0, (loss, figures["allocations"])


@pytest.mark.parametrize("cut", ["publisher cut", "viewer cut"])
def test_video_comes_back_on_its_own_after_a_link_returns(
    figures: dict[str, Any], cut: str
) -> None:
    """After 5 s with the tutor's (or the student's) link down, the picture and the sound
    come back by themselves, in the same seat, within seconds (goal ≤ 1 s: the bench)."""
    back = figures[cut]["video_back_after_s"]
    assert back is not None, f"no video after the {cut}"
    assert back <= BACK_ON_ITS_OWN_S * WAIT, (figures[cut], figures["allocations"])
    assert figures[cut]["audio_back_after_s"] <= BACK_ON_ITS_OWN_S * WAIT, figures[cut]


# The same session with Debian's Chromium as the student: what Chrome itself reports.


@pytest.fixture(scope="module")
def chromium() -> dict[str, Any]:
    result = impaired_session.run(viewer="chromium", wait_factor=WAIT)
    return impaired_session.figures(result)


def test_chromium_conceals_at_most_five_percent_of_audio_at_ten_percent_uplink_loss(
    chromium: dict[str, Any],
) -> None:
    """What a listener hears patched over, from getStats: concealed ≤ 5% of samples."""
    assert chromium["errors"] == []
    loss = chromium["loss"]
    assert loss["audio_concealed_share"] <= 0.05, loss


def test_chromium_keeps_the_video_moving_at_ten_percent_uplink_loss(
    chromium: dict[str, Any],
) -> None:
    loss = chromium["loss"]
    assert loss["video_fps"] >= 12, (loss, chromium["allocations"])
    assert loss["longest_freeze_s"] <= 1.0 * WAIT, (loss, chromium["allocations"])


@pytest.mark.parametrize("cut", ["publisher cut", "viewer cut"])
def test_chromium_shows_video_again_on_its_own_after_a_link_returns(
    chromium: dict[str, Any], cut: str
) -> None:
    """Chrome decodes the tutor's picture again by itself after each cut (goal ≤ 1 s: the bench)."""
    back = chromium[cut]["video_back_after_s"]
    assert back is not None, f"Chromium decoded no video after the {cut}"
    assert back <= BACK_ON_ITS_OWN_S * WAIT, (chromium[cut], chromium["allocations"])


def test_chromium_asks_for_in_band_fec_in_its_answer(chromium: dict[str, Any]) -> None:
    """The SFU offers Opus with NACK and FEC; Chrome 156 answers with FEC (and drops the
    rtcp-fb nack line, though it NACKs audio all the same: see docs/benchmarks.md)."""
    assert chromium["answer"]["opus"] and chromium["answer"]["inband_fec"], chromium["answer"]
