"""Fan-out of one published track's encoded frames to its subscribers.

A ``Publication`` reads ``EncodedFrame``s from the publisher's receiver and
hands each to every ``SubscriberTrack``. Rules that keep every subscriber
decodable:

- a new video subscriber gets nothing until a keyframe, and asks for one;
- a subscriber's queue is bounded: a slow one never makes the SFU buffer
  without limit. When video overflows, its queue is emptied and it waits for
  the next keyframe (dropping frames silently would corrupt what follows); when
  audio overflows, the oldest frame goes;
- keyframe requests reach the publisher at most once per ``KEYFRAME_INTERVAL``.

A ``SlotTrack`` is what an aiortc sender reads for one send slot of a peer. It
lives as long as the peer and switches between subscriptions (aiortc's sender
stops for good when its track ends), rewriting timestamps so the receiver sees
one continuous stream across switches. The per-subscriber objects are also the
place for per-subscriber quality later (pausing video, dropping layers).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.logging import get_logger
from sfu.passthrough import EncodedFrame

log = get_logger("liveclass.sfu.forwarding")
KEYFRAME_INTERVAL = 0.3
# Gap inserted between two sources' timestamps on a switch, in clock ticks.
SWITCH_GAP = {"audio": 960, "video": 3000}


@dataclass
class ForwardingStats:
    frames_in: int = 0
    keyframes_in: int = 0
    keyframe_requests: int = 0


@dataclass
class SubscriberStats:
    frames_out: int = 0
    frames_held: int = 0  # video before the first keyframe
    frames_dropped: int = 0  # on purpose, on overflow


class SubscriberTrack(MediaStreamTrack):
    """One subscriber's view of a publication: its frames, bounded."""

    def __init__(self, publication: Publication, *, max_frames: int) -> None:
        super().__init__()
        self.kind = publication.kind
        self.publication = publication
        self.stats = SubscriberStats()
        self._max = max_frames
        self._frames: deque[EncodedFrame] = deque()
        self._ready = asyncio.Event()
        self._awaiting_keyframe = self.kind == "video"

    def push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self._awaiting_keyframe:
            if not frame.keyframe:
                self.stats.frames_held += 1
                self.publication.request_keyframe()
                return
            self._awaiting_keyframe = False
        if len(self._frames) >= self._max:
            if self.kind == "video":
                self.stats.frames_dropped += len(self._frames) + 1
                self._frames.clear()
                self._awaiting_keyframe = True
                self.publication.request_keyframe()
                return
            self._frames.popleft()
            self.stats.frames_dropped += 1
        self._frames.append(frame)
        self._ready.set()

    @property
    def queued(self) -> int:
        return len(self._frames)

    def request_keyframe(self) -> None:
        """The subscriber lost a picture (its PLI or FIR): ask the publisher."""
        self.publication.request_keyframe()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.stats.frames_out += 1
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()
        self.publication.unsubscribe(self)


class SlotTrack(MediaStreamTrack):
    """A send slot's track: plays whichever subscription is attached, or waits."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: SubscriberTrack | None = None
        self._changed = asyncio.Event()
        self._offset = 0
        self._last_pts: int | None = None
        self._rebase = False

    def attach(self, source: SubscriberTrack) -> None:
        self.detach()
        self.source = source
        self._rebase = True
        self._changed.set()

    def detach(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.source = None
            self._changed.set()

    def request_keyframe(self) -> None:
        if self.source is not None:
            self.source.request_keyframe()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        while self.readyState == "live":
            source = self.source
            if source is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self.source is source:
                    self.source = None
                continue
            if self._rebase:
                self._rebase = False
                if self._last_pts is not None:
                    self._offset = self._last_pts + SWITCH_GAP[self.kind] - frame.pts
            if self._offset:
                frame = EncodedFrame(
                    frame.data, frame.pts + self._offset, frame.time_base, frame.keyframe
                )
            self._last_pts = frame.pts
            return frame
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self.detach()
        self._changed.set()


class Publication:
    """One participant's published track, fanned out without decoding."""

    def __init__(
        self,
        *,
        participant_id: str,
        track: MediaStreamTrack,
        send_keyframe_request: Callable[[], Coroutine[Any, Any, bool]],
        max_frames: int,
        on_frame: Callable[[EncodedFrame], None] | None = None,
    ) -> None:
        """``on_frame`` sees every frame before the subscribers do (the recorder's tap); it
        must only queue, and its failures are logged, never let into forwarding."""
        self.participant_id = participant_id
        self._on_frame = on_frame
        self.kind = track.kind
        self.track = track
        self.stats = ForwardingStats()
        self._send_keyframe_request = send_keyframe_request
        self._max_frames = max_frames
        self._subscribers: set[SubscriberTrack] = set()
        self._last_request = 0.0
        self._request_task: asyncio.Task[bool] | None = None
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"forward-{participant_id}-{self.kind}")

    @property
    def subscribers(self) -> frozenset[SubscriberTrack]:
        return frozenset(self._subscribers)

    def subscribe(self) -> SubscriberTrack:
        sub = SubscriberTrack(self, max_frames=self._max_frames)
        self._subscribers.add(sub)
        if self.kind == "video":
            self.request_keyframe()
        return sub

    def unsubscribe(self, sub: SubscriberTrack) -> None:
        self._subscribers.discard(sub)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per KEYFRAME_INTERVAL."""
        if self.kind != "video":
            return
        now = time.monotonic()
        if now - self._last_request < KEYFRAME_INTERVAL:
            return
        if self._request_task is not None and not self._request_task.done():
            return
        self._last_request = now
        self.stats.keyframe_requests += 1
        self._request_task = asyncio.create_task(self._send_keyframe_request())

    async def _run(self) -> None:
        try:
            while True:
                frame = cast(EncodedFrame, await self.track.recv())
                self.stats.frames_in += 1
                self.stats.keyframes_in += frame.keyframe
                if self._on_frame is not None:
                    try:
                        self._on_frame(frame)
                    except Exception:
                        log.exception("frame tap failed", participant=self.participant_id)
                for sub in tuple(self._subscribers):
                    sub.push(frame)
        except MediaStreamError:
            pass  # the publisher's track ended
        except Exception:
            log.exception("forwarding failed", participant=self.participant_id, kind=self.kind)
        finally:
            self.ended.set()
            for sub in tuple(self._subscribers):
                sub.stop()

    async def aclose(self) -> None:
        """Stop reading and end every subscriber's track."""
        for task in (self._task, self._request_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._task, self._request_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for sub in tuple(self._subscribers):
            sub.stop()
