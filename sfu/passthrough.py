"""Forwarding without transcoding: the seams in aiortc's private parts, in one place.

aiortc has no SFU mode. It receives RTP into a jitter buffer that hands
complete *encoded* frames to a decoder thread (``get_decoder``), and its sender
packs anything that is not a decoded frame with ``encoder.pack`` instead of
encoding it (``get_encoder``). Replacing those two look-ups gives encoded frames
in and the same bytes out, with no codec context ever created:

- ``PassthroughDecoder.decode`` returns the encoded frame as an ``EncodedFrame``
  (pts = RTP timestamp, time base = 1/clock rate, keyframe flag);
- the packers pack VP8 and Opus payloads and refuse to encode;
- ``InlineDecoding`` replaces the queue to the decoder thread, so a frame is
  handed on in the event loop instead of crossing two threads.

Keyframe requests from a subscriber only set a flag on aiortc's encode path;
``on_keyframe_request`` redirects them, and ``request_keyframe`` sends a PLI to
a publisher.

Audio levels (RFC 6464, the ``ssrc-audio-level`` header extension, which
aiortc negotiates for audio by default): aiortc parses them on receive but
keeps them to itself, and sends them only for audio it encoded. Here
``on_audio_level`` observes them per receiver, and packed Opus frames that
carry an ``audio_level`` go out with it (our bot's tone does).

The SFU's own legs go further, and forward RTP packets rather than frames
(``sfu.forwarding``): ``receive_packets`` takes over a receiver after SRTP
unprotect, keeping aiortc's REMB estimate, reception statistics, RTX unwrap
and NACKs (for audio too) but skipping its depacketizer and jitter buffer;
``PacketSender`` takes over a sender's RTP loop and retransmissions, keeping
aiortc's RTCP (sender reports, RTT) fed. ``install`` also offers Opus with
NACK, in-band FEC and DTX.

These touch private names: aiortc is pinned in pyproject.toml and
``tests/sfu/test_passthrough.py`` checks every seam directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import struct
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import (
    RTCRtpReceiver,
    RTCRtpSender,
    clock,
    codecs,
    rtcrtpreceiver,
    rtcrtpsender,
    rtp,
)
from aiortc import rate as aiortc_rate
from aiortc.codecs.vpx import PACKET_MAX as VPX_PACKET_MAX
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator

from core.logging import get_logger
from sfu.bitrate import MinFramePeriod, WindowRate
from sfu.errors import UnsupportedCodec
from sfu.nacks import NackTracker
from sfu.rtp_header import LegPackets, rtx
from sfu.rtp_rewrite import seq_newer
from sfu.transport_feedback import TRANSPORT_CC_ID
from sfu.transport_wide import PROBE_PACKETS, TransportWide

log = get_logger("liveclass.sfu.passthrough")

VIDEO_CLOCK = 90_000
# A NACK this soon after a packet was sent (seconds; or within the leg's round trip, if
# longer) was sent before that packet could have arrived: it is not about this copy.
MIN_NACK_GUARD = 0.005
# No RTCP from a leg's far end for this long (seconds) was an outage, not a lossy
# link: receivers report at least every 1.5 s. What the leg sent before it was heard
# again went into the outage; its NACKs say nothing of the link's loss.
OUTAGE_AFTER = 2.0
# Codecs we forward. H.264 would need its own packer (and the keyframe test
# for its NAL units); browsers and our bot all speak VP8 and Opus.
FORWARDED_MIME_TYPES = ("audio/opus", "video/vp8")


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded audio or video frame, as it travels through the SFU.

    Immutable, because one frame object goes to every subscriber; retiming for
    one subscriber makes a copy, not a mutation.
    """

    data: bytes
    pts: int  # in 1/clock_rate units
    time_base: fractions.Fraction
    keyframe: bool
    # Audio: RFC 6464 level to send with the frame, 0 (loudest) .. 127 (silence), -dBov.
    audio_level: int | None = None
    # VP8 with temporal layers: (the frame's layer, whether it is a layer-sync frame:
    # one that refers to layer-0 frames only, so a subscriber can move up at it).
    temporal_layer: tuple[int, bool] | None = None

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
    """Packetizes VP8 frames (RFC 7741), with TL0PICIDX and TID when a frame has a layer."""

    def __init__(self) -> None:
        self.picture_id = 0
        self.tl0picidx = 0

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        if frame.temporal_layer is None:
            payloads = Vp8Encoder._packetize(frame.data, self.picture_id)
        else:
            tid, sync = frame.temporal_layer
            if tid == 0:  # each base-layer frame numbers the run of frames above it
                self.tl0picidx = (self.tl0picidx + 1) % 256
            payloads = _packetize_layered(frame.data, self.picture_id, self.tl0picidx, tid, sync)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, _to_clock(frame, VIDEO_CLOCK)


