"""Cheaper stand-ins for two parts of aiortc's REMB estimator, with the same results.

Every video packet the SFU receives feeds aiortc's ``RemoteBitrateEstimator``
(the receive-side bandwidth estimate a publisher's browser is told in REMB).
Profiled on the forwarding benchmark, that estimator was a quarter of the
SFU's CPU, and most of it was two pieces of bookkeeping, not the estimate:

- ``RateCounter`` keeps 1 ms buckets and, on every call, walks one bucket per
  millisecond since the last call (66 steps a frame at 15 fps) to expire old
  ones;
- ``OveruseEstimator.update_min_frame_period`` looks for the smallest of the
  last 60 frame intervals with a Python loop calling ``min`` per element.

``WindowRate`` keeps the arrivals themselves and expires them by popping, and
``MinFramePeriod`` asks the C ``min`` once. Both give the numbers aiortc's give
(``tests/sfu/test_bitrate.py`` runs them side by side);
``sfu.passthrough.receive_packets`` swaps them in.
"""

from __future__ import annotations

from collections import deque
from itertools import islice


class WindowRate:
    """A rate over the last ``window_ms`` milliseconds, like aiortc's ``RateCounter``.

    ``rate(now)`` is ``scale * sum / span``: the sum of the values added in
    the window over the milliseconds it has been open (at most the window),
    or None before two milliseconds have passed or with nothing in it. Time
    must not go back; a call with an earlier time counts as the latest one.
    """

    __slots__ = ("_events", "_origin", "_latest", "_scale", "_window", "_count", "_total")

    def __init__(self, window_ms: int, scale: int = 8000) -> None:
        self._window = window_ms
        self._scale = scale
        self._events: deque[tuple[int, int]] = deque()
        self._origin: int | None = None  # the window's first millisecond
        self._latest = 0
        self._count = 0
        self._total = 0

    def reset(self) -> None:
        self._events.clear()
        self._origin = None
        self._count = 0
        self._total = 0

    def _expire(self, now_ms: int) -> int:
        now_ms = max(now_ms, self._latest)
        self._latest = now_ms
        assert self._origin is not None
        first = now_ms - self._window + 1
        if self._origin < first:
            self._origin = first
            events = self._events
            while events and events[0][0] < first:
                _, value = events.popleft()
                self._count -= 1
                self._total -= value
        return now_ms

    def add(self, value: int, now_ms: int) -> None:
        if self._origin is None:
            self._origin = self._latest = now_ms
        else:
            now_ms = self._expire(now_ms)
        self._events.append((now_ms, value))
        self._count += 1
        self._total += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin is None:
            return None
        now_ms = self._expire(now_ms)
        span = now_ms - self._origin + 1
        if self._count > 0 and span > 1:
            return round(self._scale * self._total / span)
        return None


class MinFramePeriod:
    """The smallest of a frame interval and the ``history - 1`` before it.

    What ``OveruseEstimator.update_min_frame_period`` returns: it drops the
    oldest of ``history`` kept intervals before looking, then keeps the new one.
    """

    __slots__ = ("_kept", "_history")

    def __init__(self, history: int = 60) -> None:
        self._history = history
        self._kept: deque[float] = deque(maxlen=history)

    def __call__(self, ts_delta: float) -> float:
        kept = self._kept
        skip = 1 if len(kept) >= self._history else 0
        smallest = min(islice(kept, skip, None), default=ts_delta)
        kept.append(ts_delta)
        return ts_delta if ts_delta < smallest else smallest
