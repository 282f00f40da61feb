"""How fast transcription runs here: a two-speaker session, with and without VAD.

    python -m bench.transcribe [--minutes 10] [--draft-minutes 30] [--json FILE]

Builds a session of ``--minutes`` from espeak-ng speech (``bench.speech``): a
tutor and a student taking turns, with pauses of up to a few seconds and now
and then a long quiet stretch (the student working on a problem), one track per
speaker as the recorder writes them. The audio is cached under
``var/bench/speech/`` so later runs skip making it. Then it transcribes both
tracks with the bundled tiny.en (settings' defaults: int8, beam 1), once with
VAD and once without, and reports for each: wall and CPU time, the real-time
factor (wall seconds per second of audio; below 1 is faster than real time),
word error rate per speaker, and segments placed where their speaker said
nothing (text invented in silence). Then (``bench.drafting``) a session of
``--draft-minutes`` goes through the whole chain as a server runs it, and the
time from ``session.ended`` to ``summary.drafted`` is reported, twice: with the
recording transcribed after the end, and transcribed live while the lesson ran
(``bench.drafting.measure_live_documenting``: the recorder's live feeds and
worker processes, the lesson played ``--live-speed`` times faster than real
time), with the CPU the live workers took per second of lesson and the word
error rate of each stored transcript. JSON on stdout, then one human line per
run; progress on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ai_docs import Track, Transcriber, WhisperOptions, word_error_rate
from ai_docs._whisper import cpu_count
from bench.drafting import measure_documenting, measure_live_documenting
from bench.speech import VOICES, Line, SpeechTrack, make_dialogue, say

ROOT = Path(__file__).resolve().parent.parent
SPEAKERS = {"tutor": "Tutor", "student": "Student"}
TUTOR_LINES = [
    "Good afternoon. Today we are going to practise adding fractions.",
    "That is fine. First we make the bottom numbers the same.",
    "Exactly. Then we add the top numbers and keep the bottom one.",
    "Let us try another example together on the board.",
    "Very good. Can you tell me how you found it?",
    "Next we will look at a word problem about a pizza.",
    "The pizza is cut into eight equal slices.",
    "Well done. Please write that down as a fraction.",
    "Take your time and read the question again slowly.",
    "Remember to check your answer at the end.",
]
STUDENT_LINES = [
    "Hello. I found last week's exercises quite hard.",
    "So we multiply both numbers by the same amount?",
    "Thank you. That makes much more sense to me.",
    "There would be five slices left over.",
    "Can we do one more question before the end?",
    "I think I understand it better now.",
    "Could you explain the last step one more time?",
]
LONG_QUIET_EVERY = 8  # lines; a stretch of 8-20 s where nobody speaks
TAIL = 2.0


@dataclass
class Run:
    vad: bool
    audio_s: float  # seconds of audio transcribed (every track, silence included)
    session_s: float
    wall_s: float
    cpu_s: float
    rtf: float  # wall seconds per second of audio
    segments: int
    segments_in_silence: int
    wer: dict[str, float]


def script(minutes: float, *, seed: int = 7) -> list[Line]:
    """Turns of speech filling ``minutes``, the same every time for one seed."""
    rng = random.Random(seed)
    lines: list[Line] = []
    tutor, student = itertools.cycle(TUTOR_LINES), itertools.cycle(STUDENT_LINES)
    budget = minutes * 60 - TAIL
    clock = 0.0
    while True:
        role = "tutor" if len(lines) % 2 == 0 or rng.random() < 0.3 else "student"
        pause = rng.uniform(0.6, 3.0)
        if lines and len(lines) % LONG_QUIET_EVERY == 0:
            pause = rng.uniform(8.0, 20.0)
        text = next(tutor) if role == "tutor" else next(student)
        estimate = len(text.split()) * 60 / 130 + 0.5  # espeak-ng at 130 words a minute
        if clock + pause + estimate > budget:
            return lines
        lines.append(Line(role, text, round(pause, 2)))
        clock += pause + estimate


def _in_silence(start: float, end: float, track: SpeechTrack, edge: float = 1.0) -> bool:
    return not any(u.start - edge < end and start < u.end + edge for u in track.utterances)


def measure(tracks: list[SpeechTrack], *, vad: bool, warmup: Path) -> Run:
    transcriber = Transcriber(WhisperOptions(vad=vad))
    # Untimed: loading the model (once per process in service) and a first short
    # clip, which loads the VAD model and warms CTranslate2 up.
    transcriber.transcribe([Track(warmup, "warm-up")])
    audio = sum(t.duration for t in tracks)
    last = [-1]

    def progress(done: float, total: float) -> None:
        percent = int(done / total * 10) * 10 if total else 100
        if percent != last[0]:
            last[0] = percent
            print(f"  vad={'on' if vad else 'off'}: {percent}%", file=sys.stderr, flush=True)

    wall, cpu = time.perf_counter(), time.process_time()
    transcript = transcriber.transcribe(
        [Track(t.path, t.speaker, t.role, t.offset) for t in tracks], progress=progress
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(
        vad=vad,
        audio_s=round(audio, 1),
        session_s=round(transcript.duration, 1),
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        rtf=round(wall / audio, 4),
        segments=len(transcript.segments),
        segments_in_silence=sum(
            _in_silence(s.start, s.end, tracks[s.track]) for s in transcript.segments
        ),
        wer={
            t.role: round(word_error_rate(t.text, transcript.by_speaker(t.speaker)), 3)
            for t in tracks
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="session length (default 10)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "var" / "bench" / "speech",
        help="where the generated audio is kept (default var/bench/speech)",
    )
    parser.add_argument(
        "--draft-minutes",
        type=float,
        default=30.0,
        help="session length for the end-to-drafted timing (default 30; 0 skips it)",
    )
    parser.add_argument(
        "--live-speed",
        type=float,
        default=5.0,
        help="how many times faster than real time the live run plays the lesson (default 5)",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
    args = parser.parse_args(argv)

    print(f"making {args.minutes:g} minutes of speech in {args.cache}", file=sys.stderr)
    tracks = make_dialogue(
        script(args.minutes),
        args.cache,
        speakers=SPEAKERS,
        offsets={"student": 1.0},
        tail=TAIL,
        until=args.minutes * 60,
    )
    warmup = args.cache / "warmup.wav"
    if not warmup.exists():
        say(TUTOR_LINES[0], warmup, voice=VOICES["tutor"])
    runs = [measure(tracks, vad=v, warmup=warmup) for v in (True, False)]
    documented = live = None
    if args.draft_minutes > 0:
        print(f"making {args.draft_minutes:g} minutes of speech for drafting", file=sys.stderr)
        long_tracks = make_dialogue(
            script(args.draft_minutes, seed=11),
            args.cache / f"session-{args.draft_minutes:g}",
            speakers=SPEAKERS,
            offsets={"student": 1.0},
            tail=TAIL,
            until=args.draft_minutes * 60,
        )
        print("session.ended -> summary.drafted", file=sys.stderr, flush=True)
        documented = measure_documenting(long_tracks, args.cache / "documenting")
        print(
            f"live: the lesson at {args.live_speed:g}x real time, then ended",
            file=sys.stderr,
            flush=True,
        )
        live = measure_live_documenting(
            long_tracks, args.cache / "documenting-live", speed=args.live_speed
        )
    report = {
        "machine": {
            "cores": cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "model": "tiny.en (bundled), int8, beam 1, cpu",
        "minutes": args.minutes,
        "runs": [asdict(r) for r in runs],
        "documenting": asdict(documented) if documented else None,
        "documenting_live": asdict(live) if live else None,
    }
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    for r in runs:
        print(
            f"VAD {'on ' if r.vad else 'off'}: {r.audio_s:.0f} s of audio "
            f"({r.session_s:.0f} s session, 2 tracks) in {r.wall_s:.1f} s: "
            f"RTF {r.rtf:.3f} ({1 / r.rtf:.0f}x real time), CPU {r.cpu_s:.1f} s, "
            f"WER tutor {r.wer['tutor']:.0%} student {r.wer['student']:.0%}, "
            f"{r.segments_in_silence}/{r.segments} segments in silence"
        )
    for how, d in (("transcribed after the end", documented), ("transcribed live", live)):
        if d is None:
            continue
        print(
            f"{d.session_s / 60:.1f}-minute session, {how}: session.ended -> summary.drafted "
            f"in {d.end_to_drafted_s:.1f} s ({d.segments} segments, drafted by {d.drafted_by}; "
            f"WER tutor {d.wer['tutor']:.1%} student {d.wer['student']:.1%})"
        )
        if d.live:
            print(
                f"  live workers: {d.live['worker_cpu_s']:.0f} CPU s while the lesson ran "
                f"({d.live['worker_cores']:.3f} of a core at real time), "
                f"{d.live['behind_at_end_s']:.1f} s behind when the {d.live['speed']:g}x "
                f"lesson ended (caught up in {d.live['caught_up_s']:.0f} s), "
                f"{d.live['files_heard_live']} of {len(long_tracks)} files heard in full"
            )


if __name__ == "__main__":
    main()
