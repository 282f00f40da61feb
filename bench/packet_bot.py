"""Bench participants that send pre-packetized RTP and count packets, at a fraction of a bot's CPU.

``sfu.bot.BotPeer`` is a faithful client: aiortc packetizes each frame and
sends it through its coroutine-per-packet path, and receives into aiortc's
jitter buffer and depacketizer. At 25 sessions those bots took a whole core,
so the forwarding bench could not load the SFU further. ``PacketBot`` uses
the SFU's own send seam instead (``sfu.passthrough.PacketSender``): each loop
frame is packetized once, ahead of time, and replayed in real time (fresh
sequence numbers, timestamps and VP8 PictureIDs; a keyframe request jumps to
the loop's keyframe), every bot's tracks paced by one shared ``Metronome``.
What arrives is counted per packet from its RTP header (``PacketBot._count``):
an audio packet is a frame, a video packet with the marker bit ends one.
Loopback loses nothing, so that count is what a browser would decode. Same
offer/answer interface as ``BotPeer``, as the bench uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import heapq
import random
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import HeaderExtensions, RtpPacket

from core.tasks import cancel_and_wait
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
        layer = None if loop.layers is None else loop.layers[n]
        frame = EncodedFrame(data, 0, base, n in loop.keyframes, loop.audio_level, layer)
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
    """Replays one ``Packetized`` loop in real time on a ``PacketSender``.

    ``run()`` paces it alone; a ``Metronome`` paces many from one task, calling
    ``send_due``.
    """

    def __init__(self, packed: Packetized, sender: PacketSender) -> None:
        self.kind = packed.kind
        self.frames_sent = 0
        self._packed = packed
        self._sender = sender
        self._index = 0
        self._source = _Source(packed.audio_level)
        self._video = packed.kind == "video"
        self._seq, self._ts = random.randrange(SEQ_MOD), random.getrandbits(32)
        self._picture_id = random.randrange(PICTURE_ID_MOD)
        self._tl0picidx = random.randrange(256)
        self._start: float | None = None

    def request_keyframe(self) -> None:
        ahead = [k for k in self._packed.keyframes if k >= self._index]
        self._index = ahead[0] if ahead else self._packed.keyframes[0]

    @property
    def ready(self) -> bool:
        return self._sender.started.is_set()

    def send_due(self, now: float) -> float:
        """Send every frame due by ``now``; returns when the next one is due."""
        packed = self._packed
        if self._start is None:
            self._start = now
        due = self._start + self.frames_sent * packed.frame_duration
        while due <= now:
            self._send_frame()
            due = self._start + self.frames_sent * packed.frame_duration
        return due

    def _send_frame(self) -> None:
        packed, send, source = self._packed, self._sender.send, self._source
        payloads = packed.frames[self._index]
        last = len(payloads) - 1
        seq = self._seq
        for n, payload in enumerate(payloads):
            if self._video:
                descriptor = Vp8Descriptor.parse(payload)
                if descriptor is not None:
                    if n == 0 and descriptor.tid == 0:
                        self._tl0picidx = (self._tl0picidx + 1) % 256
                    payload = descriptor.rewritten(payload, self._picture_id, self._tl0picidx)
            source.marker = int(n == last)
            send(source, seq, self._ts, payload)  # type: ignore[arg-type]
            seq = (seq + 1) % SEQ_MOD
        self._seq = seq
        self._ts = (self._ts + packed.ticks) % TS_MOD
        self._picture_id = (self._picture_id + 1) % PICTURE_ID_MOD
        self._index = (self._index + 1) % len(packed.frames)
        self.frames_sent += 1

    async def run(self) -> None:
        await self._sender.started.wait()
        while True:
            delay = self.send_due(time.monotonic()) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


class Metronome:
    """Paces every bot's tracks from one task, waking once per ``tick`` at most.

    A task per track woke 65 times a second per bot (50 audio frames, 15
    video); at 60 sessions that was 7,800 wake-ups a second, and the bots'
    event loop, not the SFU, became what the bench measured. Frames due
    within one tick go out together, up to ``tick`` late, which changes
    nothing the bench counts.
    """

    def __init__(self, *, tick: float = 0.005) -> None:
        self.tick = tick
        self._waiting: list[Pacer] = []  # until their sender starts
        self._due: list[tuple[float, int, Pacer]] = []
        self._order = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, pacer: Pacer) -> None:
        self._waiting.append(pacer)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bench-metronome")

    async def _run(self) -> None:
        due = self._due
        while True:
            now = time.monotonic()
            if self._waiting:
                ready = [p for p in self._waiting if p.ready]
                self._waiting = [p for p in self._waiting if not p.ready]
                for pacer in ready:
                    self._order += 1
                    heapq.heappush(due, (now, self._order, pacer))
            while due and due[0][0] <= now:
                _, order, pacer = heapq.heappop(due)
                heapq.heappush(due, (pacer.send_due(now), order, pacer))
            wait = due[0][0] - time.monotonic() if due else self.tick
            await asyncio.sleep(max(wait, self.tick))

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


@dataclass
class PacketBot:
    """One participant: publishes ``loops`` (one per kind), counts what the others send.

    With a ``metronome`` its tracks are paced by that shared task; without,
    each by a task of its own.
    """

    loops: tuple[EncodedLoop, ...]
    metronome: Metronome | None = None
    received: dict[str, Counted] = field(default_factory=lambda: defaultdict(Counted))
    tracks: list[Pacer] = field(default_factory=list)

    def __post_init__(self) -> None:
        passthrough.install()
        self.pc = RTCPeerConnection(rtc_configuration([]))
        self._mids: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._attached = False
        # SSRC -> (what it counts into, audio?), learnt from each stream's first packet.
        self._by_ssrc: dict[int, tuple[Counted, bool]] = {}
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
                    if self.metronome is not None:
                        self.metronome.add(pacer)
                    else:
                        self._start(pacer.run())
                elif kind is not None:
                    transceiver.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._skip_stun_parse()
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
        """Count what ``receiver`` gets: its first packet the long way, the rest by SSRC.

        The first packet of a stream comes through aiortc (SRTP unprotect, then
        routed to this receiver by MID), which tells which SSRC is whose; from
        then on ``_count_directly`` counts that SSRC's datagrams from their
        RTP header, which SRTP leaves in the clear, without unprotecting them.
        Authentication is skipped for those: on loopback nothing alters a
        packet, and a bot that spent as much per packet as the SFU could not
        load it past half the machine.
        """
        codecs_by_pt: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]

        async def first_packets(packet: RtpPacket, arrival_time_ms: int) -> None:
            publisher = self._mids.get(mid)
            codec = codecs_by_pt.get(packet.payload_type)
            if publisher is None or codec is None or codec.name.lower() == "rtx":
                return
            counted = self.received[publisher]
            self._by_ssrc[packet.ssrc] = (counted, kind == "audio")
            self._tally(counted, kind == "audio", packet.marker)

        receiver._handle_rtp_packet = first_packets  # type: ignore[method-assign]
        self._count_directly(receiver.transport)

    @staticmethod
    def _tally(counted: Counted, audio: bool, marker: int) -> None:
        if audio:
            counted.audio += 1
            if counted.first_audio_at is None:
                counted.first_audio_at = time.monotonic()
        elif marker:
            counted.video += 1
            if counted.first_video_at is None:
                counted.first_video_at = time.monotonic()

    def _count_directly(self, dtls: RTCDtlsTransport) -> None:
        if getattr(dtls, "_bench_counting", False):
            return
        dtls._bench_counting = True  # type: ignore[attr-defined]
        connection = dtls.transport._connection
        queued = connection.data_received
        by_ssrc, tally = self._by_ssrc, self._tally

        def data_received(data: bytes, component: int) -> None:
            # RTP, not RTCP (RFC 5761: RTCP packet types 192-223 in the second byte).
            if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                seen = by_ssrc.get(int.from_bytes(data[8:12], "big"))
                if seen is not None:
                    tally(seen[0], seen[1], data[1] & 0x80)
                    return
            queued(data, component)

        connection.data_received = data_received  # type: ignore[method-assign]

    def _skip_stun_parse(self) -> None:
        """Media datagrams straight to ``_count_directly`` (candidates exist once gathered)."""
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            if dtls is None or getattr(dtls, "_bench_stun_skipped", False):
                continue
            dtls._bench_stun_skipped = True  # type: ignore[attr-defined]
            for protocol in dtls.transport._connection._protocols:
                if type(protocol) is aioice.ice.StunProtocol:
                    passthrough.skip_stun_parse(protocol)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
