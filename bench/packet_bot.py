"""Bench participants that send pre-packetized RTP and count packets, at a fraction of a bot's CPU.

``sfu.bot.BotPeer`` is a faithful client: aiortc packetizes each frame and
sends it through its coroutine-per-packet path, and receives into aiortc's
jitter buffer and depacketizer. At 25 sessions those bots took a whole core,
so the forwarding bench could not load the SFU further. ``PacketBot`` uses
the SFU's own send and receive seams instead (``sfu.passthrough``): each loop
frame is packetized once, ahead of time, and replayed in real time through a
``PacketSender`` (fresh sequence numbers, timestamps and VP8 PictureIDs;
a keyframe request jumps to the loop's keyframe); what arrives is counted
per packet (``receive_packets``): an audio packet is a frame, a video packet
with the marker bit ends one. Loopback loses nothing, so that count is what a
browser would decode. Same offer/answer interface as ``BotPeer``, as the bench
uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import HeaderExtensions, RtpPacket

from sfu import passthrough
from sfu.bot import SlotRef
from sfu.ice import rtc_configuration
from sfu.passthrough import EncodedFrame, OpusPacker, PacketSender, Vp8Packer
from sfu.rtp_rewrite import PICTURE_ID_MOD, SEQ_MOD, TS_MOD, Vp8Descriptor
from sfu.synthetic import EncodedLoop, EncodedLoopTrack


@dataclass
class Counted:
    """What arrived from one remote participant (the fields the bench reads of a bot's)."""

    audio: int = 0
    video: int = 0
    first_audio_at: float | None = None
    first_video_at: float | None = None


@dataclass(frozen=True)
class Packetized:
    """A loop's frames as RTP payloads, packed once."""

    kind: str
    frames: tuple[tuple[bytes, ...], ...]
    keyframes: tuple[int, ...]
    frame_duration: float
    ticks: int  # RTP clock ticks per frame
    audio_level: int | None


_packed: dict[int, Packetized] = {}


def packetize(loop: EncodedLoop) -> Packetized:
    """``loop``'s frames as payloads (VP8 with PictureID 0, rewritten per send)."""
    cached = _packed.get(id(loop))
    if cached is not None:
        return cached
    packer: Vp8Packer | OpusPacker = Vp8Packer() if loop.kind == "video" else OpusPacker()
    frames = []
    for n, data in enumerate(loop.frames):
        base = fractions.Fraction(1, loop.clock_rate)
        frame = EncodedFrame(data, 0, base, n in loop.keyframes, loop.audio_level)
        if isinstance(packer, Vp8Packer):
            packer.picture_id = 0
        payloads, _ = packer.pack(frame)
        frames.append(tuple(payloads))
    packed = Packetized(
        loop.kind,
        tuple(frames),
        loop.keyframes,
        loop.frame_duration,
        round(loop.frame_duration * loop.clock_rate),
        loop.audio_level,
    )
    _packed[id(loop)] = packed
    return packed


class _Source:
    """The two things ``PacketSender.send`` reads of the packet it forwards."""

    __slots__ = ("marker", "extensions")

    def __init__(self, audio_level: int | None) -> None:
        self.marker = 0
        self.extensions = HeaderExtensions()
        if audio_level is not None:
            self.extensions.audio_level = (False, audio_level)


class Pacer:
    """Replays one ``Packetized`` loop in real time on a ``PacketSender``."""

    def __init__(self, packed: Packetized, sender: PacketSender) -> None:
        self.kind = packed.kind
        self.frames_sent = 0
        self._packed = packed
        self._sender = sender
        self._index = 0
        self._source = _Source(packed.audio_level)

    def request_keyframe(self) -> None:
        ahead = [k for k in self._packed.keyframes if k >= self._index]
        self._index = ahead[0] if ahead else self._packed.keyframes[0]

    async def run(self) -> None:
        await self._sender.started.wait()
        packed, send, source = self._packed, self._sender.send, self._source
        video = packed.kind == "video"
        seq, ts = random.randrange(SEQ_MOD), random.getrandbits(32)
        picture_id = random.randrange(PICTURE_ID_MOD)
        start = time.monotonic()
        while True:
            delay = start + self.frames_sent * packed.frame_duration - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payloads = packed.frames[self._index]
            last = len(payloads) - 1
            for n, payload in enumerate(payloads):
                if video:
                    descriptor = Vp8Descriptor.parse(payload)
                    if descriptor is not None:
                        payload = descriptor.with_picture_id(payload, picture_id)
                source.marker = int(n == last)
                send(source, seq, ts, payload)  # type: ignore[arg-type]
                seq = (seq + 1) % SEQ_MOD
            ts = (ts + packed.ticks) % TS_MOD
            picture_id = (picture_id + 1) % PICTURE_ID_MOD
            self._index = (self._index + 1) % len(packed.frames)
            self.frames_sent += 1


@dataclass
class PacketBot:
    """One participant: publishes ``loops`` (one per kind), counts what the others send."""

    loops: tuple[EncodedLoop, ...]
    received: dict[str, Counted] = field(default_factory=lambda: defaultdict(Counted))
    tracks: list[Pacer] = field(default_factory=list)

    def __post_init__(self) -> None:
        passthrough.install()
        self.pc = RTCPeerConnection(rtc_configuration([]))
        self._mids: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._attached = False
        self.pc.on("track", self._on_track)

    async def answer_offer(self, sdp: str, tracks: Iterable[SlotRef]) -> str:
        refs = list(tracks)
        self._mids.update({r.mid: r.participant_id for r in refs if not r.publish})
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if not self._attached:
            self._attached = True
            own = {r.mid: r.kind for r in refs if r.publish}
            loops = {loop.kind: loop for loop in self.loops}
            for transceiver in self.pc.getTransceivers():
                kind = own.get(transceiver.mid or "")
                loop = loops.get(kind or "")
                if loop is not None:
                    # The track is never read (the PacketSender stands in for aiortc's
                    # loop); it gives the answer its msid, as a browser's would have.
                    transceiver.sender.replaceTrack(EncodedLoopTrack(loop))
                    transceiver.direction = "sendonly"
                    pacer = Pacer(packetize(loop), PacketSender(transceiver.sender))
                    passthrough.on_keyframe_request(transceiver.sender, pacer.request_keyframe)
                    self.tracks.append(pacer)
                    self._start(pacer.run())
                elif kind is not None:
                    transceiver.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        mid = transceiver.mid or ""
        self._count(transceiver.receiver, mid, track.kind)

    def _count(self, receiver: RTCRtpReceiver, mid: str, kind: str) -> None:
        def on_packet(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            publisher = self._mids.get(mid)
            if publisher is None:
                return
            got = self.received[publisher]
            if kind == "audio":
                got.audio += 1
                if got.first_audio_at is None:
                    got.first_audio_at = time.monotonic()
            elif packet.marker:
                got.video += 1
                if got.first_video_at is None:
                    got.first_video_at = time.monotonic()

        passthrough.receive_packets(receiver, on_packet)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
