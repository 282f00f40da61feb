"""Media through the SFU between real aiortc peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections.abc import Iterator

import aiortc.codecs.h264
import aiortc.codecs.opus
import aiortc.codecs.vpx
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import is_rtcp

from sfu.forwarding import Publication, SlotTrack
from sfu.passthrough import EncodedFrame, is_keyframe
from sfu.room import Room
from sfu.synthetic import audio_loop, video_loop
from tests.sfu.conftest import WAIT, eventually, join

CODEC_CLASSES = [
    aiortc.codecs.vpx.Vp8Decoder,
    aiortc.codecs.vpx.Vp8Encoder,
    aiortc.codecs.opus.OpusDecoder,
    aiortc.codecs.opus.OpusEncoder,
    aiortc.codecs.h264.H264Decoder,
    aiortc.codecs.h264.H264Encoder,
]


@pytest.fixture
def codec_instances(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every aiortc decoder or encoder created while the test runs, by class name."""
    video_loop(), audio_loop()  # the bots' loop is encoded once, before we start counting
    created: list[str] = []
    for cls in CODEC_CLASSES:
        original = cls.__init__

        def spy(
            self: object, *args: object, __original=original, __name=cls.__name__, **kwargs: object
        ) -> None:
            created.append(__name)
            __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy)
    yield created


async def test_two_participants_receive_each_other(room: Room, codec_instances: list[str]) -> None:
    """Each bot gets the other's audio and video, and no decoder or encoder is ever created."""
    a = await join(room, "A")
    b = await join(room, "B")
    await eventually(
        lambda: all(
            bot.received[other].video >= 15 and bot.received[other].audio >= 50
            for bot, other in ((a, "B"), (b, "A"))
        )
    )
    assert codec_instances == []
    video = next(p for p in room.publications["A"] if p.kind == "video")
    [sub] = video.subscribers
    assert sub.stats.frames_dropped == 0
    assert video.stats.keyframe_requests >= 1  # B's subscription asked A for a keyframe


