"""The aiortc seams: encoded frames in, the same bytes out, no codec anywhere."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, rtcrtpreceiver, rtcrtpsender, rtp
from aiortc.codecs.vpx import vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu import ice, passthrough
from sfu.errors import NegotiationFailed, UnsupportedCodec
from sfu.forwarding import Publication
from sfu.peer import Peer, TrackInfo
from sfu.synthetic import EncodedLoopTrack, audio_loop, video_loop
from tests.sfu.conftest import eventually

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def test_install_replaces_aiortcs_codec_lookups() -> None:
    """After install, aiortc's receivers and senders get our passthrough objects."""
    passthrough.install()
    assert isinstance(rtcrtpreceiver.get_decoder(VP8), passthrough.PassthroughDecoder)  # type: ignore[attr-defined]
    assert isinstance(rtcrtpsender.get_encoder(VP8), passthrough.Vp8Packer)  # type: ignore[attr-defined]
    assert isinstance(rtcrtpsender.get_encoder(OPUS), passthrough.OpusPacker)  # type: ignore[attr-defined]
    assert isinstance(rtcrtpreceiver.queue.Queue(), passthrough.InlineDecoding)  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedCodec, match="cannot forward video/H264"):
        rtcrtpsender.get_encoder(
            RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
        )  # type: ignore[attr-defined]


def test_decoder_hands_on_the_encoded_frame() -> None:
    """The "decoded" output is the encoded frame, timed on the RTP clock."""
    data = video_loop().frames[0]
    [frame] = passthrough.PassthroughDecoder(VP8).decode(JitterFrame(data=data, timestamp=9000))
    assert frame.data == data and frame.keyframe
    assert frame.pts == 9000 and frame.time_base == fractions.Fraction(1, 90000)


def test_vp8_packer_round_trips_the_bytes() -> None:
    """Packing a VP8 frame gives RTP payloads that depayload to the same frame."""
    data = video_loop(size=(640, 480)).frames[0]
    for layer in (None, (0, False)):
        frame = passthrough.EncodedFrame(
            data, 3000, fractions.Fraction(1, 90000), True, temporal_layer=layer
        )
        payloads, timestamp = passthrough.Vp8Packer().pack(frame)
        assert len(payloads) > 1  # a keyframe spans several packets
        assert b"".join(vp8_depayload(p) for p in payloads) == data
        assert timestamp == 3000


def test_packers_refuse_to_encode() -> None:
    """A decoded frame reaching a sender is a bug, reported as such, never encoded."""
    with pytest.raises(TypeError, match="forwards encoded media only"):
        passthrough.OpusPacker().encode(av.AudioFrame(format="s16", layout="stereo", samples=960))


def test_keyframe_detection() -> None:
    """Audio frames always start decoding; VP8 only on key frames."""
    frames = video_loop().frames
    assert passthrough.is_keyframe("video", frames[0])
    assert not passthrough.is_keyframe("video", frames[1])
    assert not passthrough.is_keyframe("video", b"")
    assert passthrough.is_keyframe("audio", b"\x01")


async def test_the_sfu_offers_only_what_it_forwards() -> None:
    """The SFU's offer has receive slots for the participant and only VP8 (+RTX) and Opus."""
    offers: list[tuple[str, list[TrackInfo]]] = []
    got_offer = asyncio.Event()

    async def exchange(sdp: str, tracks: list[TrackInfo]) -> str:
        offers.append((sdp, tracks))
        got_offer.set()
        await asyncio.Event().wait()  # never answer
        return ""

    peer = Peer("p", ice_servers=[], exchange=exchange, on_track=lambda *args: None)
    peer.start()
    try:
        await asyncio.wait_for(got_offer.wait(), 10)
    finally:
        await peer.aclose()
    sdp, tracks = offers[0]
    rtpmaps = {
        line.split(" ", 1)[1].split("/")[0]
        for line in sdp.splitlines()
        if line.startswith("a=rtpmap:")
    }
    assert rtpmaps == {"opus", "VP8", "rtx"}
    audio = sdp.split("m=audio", 1)[1].split("m=video", 1)[0]
    assert "urn:ietf:params:rtp-hdrext:ssrc-audio-level" in audio  # for the active speaker
    [opus_pt] = [
        line.split(":")[1].split(" ")[0] for line in audio.splitlines() if "opus/48000" in line
    ]
    # Opus that survives loss: NACK, in-band FEC, and DTX for silence.
    assert f"a=rtcp-fb:{opus_pt} nack" in audio
    [fmtp] = [line for line in audio.splitlines() if line.startswith(f"a=fmtp:{opus_pt} ")]
    assert "useinbandfec=1" in fmtp and "usedtx=1" in fmtp
    assert [(t.kind, t.publish, t.participant_id) for t in tracks] == [
        ("audio", True, "p"),
        ("video", True, "p"),
    ]


