"""Media through the SFU between real aiortc peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Collection, Iterator

import aiortc.codecs.h264
import aiortc.codecs.opus
import aiortc.codecs.vpx
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPacket,
    RtcpPsfbPacket,
    RtpPacket,
    is_rtcp,
    unpack_remb_fci,
)

from sfu.allocation import AllocationSettings
from sfu.forwarding import KEYFRAME_INTERVAL, Publication, SendSlot
from sfu.room import Room
from sfu.rtp_rewrite import Vp8Descriptor
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

    The loss happens at the socket of the sender's ICE pair, after SRTP (whose
    header, SSRC included, is in the clear), on real loopback traffic: only
    NACK and retransmission (RTX) can bring the missing packets back.
    """
    pair = sender.transport.transport._connection._nominated[1]
    socket = pair.protocol.transport
    original = socket.sendto
    counts = {"sent": 0, "dropped": 0, "resent": 0}

    def lossy(data: bytes, addr: object = None) -> None:
        if not is_rtcp(data) and len(data) >= 12 and 127 < data[0] < 192:
            ssrc = int.from_bytes(data[8:12], "big")
            if ssrc == sender._rtx_ssrc:
                counts["resent"] += 1
            elif ssrc == sender._ssrc:
                counts["sent"] += 1
                if counts["sent"] % every == 0:
                    counts["dropped"] += 1
                    return
        original(data, addr)

    socket.sendto = lossy
    return counts


def _video_sender(pc: RTCPeerConnection) -> RTCRtpSender:
    return next(
        t.sender for t in pc.getTransceivers() if t.kind == "video" and t.direction == "sendonly"
    )


@pytest.mark.parametrize("leg", ["publisher to SFU", "SFU to subscriber"])
async def test_lost_packets_are_retransmitted_on_each_leg(room: Room, leg: str) -> None:
    """With one video packet in four lost, NACK and RTX still deliver every frame."""
    # Loss that high would have the allocator thin B's video (sfu.allocation); here
    # every frame must come through, by repair alone.
    room.allocator.settings = AllocationSettings(loss_limit=1.0)
    a = await join(room, "A")
    b = await join(room, "B", publish=False)
    await eventually(lambda: b.received["A"].video > 5)
    pc = a.pc if leg == "publisher to SFU" else room.peers["B"].pc
    counts = _lose_video(_video_sender(pc), every=4)
    [video] = [t for t in a.tracks if t.kind == "video"]
    sent_before, received_before = video.frames_sent, b.received["A"].video
    await asyncio.sleep(3)
    video.pause()
    sent = video.frames_sent - sent_before

    def received() -> int:
        return b.received["A"].video - received_before

    # Everything sent arrives, but for the last frame: the bot's jitter buffer hands a
    # frame on when the next one starts. Waiting on that, not on the clock, lets a busy
    # machine take its time; a lost frame never arrives, and the wait fails.
    with contextlib.suppress(AssertionError):
        await eventually(lambda: received() >= sent - 1, within=5)
    assert counts["dropped"] >= 5
    assert counts["resent"] >= counts["dropped"] * 0.9
    assert received() >= sent - 1, f"{received()} of {sent} frames arrived"


class _Wire:
    """Stands in for a leg's ``PacketSender``: keeps what would have gone out."""

    ready = True

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, bytes]] = []

    def send(
        self, source: RtpPacket, seq: int, ts: int, payload: bytes, *, capture_ntp: int | None
    ) -> bool:
        self.sent.append((seq, ts, payload))
        return True


