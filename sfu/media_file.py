"""Pre-encoded media from a file, for ``liveclass bot --publish FILE``.

The file is demultiplexed with PyAV and never decoded: its VP8 video (WebM,
Matroska, IVF) and Opus audio (Ogg, WebM) packets are exactly what the SFU
forwards, so they go out as they are, replayed in real time and in a loop by
``EncodedLoopTrack`` like the synthetic media. Anything else would need
transcoding, which a bot must not spend CPU on: it is refused with the
ffmpeg command that converts it.
"""

from __future__ import annotations

import os
import shlex
import statistics
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import av.error
import av.stream

from sfu.errors import MediaFileError
from sfu.synthetic import EncodedLoop

# The codecs the SFU forwards (sfu.passthrough.FORWARDED_MIME_TYPES), per kind.
ACCEPTED_CODECS = {"video": "vp8", "audio": "opus"}
CLOCK_RATES = {"video": 90_000, "audio": 48_000}
# The whole file is held in memory to loop it: keep that bounded.
MAX_MEDIA_BYTES = 64 * 2**20


def load_media_file(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_MEDIA_BYTES
) -> tuple[EncodedLoop, ...]:
    """Read the encoded audio and video of ``path`` as loops (a kind the file lacks is left out).

    Of each kind the first stream is used; its frames play at the stream's
    frame rate (video) or packet duration (audio), before the first video
    keyframe nothing is kept, and the loop restarts at that keyframe.

    Raises:
        MediaFileError: the file cannot be opened or read, has neither audio
            nor video, has a codec other than VP8 or Opus, or holds more than
            ``max_bytes`` of media.
    """
    name = os.fspath(path)
    convert = f"ffmpeg -i {shlex.quote(name)} -c:v libvpx -c:a libopus out.webm"
    try:
        container = av.open(name)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaFileError(
            f"cannot open {name} ({_reason(exc)}): give a WebM, Matroska, IVF or Ogg file "
            "with VP8 video and/or Opus audio"
        ) from exc
    with container:
        streams = [s for s in container.streams if s.type in ACCEPTED_CODECS]
        wrong = [
            f"{s.type} {s.codec_context.name}"
            for s in streams
            if s.codec_context.name != ACCEPTED_CODECS[s.type]
        ]
        wrong += [
            f"{s.codec_context.channels}-channel audio"
            for s in container.streams.audio
            if s.codec_context.channels > 2  # RTP carries mono or stereo Opus only
        ]
        if wrong or not streams:
            found = ", ".join(wrong) if wrong else "no audio or video"
            raise MediaFileError(
                f"{name} has {found}; only VP8 video and Opus audio are published as they are "
                f"(WebM, Matroska, IVF or Ogg): convert it with {convert}"
            )
        chosen: dict[str, av.stream.Stream] = {}
        for stream in streams:
            chosen.setdefault(stream.type, stream)
        packets: dict[str, list[av.Packet[Any]]] = {kind: [] for kind in chosen}
        total = 0
        try:
            for packet in container.demux(*chosen.values()):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                total += packet.size
                if total > max_bytes:
                    raise MediaFileError(
                        f"{name} holds more than {max_bytes / 2**20:g} MiB of media, and a bot "
                        f"keeps it all in memory: cut it, e.g. ffmpeg -i {shlex.quote(name)} "
                        "-t 60 -c copy short.webm"
                    )
                packets[packet.stream.type].append(packet)
        except av.error.FFmpegError as exc:
            raise MediaFileError(f"cannot read {name}: {_reason(exc)}") from exc
        return tuple(
            _loop(kind, packets[kind], chosen[kind], name) for kind in chosen if packets[kind]
        )


def _loop(
    kind: str, packets: Sequence[av.Packet[Any]], stream: av.stream.Stream, name: str
) -> EncodedLoop:
    if kind == "video":
        first = next((i for i, p in enumerate(packets) if p.is_keyframe), None)
        if first is None:
            raise MediaFileError(f"{name}: its video has no keyframe, so nobody could decode it")
        packets = packets[first:]
        keyframes = tuple(i for i, p in enumerate(packets) if p.is_keyframe)
    else:
        keyframes = (0,)  # every Opus packet decodes alone
    duration = _frame_duration(kind, packets, stream)
    if duration is None:
        raise MediaFileError(f"{name}: cannot tell the {kind} frame rate from the file")
    return EncodedLoop(
        kind, tuple(bytes(p) for p in packets), keyframes, duration, CLOCK_RATES[kind]
    )


def _frame_duration(
    kind: str, packets: Sequence[av.Packet[Any]], stream: av.stream.Stream
) -> float | None:
    """Seconds per frame: the video's frame rate, else the packets' typical spacing."""
    if kind == "video":
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            return float(1 / rate)
    base = stream.time_base or Fraction(1, CLOCK_RATES[kind])
    durations = [p.duration for p in packets if p.duration]
    if durations:
        return float(statistics.median(durations) * base)
    pts = sorted(p.pts for p in packets if p.pts is not None)
    steps = [b - a for a, b in zip(pts, pts[1:], strict=False) if b > a]
    return float(statistics.median(steps) * base) if steps else None


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)
