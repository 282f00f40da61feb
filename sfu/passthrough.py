"""Forwarding without transcoding: the seams in aiortc's private parts, in one place.

aiortc has no SFU mode. It receives RTP into a jitter buffer that hands
complete *encoded* frames to a decoder thread (``get_decoder``), and its sender
packs anything that is not a decoded frame with ``encoder.pack`` instead of
encoding it (``get_encoder``). Replacing those two look-ups gives encoded frames
in and the same bytes out, with no codec context ever created:

- ``PassthroughDecoder.decode`` returns the encoded frame as an ``EncodedFrame``
  (pts = RTP timestamp, time base = 1/clock rate, keyframe flag);
- the packers pack VP8 and Opus payloads and refuse to encode.

Keyframe requests from a subscriber only set a flag on aiortc's encode path;
``on_keyframe_request`` redirects them, and ``request_keyframe`` sends a PLI to
a publisher. These touch private names: aiortc is pinned in pyproject.toml and
``tests/sfu/test_passthrough.py`` checks every seam directly.
"""

from __future__ import annotations

import fractions
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    rtcrtpreceiver,
    rtcrtpsender,
)
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu.errors import UnsupportedCodec

VIDEO_CLOCK = 90_000
# Codecs we forward. H.264 would need its own packer (and the keyframe test
# for its NAL units); browsers and our bot all speak VP8 and Opus.
FORWARDED_MIME_TYPES = ("audio/opus", "video/vp8")


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded audio or video frame, as it travels through the SFU.

    Immutable, because one frame object goes to every subscriber; retiming for
    one subscriber makes a copy (``dataclasses.replace``), not a mutation.
    """

    data: bytes
    pts: int  # in 1/clock_rate units
    time_base: fractions.Fraction
    keyframe: bool

    def __bytes__(self) -> bytes:
        return self.data


class PassthroughDecoder:
    """A "decoder" that hands the encoded frame on unchanged."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.time_base = fractions.Fraction(1, codec.clockRate)
        self.kind = "video" if codec.mimeType.lower().startswith("video/") else "audio"

    def decode(self, encoded_frame: JitterFrame) -> list[EncodedFrame]:
        data = encoded_frame.data
        return [
            EncodedFrame(
                data, encoded_frame.timestamp, self.time_base, is_keyframe(self.kind, data)
            )
        ]


class _Packer:
    """Packs encoded payloads for the sender; never encodes."""

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("the SFU forwards encoded media only; a decoded frame reached a sender")


class Vp8Packer(_Packer):
    def __init__(self) -> None:
        self.picture_id = 0

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        payloads = Vp8Encoder._packetize(frame.data, self.picture_id)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, _to_clock(frame, VIDEO_CLOCK)


class OpusPacker(_Packer):
    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        return [frame.data], _to_clock(frame, 48_000)


def _to_clock(frame: EncodedFrame, clock_rate: int) -> int:
    return int(frame.pts * frame.time_base * clock_rate)


def _passthrough_decoder(codec: RTCRtpCodecParameters) -> PassthroughDecoder:
    return PassthroughDecoder(codec)


def _packer(codec: RTCRtpCodecParameters) -> _Packer:
    mime = codec.mimeType.lower()
    if mime == "video/vp8":
        return Vp8Packer()
    if mime == "audio/opus":
        return OpusPacker()
    raise UnsupportedCodec(
        f"cannot forward {codec.mimeType}; the SFU forwards {', '.join(FORWARDED_MIME_TYPES)}"
    )


def install() -> None:
    """Make every aiortc receiver and sender in this process pass media through.

    Process-wide on purpose: nothing in a Liveclass process decodes through
    aiortc (recording decodes audio itself). Idempotent.
    """
    rtcrtpreceiver.get_decoder = _passthrough_decoder  # type: ignore[attr-defined,assignment]
    rtcrtpsender.get_encoder = _packer  # type: ignore[attr-defined,assignment]


def is_keyframe(kind: str, data: bytes) -> bool:
    """Whether a frame can start decoding: every audio frame; VP8 key frames.

    VP8's frame tag (RFC 6386 9.1): bit 0 of the first byte is 0 for a key frame.
    """
    if kind != "video":
        return True
    return bool(data) and data[0] & 1 == 0


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the sender's remote asks for a keyframe (PLI or FIR)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI to the publisher of ``receiver``; False when its SSRC is not known yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    for source in sources:
        await receiver._send_rtcp_pli(source.source)
    return True


def restrict_to_forwarded(transceiver: RTCRtpTransceiver) -> None:
    """Narrow a transceiver negotiated from a remote offer to the codecs we forward.

    aiortc fixes an answer's codecs in ``setRemoteDescription`` (before any
    ``setCodecPreferences`` could apply), so the negotiated list is filtered
    here, keeping RTX only for a kept codec.

    Raises:
        UnsupportedCodec: the offer has none of the forwarded codecs for this m-line.
    """
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    kept = [c for c in codecs if c.mimeType.lower() in FORWARDED_MIME_TYPES]
    if not kept:
        offered = ", ".join(sorted({c.mimeType for c in codecs})) or "nothing"
        raise UnsupportedCodec(
            f"the {transceiver.kind} offer has no codec the SFU forwards ({offered}); "
            f"offer {' or '.join(FORWARDED_MIME_TYPES)}"
        )
    payload_types = {c.payloadType for c in kept}
    rtx = [
        c
        for c in codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in payload_types
    ]
    transceiver._codecs = (
        kept[:1] + rtx[:1] if kept[0].mimeType.lower() == "video/vp8" else kept[:1]
    )
