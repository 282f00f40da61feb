"""What one subscriber leg gets of a video source: a pure decision, clock and figures passed in.

A leg's far end tells the SFU how much its link carries (REMB) and how much
it loses (receiver reports). Audio is reserved first, always: a lesson holds
up on clear audio alone. Video gets what is left and steps down through its
temporal layers (VP8 L1T3: layer 2 is every other frame at 15 fps, layer 1
every other of the rest, layer 0 a quarter: 15 → 7.5 → 3.75 fps), then
pauses. It steps back up one layer at a time, only after the estimate has
allowed the next layer for ``step_up_after`` seconds, so a leg near a limit
does not flap; a paused leg resumes at layer 0 (the send slot then waits for
a keyframe and asks for one).

``allocate`` is the whole rule: a ``Allocation`` (the state) and a
``LegReport`` (the figures now) in, the next ``Allocation`` out. The room's
allocation loop feeds it and applies what changed (``sfu.forwarding``); the
tests feed it numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

TOP_LAYER = 2  # VP8 L1T3: temporal layers 0, 1, 2


class Reason(StrEnum):
    """Why a leg's video is where it is; sent to the subscriber with ``video_paused``."""

    FULL = "full"  # everything the publisher sends
    BANDWIDTH = "bandwidth"  # the leg's estimate cannot carry more beside the audio
    LOSS = "loss"  # the leg loses too much: less video leaves room for repairs


@dataclass(frozen=True, slots=True)
class AllocationSettings:
    step_up_after: float = 2.0  # seconds the estimate must allow the next layer
    headroom: float = 1.2  # the estimate must exceed the next layer's need by this factor
    loss_limit: float = 0.10  # fraction lost over which video steps down
    loss_hold: float = 1.0  # seconds between steps down for loss alone
    audio_floor_bps: int = 40_000  # reserved for audio when its own rate is not known yet

    def __post_init__(self) -> None:
        if self.step_up_after < 0 or self.loss_hold < 0:
            raise ValueError("allocation waits must not be negative")
        if self.headroom < 1:
            raise ValueError("allocation headroom must be at least 1 (no headroom)")
        if not 0 < self.loss_limit <= 1:
            raise ValueError("allocation loss_limit must be a fraction in (0, 1]")


@dataclass(frozen=True, slots=True)
class LegReport:
    """What is known of one leg and its video source now.

    ``layer_bps[n]``: what the source's video costs with layers 0..n
    forwarded (cumulative), as measured on the publisher's packets; a source
    without temporal layers has all of it in layer 0. ``estimate_bps`` is the
    leg's REMB, None before the far end sent one.
    """

    estimate_bps: int | None
    fraction_lost: float
    audio_bps: float
    layer_bps: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Allocation:
    """A leg's video: the highest temporal layer forwarded, or None when paused."""

    layer: int | None = TOP_LAYER
    reason: Reason = Reason.FULL
    changed_at: float = 0.0
    # Since when the estimate has allowed one layer more; None: it does not.
    room_since: float | None = None

    @property
    def paused(self) -> bool:
        return self.layer is None


def allocate(
    current: Allocation, report: LegReport, now: float, settings: AllocationSettings
) -> Allocation:
    """The leg's next allocation; ``current`` itself when nothing changes."""
    if report.estimate_bps is None:
        return current  # nothing measured yet: keep what the leg has
    audio = max(report.audio_bps, 0.0) or settings.audio_floor_bps
    available = report.estimate_bps - audio
    layer = current.layer

    # Down at once, as far as the estimate says.
    fits = _highest_fitting(report.layer_bps, available, 1.0)
    if layer is not None and (fits is None or fits < layer):
        return Allocation(fits, Reason.BANDWIDTH, now, None)
    if (
        layer is not None
        and report.fraction_lost > settings.loss_limit
        and now - current.changed_at >= settings.loss_hold
    ):
        return Allocation(layer - 1 if layer > 0 else None, Reason.LOSS, now, None)

    # Up one layer at a time, once the next one has fit with headroom for a while.
    if layer == TOP_LAYER:
        return current if current.room_since is None else replace(current, room_since=None)
    wanted = 0 if layer is None else layer + 1
    roomy = _highest_fitting(report.layer_bps, available, settings.headroom)
    if roomy is None or roomy < wanted or report.fraction_lost > settings.loss_limit:
        return current if current.room_since is None else replace(current, room_since=None)
    if current.room_since is None:
        return replace(current, room_since=now)
    if now - current.room_since < settings.step_up_after:
        return current
    reason = Reason.FULL if wanted == TOP_LAYER else current.reason
    return Allocation(wanted, reason, now, None)


def _highest_fitting(
    layer_bps: tuple[float, float, float], available: float, headroom: float
) -> int | None:
    best = None
    for n, need in enumerate(layer_bps):
        if need * headroom > available:
            break
        best = n
    return best
