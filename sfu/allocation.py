"""What one subscriber leg gets of a video source: a pure decision, clock and figures passed in.

A leg's far end tells the SFU how much its link carries (REMB) and how much
it loses (receiver reports). Audio comes first, always: a lesson holds up on
clear audio alone. Video gets what the estimate leaves and steps down through
its temporal layers (VP8 L1T3: layer 2 is every other frame at 15 fps, layer
1 every other of the rest, layer 0 a quarter: 15 → 7.5 → 3.75 fps), then
pauses: at once when the estimate is far short of the need (``severe``), else
once it has stayed short for ``down_after`` and the link shows congestion: the
estimate fell further since it first came up short, or the leg loses more than
``congestion_loss``. A keyframe's burst dips a delay-based estimate for a
moment, and a busy receiver's scheduling jitter reads as queueing to it: one
decrease to 0.85 of what it receives, on a link that carries everything
without loss, is no reason to halve the frame rate (CI, 2026-12-04: 7.9 fps at
a viewer whose own link was clean). A link truly short of the need keeps
queueing, so its estimate falls again, or its queue overflows. Never while
the estimate is rising. A receiver's estimate starts low
and climbs by about 8% a second while nothing is congested (Chromium's began at
69 kbit/s on a clean link), so short of the need but rising means "still
learning", not "congested"; congestion makes it fall. Loss above
``loss_limit`` on the leg itself (``sfu.allocator`` counts what its far end
asks for again of what it sent) steps video down too, once per ``loss_hold``,
but never to a pause: NACK repairs most of it, and a pause would not. Loss
over twice the limit (a queue overflowing) steps down at every pass.

Going back up is a probe. A receiver's estimate follows what it is sent (a
REMB estimator settles at about 1.5 times the rate it receives and never
learns of room nobody uses), so no estimate can say in advance that the next
layer fits. The allocator steps up one layer once the estimate has stayed
above the current layer's need, with ``headroom``, for the wait; a paused leg
(whose estimate stops with its video) tries layer 0 again after the wait. A
probe that fails (the estimate falls below the need within ``probe_window``)
doubles the wait, up to ``max_wait``; one that holds resets it.

What the estimate covers: a REMB estimate measures the packets that carry
abs-send-time, which the SFU puts on video only, so by default audio is not
taken off it: under a cap, video's share is what the estimate sees, the
audio having gone through the same queue first. ``estimate_includes_audio``
is for an estimate of the whole leg (transport-wide feedback).

A leg with transport-wide feedback (``LegReport.delay_based``; Chromium) has
a measured estimate instead (``sfu.delay_estimate``), covering its audio, and
follows ``_decide_by_delay``: down at once when a queue builds, never for a
shortfall alone; up one layer once the estimate has covered it for
``delay_hold``, the step then on trial (a queue within ``probe_window``
undoes it and doubles the wait, up to ``delay_max_hold``; a step that went
``delay_held`` without a queue forgets the doubled wait).

``allocate`` is the whole rule: an ``Allocation`` (the state) and a
``LegReport`` (the figures now) in, the next ``Allocation`` out. The room's
allocator (``sfu.allocator``) feeds it and applies what changed to the send
slot (``sfu.forwarding``); the tests feed it numbers.
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
    step_up_after: float = 2.0  # seconds the estimate must hold before a step up or a resume
    down_after: float = 1.5  # seconds the estimate must stay short of the need to step down
    severe: float = 0.75  # an estimate under this share of the need steps down at once
    headroom: float = 1.2  # estimate over the current layer's need that counts as room
    probe_window: float = 5.0  # seconds after a step up in which a step down means it failed
    max_wait: float = 30.0  # the longest wait after failed probes
    loss_limit: float = 0.10  # fraction lost over which video steps down
    loss_hold: float = 1.0  # seconds between steps down for loss alone
    # Loss on the leg over this confirms that a mildly short estimate is congestion.
    congestion_loss: float = 0.02
    # A fall by this share below the estimate that first came up short confirms it too.
    congestion_fall: float = 0.03
    estimate_includes_audio: bool = False  # see the module docstring
    # With transport-wide feedback: seconds the estimate must cover the next layer's need.
    delay_hold: float = 0.5
    delay_max_hold: float = 4.0  # ...and at most this long after failed steps up
    # A step up that went this long (seconds) without a queue held: the waits that failed
    # steps doubled are forgotten, and the next layer waits only ``delay_hold``.
    delay_held: float = 1.5
    # After a step down to layer 0, seconds in which a queue is the last layer's, draining.
    delay_settle: float = 1.0
    audio_floor_bps: int = 40_000  # audio's reservation while its own rate is not known
    # A publisher is never told to encode below this for its audience (sfu.allocator).
    audience_floor_bps: int = 100_000

    def __post_init__(self) -> None:
        if min(self.step_up_after, self.loss_hold, self.probe_window, self.down_after) < 0:
            raise ValueError("allocation waits must not be negative")
        if not 0 < self.severe <= 1:
            raise ValueError("allocation severe must be a fraction in (0, 1]")
        if self.max_wait < self.step_up_after:
            raise ValueError("allocation max_wait must be at least step_up_after")
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
    leg's REMB, None before the far end sent one; ``share``: this video's part
    of what the leg has left after audio, when it carries several videos.
    """

    estimate_bps: int | None
    fraction_lost: float
    audio_bps: float
    layer_bps: tuple[float, float, float]
    share: float = 1.0  # of what is left after audio: this source's part of the leg
    # The estimate is transport-wide feedback's (sfu.delay_estimate): it covers the audio
    # too, and a leg short of it is congested only when a queue builds (``congested``).
    delay_based: bool = False
    congested: bool = False  # a queue built on the leg since its last change


