"""Speech with known text, for the transcription tests and benchmark.

``espeak-ng`` says each line and ``sox`` lays the lines out on one track per
speaker, with silence wherever the other speaker talks or nobody does, as a
recorder that writes each participant's audio to its own file would. Each
speaker's track starts when they join (``offsets``), so the lines land on a
shared session clock through the track offset, as in a real recording.
Debian packages: ``espeak-ng``, ``sox`` (``make system-deps``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RATE = 16_000  # what Whisper reads; sox resamples espeak-ng's 22.05 kHz to it
# Two voices Whisper tiny.en understood best here (slow, with short gaps between
# words); most of its remaining errors are espeak-ng's pronunciation.
VOICES = {"tutor": "en-us+m3", "student": "en-us+m1"}
WORDS_PER_MINUTE = 130
WORD_GAP = 4  # tens of milliseconds between words


@dataclass(frozen=True)
class Line:
    """One thing said: by whom (a role), what, and the pause before it."""

    role: str
    text: str
    pause_before: float = 1.0


@dataclass(frozen=True)
class Utterance:
    """Where a line landed on the session clock."""

    start: float
    end: float
    text: str


@dataclass
class SpeechTrack:
    """One speaker's file, where it starts on the session clock, and what it says."""

    path: Path
    speaker: str
    role: str
    offset: float
    duration: float = 0.0
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances)


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found: run 'make system-deps' "
            "(Debian packages espeak-ng and sox)"
        )


def _seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return float(w.getnframes() / w.getframerate())


def say(text: str, out: Path, *, voice: str) -> float:
    """Speak ``text`` into a 16 kHz mono WAV file; returns its length in seconds."""
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-g", str(WORD_GAP)]
        + ["-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)],
        check=True,
        capture_output=True,
    )
    raw.unlink()
    return _seconds(out)


def _silence(seconds: float, out: Path) -> Path:
    subprocess.run(
        ["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(out), "trim", "0", f"{seconds}"],
        check=True,
        capture_output=True,
    )
    return out


def make_dialogue(
    lines: Sequence[Line],
    folder: Path,
    *,
    speakers: Mapping[str, str],
    offsets: Mapping[str, float] | None = None,
    tail: float = 1.0,
    until: float = 0.0,
) -> list[SpeechTrack]:
    """Write one WAV track per role under ``folder``; returns them in ``speakers`` order.

    Lines follow one another on the session clock, each after its pause. A
    role's track starts at its offset (default 0), which must come before its
    first line, and every track runs to the end of the last line plus ``tail``,
    or to ``until`` seconds on the session clock if that is later.
    Files are named by a hash of the script, so a second call with the same
    script reuses them (the benchmark keeps them under var/bench/).
    """
    require_tools()
    offsets = dict(offsets or {})
    script = (lines, dict(speakers), sorted(offsets.items()), tail, until, VOICES, WORDS_PER_MINUTE)
    key = hashlib.sha256(repr(script).encode()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    tracks = {
        role: SpeechTrack(folder / f"{key}-{role}.wav", name, role, offsets.get(role, 0.0))
        for role, name in speakers.items()
    }
    clips: dict[str, list[tuple[float, Path]]] = {role: [] for role in speakers}
    clock = 0.0
    parts = folder / f"{key}-parts"
    parts.mkdir(exist_ok=True)
    for number, line in enumerate(lines):
        clip = parts / f"{number:04d}.wav"
        length = _seconds(clip) if clip.exists() else say(line.text, clip, voice=VOICES[line.role])
        start = clock + line.pause_before
        track = tracks[line.role]
        if start < track.offset:
            raise ValueError(f"line {number} starts before the {line.role} joins")
        track.utterances.append(Utterance(round(start, 3), round(start + length, 3), line.text))
        clips[line.role].append((start, clip))
        clock = start + length
    end = max(clock + tail, until)
    for role, track in tracks.items():
        track.duration = round(end - track.offset, 3)
        if track.path.exists():
            continue
        pieces: list[Path] = []
        cursor = track.offset
        for n, (start, clip) in enumerate(clips[role]):
            if start - cursor > 0.001:
                pieces.append(_silence(start - cursor, parts / f"{role}-gap{n:04d}.wav"))
            pieces.append(clip)
            cursor = start + _seconds(clip)
        if end - cursor > 0.001:
            pieces.append(_silence(end - cursor, parts / f"{role}-tail.wav"))
        partial = track.path.with_suffix(".partial.wav")
        subprocess.run(["sox", *map(str, pieces), str(partial)], check=True, capture_output=True)
        partial.rename(track.path)
    return list(tracks.values())


def to_ogg_opus(wav: Path, out: Path | None = None) -> Path:
    """``wav`` re-encoded as Ogg Opus, 48 kHz mono in 20 ms packets: what a browser sends
    and the recorder keeps. Written next to ``wav`` unless ``out`` is given."""
    import fractions

    import av

    out_path = out or wav.with_suffix(".ogg")
    with av.open(str(wav)) as source, av.open(str(out_path), "w", format="ogg") as sink:
        stream = sink.add_stream("libopus", rate=48_000)
        stream.codec_context.layout = "mono"
        stream.codec_context.time_base = fractions.Fraction(1, 48_000)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000, frame_size=960)
        frames = (f for frame in source.decode(audio=0) for f in resampler.resample(frame))
        for frame in [*frames, *resampler.resample(None), None]:
            for packet in stream.encode(frame):
                sink.mux(packet)
    return out_path


def opus_packets(wav: Path) -> list[tuple[int, bytes]]:
    """``wav`` encoded as a browser sends it (Opus, 48 kHz mono, 20 ms packets): each
    packet with its position in 48 kHz samples from the first, as the recorder places them."""
    import fractions

    import av

    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.rate = 48_000
    codec.layout = "mono"
    codec.format = "s16"
    codec.time_base = fractions.Fraction(1, 48_000)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000, frame_size=960)
    packets: list[tuple[int, bytes]] = []
    with av.open(str(wav)) as source:
        frames = [f for frame in source.decode(audio=0) for f in resampler.resample(frame)]
    frames += resampler.resample(None)
    for frame in [*frames, None]:
        for packet in codec.encode(frame):
            packets.append((int(packet.pts or 0), bytes(packet)))
    first = packets[0][0] if packets else 0
    return [(pts - first, data) for pts, data in packets]
