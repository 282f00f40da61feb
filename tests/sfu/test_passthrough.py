"""The aiortc seams: encoded frames in, the same bytes out, no codec anywhere."""

from __future__ import annotations

import asyncio
import fractions

import av
import pytest
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs.vpx import vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu import passthrough
from sfu.errors import NegotiationFailed, UnsupportedCodec
from sfu.peer import Peer, TrackInfo
from sfu.synthetic import video_loop

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def test_install_replaces_aiortcs_codec_lookups() -> None:
    """After install, aiortc's receivers and senders get our passthrough objects."""
    passthrough.install()
    assert isinstance(rtcrtpreceiver.get_decoder(VP8), passthrough.PassthroughDecoder)  # type: ignore[attr-defined]
    assert isinstance(rtcrtpsender.get_encoder(VP8), passthrough.Vp8Packer)  # type: ignore[attr-defined]
    assert isinstance(rtcrtpsender.get_encoder(OPUS), passthrough.OpusPacker)  # type: ignore[attr-defined]
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
    data = video_loop().frames[0]
    frame = passthrough.EncodedFrame(data, 3000, fractions.Fraction(1, 90000), True)
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