@dataclass(frozen=True, slots=True)
class Allocation:
    """A leg's video: the highest temporal layer forwarded, or None when paused."""

    layer: int | None = TOP_LAYER
    reason: Reason = Reason.FULL
    changed_at: float = 0.0
    # Since when the estimate has shown room over the current layer; None: it does not.
    room_since: float | None = None
    wait: float | None = None  # before the next step up; None: settings.step_up_after
    went_up: bool = False  # the last change was a step up (a probe under way)
    # Since when the estimate has been short of the current layer's need; None: it is not.
    short_since: float | None = None
    short_from: int | None = None  # the estimate when it first came up short
    last_estimate: int | None = None  # the newest estimate seen
    prior_estimate: int | None = None  # the one it replaced
    estimate_at: float = 0.0  # when the newest one was first seen

    @property
    def paused(self) -> bool:
        return self.layer is None


def allocate(
    current: Allocation, report: LegReport, now: float, settings: AllocationSettings
) -> Allocation:
    """The leg's next allocation; ``current`` itself when nothing changes."""
    after = _decide(current, report, now, settings)
    estimate = report.estimate_bps
    if after.last_estimate != estimate:
        # None forgets the last one: after a gap the next estimate is learning anew.
        prior = None if estimate is None else after.last_estimate
        after = replace(after, last_estimate=estimate, prior_estimate=prior, estimate_at=now)
    return after


def _decide(
    current: Allocation, report: LegReport, now: float, settings: AllocationSettings
) -> Allocation:
    layer = current.layer
    wait = settings.step_up_after if current.wait is None else current.wait
    if report.delay_based and report.estimate_bps is not None:
        return _decide_by_delay(current, report, now, settings, wait)
    if layer is None:  # paused: no video, so no new estimate; probe again after the wait
        if now - current.changed_at < wait:
            return current
        return Allocation(0, current.reason, now, None, wait, went_up=True)
    if report.estimate_bps is None:
        return current  # nothing measured yet: keep what the leg has
    available = float(report.estimate_bps)
    if settings.estimate_includes_audio:
        available -= max(report.audio_bps, 0.0) or settings.audio_floor_bps
    available *= report.share

    # Down as far as the estimate says: at once when it is far short of the need, else once
    # it has stayed short for down_after (a keyframe's burst dips it for a moment). A
    # probe that failed waits longer before the next.
    fits = _highest_fitting(report.layer_bps, available)
    rising = _rising(current, report.estimate_bps, now)
    if (fits is None or fits < layer) and not rising:
        severe = available < report.layer_bps[layer] * settings.severe
        if current.short_since is None and not severe:
            return replace(current, short_since=now, short_from=report.estimate_bps)
        short_from = current.short_from or report.estimate_bps
        congested = (
            report.fraction_lost > settings.congestion_loss
            or report.estimate_bps < short_from * (1 - settings.congestion_fall)
        )
        since = current.short_since
        waited = since is not None and now - since >= settings.down_after
        if not severe and not (waited and congested):
            return current
        failed = current.went_up and now - current.changed_at <= settings.probe_window
        wait = min(2 * wait, settings.max_wait) if failed else settings.step_up_after
        return Allocation(fits, Reason.BANDWIDTH, now, None, wait)
    if current.short_since is not None:
        current = replace(current, short_since=None, short_from=None)
    sheds = bool(layer) and report.layer_bps[layer - 1] < report.layer_bps[layer]
    if sheds and report.fraction_lost > settings.loss_limit:
        # Loss alone thins video but never pauses it: NACK repairs what thinning cannot.
        # Only when the layer below is lighter: a source without layers has nothing to shed.
        # Heavy loss (twice the limit: the link's queue overflows) steps again at once:
        # each second there fills the queue the audio waits in.
        heavy = report.fraction_lost > 2 * settings.loss_limit
        if now - current.changed_at < settings.loss_hold and not heavy:
            return current
        return Allocation(layer - 1, Reason.LOSS, now, None, wait)

    # Up one layer at a time, after the estimate showed room over the current one.
    if layer == TOP_LAYER:
        return current if current.room_since is None else replace(current, room_since=None)
    roomy = available >= report.layer_bps[layer] * settings.headroom
    if not roomy or report.fraction_lost > settings.loss_limit:
        return current if current.room_since is None else replace(current, room_since=None)
    if current.went_up and now - current.changed_at > settings.probe_window:
        return replace(current, went_up=False, wait=settings.step_up_after)  # the probe held
    if current.room_since is None:
        return replace(current, room_since=now)
    if now - current.room_since < wait or now - current.changed_at < wait:
        return current
    reason = Reason.FULL if layer + 1 == TOP_LAYER else current.reason
    return Allocation(layer + 1, reason, now, None, wait, went_up=True)


