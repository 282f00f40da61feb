"""Checking an audio file before any CPU is spent on it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import av.error

from ai_docs.errors import AudioNotFound, AudioUnreadable


def probe_duration(path: str | os.PathLike[str], data: bytes | None = None) -> float:
    """Seconds of audio in ``path`` (or in ``data``, its bytes in memory), from its header,
    or by decoding when it has none.

    Raises:
        AudioNotFound: nothing is at ``path``.
        AudioUnreadable: the file is not audio FFmpeg can read, or has no sound.
    """
    p = Path(path)
    if data is None and not p.is_file():
        raise AudioNotFound(
            f"{p}: no such audio file; check the path (a directory is not an audio file)"
        )
    try:
        source = io.BytesIO(data) if data is not None else str(p)
        with av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise AudioUnreadable(
                    f"{p}: not an audio file (it has no audio stream); give WAV, Ogg/Opus, "
                    "WebM, MP3 or another file with sound"
                )
            stream = container.streams.audio[0]
            if container.duration is not None and container.duration > 0:
                return container.duration / av.time_base
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            # Live recordings are often written without a duration in the header.
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / stream.rate if stream.rate else 0.0
    except av.error.FFmpegError as exc:
        raise AudioUnreadable(
            f"{p}: not an audio file FFmpeg can read ({exc.strerror or exc}); give WAV, "
            "Ogg/Opus, WebM, MP3 or another common audio format"
        ) from exc
