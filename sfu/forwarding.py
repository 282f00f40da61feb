"""Fan-out of one published track's RTP packets to its subscribers, packet by packet.

A ``Publication`` is fed by its publisher's receiver (``passthrough.receive_packets``):
each packet, as soon as SRTP and RTX are undone, goes to every ``Subscription``
and from there to the ``SendSlot`` of the subscriber's connection it is attached
to, which renumbers it for that leg (``sfu.rtp_rewrite``) and sends it. Nothing
waits for a frame to be complete and nothing is depacketized or packetized
again; all of it runs synchronously in the publisher's receive loop, without
a task hop or a coroutine per subscriber.

Rules that keep every subscriber decodable:

- a new video subscriber gets nothing until a keyframe, and asks for one;
- so does every video subscriber after its publisher went quiet for
  ``RESYNC_AFTER`` (a cut link): what follows a gap that long refers to
  pictures the subscriber never got;
- keyframe requests (the SFU's own and the subscribers' PLI and FIR) reach the
  publisher at most once per ``KEYFRAME_INTERVAL``; one asked for sooner is
  sent when the interval ends, unless a keyframe came first;
- a video subscriber that asks again for packets too old to send again (it
  was cut off for longer than its leg's history) has a gap only a keyframe
  mends: its leg holds the deltas that would follow (undecodable, and they
  kept Chrome from showing the keyframe for 0.7 s) and asks the publisher for
  one at once, without waiting for the browser to give up and send its PLI;
- packets retransmitted by the publisher are forwarded when they come, out of
  order, like the browser's own jitter buffer expects.

A ``SendSlot`` lives as long as the subscriber's connection and switches
between subscriptions (aiortc cannot remove a sender), keeping one continuous
stream across switches. Per-subscriber quality lives on the slot too
(``set_layer``, decided by ``sfu.allocation``): VP8 frames of temporal layers
above the slot's are dropped on purpose, and the stream stays contiguous
(``StreamRewriter.drop``); a paused slot sends no video at all, and resumes
from a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from core.logging import get_logger
from sfu.allocation import TOP_LAYER
from sfu.passthrough import EncodedFrame, PacketSender
from sfu.rtp_rewrite import (
    SEQ_MOD,
    StreamRewriter,
    Vp8Descriptor,
    seq_newer,
)

log = get_logger("liveclass.sfu.forwarding")
KEYFRAME_INTERVAL = 0.3
# A video publisher silent this long (seconds) has lost pictures its subscribers need.
RESYNC_AFTER = 1.0
# Moving a subscriber up a temporal layer waits this long (seconds) for a layer-sync
# frame before it asks the publisher for a keyframe.
SYNC_WAIT = 1.0
# Gap between two sources' timestamps on a switch, in clock ticks, at the least.
SWITCH_GAP = {"audio": 960, "video": 3000}
CLOCK_RATE = {"audio": 48_000, "video": 90_000}
# What a published track is of: a participant has at most one of each. A screen is a
# second video publication, forwarded like the camera (its own subscriptions, allocation).
MICROPHONE, CAMERA, SCREEN = "microphone", "camera", "screen"


def default_source(kind: str) -> str:
    """The source a track of ``kind`` is unless said otherwise: microphone or camera."""
    return MICROPHONE if kind == "audio" else CAMERA


_OPUS_BASE = fractions.Fraction(1, 48_000)


@dataclass
class ForwardingStats:
    packets_in: int = 0
    bytes_in: int = 0
    frames_in: int = 0  # audio packets; video packets that end a frame
    keyframes_in: int = 0
    late_packets: int = 0  # arrived after a newer one (reordered or retransmitted)
    keyframe_requests: int = 0


@dataclass
class SubscriberStats:
    packets_out: int = 0
    bytes_out: int = 0
    frames_out: int = 0
    packets_held: int = 0  # before the leg was up; video before a keyframe
    packets_dropped: int = 0  # too late for the leg, or its transport failed
    packets_thinned: int = 0  # of temporal layers above what the leg's allocation allows
    packets_paused: int = 0  # video not sent while the leg's allocation paused it

    @property
    def frames_dropped(self) -> int:
        return self.packets_dropped


class Subscription:
    """One subscriber's place in a publication's fan-out."""

    def __init__(self, publication: Publication) -> None:
        self.kind = publication.kind
        self.publication = publication
        self.stats = SubscriberStats()
        self.slot: SendSlot | None = None
        self.live = True

    def deliver(
        self,
        packet: RtpPacket,
        descriptor: Vp8Descriptor | None,
        keyframe_start: bool,
        now: float,
        capture_ntp: int | None,
    ) -> None:
        slot = self.slot
        if slot is not None:
            slot.forward(self, packet, descriptor, keyframe_start, now, capture_ntp)

    def resync(self) -> None:
        """Hold video until the next keyframe (see the module docstring)."""
        if self.slot is not None and self.slot.source is self:
            self.slot.hold_for_keyframe()

    def request_keyframe(self) -> None:
        """The subscriber lost a picture (its PLI or FIR): ask the publisher."""
        self.publication.request_keyframe()

    def restart(self) -> None:
        """The publisher's stream starts anew (``Publication.rebind``): so does the slot's run."""
        if self.slot is not None and self.slot.source is self:
            self.slot.new_run()

    def stop(self) -> None:
        self.live = False
        self.publication.unsubscribe(self)
        slot = self.slot
        self.slot = None
        if slot is not None and slot.source is self:
            slot.source = None


class SendSlot:
    """One send slot of a subscriber's connection: its sender, renumbering, and current source."""

    def __init__(
        self,
        kind: str,
        sender: PacketSender,
        *,
        on_first_packet: Callable[[], None] | None = None,
    ) -> None:
        """``on_first_packet`` is called once, when the slot forwards its first packet."""
        self.kind = kind
        self.sender = sender
        if kind == "video":
            sender.on_unrepairable = self._unrepairable
        self._on_first_packet = on_first_packet
        self.source: Subscription | None = None
        self._awaiting_keyframe = False
        # Video: the highest temporal layer sent (None: paused), and one to move to at
        # the next frame that allows it (down: any frame start; up: a keyframe or a
        # layer-sync frame, see ``set_layer``).
        self.layer: int | None = TOP_LAYER
        self._next_layer: int | None = None
        self._sync_deadline: float | None = None  # moving up: ask for a keyframe after this
        self._rewriter = StreamRewriter(
            clock_rate=CLOCK_RATE[kind],
            min_gap=SWITCH_GAP[kind],
            first_seq=random.randrange(SEQ_MOD // 2),
            first_ts=random.getrandbits(32),
        )

    def attach(self, source: Subscription) -> None:
        """Carry ``source`` from now on (stopping the one before), from a keyframe for video."""
        self.detach()
        self.source = source
        source.slot = self
        self._rewriter.restart(new_source=True)
        self._awaiting_keyframe = self.kind == "video"
        self.layer, self._next_layer = TOP_LAYER, None  # the allocator decides anew

    def detach(self) -> None:
        source = self.source
        if source is not None:
            self.source = None
            source.stop()

    def new_run(self) -> None:
        """The same source from a new stream (its publisher came back on a new connection):
        numbers continue from the last packet sent, timestamps by the time away, and
        video waits for a keyframe."""
        self._rewriter.restart(new_source=True)
        self._awaiting_keyframe = self.kind == "video"

    def hold_for_keyframe(self) -> None:
        if self.kind == "video":
            self._awaiting_keyframe = True
            self._rewriter.restart(new_source=False)

    def request_keyframe(self) -> None:
        if self.source is not None:
            self.source.request_keyframe()

    def set_layer(self, layer: int | None) -> None:
        """Send temporal layers up to ``layer`` from now on; None pauses the video.

        Down takes effect at the next frame; up waits for a frame the subscriber
        can decode from what it has: a keyframe, or a layer-sync frame (VP8's Y
        bit) of the new layer or below. If none comes within ``SYNC_WAIT`` a
        keyframe is asked for, so a publisher that marks no sync frames still
        moves up. A paused slot that resumes holds for a keyframe, as after a
        cut, and asks for one.
        """
        if self.kind != "video":
            return
        self._sync_deadline = None
        if layer is None:
            self.layer, self._next_layer = None, None
            return
        if self.layer is None:  # resuming: what follows the pause needs a keyframe
            self.layer, self._next_layer = layer, None
            self.hold_for_keyframe()
            self.request_keyframe()
            return
        self._next_layer = None if layer == self.layer else layer

    def _unrepairable(self) -> None:
        if not self._awaiting_keyframe:
            self.hold_for_keyframe()
        self.request_keyframe()

    def forward(
        self,
        source: Subscription,
        packet: RtpPacket,
        descriptor: Vp8Descriptor | None,
        keyframe_start: bool,
        now: float,
        capture_ntp: int | None,
    ) -> None:
        if source is not self.source:
            return
        stats = source.stats
        if not self.sender.ready:  # the leg is still being negotiated or connected
            stats.packets_held += 1
            if self.kind == "video":
                source.publication.request_keyframe()
            return
        layer = TOP_LAYER
        if descriptor is not None:
            if self.layer is None:
                stats.packets_paused += 1
                return
            if self._next_layer is not None and descriptor.start:
                self._change_layer(descriptor, keyframe_start, now)
            layer = self.layer
        if self._awaiting_keyframe:
            if not keyframe_start:
                stats.packets_held += 1
                source.publication.request_keyframe()
                return
            self._awaiting_keyframe = False
        if descriptor is None:
            out = self._rewriter.rewrite(packet.sequence_number, packet.timestamp, now)
        elif descriptor.tid is not None and descriptor.tid > layer:
            self._rewriter.drop(packet.sequence_number, descriptor.picture_id)
            stats.packets_thinned += 1
            return
        else:
            out = self._rewriter.rewrite(
                packet.sequence_number,
                packet.timestamp,
                now,
                descriptor.picture_id,
                descriptor.tl0picidx,
            )
        if out is None:
            stats.packets_dropped += 1
            return
        payload = packet.payload
        if descriptor is not None and (out.picture_id is not None or out.tl0picidx is not None):
            payload = descriptor.rewritten(payload, out.picture_id, out.tl0picidx)
        sent = self.sender.send(
            packet, out.sequence_number, out.timestamp, payload, capture_ntp=capture_ntp
        )
        if not sent:
            stats.packets_dropped += 1
            return
        if self._on_first_packet is not None:
            first, self._on_first_packet = self._on_first_packet, None
            first()
        stats.packets_out += 1
        stats.bytes_out += len(payload)
        if self.kind == "audio" or packet.marker:
            stats.frames_out += 1

    def _change_layer(self, descriptor: Vp8Descriptor, keyframe_start: bool, now: float) -> None:
        """At a frame's first packet: move to ``_next_layer`` if this frame allows it."""
        wanted = self._next_layer
        assert wanted is not None and self.layer is not None
        if (
            wanted < self.layer
            or keyframe_start
            or (descriptor.layer_sync and descriptor.temporal_layer <= wanted)
        ):
            self.layer, self._next_layer, self._sync_deadline = wanted, None, None
        elif self._sync_deadline is None:
            self._sync_deadline = now + SYNC_WAIT
        elif now > self._sync_deadline:
            self._sync_deadline = now + SYNC_WAIT  # and again, if that keyframe is lost
            self.request_keyframe()

    def stop(self) -> None:
        self.detach()


FrameTap = Callable[[EncodedFrame], None]


async def _no_keyframe_request() -> bool:
    """A held publication's publisher is away: nobody to ask."""
    return False


class Publication:
    """One participant's published track, fanned out packet by packet without decoding."""

    def __init__(
        self,
        *,
        participant_id: str,
        kind: str,
        send_keyframe_request: Callable[[], Coroutine[Any, Any, bool]],
        source: str = "",
        track: MediaStreamTrack | None = None,
        on_frame: FrameTap | None = None,
        on_audio_level: Callable[[int, bool], None] | None = None,
        counts: Callable[[], tuple[int, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``track``: aiortc's track of the receiver, watched only to learn that it ended.
        ``on_frame`` sees every audio packet, in order, as an encoded frame, before the
        subscribers do (the recorder's tap); it must only queue, and its failures are
        logged, never let into forwarding. ``on_audio_level(level, voice)`` hears the
        RFC 6464 level of each audio packet that carries one (the speaker detector).
        ``counts()``: (received, lost) as the publisher's receiver counts them.
        ``source``: microphone, camera (the defaults by kind) or screen."""
        self.participant_id = participant_id
        self.kind = kind
        self.source = source or default_source(kind)
        self.stats = ForwardingStats()
        # Video bytes received per temporal layer (0 when the sender marks none), for the
        # allocation loop's rates; never reset, read as differences.
        self.layer_bytes = [0, 0, 0]
        # The most any subscriber can take now (bits/s), set by the allocation loop; the
        # publisher is told no more than this (its REMB), so it encodes for its audience.
        self.audience_bps: int | None = None
        self._on_frame = on_frame
        self._on_audio_level = on_audio_level
        self._counts = counts
        self._clock = clock
        self._clock_rate = CLOCK_RATE[kind]
        self._send_keyframe_request = send_keyframe_request
        self._subscribers: set[Subscription] = set()
        self._last_request = -KEYFRAME_INTERVAL
        self._request_task: asyncio.Task[bool] | None = None
        self._deferred: asyncio.TimerHandle | None = None  # a request held for the interval
        self._max_seq: int | None = None
        self._last_at = 0.0
        self._report: tuple[int, int] | None = None  # publisher's (NTP, RTP) pair
        self.ended = asyncio.Event()
        self.held = False  # its publisher dropped; the seat is held (``detach_source``)
        self._task: asyncio.Task[None] | None = None
        if track is not None:
            self._task = asyncio.create_task(
                self._watch(track), name=f"publication-{participant_id}-{self.source}"
            )

    @property
    def subscribers(self) -> frozenset[Subscription]:
        return frozenset(self._subscribers)

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        if self.ended.is_set():
            sub.live = False
            return sub
        self._subscribers.add(sub)
        if self.kind == "video":
            self.request_keyframe()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def detach_source(self) -> None:
        """The publisher's connection is gone but its seat is held (``Room.hold_peer``).

        The old track is no longer watched, so its end does not end the
        publication: subscribers keep their place (no renegotiation for them)
        and get nothing until ``rebind``.
        """
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self._cancel_deferred()
        self._send_keyframe_request = _no_keyframe_request
        self._counts = None
        self.held = True

    def rebind(
        self,
        *,
        track: MediaStreamTrack,
        send_keyframe_request: Callable[[], Coroutine[Any, Any, bool]],
        counts: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        """The publisher is back on a new connection: feed the same fan-out from it.

        Its stream starts anew (new SSRC, sequence numbers and timestamps), so
        every subscriber's slot starts a new run of its one continuous stream,
        from a keyframe for video, which is asked for at once. The recorder's
        tap sees the same track go on; the time away becomes silence there.
        """
        self._send_keyframe_request = send_keyframe_request
        self._counts = counts
        self._max_seq, self._report = None, None
        self._last_request = -KEYFRAME_INTERVAL
        self.held = False
        for sub in tuple(self._subscribers):
            sub.restart()
        self._task = asyncio.create_task(
            self._watch(track), name=f"publication-{self.participant_id}-{self.source}"
        )
        if self.kind == "video":
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per KEYFRAME_INTERVAL.

        Asked again within the interval, the request is sent when it ends (once,
        however often it was asked), unless a keyframe arrives before then.
        """
        if self.kind != "video" or self.ended.is_set():
            return
        now = self._clock()
        wait = self._last_request + KEYFRAME_INTERVAL - now
        sending = self._request_task is not None and not self._request_task.done()
        if wait > 0 or sending:
            if self._deferred is None:
                self._deferred = asyncio.get_running_loop().call_later(
                    max(wait, KEYFRAME_INTERVAL / 4), self._deferred_request
                )
            return
        self._last_request = now
        self.stats.keyframe_requests += 1
        self._request_task = asyncio.create_task(self._send_keyframe_request())

    def _deferred_request(self) -> None:
        self._deferred = None
        self.request_keyframe()

    def _cancel_deferred(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def counts(self) -> tuple[int, int]:
        """(packets received, packets lost) from the publisher, RTX included."""
        if self._counts is None:
            return self.stats.packets_in, 0
        return self._counts()

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        """The publisher's RTCP sender report: NTP time ``ntp`` is RTP time ``rtp_timestamp``."""
        self._report = (ntp, rtp_timestamp)

    def capture_ntp(self, timestamp: int) -> int | None:
        """The NTP time (64-bit) the publisher captured the media of RTP time ``timestamp`` at."""
        report = self._report
        if report is None:
            return None
        ntp, rtp_at = report
        ticks = (timestamp - rtp_at + (1 << 31)) % (1 << 32) - (1 << 31)
        return ntp + (ticks << 32) // self._clock_rate

    def receive(self, packet: RtpPacket, codec: RTCRtpCodecParameters | None = None) -> None:
        """One packet from the publisher, after SRTP and RTX: hand it to every subscriber."""
        now = self._clock()
        stats = self.stats
        payload = packet.payload
        stats.packets_in += 1
        stats.bytes_in += len(payload)
        video = self.kind == "video"
        descriptor = Vp8Descriptor.parse(payload) if video else None
        keyframe_start = not video or (descriptor is not None and descriptor.keyframe_start)
        if video:
            stats.frames_in += packet.marker
            if descriptor is not None:
                self.layer_bytes[min(descriptor.tid or 0, TOP_LAYER)] += len(payload)
            if keyframe_start:
                stats.keyframes_in += 1
                self._cancel_deferred()  # what was asked for has come
        else:
            stats.frames_in += 1
            level = packet.extensions.audio_level
            if level is not None and self._on_audio_level is not None:
                try:
                    self._on_audio_level(level[1], level[0])
                except Exception:
                    log.exception("audio level callback failed", participant=self.participant_id)
        newest = self._max_seq is None or seq_newer(packet.sequence_number, self._max_seq)
        if newest:
            if video and self._max_seq is not None and now - self._last_at > RESYNC_AFTER:
                self._resync()
            self._max_seq = packet.sequence_number
            self._last_at = now
            if self._on_frame is not None:
                self._tap(packet)
        else:
            stats.late_packets += 1
        capture = self.capture_ntp(packet.timestamp) if self._report is not None else None
        for sub in tuple(self._subscribers):
            sub.deliver(packet, descriptor, keyframe_start, now, capture)

    def _resync(self) -> None:
        for sub in self._subscribers:
            sub.resync()
        self.request_keyframe()

    def _tap(self, packet: RtpPacket) -> None:
        level = packet.extensions.audio_level
        frame = EncodedFrame(
            packet.payload, packet.timestamp, _OPUS_BASE, True, None if level is None else level[1]
        )
        try:
            self._on_frame(frame)  # type: ignore[misc]
        except Exception:
            log.exception("frame tap failed", participant=self.participant_id)

    async def _watch(self, track: MediaStreamTrack) -> None:
        """aiortc ends the receiver's track when the publisher goes (BYE, or the connection).

        That ends the source, not the publication: a publisher whose client closed its
        connection to come back on a new one (``rebind``) keeps its subscribers. The
        publication ends with the participant's seat (``aclose``).
        """
        try:
            while True:
                await track.recv()  # nothing comes: packets bypass the track
        except MediaStreamError:
            pass
        except Exception:
            log.exception("publication watch failed", participant=self.participant_id)
        self._task = None  # ended on its own: detach_source must not cancel itself
        self.detach_source()

    def _end(self) -> None:
        self.ended.set()
        self._cancel_deferred()
        for sub in tuple(self._subscribers):
            sub.stop()

    async def aclose(self) -> None:
        """Stop forwarding and end every subscription."""
        for task in (self._task, self._request_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._task, self._request_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._end()