def _decide_by_delay(
    current: Allocation,
    report: LegReport,
    now: float,
    settings: AllocationSettings,
    wait: float,
) -> Allocation:
    """A leg with transport-wide feedback: its estimate is measured, so it is believed.

    Down at once when a queue builds, to what fits beside the audio; never for an
    estimate short of the need while nothing queues (the link carries it). Up one
    layer, or out of a pause, once the estimate has covered that layer's need for
    ``delay_hold``: the SFU's padding probes (``sfu.transport_wide``) are what
    raise the estimate past what is sent, so a step up is no gamble on the link.
    """
    assert report.estimate_bps is not None
    layer = current.layer
    available = report.estimate_bps - (max(report.audio_bps, 0.0) or settings.audio_floor_bps)
    available *= report.share
    fits = _highest_fitting(report.layer_bps, available)
    if report.congested:
        trial = current.went_up and now - current.changed_at <= settings.probe_window
        if layer is not None and trial:
            # A step up on trial built a queue: it failed, whatever the estimate says
            # now. Back down, and wait longer before the next.
            lower = layer - 1 if layer else None
            if fits is None or (lower is not None and fits < lower):
                lower = fits
            wait = min(2 * wait, settings.max_wait)
            return Allocation(lower, Reason.BANDWIDTH, now, None, wait)
        # Just after a step down to layer 0, the queue still shows what the layer before
        # sent: a step lands a round trip and a queue later. A pause then only when the
        # estimate is far short of layer 0: a queue from a failed step up, still
        # draining, paused video (which resumes only with a keyframe) under a cap that
        # carried layer 0 well (bench.network, 2026-12-05).
        settling = (
            layer == 0
            and fits is None
            and not current.went_up
            and now - current.changed_at < settings.delay_settle
            and available >= report.layer_bps[0] * settings.severe
        )
        if layer is not None and (fits is None or fits < layer) and not settling:
            # The queue the audio waits in is building: video comes off now, to what
            # fits beside the audio. Nothing fits at layer 0: it pauses.
            return Allocation(fits, Reason.BANDWIDTH, now, None, wait)
        # No room to count while a queue stands.
        return current if current.room_since is None else replace(current, room_since=None)
    if current.went_up and now - current.changed_at >= settings.delay_held:
        if current.wait is not None and current.wait > settings.step_up_after:
            # Under a cap, a step up failed within a second (its queue came while it was
            # on trial); one that went this long found a link with room again (a cap
            # lifted). Waiting the doubled hold for the next layer kept a lesson thinned
            # four seconds longer than the link required (CI, 2026-12-05: full frame rate
            # back 11.8 s after the cap).
            current, wait = replace(current, wait=settings.step_up_after), settings.step_up_after
    if layer == TOP_LAYER:
        return current if current.room_since is None else replace(current, room_since=None)
    after = 0 if layer is None else layer + 1
    # A paused leg's loss is what it lost before the pause: nothing is sent to measure.
    lossy = layer is not None and report.fraction_lost > settings.loss_limit
    if available < report.layer_bps[after] or lossy:
        return current if current.room_since is None else replace(current, room_since=None)
    if current.room_since is None:
        return replace(current, room_since=now)
    # A failed step up doubled the wait: under a cap that hides its rate behind a burst
    # allowance, each try costs the audio a short queue.
    hold = min(max(settings.delay_hold, wait - settings.step_up_after), settings.delay_max_hold)
    if now - current.room_since < settings.delay_hold or now - current.changed_at < hold:
        return current
    if current.went_up and now - current.changed_at > settings.probe_window:
        current = replace(current, went_up=False, wait=settings.step_up_after)  # it held
    reason = Reason.FULL if after == TOP_LAYER else current.reason
    return Allocation(after, reason, now, None, wait, went_up=True)


# A receiver sends a new estimate about once a second; the loop looks twice as often.
ESTIMATE_FRESH = 1.5


def _rising(current: Allocation, estimate: int, now: float) -> bool:
    """Whether the estimate is climbing: the first one (learning), or higher than the one
    before it. A pass that sees no new estimate judges by the last change while that is
    fresh: a REMB repeated between two passes is not a climb that stopped."""
    if estimate != current.last_estimate:
        reference = current.last_estimate
    elif now - current.estimate_at <= ESTIMATE_FRESH:
        reference = current.prior_estimate
    else:
        return False
    return reference is None or estimate > reference * 1.01


def _highest_fitting(layer_bps: tuple[float, float, float], available: float) -> int | None:
    best = None
    for n, need in enumerate(layer_bps):
        if need > available:
            break
        best = n
    return best