def _packetize_layered(
    data: bytes, picture_id: int, tl0picidx: int, tid: int, sync: bool
) -> list[bytes]:
    """aiortc's VP8 packetizing, with the temporal-layer fields in every packet's descriptor."""
    descriptor = VpxPayloadDescriptor(
        partition_start=1,
        partition_id=0,
        picture_id=picture_id,
        tl0picidx=tl0picidx,
        tid=(tid, int(sync)),
    )
    payloads = []
    pos = 0
    while pos < len(data):
        head = bytes(descriptor)
        size = min(len(data) - pos, VPX_PACKET_MAX - len(head))
        payloads.append(head + data[pos : pos + size])
        descriptor.partition_start = 0
        pos += size
    return payloads


class OpusPacker(_Packer):
    def __init__(self) -> None:
        self.audio_level: int | None = None  # of the frame packed last

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        self.audio_level = frame.audio_level
        return [frame.data], _to_clock(frame, 48_000)


def _to_clock(frame: EncodedFrame, clock_rate: int) -> int:
    base = frame.time_base
    if base.numerator == 1 and base.denominator == clock_rate:
        return frame.pts  # the usual case; Fraction arithmetic per packet shows in profiles
    return int(frame.pts * base * clock_rate)


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


class InlineDecoding:
    """Stands in for the queue between an aiortc receiver and its decoder thread.

    aiortc hands every complete frame to a decoder thread and back to the event
    loop: two thread wake-ups per frame, which cost more than everything else
    on the forwarding path (measured in ``bench/sfu_forwarding.py``). Passing
    an encoded frame through needs no thread, so ``put`` "decodes" on the event
    loop and queues the result for the track at once. The thread aiortc still
    starts only binds this object to the track's queue and exits.
    """

    def __init__(self) -> None:
        self._output: asyncio.Queue[Any] | None = None
        self._pending: list[Any] = []
        self._decoders: dict[str, PassthroughDecoder] = {}

    # Both run on the event loop: the receiver puts from its RTP handler, and
    # the decoder thread schedules ``bind`` there.
    def bind(self, output: asyncio.Queue[Any]) -> None:
        self._output = output
        pending, self._pending = self._pending, []
        for task in pending:
            self.put(task)

    def put(self, task: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        output = self._output
        if output is None:
            self._pending.append(task)
            return
        if task is None:  # the receiver stopped: end the track
            output.put_nowait(None)
            return
        codec, encoded = task
        decoder = self._decoders.get(codec.mimeType)
        if decoder is None:
            decoder = self._decoders[codec.mimeType] = PassthroughDecoder(codec)
        for frame in decoder.decode(encoded):
            output.put_nowait(frame)


def _bind_inline_decoding(
    loop: asyncio.AbstractEventLoop,
    input_q: InlineDecoding,
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """Runs as aiortc's decoder thread: hand the track's queue over, then exit."""
    loop.call_soon_threadsafe(input_q.bind, output_q)


_aiortc_next_encoded_frame = RTCRtpSender._next_encoded_frame


async def _next_encoded_frame_with_level(
    self: RTCRtpSender, codec: RTCRtpCodecParameters
) -> rtcrtpsender.RTCEncodedFrame | None:
    """aiortc's next frame to send, plus the audio level of a packed Opus frame.

    aiortc fills ``RTCEncodedFrame.audio_level`` (in dBov, which it negates
    into the header extension) only for audio it encodes, by measuring the PCM.
    Our packer remembers the level of the frame it packed last, which is this
    one: aiortc packs and returns without yielding in between.
    """
    frame = await _aiortc_next_encoded_frame(self, codec)
    packer = getattr(self, "_RTCRtpSender__encoder", None)
    if (
        frame is not None
        and frame.audio_level is None
        and isinstance(packer, OpusPacker)
        and packer.audio_level is not None
    ):
        frame.audio_level = -packer.audio_level
    return frame


# Opus as we offer and answer it: in-band FEC (a packet carries a coarse copy of the one
# before, so one lost packet costs little), DTX (silence costs almost nothing), and NACK
# (the SFU asks for lost audio packets again; Chrome answers when it is negotiated).
OPUS_PARAMETERS: dict[str, int | str] = {"minptime": 10, "useinbandfec": 1, "usedtx": 1}


def _configure_opus() -> None:
    for codec in codecs.CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_PARAMETERS)
            if RTCRtcpFeedback(type="nack") not in codec.rtcpFeedback:
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="nack"))