@pytest.mark.parametrize(
    "answer", ["v=0\r\nthis is not sdp\r\n", "", "m=video x"], ids=["no-media", "empty", "broken"]
)
async def test_an_unusable_answer_is_reported_and_offered_again(answer: str) -> None:
    """A bad answer reaches the error callback as negotiation_failed, and the SFU offers again."""
    errors: list[NegotiationFailed] = []
    offers = 0

    async def exchange(sdp: str, tracks: list[TrackInfo]) -> str:
        nonlocal offers
        offers += 1
        return answer

    async def on_error(exc: NegotiationFailed) -> None:
        errors.append(exc)

    peer = Peer(
        "p", ice_servers=[], exchange=exchange, on_track=lambda *args: None, on_error=on_error
    )
    peer.start()
    try:
        async with asyncio.timeout(10):
            while offers < 2:
                await asyncio.sleep(0.05)
    finally:
        await peer.aclose()
    assert errors and errors[0].code == "negotiation_failed"
    assert not peer.connected.is_set()


def test_opus_packer_remembers_the_level_it_packed() -> None:
    """The packer keeps each packed frame's audio level for the sender seam to send."""
    packer = passthrough.OpusPacker()
    frame = passthrough.EncodedFrame(b"\xfc", 960, fractions.Fraction(1, 48000), True, 17)
    assert packer.pack(frame) == ([b"\xfc"], 960)
    assert packer.audio_level == 17


async def _send_audio_over_loopback(callback: passthrough.AudioLevelCallback, *, until: int) -> int:
    """Send the bots' tone between two aiortc peers; return the audio frames received.

    ``callback`` is installed with ``on_audio_level`` on the receiving side.
    """
    passthrough.install()
    ice.confine(["127.0.0.1"])
    sending = RTCPeerConnection(ice.rtc_configuration([]))
    receiving = RTCPeerConnection(ice.rtc_configuration([]))
    frames = 0

    async def count(track: MediaStreamTrack) -> None:
        nonlocal frames
        while True:
            await track.recv()
            frames += 1

    readers: list[asyncio.Task[None]] = []
    receiving.on("track", lambda track: readers.append(asyncio.create_task(count(track))))
    try:
        sending.addTrack(EncodedLoopTrack(audio_loop()))
        await sending.setLocalDescription(await sending.createOffer())
        await receiving.setRemoteDescription(sending.localDescription)
        [transceiver] = receiving.getTransceivers()
        passthrough.on_audio_level(transceiver.receiver, callback)
        await receiving.setLocalDescription(await receiving.createAnswer())
        await sending.setRemoteDescription(receiving.localDescription)
        await eventually(lambda: frames >= until)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await sending.close()
        await receiving.close()
        ice.confine([])
    return frames


async def test_audio_levels_go_out_with_packed_opus_and_are_observed() -> None:
    """A packed Opus frame's level travels in the audio-level extension; the receiver sees it."""
    heard: list[tuple[int, bool]] = []
    await _send_audio_over_loopback(lambda level, voice: heard.append((level, voice)), until=10)
    assert len(heard) >= 10
    assert set(heard) == {(17, False)}  # aiortc never sets the voice flag


