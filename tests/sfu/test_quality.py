"""Connection quality: the worse direction decides, from loss and round trip."""

from __future__ import annotations

import pytest

from sfu.quality import Counters, LinkFigures, Quality, QualityMeter, rate


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        (LinkFigures(heard=True, uplink_loss=0.0, downlink_loss=0.0, rtt=0.02), Quality.EXCELLENT),
        (LinkFigures(heard=True), Quality.EXCELLENT),  # nothing sent either way yet
        (LinkFigures(heard=True, downlink_loss=0.05, rtt=0.02), Quality.GOOD),
        (LinkFigures(heard=True, uplink_loss=0.10), Quality.POOR),  # their uplink is as bad
        (LinkFigures(heard=True, rtt=0.3), Quality.GOOD),
        (LinkFigures(heard=True, rtt=0.8), Quality.POOR),
        (LinkFigures(heard=True, video_fitted=True), Quality.GOOD),
        (LinkFigures(heard=False, uplink_loss=0.0), Quality.LOST),
    ],
)
def test_rate(figures: LinkFigures, expected: Quality) -> None:
    assert rate(figures) is expected


def test_the_meter_rates_a_window_not_the_whole_call() -> None:
    """Early losses do not weigh on a later clean window; silence is a lost link."""
    meter = QualityMeter()
    first = Counters(heard=100, published_received=90, published_lost=10, sent=100, lost_on_leg=0)
    assert meter.figures("p", first, rtt=0.02, video_fitted=False) is None
    lossy = Counters(heard=200, published_received=180, published_lost=20, sent=200, lost_on_leg=5)
    figures = meter.figures("p", lossy, rtt=0.02, video_fitted=False)
    assert figures is not None
    assert figures.uplink_loss == pytest.approx(0.1) and figures.downlink_loss == pytest.approx(
        0.05
    )
    clean = Counters(heard=300, published_received=280, published_lost=20, sent=300, lost_on_leg=5)
    window = meter.figures("p", clean, rtt=0.02, video_fitted=False)
    assert window is not None and rate(window) is Quality.EXCELLENT
    silent = meter.figures("p", clean, rtt=0.02, video_fitted=False)
    assert silent is not None and rate(silent) is Quality.LOST
    meter.forget("p")
    assert meter.figures("p", clean, rtt=None, video_fitted=False) is None