def install() -> None:
    """Make every aiortc receiver and sender in this process pass media through.

    Process-wide on purpose: nothing in a Liveclass process decodes through
    aiortc (recording decodes audio itself). Also makes RTP header-extension
    parsing tolerant (see ``_tolerant_extensions``), lets packed Opus frames
    carry their audio level (see ``_next_encoded_frame_with_level``), and
    offers Opus with ``OPUS_PARAMETERS`` and NACK. Idempotent.
    """
    _configure_opus()
    rtcrtpreceiver.get_decoder = _passthrough_decoder  # type: ignore[attr-defined,assignment]
    rtcrtpreceiver.queue = types.SimpleNamespace(Queue=InlineDecoding)  # type: ignore[attr-defined,assignment]
    rtcrtpreceiver.decoder_worker = _bind_inline_decoding  # type: ignore[assignment]
    rtcrtpsender.get_encoder = _packer  # type: ignore[attr-defined,assignment]
    rtp.HeaderExtensionsMap.get = _tolerant_extensions  # type: ignore[method-assign]
    RTCRtpSender._next_encoded_frame = _next_encoded_frame_with_level  # type: ignore[method-assign]


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


AudioLevelCallback = Callable[[int, bool], None]


def on_audio_level(receiver: RTCRtpReceiver, callback: AudioLevelCallback) -> None:
    """Call ``callback(level, voice)`` for each RTP packet ``receiver`` gets with an audio level.

    ``level`` is RFC 6464's: 0 (loudest) to 127 (silence), in -dBov; ``voice``
    is the sender's voice-activity flag (Chrome sets it, aiortc never does).
    Runs on the event loop for every packet, before aiortc handles it, so the
    callback must be cheap; an exception in it is logged, never let into
    aiortc's receive loop (which would end the connection).
    """
    handle = receiver._handle_rtp_packet

    async def handle_with_level(packet: rtp.RtpPacket, arrival_time_ms: int) -> None:
        audio_level = packet.extensions.audio_level
        if audio_level is not None:
            voice, level = audio_level
            try:
                callback(level, voice)
            except Exception:
                log.exception("audio level callback failed")
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_with_level  # type: ignore[method-assign]


PacketObserver = Callable[[rtp.RtpPacket], None]


def on_rtp(receiver: RTCRtpReceiver, callback: PacketObserver) -> None:
    """Call ``callback(packet)`` for each RTP packet ``receiver`` gets, RTX already unwrapped.

    For a client that measures what it received packet by packet (``sfu.reception``);
    aiortc then handles the packet as it came. Like ``on_audio_level``, the
    callback runs on the event loop before aiortc, and its errors are logged.
    """
    handle = receiver._handle_rtp_packet
    codecs_by_pt: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    rtx_ssrc: dict[int, int] = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]

    async def handle_observed(packet: rtp.RtpPacket, arrival_time_ms: int) -> None:
        seen = packet
        codec = codecs_by_pt.get(packet.payload_type)
        if codec is not None and codecs.is_rtx(codec):
            apt = codec.parameters.get("apt")
            original = rtx_ssrc.get(packet.ssrc)
            if original is None or len(packet.payload) < 2 or not isinstance(apt, int):
                seen = None  # type: ignore[assignment]
            else:
                seen = rtp.unwrap_rtx(packet, payload_type=apt, ssrc=original)
        if seen is not None:
            try:
                callback(seen)
            except Exception:
                log.exception("packet observer failed")
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_observed  # type: ignore[method-assign]


def nack_audio(receiver: RTCRtpReceiver) -> None:
    """Make an aiortc audio receiver ask for lost packets again, as its video receivers do.

    Browsers NACK Opus when it is negotiated (Chrome does even without the
    ``rtcp-fb`` line); aiortc creates its NACK generator for video only. A
    client that measures what a browser would hear needs the same repairs.
    """
    if receiver._RTCRtpReceiver__nack_generator is None:  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__nack_generator = NackGenerator()  # type: ignore[attr-defined]


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI to the publisher of ``receiver``; False when its SSRC is not known yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    for source in sources:
        await receiver._send_rtcp_pli(source.source)
    return True


# -- packets in, packets out (the SFU's legs) ------------------------------------------

PacketHandler = Callable[[rtp.RtpPacket, RTCRtpCodecParameters], None]
SenderReportHandler = Callable[[int, int], None]