async def test_a_failing_level_callback_does_not_stop_the_audio() -> None:
    """An exception in the level callback is logged; the packets still reach the track."""

    calls = 0

    def broken(level: int, voice: bool) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug in a level callback")

    assert await _send_audio_over_loopback(broken, until=10) >= 10
    assert calls >= 10


async def _sender_and_receiver() -> tuple[RTCPeerConnection, RTCPeerConnection, Any]:
    """Two connected aiortc peers on loopback; the first sends one track through a PacketSender."""
    ice.confine(["127.0.0.1"])
    passthrough.install()
    a, b = RTCPeerConnection(), RTCPeerConnection()
    transceiver = a.addTransceiver("video", direction="sendonly")
    leg = passthrough.PacketSender(transceiver.sender)
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    await asyncio.wait_for(leg.started.wait(), 10)
    return a, b, leg


async def test_a_leg_answers_nacks_only_for_packets_still_worth_playing() -> None:
    """Retransmissions come from the leg's history, and not for packets over max_age old."""
    a, b, leg = await _sender_and_receiver()
    arrived: list[rtp.RtpPacket] = []
    passthrough.on_rtp(b.getReceivers()[0], arrived.append)
    try:
        source = rtp.RtpPacket(
            payload_type=96, marker=1, payload=b"\x90\x80\x80\x01\x10" + b"x" * 30
        )
        assert leg.send(source, 1000, 90000, source.payload)
        await leg._retransmit(1000)
        assert leg.state.nacks == 1 and leg.state.retransmitted == 1
        for _ in range(200):
            if len(arrived) >= 2:
                break
            await asyncio.sleep(0.01)
        # The far end got the packet, then the same packet again out of RTX.
        assert [(p.sequence_number, p.timestamp, p.marker, p.payload) for p in arrived] == [
            (1000, 90000, 1, source.payload)
        ] * 2
        assert all(p.extensions.abs_send_time is not None for p in arrived)
        assert arrived[0].extensions.mid == b.getTransceivers()[0].mid
        await leg._retransmit(999)  # never sent: nothing to send again
        assert leg.state.retransmitted == 1
        assert leg.state.unrepairable == 0  # not sent yet: the publisher may still send it
        unrepairable: list[int] = []
        leg.on_unrepairable = lambda: unrepairable.append(1)
        leg.max_age = 0.0
        await asyncio.sleep(0.01)
        await leg._retransmit(1000)  # too old now: a keyframe will serve the receiver better
        assert leg.state.nacks == 3 and leg.state.retransmitted == 1
        assert leg.state.unrepairable == 1 and unrepairable == [1]
        # 512 packets later 1000's place in the history is taken: gone, not on its way.
        leg.max_age = 1.0
        assert leg.send(source, 1512, 90000 + 3000, source.payload)
        await leg._retransmit(1000)
        await leg._retransmit(2024)  # shares the place too, but was never sent
        assert leg.state.unrepairable == 2 and unrepairable == [1, 1]
        await leg._retransmit(1512)
        assert leg.state.retransmitted == 2
    finally:
        await a.close()
        await b.close()
        ice.confine([])