def _vp8(seq: int, ts: int, *, key: bool, start: bool = True, marker: bool = True) -> RtpPacket:
    """A VP8 packet: descriptor with a 15-bit PictureID (the frame's number), then a payload."""
    picture_id = (ts // 3000) % (1 << 15)
    descriptor = bytes((0x90 if start else 0x80, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))
    header = b"\x10" if key else b"\x11"  # VP8 payload header: P bit clear for a key frame
    return RtpPacket(
        payload_type=97,
        marker=int(marker),
        sequence_number=seq % (1 << 16),
        timestamp=ts,
        ssrc=1,
        payload=descriptor + header + b"x" * 20,
    )


async def _nothing() -> bool:
    return True


def _video_publication(pid: str = "A", **kwargs: object) -> Publication:
    return Publication(participant_id=pid, kind="video", send_keyframe_request=_nothing, **kwargs)  # type: ignore[arg-type]


async def test_a_packet_goes_out_before_its_frame_is_complete() -> None:
    """No jitter buffer: the first packet of a three-packet keyframe is sent at once, alone."""
    pub = _video_publication()
    wire = _Wire()
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())
    pub.receive(_vp8(100, 3000, key=True, marker=False))
    assert len(wire.sent) == 1
    pub.receive(_vp8(101, 3000, key=True, start=False, marker=False))
    pub.receive(_vp8(102, 3000, key=True, start=False))
    seqs = [seq for seq, _, _ in wire.sent]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    await pub.aclose()


async def test_a_new_video_subscriber_starts_at_a_keyframe_without_a_gap() -> None:
    """Deltas before the first keyframe are held; the leg's numbering starts at that keyframe."""
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(time.monotonic())
        return True

    pub = Publication(participant_id="A", kind="video", send_keyframe_request=ask)
    wire = _Wire()
    sub = pub.subscribe()
    SendSlot("video", wire).attach(sub)  # type: ignore[arg-type]
    for i, key in enumerate([False, False, True, False, False]):
        pub.receive(_vp8(500 + i, 3000 * (i + 1), key=key))
    assert sub.stats.packets_held == 2
    assert len(wire.sent) == 3
    assert wire.sent[0][2][4] == 0x10  # the keyframe first
    seqs = [seq for seq, _, _ in wire.sent]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    await asyncio.sleep(0)  # the request is a task of its own
    assert requests, "the held subscriber must ask the publisher for a keyframe"
    await pub.aclose()


async def test_after_the_publisher_went_quiet_subscribers_wait_for_a_keyframe() -> None:
    """A cut uplink: what follows refers to lost pictures, so only a keyframe goes on."""
    now = [0.0]
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(now[0])
        return True

    pub = Publication(
        participant_id="A", kind="video", send_keyframe_request=ask, clock=lambda: now[0]
    )
    wire = _Wire()
    SendSlot("video", wire).attach(pub.subscribe())  # type: ignore[arg-type]
    pub.receive(_vp8(1, 3000, key=True))
    pub.receive(_vp8(2, 6000, key=False))
    now[0] = 5.0  # five seconds without a packet, then the link is back
    pub.receive(_vp8(150, 6000 + 5 * 90000, key=False))
    assert len(wire.sent) == 2
    await asyncio.sleep(0)  # the request is a task of its own
    assert requests and requests[-1] == 5.0
    pub.receive(_vp8(151, 9000 + 5 * 90000, key=True))
    assert len(wire.sent) == 3
    (_, ts_before, _), (seq_key, ts_key, _) = wire.sent[1], wire.sent[2]
    assert seq_key == (wire.sent[1][0] + 1) % (1 << 16)  # no gap for the receiver to NACK
    assert ts_key - ts_before == 3000 + 5 * 90000  # the source's own timeline
    await pub.aclose()


async def test_a_keyframe_asked_for_too_soon_is_asked_for_when_the_interval_ends() -> None:
    """Requests inside KEYFRAME_INTERVAL are not lost: one goes out when it ends."""
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(time.monotonic())
        return True

    pub = Publication(participant_id="A", kind="video", send_keyframe_request=ask)
    pub.request_keyframe()
    await asyncio.sleep(0)
    assert len(requests) == 1
    for _ in range(5):  # a browser's PLI, the SFU's own: all inside the interval
        pub.request_keyframe()
    await asyncio.sleep(0)
    assert len(requests) == 1
    await asyncio.sleep(KEYFRAME_INTERVAL * 1.5)
    assert len(requests) == 2, "the held request was dropped instead of sent late"
    assert requests[1] - requests[0] >= KEYFRAME_INTERVAL * 0.95
    # Held again, but a keyframe comes first: it answers the request, none goes out.
    pub.request_keyframe()
    pub.receive(_vp8(7, 3000, key=True))
    await asyncio.sleep(KEYFRAME_INTERVAL * 1.5)
    assert len(requests) == 2
    await pub.aclose()


