"""Small media files made at test time with PyAV, for ``--publish FILE``."""

from __future__ import annotations

import fractions
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

FPS = 15
SIZE = (160, 120)
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms


def write_media(
    path: Path,
    *,
    video: str | None = "libvpx",
    audio: str | None = "libopus",
    seconds: int = 2,
) -> dict[str, list[bytes]]:
    """Encode a moving gradient and a tone into ``path``; return the packets muxed, per kind.

    ``video`` and ``audio`` name PyAV encoders (``None`` leaves the kind out);
    the container follows the file's extension.
    """
    muxed: dict[str, list[bytes]] = {"video": [], "audio": []}
    with av.open(str(path), "w") as out:

        def mux(packets: Iterable[av.Packet[Any]], kind: str) -> None:
            for packet in packets:
                muxed[kind].append(bytes(packet))
                out.mux(packet)

        vstream = None if video is None else _video_stream(out, video)
        astream = None if audio is None else _audio_stream(out, audio)
        if vstream is not None:
            for frame in _gradient(seconds * FPS):
                mux(vstream.encode(frame), "video")
            mux(vstream.encode(None), "video")
        if astream is not None:
            planar = "s16" not in {f.name for f in astream.codec_context.codec.audio_formats or ()}
            for audio_frame in _tone(seconds * AUDIO_RATE // AUDIO_FRAME, planar=planar):
                mux(astream.encode(audio_frame), "audio")
            mux(astream.encode(None), "audio")
    return muxed


def _video_stream(out: OutputContainer, codec: str) -> VideoStream:
    stream = cast(VideoStream, out.add_stream(codec, rate=FPS))
    stream.width, stream.height = SIZE
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = FPS  # a keyframe a second
    return stream


def _audio_stream(out: OutputContainer, codec: str) -> AudioStream:
    stream = cast(AudioStream, out.add_stream(codec, rate=AUDIO_RATE))
    stream.codec_context.layout = "stereo"
    stream.codec_context.time_base = fractions.Fraction(1, AUDIO_RATE)
    return stream


def _gradient(count: int) -> Iterable[av.VideoFrame]:
    width, height = SIZE
    x = np.arange(width, dtype=np.uint16)[None, :]
    y = np.arange(height, dtype=np.uint16)[:, None]
    for i in range(count):
        luma = ((x + y + 4 * i) % 256).astype(np.uint8)
        yuv = np.concatenate([luma, np.full((height // 2, width), 128, dtype=np.uint8)])
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = i
        frame.time_base = fractions.Fraction(1, FPS)
        yield frame


def _tone(count: int, *, planar: bool) -> Iterable[av.AudioFrame]:
    t = np.arange(AUDIO_FRAME) / AUDIO_RATE
    for i in range(count):
        tone = 0.2 * np.sin(2 * np.pi * 440 * (t + i * AUDIO_FRAME / AUDIO_RATE))
        if planar:  # aac: float, one plane per channel
            samples = np.stack([tone, tone]).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        else:  # libopus: interleaved 16-bit
            interleaved = np.repeat((tone * 32767).astype(np.int16), 2)[None, :]
            frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_FRAME
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        yield frame
