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
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCRtpReceiver,
    RTCRtpSender,
    rtcrtpreceiver,
    rtcrtpsender,
    rtp,
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


def _tolerant_extensions(
    self: rtp.HeaderExtensionsMap, extension_profile: int, extension_value: bytes
) -> rtp.HeaderExtensions:
    """aiortc's header-extension parsing, skipping a malformed element instead of failing.

    Chrome 156 sends elements aiortc cannot unpack (an empty audio level in the
    two-byte form). aiortc lets the ``struct.error`` escape its DTLS receive
    loop, which ends the whole connection; one bad element must not.
    """
    ids = self._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    values = rtp.HeaderExtensions()
    for x_id, x_value in rtp.unpack_header_extensions(extension_profile, extension_value):
        try:
            if x_id == ids.mid:
                values.mid = x_value.decode("utf8")
            elif x_id == ids.repaired_rtp_stream_id:
                values.repaired_rtp_stream_id = x_value.decode("ascii")
            elif x_id == ids.rtp_stream_id:
                values.rtp_stream_id = x_value.decode("ascii")
            elif x_id == ids.abs_send_time:
                values.abs_send_time = struct.unpack("!L", b"\00" + x_value)[0]
            elif x_id == ids.transmission_offset:
                values.transmission_offset = struct.unpack("!l", x_value + b"\00")[0] >> 8
            elif x_id == ids.audio_level:
                vad_level = struct.unpack("!B", x_value)[0]
                values.audio_level = (vad_level & 0x80 == 0x80, vad_level & 0x7F)
            elif x_id == ids.transport_sequence_number:
                values.transport_sequence_number = struct.unpack("!H", x_value)[0]
        except (struct.error, UnicodeDecodeError):
            continue
    return values


def install() -> None:
    """Make every aiortc receiver and sender in this process pass media through.

    Process-wide on purpose: nothing in a Liveclass process decodes through
    aiortc (recording decodes audio itself). Also makes RTP header-extension
    parsing tolerant (see ``_tolerant_extensions``). Idempotent.
    """
    rtcrtpreceiver.get_decoder = _passthrough_decoder  # type: ignore[attr-defined,assignment]
    rtcrtpsender.get_encoder = _packer  # type: ignore[attr-defined,assignment]
    rtp.HeaderExtensionsMap.get = _tolerant_extensions  # type: ignore[method-assign]


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