async def test_only_packets_the_leg_itself_lost_count_as_its_loss() -> None:
    """lost_on_leg: the first NACK for a packet sent a while ago counts; a NACK that came
    before the packet was sent (a gap upstream, filled late) never does, however repeated,
    nor one for a packet older than max_age (an outage's, which a keyframe mends), nor one
    for a packet sent while the far end was not heard from (a cut link)."""
    a, b, leg = await _sender_and_receiver()
    try:
        source = rtp.RtpPacket(
            payload_type=96, marker=1, payload=b"\x90\x80\x80\x01\x10" + b"x" * 30
        )
        await leg._retransmit(2000)  # asked for before the SFU had it: upstream's gap
        assert leg.send(source, 2000, 90000, source.payload)
        await asyncio.sleep(2 * passthrough.MIN_NACK_GUARD)
        await leg._retransmit(2000)  # asked again after it went out: still upstream's
        assert leg.state.lost_on_leg == 0
        assert leg.send(source, 2001, 93000, source.payload)
        await leg._retransmit(2001)  # at once: the ask crossed the packet on the way
        assert leg.state.lost_on_leg == 0
        assert leg.send(source, 2002, 96000, source.payload)
        await asyncio.sleep(2 * passthrough.MIN_NACK_GUARD)
        await leg._retransmit(2002)  # sent a while ago and asked for: lost on this leg
        await leg._retransmit(2002)  # asked again: the same loss
        assert leg.state.lost_on_leg == 1
        assert leg.state.retransmitted == 4  # every ask for a packet it has is answered
        assert leg.send(source, 2003, 99000, source.payload)
        leg.max_age = passthrough.MIN_NACK_GUARD
        await asyncio.sleep(4 * passthrough.MIN_NACK_GUARD)
        await leg._retransmit(2003)  # asked for only after max_age: an outage's, not loss
        assert leg.state.lost_on_leg == 1 and leg.state.unrepairable == 1
        # A cut: nothing heard from the far end for longer than OUTAGE_AFTER. What went
        # out before it was heard again went into the cut, however fresh.
        leg.max_age = 1.0
        leg._heard()
        assert leg.send(source, 2004, 102000, source.payload)
        leg._heard_at = time.monotonic() - passthrough.OUTAGE_AFTER - 1
        await asyncio.sleep(2 * passthrough.MIN_NACK_GUARD)
        leg._heard()  # back: the RTCP that carries its first NACKs
        await leg._retransmit(2004)
        assert leg.state.lost_on_leg == 1
        # ...and is not sent again: video from before a cut only delays the keyframe.
        assert leg.state.retransmitted == 4 and leg.state.unrepairable == 2
        assert leg.send(source, 2005, 105000, source.payload)
        await asyncio.sleep(2 * passthrough.MIN_NACK_GUARD)
        await leg._retransmit(2005)  # sent after it came back, and lost: this leg's loss
        assert leg.state.lost_on_leg == 2
    finally:
        await a.close()
        await b.close()
        ice.confine([])


def test_capture_time_comes_from_the_publishers_sender_report() -> None:
    """A forwarded packet's NTP time is the publisher's: a browser lines audio up with video."""
    pub = Publication(participant_id="A", kind="audio", send_keyframe_request=_no_keyframe)
    assert pub.capture_ntp(48_000) is None  # no report yet: the leg uses its own clock
    ntp = 3_900_000_000 << 32
    pub.sender_report(ntp, 48_000)
    assert pub.capture_ntp(48_000) == ntp
    assert pub.capture_ntp(96_000) == ntp + (1 << 32)  # one second of 48 kHz later
    assert pub.capture_ntp(24_000) == ntp - (1 << 31)
    pub.sender_report(ntp, (1 << 32) - 24_000)  # the RTP clock wraps between report and packet
    assert pub.capture_ntp(24_000) == ntp + (1 << 32)


async def _no_keyframe() -> bool:
    return True


def test_the_packet_path_clocks_read_what_aiortcs_read() -> None:
    """now_ms and ntp_now stand in for aiortc's datetime-based clock: same epoch, same units."""
    from aiortc import clock

    assert abs(passthrough.now_ms() - clock.current_ms()) <= 50
    ours, theirs = passthrough.ntp_now(), clock.current_ntp_time()
    assert abs(ours - theirs) <= (1 << 32) // 20  # within 50 ms


async def test_an_audio_receiver_can_be_made_to_nack_like_a_browser() -> None:
    """aiortc NACKs video only; nack_audio gives its audio receivers the same generator."""
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        assert receiver._RTCRtpReceiver__nack_generator is None  # type: ignore[attr-defined]
        passthrough.nack_audio(receiver)
        generator = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
        assert generator is not None
        passthrough.nack_audio(receiver)  # idempotent: the same generator stays
        assert receiver._RTCRtpReceiver__nack_generator is generator  # type: ignore[attr-defined]
    finally:
        await pc.close()