def receive_packets(
    receiver: RTCRtpReceiver,
    on_packet: PacketHandler,
    *,
    on_sender_report: SenderReportHandler | None = None,
    round_trip: Callable[[], float | None] | None = None,
    audience: Callable[[], int | None] | None = None,
) -> None:
    """Hand every RTP packet ``receiver`` gets to ``on_packet``, after SRTP and RTX, unbuffered.

    ``audience()``: the most the publisher's subscribers can take now (bits/s),
    or None; the REMB sent to the publisher says no more than that, so its
    encoder aims at what its audience can receive rather than at what its own
    uplink carries (the uplink's estimate still caps it from below).

    Replaces aiortc's ``_handle_rtp_packet`` for this receiver. What aiortc does
    first is kept, in its order: the REMB estimate (video), which SSRCs are
    active, reception statistics for receiver reports, RTX unwrap, and NACKs
    for missing packets, for audio as well (aiortc only NACKs video) and asked
    again while a packet could still be played (``sfu.nacks``; aiortc asks
    once). Its last step, depacketizing into the jitter buffer, is not done:
    the packet goes to ``on_packet`` as it is, with the codec its payload type
    names. Retransmitted packets arrive late and out of order, like any other.

    ``round_trip()``: the publisher's round-trip time in seconds, if known;
    retries wait at least that long.

    ``on_sender_report(ntp, rtp)`` hears each RTCP sender report of the
    publisher: the NTP time (64-bit) its RTP timestamp ``rtp`` stands for.
    """
    codecs_by_pt: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    rtx_ssrc: dict[int, int] = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
    streams: dict[int, Any] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    active: dict[int, Any] = receiver._RTCRtpReceiver__active_ssrc  # type: ignore[attr-defined]
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
    if estimator is not None:
        lighten_estimator(estimator)
    nacks = NackTracker()
    counter = 0
    frame_bytes = 0  # of the video frame under way, for the bitrate estimator
    # The one media stream this receiver carries: the first SSRC it hears. aiortc routes a
    # packet of an SSRC it does not know yet to the one receiver of its payload type, so
    # a second video (a shared screen) that starts before the SFU applied the answer
    # declaring it reached the camera's receiver; interleaved, its numbers sent the
    # camera's forwarded sequence thousands back and the subscriber's SRTP refused the
    # rest (tests/signaling/test_server.py).
    media_ssrc: int | None = None

    def rtcp(packet: rtp.AnyRtcpPacket | None) -> None:
        """Feedback goes out as a task of its own: the forwarding path never awaits."""
        if packet is not None:
            task = asyncio.ensure_future(receiver._send_rtcp(packet))
            _pending.add(task)
            task.add_done_callback(_pending.discard)

    def handle(packet: rtp.RtpPacket, arrival_time_ms: int) -> None:
        nonlocal counter, frame_bytes, media_ssrc
        if not receiver._enabled:
            return
        codec = codecs_by_pt.get(packet.payload_type)
        if codec is not None and not codecs.is_rtx(codec):
            if media_ssrc is None:
                media_ssrc = packet.ssrc
            elif packet.ssrc != media_ssrc:
                return  # another stream's, misrouted: its own receiver takes it once known
        counter += 1
        rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        if estimator is not None and packet.extensions.abs_send_time is not None:
            # Fed once per frame, with the frame's size: the estimator groups a frame's
            # packets by send time anyway, and per packet it was a sixth of the SFU's CPU.
            frame_bytes += len(packet.payload) + packet.padding_size
            if packet.marker:
                remb = estimator.add(
                    abs_send_time=packet.extensions.abs_send_time,
                    arrival_time_ms=arrival_time_ms,
                    payload_size=frame_bytes,
                    ssrc=packet.ssrc,
                )
                frame_bytes = 0
                if rtcp_ssrc is not None and remb is not None:
                    bitrate, ssrcs = remb
                    wanted = audience() if audience is not None else None
                    if wanted is not None:
                        bitrate = min(bitrate, wanted)
                    rtcp(
                        rtp.RtcpPsfbPacket(
                            fmt=rtp.RTCP_PSFB_APP,
                            ssrc=rtcp_ssrc,
                            media_ssrc=0,
                            fci=rtp.pack_remb_fci(bitrate, ssrcs),
                        )
                    )
        if counter % 64 == 1 or packet.ssrc not in active:  # seen within 10 s is all it means
            active[packet.ssrc] = clock.current_datetime()
        if codec is None:
            return
        stream = streams.get(packet.ssrc)
        if stream is None:
            stream = streams[packet.ssrc] = rtcrtpreceiver.StreamStatistics(codec.clockRate)
        stream.add(packet)
        if codecs.is_rtx(codec):
            original = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (
                original is None
                or original != media_ssrc
                or len(packet.payload) < 2
                or not isinstance(apt, int)
                or apt not in codecs_by_pt
            ):
                return
            packet = rtp.unwrap_rtx(packet, payload_type=apt, ssrc=original)
            codec = codecs_by_pt[apt]
        if round_trip is not None and counter % 50 == 1:
            nacks.rtt = round_trip() or 0.0
        lost = nacks.add(packet.sequence_number, time.monotonic())
        if lost and rtcp_ssrc is not None:
            nack = rtp.RtcpRtpfbPacket(
                fmt=rtp.RTCP_RTPFB_NACK, ssrc=rtcp_ssrc, media_ssrc=packet.ssrc
            )
            nack.lost = lost
            rtcp(nack)
        on_packet(packet, codec)

    async def handle_queued(packet: rtp.RtpPacket, arrival_time_ms: int) -> None:
        handle(packet, arrival_time_ms)

    receiver._liveclass_handle = handle  # type: ignore[attr-defined]
    _receive_directly(receiver.transport)
    receiver._handle_rtp_packet = handle_queued  # type: ignore[method-assign]
    if on_sender_report is not None:
        # aiortc's own handler, kept from the first call: a receiver handed to a new
        # publication (a screen shared again) must not report to the old one too.
        handle_rtcp = getattr(receiver, "_liveclass_rtcp", None) or receiver._handle_rtcp_packet
        receiver._liveclass_rtcp = handle_rtcp  # type: ignore[attr-defined]

        async def handle_rtcp_with_report(packet: rtp.AnyRtcpPacket) -> None:
            if isinstance(packet, rtp.RtcpSrPacket):
                info = packet.sender_info
                try:
                    on_sender_report(info.ntp_timestamp, info.rtp_timestamp)
                except Exception:
                    log.exception("sender report handler failed")
            await handle_rtcp(packet)

        receiver._handle_rtcp_packet = handle_rtcp_with_report  # type: ignore[method-assign]


