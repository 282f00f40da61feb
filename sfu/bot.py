"""A Python participant on aiortc: publishes pre-encoded media, counts what arrives.

``BotPeer`` is the media half (signaling-agnostic, used directly by tests and
benchmarks); ``signaling.bot`` drives it over the WebSocket protocol for
``liveclass bot``. Received frames are counted per remote participant and kind,
without decoding: the bot proves media flowed, cheaply. Its audio is a tone
sent with its RFC 6464 level, so the SFU hears it speak; ``silent`` sends
silence instead, like a muted microphone. It can share a "screen" too: a
second synthetic video (``share_screen``), whose frames a receiving bot counts
apart from the camera's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, cast

from aiortc import RTCPeerConnection, RTCSessionDescription, rtp
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sfu import passthrough
from sfu.ice import rtc_configuration
from sfu.passthrough import EncodedFrame
from sfu.reception import AudioTracker, VideoTracker
from sfu.synthetic import VIDEO_SIZE, EncodedLoop, EncodedLoopTrack, audio_loop, video_loop

# A picture that could not be decoded for this long asks the sender for a keyframe (seconds).
KEYFRAME_AFTER = 0.3


class SlotRef(Protocol):
    """One m-line of an SFU offer, as the signaling protocol describes it."""

    @property
    def mid(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def participant_id(self) -> str | None: ...
    @property
    def publish(self) -> bool: ...
    @property
    def source(self) -> str | None: ...


@dataclass
class Reception:
    """Frames received from one remote participant.

    ``audio``/``video`` count frames out of aiortc's jitter buffer; ``packets``
    and ``pictures`` count per packet what a browser could play
    (``sfu.reception``), which is what the impaired-link tests measure.
    """

    audio: int = 0
    video: int = 0
    screen: int = 0  # frames of their shared screen
    last_screen_at: float | None = None  # time.monotonic() of the latest
    video_keyframes: int = 0
    first_video_at: float | None = None  # time.monotonic()
    first_audio_at: float | None = None
    # The payloads of the latest audio frames, as they arrived (for checks that they are unchanged).
    recent_audio: deque[bytes] = field(default_factory=lambda: deque(maxlen=100))
    packets: AudioTracker = field(default_factory=AudioTracker)
    pictures: VideoTracker = field(default_factory=VideoTracker)


@dataclass
class BotPeer:
    ice_servers: list[str]
    publish: bool = True
    silent: bool = False  # publish silence (level 127) instead of the tone
    # Publish these loops (``sfu.media_file.load_media_file``) instead of the synthetic ones.
    media: tuple[EncodedLoop, ...] | None = None
    video_size: tuple[int, int] = VIDEO_SIZE  # of the synthetic video
    received: dict[str, Reception] = field(default_factory=lambda: defaultdict(Reception))
    tracks: list[EncodedLoopTrack] = field(default_factory=list)

    def __post_init__(self) -> None:
        passthrough.install()
        self.pc = RTCPeerConnection(rtc_configuration(self.ice_servers))
        self._mids: dict[str, str | None] = {}
        self._screen_mids: set[str] = set()  # of the send slots: those carrying a screen
        self._screen_slot: str | None = None  # mid of our own screen's slot, once offered
        self.screen_track: EncodedLoopTrack | None = None  # shared now, if any
        self._readers: set[asyncio.Task[None]] = set()
        self._requests: set[asyncio.Future[None]] = set()
        self._attached = False
        self.pc.on("track", self._on_track)
        if self.publish and self.media is not None:
            self.tracks = [EncodedLoopTrack(loop) for loop in self.media]
        elif self.publish:
            audio = audio_loop(amplitude=0.0) if self.silent else audio_loop()
            video = video_loop(size=self.video_size)
            self.tracks = [EncodedLoopTrack(audio), EncodedLoopTrack(video)]

    async def answer_offer(self, sdp: str, tracks: Iterable[SlotRef]) -> str:
        """Answer an SFU offer.

        ``tracks`` says, per mid, whose media it carries, or that it is a slot
        for our own track (``publish``): we attach our tracks there the first time.
        """
        refs = list(tracks)
        self._mids.update({r.mid: r.participant_id for r in refs if not r.publish})
        self._screen_mids = {r.mid for r in refs if r.source == "screen" and not r.publish}
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        screen = next((r.mid for r in refs if r.publish and r.source == "screen"), None)
        if screen is not None and self._screen_slot is None:
            self._screen_slot = screen
            self._attach_screen()
        if not self._attached:
            self._attached = True
            own = {r.mid: r.kind for r in refs if r.publish and r.source != "screen"}
            for transceiver in self.pc.getTransceivers():
                kind = own.get(transceiver.mid or "")
                track = next((t for t in self.tracks if t.kind == kind), None)
                if track is not None:
                    transceiver.sender.replaceTrack(track)
                    transceiver.direction = "sendonly"
                    passthrough.on_keyframe_request(transceiver.sender, track.request_keyframe)
                elif kind is not None:
                    transceiver.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def share_screen(self, size: tuple[int, int] = (640, 360)) -> bool:
        """Start sending a screen (a synthetic video of ``size``). True if its slot is there
        and the track went on it; False if the SFU has yet to offer one (``answer_offer``
        attaches it then)."""
        self.screen_track = EncodedLoopTrack(video_loop(size=size))
        return self._attach_screen()

    def stop_screen(self) -> None:
        """Stop sending the screen: its slot stays, idle, for the next share."""
        self.screen_track = None
        self._attach_screen()

    def _attach_screen(self) -> bool:
        transceiver = next(
            (t for t in self.pc.getTransceivers() if t.mid and t.mid == self._screen_slot), None
        )
        if transceiver is None:
            return False
        transceiver.sender.replaceTrack(self.screen_track)
        if self.screen_track is not None:
            transceiver.direction = "sendonly"
            passthrough.on_keyframe_request(transceiver.sender, self.screen_track.request_keyframe)
        return self.screen_track is not None

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        mid = transceiver.mid or ""
        task = asyncio.create_task(self._count(track, mid))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)
        receiver = transceiver.receiver
        last_request = [0.0]

        def observe(packet: rtp.RtpPacket) -> None:
            publisher = self._mids.get(mid)
            if publisher is None:
                return
            got = self.received[publisher]
            now = time.monotonic()
            if track.kind == "audio":
                got.packets.add(packet.sequence_number, now)
                return
            pictures = got.pictures
            marker = bool(packet.marker)
            pictures.add(packet.sequence_number, packet.timestamp, marker, packet.payload, now)
            stuck = pictures.stuck_since
            # Like a browser: a picture stuck this long will not be repaired; ask for a new one.
            if stuck is not None and now - stuck > KEYFRAME_AFTER and now - last_request[0] > 0.5:
                last_request[0] = now
                request = asyncio.ensure_future(receiver._send_rtcp_pli(packet.ssrc))
                self._requests.add(request)
                request.add_done_callback(self._requests.discard)

        passthrough.on_rtp(receiver, observe)
        if track.kind == "audio":
            passthrough.nack_audio(receiver)  # as browsers do; aiortc asks for video alone

    async def _count(self, track: MediaStreamTrack, mid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = cast(EncodedFrame, await track.recv())
                publisher = self._mids.get(mid)
                if publisher is None:
                    continue
                got = self.received[publisher]
                now = time.monotonic()
                if mid in self._screen_mids:
                    got.screen += 1
                    got.last_screen_at = now
                elif track.kind == "video":
                    got.video += 1
                    got.video_keyframes += frame.keyframe
                    got.first_video_at = got.first_video_at or now
                else:
                    got.audio += 1
                    got.recent_audio.append(frame.data)
                    got.first_audio_at = got.first_audio_at or now

    async def aclose(self) -> None:
        for request in list(self._requests):
            request.cancel()
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.pc.close()