async def test_frames_arrive_without_a_decoder_thread(room: Room) -> None:
    """aiortc's per-receiver decoder threads exit at once: frames are handed on in the loop.

    Two thread wake-ups per frame were the largest cost of forwarding
    (``bench/sfu_forwarding.py``); this keeps them from coming back unnoticed.
    """
    a = await join(room, "A")
    b = await join(room, "B")
    await eventually(lambda: a.received["B"].video >= 15 and b.received["A"].audio >= 50)
    decoders = [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert decoders == []


async def test_late_joiner_gets_video_within_a_second(room: Room) -> None:
    """A participant joining mid-stream decodes video promptly: the SFU relays its keyframe request.

    The bots, like Chrome, send no periodic keyframes (one per 4 s loop), so
    without the relay the first decodable frame could be seconds away.
    """
    await join(room, "A")
    b = await join(room, "B")
    await eventually(lambda: b.received["A"].video > 20)
    late = await join(room, "C", publish=False)
    subscribed = time.monotonic()
    await eventually(
        lambda: late.received["A"].video > 0 and late.received["B"].video > 0, within=5
    )
    for publisher in ("A", "B"):
        first = late.received[publisher].first_video_at
        assert first is not None
        assert first - subscribed < 1.0 * WAIT, (
            f"first video from {publisher} after {first - subscribed:.2f} s"
        )
        assert late.received[publisher].video_keyframes >= 1


async def test_leaving_stops_the_media_and_frees_the_slot(room: Room) -> None:
    """When A leaves, B stops receiving A; a new participant then reuses B's slot."""
    await join(room, "A")
    b = await join(room, "B")
    await eventually(lambda: b.received["A"].video > 5)
    await room.remove_peer("A")
    await asyncio.sleep(0.3)
    stopped_at = b.received["A"].video
    await asyncio.sleep(0.5)
    assert b.received["A"].video == stopped_at
    assert "A" not in room.peers and "A" not in room.publications
    slots_before = len(b.pc.getTransceivers())
    await join(room, "C")
    await eventually(lambda: b.received["C"].video > 5 and b.received["C"].audio > 5)
    assert len(b.pc.getTransceivers()) == slots_before  # A's inactive slots were recycled


def _lose_video(sender: RTCRtpSender, *, every: int) -> dict[str, int]:
    """Drop every ``every``-th first-time video packet ``sender`` sends; count its resends.

    The loss happens at the sender's own transport, on real loopback traffic:
    only NACK and retransmission (RTX) can bring the missing packets back.
    """
    transport = sender.transport
    original = transport._send_rtp
    counts = {"sent": 0, "dropped": 0, "resent": 0}

    async def lossy(data: bytes) -> None:
        if not is_rtcp(data) and len(data) >= 12:
            ssrc = int.from_bytes(data[8:12], "big")
            if ssrc == sender._rtx_ssrc:
                counts["resent"] += 1
            elif ssrc == sender._ssrc:
                counts["sent"] += 1
                if counts["sent"] % every == 0:
                    counts["dropped"] += 1
                    return
        await original(data)

    transport._send_rtp = lossy  # type: ignore[method-assign]
    return counts


def _video_sender(pc: RTCPeerConnection) -> RTCRtpSender:
    return next(
        t.sender for t in pc.getTransceivers() if t.sender.track and t.sender.track.kind == "video"
    )


@pytest.mark.parametrize("leg", ["publisher to SFU", "SFU to subscriber"])
async def test_lost_packets_are_retransmitted_on_each_leg(room: Room, leg: str) -> None:
    """With one video packet in four lost, NACK and RTX still deliver every frame."""
    a = await join(room, "A")
    b = await join(room, "B", publish=False)
    await eventually(lambda: b.received["A"].video > 5)
    pc = a.pc if leg == "publisher to SFU" else room.peers["B"].pc
    counts = _lose_video(_video_sender(pc), every=4)
    [video] = [t for t in a.tracks if t.kind == "video"]
    sent_before, received_before = video.frames_sent, b.received["A"].video
    await asyncio.sleep(3 * WAIT)
    sent = video.frames_sent - sent_before
    received = b.received["A"].video - received_before
    assert counts["dropped"] >= 5
    assert counts["resent"] >= counts["dropped"] * 0.9
    # A frame or two may still be in flight at either end of the window.
    assert received >= sent - 2, f"{received} of {sent} frames arrived"


class _ListTrack(MediaStreamTrack):
    """A real track that yields prepared encoded frames, then ends."""

    def __init__(self, kind: str, frames: list[bytes]) -> None:
        super().__init__()
        self.kind = kind
        self._frames = list(frames)
        self.more = asyncio.Event()
        self.sent = 0

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        while not self._frames:
            await self.more.wait()
            self.more.clear()
        data = self._frames.pop(0)
        if data == b"END":
            raise MediaStreamError
        self.sent += 1
        return EncodedFrame(
            data, self.sent * 3000, fractions.Fraction(1, 90000), is_keyframe(self.kind, data)
        )


async def test_slow_video_subscriber_is_bounded_and_resyncs_on_a_keyframe() -> None:
    """A subscriber that never reads holds at most N frames, then waits for a keyframe."""
    key, delta = b"\x10" + b"k" * 20, b"\x11" + b"d" * 20  # VP8: bit 0 clear = key frame
    track = _ListTrack("video", [key] + [delta] * 30)
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(time.monotonic())
        return True

    pub = Publication(participant_id="A", track=track, send_keyframe_request=ask, max_frames=8)
    sub = pub.subscribe()
    await eventually(lambda: pub.stats.frames_in == 31, within=2)
    assert sub.queued <= 8
    assert sub.stats.frames_dropped > 0
    # After the overflow only a keyframe gets through again.
    track._frames.extend([delta, delta, key, delta, b"END"])
    track.more.set()
    await pub.ended.wait()
    delivered = [(await sub.recv()).data for _ in range(sub.queued)]
    assert delivered[0] == key and delivered == [key, delta]
    assert requests, "overflow must ask the publisher for a keyframe"
    await pub.aclose()


async def test_slow_audio_subscriber_keeps_the_newest_frames() -> None:
    """Audio overflow drops the oldest frames, keeping the latest N."""
    frames = [bytes([i]) * 4 for i in range(20)]
    track = _ListTrack("audio", [*frames, b"END"])

    async def ask() -> bool:
        return True

    pub = Publication(participant_id="A", track=track, send_keyframe_request=ask, max_frames=5)
    sub = pub.subscribe()
    await pub.ended.wait()
    assert [(await sub.recv()).data for _ in range(sub.queued)] == frames[-5:]
    assert sub.stats.frames_dropped == 15
    await pub.aclose()


async def test_slot_switch_keeps_timestamps_continuous() -> None:
    """When a send slot moves to another publisher, its timestamps keep rising."""
    key = b"\x10" + b"k" * 8

    async def ask() -> bool:
        return True

    first = _ListTrack("video", [key] * 3)
    second = _ListTrack("video", [])
    second.sent = -1000  # this publisher's clock is far behind the first's
    pub1 = Publication(participant_id="A", track=first, send_keyframe_request=ask, max_frames=8)
    pub2 = Publication(participant_id="B", track=second, send_keyframe_request=ask, max_frames=8)
    slot = SlotTrack("video")
    slot.attach(pub1.subscribe())
    a = [(await slot.recv()).pts for _ in range(3)]
    slot.attach(pub2.subscribe())
    second._frames.extend([key] * 3)
    second.more.set()
    b = [(await slot.recv()).pts for _ in range(3)]
    stamps = a + b
    assert stamps == sorted(stamps) and len(set(stamps)) == 6
    assert b[0] - a[-1] == 3000
    slot.stop()
    await pub1.aclose()
    await pub2.aclose()