_pending: set[asyncio.Future[None]] = set()  # RTCP sends under way, kept from the GC
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def now_ms() -> int:
    """aiortc's ``clock.current_ms()`` (milliseconds since 1900), without a datetime.

    Called for every packet received; aiortc's builds two datetimes and a timedelta.
    """
    return int((time.time() + _NTP_EPOCH_OFFSET) * 1000)


def ntp_now() -> int:
    """aiortc's ``clock.current_ntp_time()`` (64-bit NTP), without a datetime."""
    seconds, fraction = divmod(time.time_ns(), 1_000_000_000)
    return ((seconds + _NTP_EPOCH_OFFSET) << 32) | (fraction << 32) // 1_000_000_000


def lighten_estimator(estimator: aiortc_rate.RemoteBitrateEstimator) -> None:
    """Swap the two costly parts of aiortc's REMB estimator for ``sfu.bitrate``'s.

    Same estimates, a fraction of the CPU (see ``sfu.bitrate``). Idempotent.
    """
    if not isinstance(estimator.incoming_bitrate, WindowRate):
        estimator.incoming_bitrate = WindowRate(1000, 8000)  # type: ignore[assignment]
        estimator.estimator.update_min_frame_period = MinFramePeriod(  # type: ignore[method-assign]
            aiortc_rate.MIN_FRAME_PERIOD_HISTORY_LENGTH
        )


def _receive_directly(dtls: RTCDtlsTransport) -> None:
    """Take SRTP packets off the ICE connection as they arrive, not through aiortc's queue.

    aioice queues every datagram, and aiortc's DTLS transport awaits that
    queue in a task of its own, four awaits deep: a task switch and a handful
    of coroutines per packet, which cost more than unprotecting it. Once the
    transport can unprotect, an RTP packet for a receiver that forwards
    packets (``receive_packets``) is unprotected, parsed and handled right
    where the datagram arrives; everything else (DTLS, RTCP, other receivers)
    still takes aiortc's way. Idempotent, per transport.
    """
    if getattr(dtls, "_liveclass_direct", False):
        return
    dtls._liveclass_direct = True  # type: ignore[attr-defined]
    connection = dtls.transport._connection
    queued = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        srtp = dtls._rx_srtp
        if (
            srtp is None
            or not 127 < data[0] < 192
            or rtp.is_rtcp(data)
            or dtls._state != DtlsState.CONNECTED
        ):
            queued(data, component)
            return
        try:
            clear = srtp.unprotect(data)
            packet = rtp.RtpPacket.parse(clear, dtls._rtp_header_extensions_map)
        except (pylibsrtp.Error, ValueError):
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        receiver = dtls._rtp_router.route_rtp(packet)
        if receiver is None:
            return
        handle = getattr(receiver, "_liveclass_handle", None)
        try:
            if handle is not None:
                handle(packet, now_ms())
            else:
                task = asyncio.ensure_future(
                    receiver._handle_rtp_packet(packet, arrival_time_ms=clock.current_ms())
                )
                _pending.add(task)
                task.add_done_callback(_pending.discard)
        except Exception:
            # aiortc would end the connection on an error here; one bad packet must not.
            log.exception("forwarding a packet failed")

    connection.data_received = data_received  # type: ignore[method-assign]
    for protocol in connection._protocols:
        if type(protocol) is aioice.ice.StunProtocol:
            skip_stun_parse(protocol)


def skip_stun_parse(protocol: aioice.ice.StunProtocol) -> None:
    """Hand RTP and RTCP datagrams to the connection without trying them as STUN first.

    aioice parses every datagram as a STUN message and takes the ``ValueError``
    as the sign it is media. The first byte tells them apart (RFC 7983: STUN
    0-3, DTLS 20-63, RTP and RTCP 128-191), so media goes straight on.
    """
    stun_path = protocol.datagram_received
    receiver = protocol.receiver

    def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
        if isinstance(data, bytes) and data and 127 < data[0] < 192:
            receiver.data_received(data, protocol.local_candidate.component)
        else:
            stun_path(data, addr)

    protocol.datagram_received = datagram_received  # type: ignore[method-assign]


