"""Connection quality per participant, from what the SFU measures of their links.

Each participant sees a rating for their own connection and, per tile, for
everyone else's: so a tutor knows that the student's frozen picture is the
student's link, not theirs. The rating comes from the SFU's own counters,
not from what a client says of itself:

- uplink loss: of the packets a participant published in the last window,
  the share lost on the way in, as the SFU's receivers count them;
- downlink loss: of the packets the SFU sent them, the share their far end
  asked for again that this leg had sent (``LegState.lost_on_leg``);
- round trip: from their receiver reports;
- whether the allocator fits their incoming video to their link (thinned or
  paused for bandwidth or loss);
- silence: nothing at all received from them in the window (their link is cut).

``rate`` is the pure rule; ``QualityMeter`` turns cumulative counters into a
window's figures. ``sfu.room`` runs it every ``QUALITY_INTERVAL`` and reports
changes; signaling sends them as ``connection_quality``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

QUALITY_INTERVAL = 2.0  # seconds: one window


class Quality(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    POOR = "poor"
    LOST = "lost"  # nothing heard from them in the window


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    good_loss: float = 0.02  # over this share lost (either way): at best good
    poor_loss: float = 0.08  # over this: poor; audio starts to need concealment
    good_rtt: float = 0.25  # seconds; over this: at best good
    poor_rtt: float = 0.5  # over this: poor, a conversation starts to trip over itself


@dataclass(frozen=True, slots=True)
class LinkFigures:
    """One participant's links over the last window; None: not measured (nothing sent)."""

    heard: bool  # anything at all came from them
    uplink_loss: float | None = None
    downlink_loss: float | None = None
    rtt: float | None = None  # seconds
    video_fitted: bool = False  # the allocator thinned or paused what they receive


def rate(figures: LinkFigures, thresholds: QualityThresholds | None = None) -> Quality:
    """The worse of the two directions, from loss and round trip; video fitted to the link
    is at best good (their link is short of what the others send)."""
    t = thresholds or QualityThresholds()
    if not figures.heard:
        return Quality.LOST
    loss = max(figures.uplink_loss or 0.0, figures.downlink_loss or 0.0)
    rtt = figures.rtt or 0.0
    if loss > t.poor_loss or rtt > t.poor_rtt:
        return Quality.POOR
    if loss > t.good_loss or rtt > t.good_rtt or figures.video_fitted:
        return Quality.GOOD
    return Quality.EXCELLENT


@dataclass(frozen=True, slots=True)
class Counters:
    """A participant's cumulative counters, read once per window."""

    heard: int  # datagrams received from them
    published_received: int  # of their published packets, received
    published_lost: int  # of them, lost on the way in
    sent: int  # packets the SFU sent them
    lost_on_leg: int  # of those, asked for again


def _share(lost: int, total: int) -> float | None:
    return None if total <= 0 else min(1.0, max(0.0, lost / total))


class QualityMeter:
    """Per participant: the last window's figures from two readings of their counters."""

    def __init__(self) -> None:
        self._last: dict[str, Counters] = {}

    def figures(
        self, participant_id: str, now: Counters, *, rtt: float | None, video_fitted: bool
    ) -> LinkFigures | None:
        """The window since the last reading; None on the first (nothing to compare yet)."""
        before = self._last.get(participant_id)
        self._last[participant_id] = now
        if before is None or now.heard == 0:
            return None  # not connected yet: nothing to rate
        received = now.published_received - before.published_received
        lost = now.published_lost - before.published_lost
        return LinkFigures(
            heard=now.heard > before.heard,
            uplink_loss=_share(lost, received + lost),
            downlink_loss=_share(now.lost_on_leg - before.lost_on_leg, now.sent - before.sent),
            rtt=rtt,
            video_fitted=video_fitted,
        )

    def forget(self, participant_id: str) -> None:
        self._last.pop(participant_id, None)
