"""A lesson whose viewer's link goes bad (``bench.network``): audio first, video fitted to the link.

Needs root, like every namespace test. ``liveclass serve`` and two ``liveclass
bot`` processes in namespaces of their own, joined by veth pairs; the tutor
publishes 640×480 VP8 in three temporal layers (about 525 kbit/s). The student's
downlink loses 10% of its packets, then is capped at 300 kbit/s for 20 s. Audio
shares and frame rates are counted per packet in media time, so a busy machine
does not change them. The last tests run it again with Chromium as the
student and take Chrome's own getStats figures. Issue 15's goals not met yet
(full rate back within 3 s of the cap lifting, Chrome's jitter buffer at most
150 ms under the cap) are in docs/benchmarks.md, not asserted here.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench import network

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return network.figures(network.run(wait_factor=WAIT))


def test_the_clean_baseline_gets_everything(figures: dict[str, Any]) -> None:
    baseline = figures["baseline"]
    assert baseline["audio_share"] >= 0.99, baseline
    assert baseline["video_fps"] >= 14, baseline
    assert all(n["type"] != "video_paused" for n in baseline["notices"]), baseline
    assert baseline["student_rated"] == ["excellent"], baseline


def test_downlink_loss_keeps_audio_whole_and_video_coming(figures: dict[str, Any]) -> None:
    """10% of the student's downlink lost: ≥ 95% of audio arrives (NACK repairs it); video
    gives way first if anything does, and still comes."""
    loss = figures["downlink loss"]
    assert loss["audio_expected_by_clock"] > 350, loss
    assert loss["audio_share"] >= 0.95, loss
    assert loss["video_fps"] > 1, loss


def test_a_capped_downlink_keeps_audio_and_the_viewer_is_told(figures: dict[str, Any]) -> None:
    """300 kbit/s for 20 s against 525 + 32 sent: audio arrives whole; video is thinned to fit
    (the student told so) and still comes: layer 0 fits beside the audio."""
    cap = figures["cap"]
    assert cap["audio_expected_by_clock"] > 800, cap
    assert cap["audio_share"] >= 0.95, cap
    less = [n for n in cap["notices"] if n["type"] == "video_paused" or n["frame_share"] < 1]
    assert less and less[0]["at_s"] < 10, cap  # told it gets less video, early in the cap
    # Some video all along: layer 0 fits; a failed probe may pause it for a while.
    assert cap["video_fps"] > 1, cap
    # The SFU's rating of the student's connection says it too.
    assert set(cap["student_rated"]) & {"good", "poor"}, cap


@pytest.fixture(scope="module")
def chromium() -> dict[str, Any]:
    return network.figures(network.run(viewer="chromium", wait_factor=WAIT))


def test_chromium_hears_the_lesson_through_downlink_loss(chromium: dict[str, Any]) -> None:
    """10% of Chromium's downlink lost: it conceals ≤ 5% of the audio samples it plays."""
    assert chromium["errors"] == []
    loss = chromium["downlink loss"]
    assert loss["audio_concealed_share"] <= 0.05, loss
    assert loss["video_fps"] > 2, loss


def test_chromium_under_a_cap_keeps_its_audio_and_its_tile_says_why(
    chromium: dict[str, Any],
) -> None:
    """300 kbit/s for 20 s: Chrome conceals little of the audio (14.9% before the SFU fitted
    video to the link), and the tutor's tile shows that the video was reduced or paused.

    The issue's goal is 5%. It was met in five of six runs on 2026-12-04 (0.3-2.5%) and
    missed in one (5.9%, a run whose REMB collapsed to 45 kbit/s): the figures are in
    docs/benchmarks.md. Asserted here at 10%, so a regression fails and a bad draw of the
    cap's first seconds does not."""
    cap = chromium["cap"]
    assert cap["audio_concealed_share"] <= 0.10, cap
    assert set(cap["notices"]) & {
        "Video reduced to fit your connection",
        "Video paused to keep audio clear",
    }, cap


def test_chromium_keeps_some_video_under_a_cap_and_gets_all_of_it_back_after(
    chromium: dict[str, Any],
) -> None:
    """Thinned, the video still moves under the cap (3.75 fps is layer 0: measured 2.8-4.7
    fps on 2026-12-05), and full frame rate comes back after it (3.7-4.8 s; the issue's goal
    is 3 s, docs/benchmarks.md). A pacer that owed its budget for what it sent before the
    cap held every video packet back: 0 fps, and not back at all; waits doubled by failed
    steps up that outlived the cap took 11.8 s (CI, 2026-12-05)."""
    cap = chromium["cap"]
    assert cap["video_fps"] >= 1.5, cap
    assert cap["full_rate_back_after_s"] is not None, cap
    assert cap["full_rate_back_after_s"] <= 10, cap


@pytest.mark.parametrize("student", ["bot", "chromium"])
def test_the_caps_queue_is_traced(
    student: str, figures: dict[str, Any], chromium: dict[str, Any]
) -> None:
    """The cap's own queue, sampled in the student's link every 25 ms (``tc -s qdisc``):
    the tutor sends about twice the cap, so a queue forms before the SFU can know, and
    the trace must show it (it peaked at 438 ms with Chromium on 2026-12-05). Within
    the tbf's 200 ms queue plus its 15 KB bucket: 600 ms at most."""
    cap = (figures if student == "bot" else chromium)["cap"]
    assert cap["queue_samples"] >= 100, cap  # 20 s of cap: some 400 samples
    assert cap["queue_peak_ms"] is not None and 0 < cap["queue_peak_ms"] <= 700, cap