def receiver_counts(receiver: RTCRtpReceiver) -> tuple[int, int]:
    """(packets received, packets lost) over all the receiver's SSRCs, RTX included."""
    streams: dict[int, Any] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    received = sum(s.packets_received for s in streams.values())
    lost = sum(max(0, s.packets_lost) for s in streams.values())
    return received, lost


@dataclass
class LegState:
    """What one subscriber leg's far end says about it, from its RTCP."""

    rtt: float | None = None  # seconds
    fraction_lost: float = 0.0  # of the last report interval, 0..1
    packets_lost: int = 0  # cumulative, as the receiver counts them
    jitter: float = 0.0  # seconds
    remb_bps: int | None = None  # the receiver's bandwidth estimate
    remb_at: float | None = None  # when it came (time.monotonic()): a cut link sends none
    nacks: int = 0  # sequence numbers asked for again
    # Of those, packets this leg had sent within max_age (each counted once): loss on
    # this leg alone, that NACK can repair. Receiver reports also count the gaps the
    # publisher's own uplink left, and an outage's.
    lost_on_leg: int = 0
    retransmitted: int = 0  # of those, sent again
    unrepairable: int = 0  # asked for, but no longer kept or too old to be worth sending
    keyframe_requests: int = 0  # PLI and FIR


