"""Pre-encoded media for bots: encode a short loop once, replay it for free.

A bot must cost little CPU so that a benchmark measures the SFU, not the bots.
So a few seconds of VP8 video (a moving gradient) and Opus audio (a tone) are
encoded once per process, and tracks replay those encoded frames in real time
with fresh timestamps. A keyframe request makes the video jump to the next
keyframe of the loop at once. Audio frames carry the tone's RFC 6464 level,
measured once from its samples, as a browser's would (no decoding per frame).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from sfu.passthrough import EncodedFrame

VIDEO_FPS = 15
VIDEO_SIZE = (320, 240)
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms


@dataclass(frozen=True)
class EncodedLoop:
    kind: str
    frames: tuple[bytes, ...]
    keyframes: tuple[int, ...]  # indexes of keyframes in ``frames``
    frame_duration: float
    clock_rate: int
    # Audio: the sound's RFC 6464 level, sent with every frame (0 loudest .. 127 silent).
    audio_level: int | None = None
    # Video in temporal layers: each frame's (layer, layer-sync), as the packer marks it.
    layers: tuple[tuple[int, bool], ...] | None = None


# libvpx's three temporal layers in a period of four frames (ffmpeg's ts_layering_mode 3):
# layers 0, 2, 1, 2. Frames 1 and 2 of a period refer to layer-0 frames only (layer sync,
# checked by decoding in tests/sfu/test_synthetic.py); frame 3 also to frame 2. Error
# resilience keeps each frame from changing the probabilities the next ones decode with,
# so a subscriber given fewer layers decodes exactly what a full one does.
TEMPORAL_PATTERN: tuple[tuple[int, bool], ...] = ((0, False), (2, True), (1, True), (2, False))
_TEMPORAL_OPTIONS = {
    "error-resilient": "default",
    # Cumulative targets per layer as WebRTC splits them for three layers: 40%, 60%, 100%.
    "ts-parameters": "ts_number_layers=3:ts_target_bitrate={0},{1},{2}:"
    "ts_rate_decimator=4,2,1:ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
}


@lru_cache(maxsize=4)
def video_loop(
    seconds: int = 4,
    size: tuple[int, int] = VIDEO_SIZE,
    fps: int = VIDEO_FPS,
    *,
    temporal_layers: bool = True,
) -> EncodedLoop:
    """One keyframe, at the start of the loop: like Chrome, no periodic keyframes,
    so a late subscriber depends on the SFU relaying its keyframe request.

    With ``temporal_layers`` (as the browser client publishes, ``L1T3``) the
    frames come in three temporal layers (``TEMPORAL_PATTERN``), so the SFU
    can send a subscriber half or a quarter of them."""
    width, height = size
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fractions.Fraction(fps, 1)
    # About what Chrome sends for the size: 300 kbit/s at 320x240, 1.2 Mbit/s at 640x480.
    codec.bit_rate = 300_000 * width * height // (320 * 240)
    codec.gop_size = seconds * fps
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    if temporal_layers:
        kbps = codec.bit_rate // 1000
        layering = _TEMPORAL_OPTIONS["ts-parameters"].format(kbps * 4 // 10, kbps * 6 // 10, kbps)
        codec.options = {**codec.options, **_TEMPORAL_OPTIONS, "ts-parameters": layering}
    frames: list[bytes] = []
    keyframes: list[int] = []
    x = np.arange(width, dtype=np.uint16)
    for i in range(seconds * fps):
        luma = ((x[None, :] + np.arange(height, dtype=np.uint16)[:, None] + 4 * i) % 256).astype(
            np.uint8
        )
        yuv = np.concatenate([luma, np.full((height // 2, width), 128, dtype=np.uint8)])
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = i
        for packet in codec.encode(frame):
            if packet.is_keyframe:
                keyframes.append(len(frames))
            frames.append(bytes(packet))
    for packet in codec.encode(None):
        frames.append(bytes(packet))
    layers = None
    if temporal_layers:
        # The pattern runs from the loop's keyframe; frames are one per input, in order.
        layers = tuple(TEMPORAL_PATTERN[i % 4] for i in range(len(frames)))
    return EncodedLoop("video", tuple(frames), tuple(keyframes), 1 / fps, 90_000, layers=layers)


def audio_level_of(samples: np.ndarray) -> int:
    """RFC 6464 level of 16-bit samples: their RMS in -dBov, 0 (full scale) to 127 (silence)."""
    rms = math.sqrt(float(np.mean((samples.astype(np.float64) / 32767) ** 2)))
    if rms <= 0:
        return 127
    return min(127, max(0, round(-20 * math.log10(rms))))


@lru_cache(maxsize=2)
def audio_loop(seconds: int = 1, hz: float = 440.0, amplitude: float = 0.2) -> EncodedLoop:
    """A steady tone (level 17 at the default amplitude), or silence with ``amplitude=0``."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32_000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    frames: list[bytes] = []
    t = np.arange(AUDIO_FRAME) / AUDIO_RATE
    tones: list[np.ndarray] = []
    for i in range(seconds * AUDIO_RATE // AUDIO_FRAME):
        tone = (
            amplitude * 32767 * np.sin(2 * np.pi * hz * (t + i * AUDIO_FRAME / AUDIO_RATE))
        ).astype(np.int16)
        tones.append(tone)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2)[None, :], format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_FRAME
        frames.extend(bytes(p) for p in codec.encode(frame))
    return EncodedLoop(
        "audio",
        tuple(frames),
        (0,),
        AUDIO_FRAME / AUDIO_RATE,
        AUDIO_RATE,
        audio_level=audio_level_of(np.concatenate(tones)),
    )


class EncodedLoopTrack(MediaStreamTrack):
    """Replays an ``EncodedLoop`` in real time as ``EncodedFrame``s."""

    def __init__(self, loop: EncodedLoop) -> None:
        super().__init__()
        self.kind = loop.kind
        self._encoded = loop
        self._index = 0
        self._sent = 0
        self._start: float | None = None
        self._sent_at_start = 0
        self._time_base = fractions.Fraction(1, loop.clock_rate)
        self._ticks = round(loop.frame_duration * loop.clock_rate)
        self._resumed = asyncio.Event()
        self._resumed.set()

    @property
    def frames_sent(self) -> int:
        return self._sent

    def request_keyframe(self) -> None:
        """Jump to the next keyframe of the loop (the first one if none lies ahead)."""
        ahead = [k for k in self._encoded.keyframes if k >= self._index]
        self._index = ahead[0] if ahead else self._encoded.keyframes[0]

    def pause(self) -> None:
        """Send nothing until ``resume``: lets a test count what arrived of a finished stretch."""
        self._resumed.clear()

    def resume(self) -> None:
        self._start, self._sent_at_start = None, self._sent
        self._resumed.set()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        await self._resumed.wait()
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + (self._sent - self._sent_at_start) * self._encoded.frame_duration
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data = self._encoded.frames[self._index]
        frame = EncodedFrame(
            data,
            self._sent * self._ticks,
            self._time_base,
            self._index in self._encoded.keyframes,
            self._encoded.audio_level,
            None if self._encoded.layers is None else self._encoded.layers[self._index],
        )
        self._index = (self._index + 1) % len(self._encoded.frames)
        self._sent += 1
        return frame
