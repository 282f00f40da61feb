"""What transcription takes in (tracks) and gives out (a transcript of segments).

A session is recorded as one audio file per participant. Each file's start sits
at an offset on the session clock (seconds since the recording began), so each
segment is attributed to its speaker by construction, with no diarisation, and
the tracks merge into one time line by shifting each by its offset.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO


@dataclass(frozen=True)
class Track:
    """One participant's audio file, placed on the session clock.

    Args:
        path: the audio file (anything FFmpeg decodes: WAV, Ogg/Opus, WebM, ...).
        speaker: the name shown in the transcript and in captions.
        role: what the speaker is in the session (``"tutor"``, ``"student"``), or None.
        offset: seconds from the session's start to the file's first sample.
        data: the file's bytes, when they must not be read from ``path`` (a recording
            sealed at rest, opened in memory: ``core.sealing``); ``path`` then only
            names it in messages.
    """

    path: str | os.PathLike[str]
    speaker: str
    role: str | None = None
    offset: float = 0.0
    data: bytes | None = field(default=None, repr=False)

    def source(self) -> str | BinaryIO:
        """What FFmpeg reads: the bytes in memory when given, else the path."""
        return io.BytesIO(self.data) if self.data is not None else str(self.path)

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError(f"track offset must be 0 or more seconds, got {self.offset}")
        if not self.speaker.strip():
            raise ValueError("a track needs a speaker name")


@dataclass(frozen=True)
class Segment:
    """A stretch of one speaker's speech; times in seconds on the session clock."""

    start: float
    end: float
    text: str
    speaker: str
    role: str | None
    track: int  # index of the track in the list given to the transcriber


@dataclass(frozen=True)
class Transcript:
    """A session's segments from every track, in time order.

    ``duration`` is where the last track ends on the session clock, speech or not.
    ``as_dict()`` gives plain JSON types and ``from_dict()`` reads them back.
    """

    segments: tuple[Segment, ...] = ()
    duration: float = 0.0
    language: str = "en"
    speakers: tuple[str, ...] = field(default=())

    @classmethod
    def merge(
        cls, per_track: list[list[Segment]], *, duration: float, language: str = "en"
    ) -> Transcript:
        """One transcript from each track's segments (already on the session clock)."""
        segments = sorted(
            (s for segs in per_track for s in segs), key=lambda s: (s.start, s.end, s.track)
        )
        speakers = tuple(dict.fromkeys(s.speaker for s in segments))
        return cls(tuple(segments), duration, language, speakers)

    def text(self, *, speakers: bool = True) -> str:
        """One line per segment, ``Speaker: text`` unless ``speakers`` is False."""
        return "\n".join(f"{s.speaker}: {s.text}" if speakers else s.text for s in self.segments)

    def by_speaker(self, speaker: str) -> str:
        """Everything one speaker said, in order, as one string."""
        return " ".join(s.text for s in self.segments if s.speaker == speaker)

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "language": self.language,
            "speakers": list(self.speakers),
            "segments": [asdict(s) for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            segments=tuple(Segment(**s) for s in data["segments"]),
            duration=float(data["duration"]),
            language=str(data.get("language", "en")),
            speakers=tuple(data.get("speakers", ())),
        )