class PacketSender:
    """Sends packets, already numbered for this leg, on one aiortc sender.

    Takes over the sender's RTP loop (nothing is packetized) and its
    retransmissions: the last ``history`` packets sent are kept, by sequence
    number, and a NACK for one of them sends it again, wrapped in RTX where RTX
    was negotiated, unless it was sent more than ``max_age`` seconds ago, or
    (video) before the far end was heard again after an outage: such a
    receiver needs a keyframe, not a burst of stale video. Chromium given the
    last second of a 5 s cut again showed nothing for up to 2.5 s after the
    link came back, keyframes and all.
    aiortc's RTCP loop keeps running on what ``send`` records: its sender
    reports carry the NTP time each packet's media was captured at,
    when the publisher told us (see ``send``), so a browser can line audio and
    video up. Receiver reports and REMB from the far end land in ``state``.

    Must be made before the sender starts (aiortc starts it when a description
    that makes it send is applied).
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        *,
        history: int = 512,
        max_age: float = 1.0,
        transport: TransportWide | None = None,
    ) -> None:
        """``transport``: the peer's transport-wide numbering; the leg numbers its
        packets there if its far end accepted it for this m-section."""
        self.sender = sender
        self.transport = transport
        self.state = LegState()
        self.payload_type: int | None = None  # known once the sender started
        self.started = asyncio.Event()
        self._size = history
        # What was sent, unprotected, by sequence number: (seq, bytes, sent at).
        self._history: list[tuple[int, bytes, float] | None] = [None] * history
        self.max_age = max_age
        self._packets: LegPackets | None = None  # laid out once the sender started
        # Called when the far end asks for a packet this leg sent but can no
        # longer send again: too old, or gone from the history.
        self.on_unrepairable: Callable[[], None] | None = None
        self._rtx_seq = rtcrtpsender.random_sequence_number()
        self._asked: set[int] = set()  # sequence numbers NACKed, for ``lost_on_leg``
        self._heard_at: float | None = None  # the far end's last RTCP
        self._back_at = 0.0  # when it was heard again after an outage
        self._clock_rate = 0
        self._audio = sender.kind == "audio"
        sender._run_rtp = self._run_rtp  # type: ignore[method-assign]
        sender._retransmit = self._retransmit  # type: ignore[method-assign]
        aiortc_handle_rtcp = sender._handle_rtcp_packet

        async def handle_rtcp(packet: rtp.AnyRtcpPacket) -> None:
            self._heard()  # before the NACKs in it are counted
            await aiortc_handle_rtcp(packet)  # first: it updates the RTT that _observe reads
            self._observe(packet)

        sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]

    @property
    def ssrc(self) -> int:
        return self.sender._ssrc

    @property
    def packets_sent(self) -> int:
        """Packets this leg has sent (retransmissions not counted)."""
        return int(self.sender._RTCRtpSender__packet_count)  # type: ignore[attr-defined]

    @property
    def ready(self) -> bool:
        """Whether the leg can send now: negotiated, connected, and not inactive. A
        recycled slot is inactive until the answer to the offer that reuses it: a
        keyframe forwarded before then was numbered and lost, and the subscriber's
        decoder waited on a gap nothing would fill (tests/signaling/test_server.py)."""
        return self.payload_type is not None and self.sender._enabled

    async def _run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        """Stands in for aiortc's loop: nothing to encode or pack, only wait to be stopped."""
        sender = self.sender
        ids = sender._RTCRtpSender__rtp_header_extensions_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
        assert codec.payloadType is not None  # aiortc numbers every codec it negotiated
        mid = sender._RTCRtpSender__mid  # type: ignore[attr-defined]
        numbered = self.transport is not None and self.transport.accepts(mid)
        self._packets = LegPackets(
            codec.payloadType,
            sender._ssrc,
            mid=mid,
            mid_id=ids.mid,
            abs_send_time_id=None if self._audio else ids.abs_send_time,
            audio_level_id=ids.audio_level if self._audio else None,
            transport_seq_id=TRANSPORT_CC_ID if numbered else None,
        )
        self.payload_type = codec.payloadType
        self._clock_rate = codec.clockRate
        self.sender._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
        self.started.set()
        try:
            await asyncio.Future()
        except asyncio.CancelledError:
            pass
        finally:
            self.sender._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]

    def send(
        self,
        source: rtp.RtpPacket,
        sequence_number: int,
        timestamp: int,
        payload: bytes,
        *,
        capture_ntp: int | None = None,
    ) -> bool:
        """Send ``source``'s payload as this leg's packet; False when the leg cannot send.

        ``capture_ntp``: the NTP time the media was captured at, from the
        publisher's sender reports; without it, now. Synchronous: protects and
        hands the datagram to the socket (see ``_transmit``).
        """
        packets = self._packets
        sender = self.sender
        if packets is None or not sender._enabled:
            return False
        transport = self.transport if packets.transport_wide else None
        # Audio is numbered now and leaves now; video is numbered and stamped as it
        # leaves the pacer (``_depart``).
        tseq = transport.take(len(payload) + 40) if transport and self._audio else 0
        if self._audio:
            data = packets.packet(
                source.marker,
                sequence_number,
                timestamp,
                payload,
                audio_level=source.extensions.audio_level,
                transport_seq=tseq,
            )
        else:
            data = packets.packet(
                source.marker,
                sequence_number,
                timestamp,
                payload,
                abs_send_time=ntp_now() >> 14,
                transport_seq=tseq,
            )
        self._history[sequence_number % self._size] = (sequence_number, data, time.monotonic())
        if transport is None:
            if not self._transmit(data):
                return False
        elif self._audio:
            transport.spend(len(data))
            if not self._transmit(data):
                return False
        else:
            transport.pace(data, self._depart)
        sender._RTCRtpSender__ntp_timestamp = (  # type: ignore[attr-defined]
            capture_ntp if capture_ntp is not None else ntp_now()
        )
        sender._RTCRtpSender__rtp_timestamp = timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count += len(payload)  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]
        return True

    def probe(self, rate_bps: float) -> bool:
        """Send the newest packets kept again, as RTX, spaced at ``rate_bps``: padding whose
        transport-wide feedback shows whether the link carries that rate
        (``sfu.delay_estimate``). False when this leg cannot: no RTX, no numbering, or
        too little kept. The far end drops the copies it already has."""
        packets, transport = self._packets, self.transport
        rtx_pt = self.sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]
        if packets is None or transport is None or not packets.transport_wide or rtx_pt is None:
            return False
        kept = sorted((k for k in self._history if k is not None), key=lambda k: k[2])
        newest = [data for _, data, _ in kept[-PROBE_PACKETS:]]
        if len(newest) < PROBE_PACKETS:
            return False
        transport.probing(time.monotonic())
        loop = asyncio.get_running_loop()
        delay = 0.0
        for data in newest:
            loop.call_later(delay, self._send_probe, data)
            delay += 8 * len(data) / rate_bps
        return True

    def _send_probe(self, data: bytes) -> None:
        packets, transport = self._packets, self.transport
        rtx_pt = self.sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]
        if packets is None or transport is None or rtx_pt is None:
            return
        tseq = transport.take(len(data) + 2)
        transport.estimate.probe_sent(tseq)
        data = packets.restamped(data, ntp_now() >> 14, tseq)
        data = rtx(data, rtx_pt, self._rtx_seq, self.sender._rtx_ssrc)
        self._rtx_seq = (self._rtx_seq + 1) % (1 << 16)
        transport.spend(len(data))
        self._transmit(data)

    def _depart(self, data: bytes) -> None:
        """A paced video packet leaves: numbered and stamped with the time it goes."""
        packets, transport = self._packets, self.transport
        if packets is None or transport is None:
            return
        self._transmit(packets.restamped(data, ntp_now() >> 14, transport.take(len(data))))

    def _transmit(self, data: bytes) -> bool:
        """SRTP-protect ``data`` and hand it to the ICE pair's socket, without a coroutine.

        aiortc's own path (``RTCDtlsTransport._send_rtp``, then ICE transport,
        connection and protocol) is four awaits deep for what ends in one
        ``sendto``, and costs more than the SRTP itself. aioice's protocols all
        end in ``transport.sendto`` (a UDP socket, or a TURN allocation that
        relays), so that is called directly; the DTLS transport's counters
        are kept.
        """
        dtls = self.sender.transport
        if dtls._state != DtlsState.CONNECTED:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return False
        protected = dtls._tx_srtp.protect(data)
        try:
            pair.protocol.transport.sendto(protected, pair.remote_addr)
        except (OSError, AttributeError):
            return False
        dtls._RTCDtlsTransport__tx_bytes += len(protected)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += 1  # type: ignore[attr-defined]
        return True

    async def _retransmit(self, sequence_number: int) -> None:
        self.state.nacks += 1
        kept = self._history[sequence_number % self._size]
        if kept is None or kept[0] != sequence_number:
            # Either not sent yet (still on its way from the publisher, which repairs
            # it upstream) or sent so long ago that newer packets took its place.
            # Not counted as this leg's loss either way: a gap upstream, or an outage's
            # (the keyframe path mends that; thinning the video would not).
            self._first_ask(sequence_number, lost_here=False)
            if kept is not None and seq_newer(kept[0], sequence_number):
                self._unrepairable()
            return
        # Asked for within half a round trip of sending it: the far end asked before this
        # copy could arrive (a gap upstream, filled late), not because this leg lost it.
        # Half: a link that queues (a capped downlink) stretches the measured round trip
        # past the time its genuine losses take to be asked for, and a whole one hid
        # them (measured under a 300 kbit/s cap, 2026-12-04).
        # Asked for after max_age: an outage, not a lossy link.
        # Sent before the far end came back from an outage: the outage lost it.
        age = time.monotonic() - kept[2]
        guard = max(0.5 * (self.state.rtt or 0.0), MIN_NACK_GUARD)
        lost_here = guard <= age <= self.max_age and kept[2] >= self._back_at
        self._first_ask(sequence_number, lost_here=lost_here)
        if age > self.max_age or (not self._audio and kept[2] < self._back_at):
            # Video the outage lost: a keyframe mends it; these would come late.
            self._unrepairable()
            return
        data = kept[1]
        packets, transport = self._packets, self.transport
        if packets is not None and (packets.transport_wide or not self._audio):
            tseq = (
                transport.take(len(data) + 2)
                if packets.transport_wide and transport is not None
                else None
            )
            data = packets.restamped(data, None if self._audio else ntp_now() >> 14, tseq)
        rtx_pt = self.sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]
        if rtx_pt is not None:
            data = rtx(data, rtx_pt, self._rtx_seq, self.sender._rtx_ssrc)
            self._rtx_seq = (self._rtx_seq + 1) % (1 << 16)
        if transport is not None and packets is not None and packets.transport_wide:
            transport.spend(len(data))
        if self._transmit(data):
            self.state.retransmitted += 1

    def _heard(self) -> None:
        now = time.monotonic()
        if self._heard_at is not None and now - self._heard_at > OUTAGE_AFTER:
            self._back_at = now
        self._heard_at = now

    def _first_ask(self, sequence_number: int, *, lost_here: bool) -> None:
        """The first NACK for a packet decides whether this leg lost it (``lost_on_leg``).

        Browsers ask again every round trip; a packet first asked for before this
        leg sent it was a gap upstream however often it is asked for after.
        """
        if sequence_number in self._asked:
            return
        if len(self._asked) >= self._size:
            self._asked.clear()
        self._asked.add(sequence_number)
        if lost_here:
            self.state.lost_on_leg += 1

    def _unrepairable(self) -> None:
        """The far end lost a packet this leg can no longer resend (see ``on_unrepairable``)."""
        self.state.unrepairable += 1
        if self.on_unrepairable is not None:
            try:
                self.on_unrepairable()
            except Exception:
                log.exception("unrepairable-packet handler failed")

    def _observe(self, packet: rtp.AnyRtcpPacket) -> None:
        state = self.state
        if isinstance(packet, (rtp.RtcpRrPacket, rtp.RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self.sender._ssrc:
                    state.fraction_lost = report.fraction_lost / 256
                    state.packets_lost = report.packets_lost
                    if self._clock_rate:
                        state.jitter = report.jitter / self._clock_rate
            state.rtt = self.sender._RTCRtpSender__rtt  # type: ignore[attr-defined]
        elif isinstance(packet, rtp.RtcpPsfbPacket):
            if packet.fmt in (rtp.RTCP_PSFB_PLI, rtp.RTCP_PSFB_FIR):
                state.keyframe_requests += 1
            elif packet.fmt == rtp.RTCP_PSFB_APP:
                with contextlib.suppress(ValueError):
                    bitrate, ssrcs = rtp.unpack_remb_fci(packet.fci)
                    if self.sender._ssrc in ssrcs:
                        state.remb_bps = bitrate
                        state.remb_at = time.monotonic()