async def test_a_nack_too_old_to_answer_asks_the_publisher_for_a_keyframe() -> None:
    """A viewer back from a cut asks for packets gone from its leg: only a keyframe mends that."""
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(time.monotonic())
        return True

    pub = Publication(participant_id="A", kind="video", send_keyframe_request=ask)
    wire = _Wire()
    wire.on_unrepairable = None  # type: ignore[attr-defined]
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())
    await asyncio.sleep(KEYFRAME_INTERVAL * 1.5)  # past the subscribe's own request
    pub.receive(_vp8(1, 3000, key=True))
    asked = len(requests)
    wire.on_unrepairable()  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    assert len(requests) == asked + 1
    # Until that keyframe, deltas would only fill the viewer's buffer with frames it
    # cannot decode (Chrome then took 0.7 s to show the keyframe): they are held.
    pub.receive(_vp8(2, 6000, key=False))
    assert len(wire.sent) == 1
    pub.receive(_vp8(3, 9000, key=True))
    assert len(wire.sent) == 2 and wire.sent[1][0] == (wire.sent[0][0] + 1) % (1 << 16)
    audio = SendSlot("audio", _Wire())  # type: ignore[arg-type]
    assert getattr(audio.sender, "on_unrepairable", None) is None  # no keyframes in audio
    await pub.aclose()


async def test_slot_switch_keeps_numbering_and_picture_ids_continuous() -> None:
    """When a send slot moves to another publisher, seq, timestamp and PictureID follow on."""
    now = [0.0]
    first = _video_publication("A", clock=lambda: now[0])
    second = _video_publication("B", clock=lambda: now[0])
    wire = _Wire()
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    slot.attach(first.subscribe())
    for i in range(3):
        now[0] += 1 / 30
        first.receive(_vp8(1000 + i, 3000 * (i + 1), key=True))
    slot.attach(second.subscribe())
    for i in range(3):
        now[0] += 1 / 30
        second.receive(_vp8(60000 + i, 4_000_000_000 + 3000 * i, key=True))
    seqs = [seq for seq, _, _ in wire.sent]
    stamps = [ts for _, ts, _ in wire.sent]
    pictures = [Vp8Descriptor.parse(p).picture_id for _, _, p in wire.sent]  # type: ignore[union-attr]
    assert seqs == [(seqs[0] + i) % (1 << 16) for i in range(6)]
    assert all((b - a) % (1 << 32) == 3000 for a, b in zip(stamps, stamps[1:], strict=False))
    assert pictures == [(pictures[0] + i) % (1 << 15) for i in range(6)]
    await first.aclose()
    await second.aclose()


async def test_sfu_receivers_never_fill_a_jitter_buffer(room: Room) -> None:
    """The SFU's receivers hand packets on: aiortc's jitter buffers stay empty, never started."""
    a = await join(room, "A")
    b = await join(room, "B")
    await eventually(lambda: a.received["B"].video >= 15 and b.received["A"].audio >= 50)
    receivers = [t.receiver for peer in room.peers.values() for t in peer.pc.getTransceivers()]
    used = [r for r in receivers if r._RTCRtpReceiver__jitter_buffer._origin is not None]  # type: ignore[attr-defined]
    assert used == []
    assert all(p.stats.packets_in > 0 for pubs in room.publications.values() for p in pubs)


async def test_media_is_not_tried_as_stun(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    """RTP goes from the SFU's socket to its receiver; only real STUN is parsed as STUN."""
    import aioice.stun

    parsed: list[int] = []
    parse = aioice.stun.parse_message

    def counting(data: bytes, *args: object, **kwargs: object) -> aioice.stun.Message:
        parsed.append(data[0])
        return parse(data, *args, **kwargs)  # type: ignore[arg-type]

    def packets() -> tuple[int, int]:
        pubs = [p for ps in room.publications.values() for p in ps]
        return (
            sum(p.stats.packets_in for p in pubs),
            sum(s.stats.packets_out for p in pubs for s in p.subscribers),
        )

    a = await join(room, "A")
    b = await join(room, "B")
    await eventually(lambda: a.received["B"].video >= 15 and b.received["A"].audio >= 50)
    monkeypatch.setattr(aioice.stun, "parse_message", counting)
    in_before, out_before = packets()
    await eventually(lambda: a.received["B"].audio >= 150)
    in_after, out_after = packets()
    received, sent = in_after - in_before, out_after - out_before
    assert received > 200 and sent > 200
    # The bots (aiortc as it comes) still try each packet they get as STUN: about
    # ``sent`` of them. Were the SFU doing so too, it would be ``received`` more.
    media_tried = sum(1 for first in parsed if 127 < first < 192)
    assert media_tried < sent + received // 2


def _layered(n: int, seq: int, *, key: bool = False, sync: bool = False) -> list[RtpPacket]:
    """Frame ``n`` of an L1T3 stream (layers 0, 2, 1, 2 ...) in two packets with PictureID,
    TL0PICIDX and TID, as Chrome sends them."""
    tid = (0, 2, 1, 2)[n % 4]
    tl0 = (n // 4) % 256
    packets = []
    for k in range(2):
        descriptor = bytes(
            (
                0x90 if k == 0 else 0x80,
                0xE0,  # I, L, T
                0x80 | (n >> 8) & 0x7F,
                n & 0xFF,
                tl0,
                (tid << 6) | (0x20 if sync else 0),
            )
        )
        header = b"\x10" if key else b"\x11"
        packets.append(
            RtpPacket(
                payload_type=97,
                marker=k,
                sequence_number=(seq + k) % (1 << 16),
                timestamp=3000 * n,
                ssrc=1,
                payload=descriptor + header + b"x" * 20,
            )
        )
    return packets


def _feed(
    pub: Publication, frames: range, *, keys: Collection[int] = (), syncs: Collection[int] = ()
) -> None:
    for n in frames:
        for packet in _layered(n, 1000 + 2 * n, key=n in keys, sync=n in syncs):
            pub.receive(packet)


async def test_a_thinned_slot_drops_upper_layers_and_its_stream_has_no_holes() -> None:
    """At layer 0 a quarter of the frames go out, numbered as if nothing else existed."""
    pub = _video_publication()
    wire = _Wire()
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    sub = pub.subscribe()
    slot.attach(sub)
    _feed(pub, range(4), keys={0})
    assert len(wire.sent) == 8  # all three layers while the slot has them all
    slot.set_layer(0)
    _feed(pub, range(4, 16))
    frames = [Vp8Descriptor.parse(p) for _, _, p in wire.sent]
    assert [d.tid for d in frames[8:]] == [0] * 6  # type: ignore[union-attr]
    seqs = [seq for seq, _, _ in wire.sent]
    assert seqs == [(seqs[0] + i) % (1 << 16) for i in range(len(seqs))]
    pictures = list(dict.fromkeys(d.picture_id for d in frames))  # type: ignore[union-attr]
    assert pictures == [(pictures[0] + i) % (1 << 15) for i in range(len(pictures))]
    assert sub.stats.packets_thinned == 18  # frames 5, 6, 7, 9, ... 15: nine frames of two
    assert pub.layer_bytes[0] > 0 and pub.layer_bytes[1] > 0 and pub.layer_bytes[2] > 0
    await pub.aclose()


async def test_stepping_up_waits_for_a_frame_the_subscriber_can_decode() -> None:
    """Up from layer 0 at a layer-sync frame or a keyframe, never at a frame that needs more;
    without a sync frame within SYNC_WAIT the publisher is asked for a keyframe."""
    requests: list[float] = []
    now = [0.0]

    async def ask() -> bool:
        requests.append(now[0])
        return True

    pub = Publication(
        participant_id="A", kind="video", send_keyframe_request=ask, clock=lambda: now[0]
    )
    wire = _Wire()
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    slot.attach(pub.subscribe())

    def frames(numbers: range, **kwargs: set[int]) -> None:
        for n in numbers:
            now[0] += 1 / 15
            _feed(pub, range(n, n + 1), **kwargs)

    frames(range(1), keys={0})
    slot.set_layer(0)
    frames(range(1, 4))
    await asyncio.sleep(0)
    requests.clear()
    sent = len(wire.sent)
    slot.set_layer(2)
    frames(range(4, 8))  # no sync frame, no keyframe: still layer 0 only
    assert len(wire.sent) == sent + 2 and slot.layer == 0
    await asyncio.sleep(0)
    assert requests == []  # not yet: a sync frame may come
    frames(range(8, 12), syncs={9})  # frame 9 (layer 2) is a sync frame
    assert slot.layer == 2
    tids = [Vp8Descriptor.parse(p).tid for _, _, p in wire.sent[sent + 2 :]]  # type: ignore[union-attr]
    assert tids == [0, 0, 2, 2, 1, 1, 2, 2]
    # Down to 0 and up again, this time with no sync frame at all: a keyframe is asked for.
    slot.set_layer(0)
    frames(range(12, 13))
    slot.set_layer(1)
    frames(range(13, 40))
    await asyncio.sleep(0)
    assert requests and slot.layer == 0
    frames(range(40, 41), keys={40})
    assert slot.layer == 1
    await pub.aclose()


async def test_a_paused_slot_sends_nothing_and_resumes_at_a_keyframe() -> None:
    requests: list[float] = []

    async def ask() -> bool:
        requests.append(time.monotonic())
        return True

    pub = Publication(participant_id="A", kind="video", send_keyframe_request=ask)
    wire = _Wire()
    sub = pub.subscribe()
    slot = SendSlot("video", wire)  # type: ignore[arg-type]
    slot.attach(sub)
    _feed(pub, range(2), keys={0})
    await asyncio.sleep(0.35)  # past the keyframe request interval
    requests.clear()
    sent = len(wire.sent)
    slot.set_layer(None)
    _feed(pub, range(2, 10))
    assert len(wire.sent) == sent and sub.stats.packets_paused == 16
    await asyncio.sleep(0)
    assert requests == []  # a paused slot does not ask for keyframes it will not send
    slot.set_layer(0)
    await asyncio.sleep(0)
    assert len(requests) == 1
    _feed(pub, range(10, 12))  # deltas: held for the keyframe
    assert len(wire.sent) == sent
    _feed(pub, range(12, 13), keys={12})
    assert len(wire.sent) == sent + 2 and wire.sent[sent][2][6] == 0x10  # the keyframe
    assert wire.sent[sent][0] == (wire.sent[sent - 1][0] + 1) % (1 << 16)
    await pub.aclose()


async def test_the_publisher_is_told_to_encode_for_its_audience(room: Room) -> None:
    """The REMB the SFU sends a publisher says no more than its audience can take."""
    a = await join(room, "A")
    b = await join(room, "B", publish=False)
    await eventually(lambda: b.received["A"].video > 5)
    await room.allocator.aclose()  # hold the audience still: B's link "can take" 120 kbit/s
    video = next(p for p in room.publications["A"] if p.kind == "video")
    video.audience_bps = 120_000
    sender = next(t.sender for t in a.pc.getTransceivers() if t.kind == "video")
    rembs: list[int] = []
    handle = sender._handle_rtcp_packet

    async def observe(packet: RtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            rembs.append(unpack_remb_fci(packet.fci)[0])
        await handle(packet)

    sender._handle_rtcp_packet = observe  # type: ignore[method-assign]
    await eventually(lambda: len(rembs) >= 3, within=15)
    assert all(r <= 120_000 for r in rembs[1:]), rembs  # the first may have been on its way
