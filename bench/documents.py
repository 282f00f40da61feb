"""How truthful and complete the session documents are, on an evaluation set with known truth.

    python -m bench.documents --generate [--count 30]   # build the set (minutes)
    python -m bench.documents --live                    # add live transcripts (minutes)
    python -m bench.documents [--model-url URL --model NAME] [--json FILE]

The set (``bench/data/documents/lesson-NN.json``): scripted lessons
(``bench.lessons``), spoken by espeak-ng (``bench.speech``) and transcribed by
our own pipeline (the bundled Whisper tiny.en, settings' defaults), so the
speech-recognition errors are real; each file keeps the script, its truth and
the transcript. Generating needs espeak-ng and sox (``make system-deps``);
scoring reads only the files.

Each drafter (offline always; the model with ``--model-url``) drafts every
lesson, and the documents are scored against the truth:

- homework precision and recall: a document that reports homework is right
  when the lesson set some and the report names it (most of its content words);
- topic recall: of the lessons' topics, those the document's topics name;
- homework follow-up precision and recall: the lessons whose measurements find
  last week's homework taken up (``analysis.homework_followups``, what the
  structured session data records), against the lessons that took it up;
- unsupported statements: items whose cited lines do not hold most of their
  content words, and a "no homework" in the summary of a lesson that set some,
  or that never said so (target: none);
- time: drafting, per lesson.

``--live`` speaks each lesson again and transcribes it as a lesson in progress
is transcribed (``ai_docs.live``: the Opus packets the recorder would write, fed
to a worker process that cuts utterances and transcribes each), and keeps that
transcript and its word error rate beside the one made after the end. Once a
lesson has one, the offline drafter is also scored on the live transcripts, and
both word error rates are reported.

JSON on stdout (or ``--json FILE``), a table on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_docs import SourceTranscript, Track, Transcriber, WhisperOptions, word_error_rate
from ai_docs._offline import content_words
from ai_docs.documents import Item, SessionDocument
from ai_docs.offline_summary import draft_offline
from bench.lessons import lesson

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "bench" / "data" / "documents"
AUDIO = ROOT / "var" / "bench" / "documents"
SPEAKERS = {"tutor": "Taylor Tutor", "student": "Sam Student"}
# A statement is supported when its cited lines hold this share of its content words.
SUPPORTED = 0.6
_NO_HOMEWORK = re.compile(r"\bno homework\b|\bhomework was not\b|\bnot set any homework\b", re.I)


def _stem(word: str) -> str:
    """Crude, for matching only: plural and verb endings off, 'home work' and 'homework' one."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in content_words(text.replace("home work", "homework"))}


def _covers(claim: str, evidence: str, share: float) -> bool:
    wanted = _words(claim)
    return not wanted or len(wanted & _words(evidence)) >= share * len(wanted)


# --- building the set ---------------------------------------------------------------------


def generate(count: int) -> None:
    """Speak and transcribe lessons 0..count-1 into the set; a lesson already there is kept."""
    from bench.speech import make_dialogue

    SET.mkdir(parents=True, exist_ok=True)
    transcriber = Transcriber(WhisperOptions())
    for n in range(count):
        out = SET / f"lesson-{n:02d}.json"
        if out.exists():
            continue
        print(f"lesson {n + 1}/{count}: speaking", file=sys.stderr, flush=True)
        lines, truth = lesson(n)
        tracks = make_dialogue(lines, AUDIO, speakers=SPEAKERS)
        print(f"lesson {n + 1}/{count}: transcribing", file=sys.stderr, flush=True)
        started = time.perf_counter()
        transcript = transcriber.transcribe(
            [Track(t.path, t.speaker, t.role, t.offset) for t in tracks]
        )
        seconds = time.perf_counter() - started
        record = {
            "lesson": n,
            "script": [[line.role, line.text] for line in lines],
            "truth": truth.as_dict(),
            "audio_s": round(max(t.duration for t in tracks), 1),
            "transcribe_s": round(seconds, 1),
            "wer": {
                t.role: round(word_error_rate(t.text, transcript.by_speaker(t.speaker)), 3)
                for t in tracks
            },
            "segments": [
                {
                    "start": round(s.start, 2),
                    "end": round(s.end, 2),
                    "speaker": s.speaker,
                    "role": s.role,
                    "text": s.text,
                }
                for s in transcript.segments
            ],
        }
        out.write_text(json.dumps(record, indent=1) + "\n")


def transcribe_live(records: list[dict[str, Any]]) -> None:
    """Add a live transcript to each lesson that has none (and write it to its file)."""
    asyncio.run(_transcribe_live(records))


async def _transcribe_live(records: list[dict[str, Any]]) -> None:
    from ai_docs.live import LiveTranscriber
    from bench.speech import make_dialogue, opus_packets

    transcriber = LiveTranscriber()
    try:
        for n, record in enumerate(records):
            if "live" in record:
                continue
            print(f"lesson {n + 1}/{len(records)}: live", file=sys.stderr, flush=True)
            lines, _ = lesson(record["lesson"])
            tracks = make_dialogue(lines, AUDIO, speakers=SPEAKERS)
            segments: list[dict[str, Any]] = []
            started = time.perf_counter()
            for t in tracks:
                stream = await transcriber.open()
                if stream is None:
                    raise SystemExit(f"live transcription is off: {transcriber.unavailable}")
                packets = opus_packets(t.path)
                for start in range(0, len(packets), 50):
                    stream.feed(packets[start : start + 50])
                    while stream.behind > 10:  # as fast as the worker goes, never given up
                        await asyncio.sleep(0.02)
                result = await stream.finish()
                if not result.complete:
                    raise SystemExit(f"lesson {record['lesson']}: {result.reason}")
                segments += [
                    {
                        "start": round(s.start + t.offset, 2),
                        "end": round(s.end + t.offset, 2),
                        "speaker": t.speaker,
                        "role": t.role,
                        "text": s.text,
                    }
                    for s in result.segments
                ]
            segments.sort(key=lambda s: (s["start"], s["end"]))
            record["live"] = {
                "transcribe_s": round(time.perf_counter() - started, 1),
                "wer": {
                    t.role: round(
                        word_error_rate(
                            t.text,
                            " ".join(str(s["text"]) for s in segments if s["role"] == t.role),
                        ),
                        3,
                    )
                    for t in tracks
                },
                "segments": segments,
            }
            out = SET / f"lesson-{record['lesson']:02d}.json"
            out.write_text(json.dumps(record, indent=1) + "\n")
    finally:
        await transcriber.aclose()


def load() -> list[dict[str, Any]]:
    files = sorted(SET.glob("lesson-*.json"))
    if not files:
        raise SystemExit(
            f"no evaluation set under {SET}; build it: python -m bench.documents --generate"
        )
    return [json.loads(f.read_text()) for f in files]


def transcript_of(record: dict[str, Any]) -> SourceTranscript:
    return SourceTranscript.model_validate(
        {"segments": [{"index": i, **s} for i, s in enumerate(record["segments"])]}
    )


# --- scoring ------------------------------------------------------------------------------


@dataclass
class Score:
    drafter: str
    lessons: int = 0
    homework_true: int = 0  # lessons that set homework
    homework_reported: int = 0  # documents that report some
    homework_right: int = 0  # ... and name what was set
    topics: int = 0
    topics_found: int = 0
    statements: int = 0
    unsupported: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    fallbacks: int = 0  # model documents the offline drafter wrote instead
    dropped: int = 0  # statements grounding took out before scoring (ai_docs.grounding)
    followups_true: int = 0  # lessons that took up last week's homework
    followups_found: int = 0  # lessons whose analysis found a follow-up
    followups_right: int = 0  # ... in a lesson that had one

    def summary(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        return {
            "drafter": self.drafter,
            "lessons": self.lessons,
            "homework_precision": ratio(self.homework_right, self.homework_reported),
            "homework_recall": ratio(self.homework_right, self.homework_true),
            "topic_recall": ratio(self.topics_found, self.topics),
            "followup_precision": ratio(self.followups_right, self.followups_found),
            "followup_recall": ratio(self.followups_right, self.followups_true),
            "statements": self.statements,
            "fallbacks": self.fallbacks,
            "dropped_by_grounding": self.dropped,
            "unsupported": len(self.unsupported),
            "draft_s_mean": round(sum(self.seconds) / len(self.seconds), 3)
            if self.seconds
            else None,
            "unsupported_examples": self.unsupported[:10],
        }


def score(doc: SessionDocument, record: dict[str, Any], into: Score) -> None:
    truth = record["truth"]
    into.fallbacks += doc.fallback_reason is not None
    into.dropped += doc.dropped
    # A line as the document may quote it: "Speaker: text".
    lines = [f"{s.get('speaker', '')}: {s['text']}" for s in record["segments"]]
    into.lessons += 1
    # Homework: reported, and naming what was set.
    reported = " ".join(item.text for item in doc.homework)
    if truth["homework"]:
        into.homework_true += 1
    if doc.homework:
        into.homework_reported += 1
        if truth["homework"] and _covers(truth["homework"], reported, 0.5):
            into.homework_right += 1
    # Last week's homework taken up: what the session's facts will record.
    mentioned = bool(truth.get("mentions_last_homework"))
    found = bool(doc.analysis.homework_followups)
    into.followups_true += mentioned
    into.followups_found += found
    into.followups_right += mentioned and found
    # Topics: each of the lesson's, named among the document's topics.
    named = " ".join(item.text for item in doc.topics)
    for topic in truth["topics"]:
        into.topics += 1
        into.topics_found += _covers(topic, named, 0.5)
    # Every statement against the lines it cites.
    parts: dict[str, list[Item]] = {
        "topics": doc.topics,
        "went_well": doc.went_well,
        "difficulties": doc.difficulties,
        "comprehension_checks": list(doc.comprehension_checks),
        "homework": doc.homework,
        "next_focus": doc.next_focus,
    }
    for part, items in parts.items():
        for item in items:
            into.statements += 1
            cited = " ".join(lines[i] for i in item.segments if i < len(lines))
            if not _covers(item.text, cited, SUPPORTED):
                into.unsupported.append(
                    {"lesson": record["lesson"], "part": part, "text": item.text, "cited": cited}
                )
    summary = doc.parent_summary.text
    into.statements += 1
    if _NO_HOMEWORK.search(summary) and (truth["homework"] or not truth["said_no_homework"]):
        into.unsupported.append(
            {"lesson": record["lesson"], "part": "parent_summary", "text": summary, "cited": ""}
        )


async def _model_drafts(
    records: list[dict[str, Any]], url: str, model: str, structured: str, into: Score
) -> list[SessionDocument]:
    from pydantic import SecretStr

    from ai_docs import draft_document
    from ai_docs.settings import AIDocsSettings

    settings = AIDocsSettings(
        openai_base_url=url,
        llm_model=model,
        openai_api_key=SecretStr("unused"),
        llm_structured_output=structured,
    )
    docs = []
    for n, record in enumerate(records):
        print(f"model: lesson {n + 1}/{len(records)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        docs.append(await draft_document(transcript_of(record), settings=settings))
        into.seconds.append(time.perf_counter() - started)
    return docs


def _offline(into: Score, records: list[dict[str, Any]]) -> Score:
    """The offline drafter on each lesson, grounded as a server grounds it."""
    from ai_docs.grounding import ground

    for record in records:
        transcript = transcript_of(record)
        started = time.perf_counter()
        doc, _ = ground(draft_offline(transcript), transcript, check_summary=False)
        into.seconds.append(time.perf_counter() - started)
        score(doc, record, into)
    return into


def evaluate(
    records: list[dict[str, Any]],
    *,
    model_url: str | None,
    model: str,
    structured: str = "json_object_schema",
) -> list[Score]:
    scores = [_offline(Score("offline"), records)]
    live = [r | {"segments": r["live"]["segments"]} for r in records if "live" in r]
    if live:
        scores.append(_offline(Score("offline, live transcripts"), live))
    if model_url:
        scored = Score(f"model:{model}")
        for doc, record in zip(
            asyncio.run(_model_drafts(records, model_url, model, structured, scored)),
            records,
            strict=True,
        ):
            score(doc, record, scored)
        scores.append(scored)
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--generate", action="store_true", help="build the evaluation set")
    parser.add_argument("--count", type=int, default=30, help="lessons in the set (30)")
    parser.add_argument(
        "--live", action="store_true", help="add live transcripts to the set's lessons"
    )
    parser.add_argument("--model-url", help="an OpenAI-compatible server to score too")
    parser.add_argument("--model", default="smollm2", help="its model name")
    parser.add_argument(
        "--structured",
        default="json_object_schema",
        choices=["json_schema", "json_object_schema", "json_object"],
        help="how the schema is asked for (llama.cpp: json_object_schema)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.count)
    records = load()
    if args.live:
        transcribe_live(records)
    wer = {
        role: round(sum(r["wer"][role] for r in records) / len(records), 3)
        for role in ("tutor", "student")
    }
    with_live = [r for r in records if "live" in r]
    live_wer = (
        {
            role: round(sum(r["live"]["wer"][role] for r in with_live) / len(with_live), 3)
            for role in ("tutor", "student")
        }
        if with_live
        else None
    )
    scores = [
        s.summary()
        for s in evaluate(
            records, model_url=args.model_url, model=args.model, structured=args.structured
        )
    ]
    out = {
        "lessons": len(records),
        "mean_wer": wer,
        "mean_wer_live": live_wer,
        "live_lessons": len(with_live),
        "drafters": scores,
    }
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    for s in scores:
        print(
            f"{s['drafter']}: homework precision {s['homework_precision']}, recall "
            f"{s['homework_recall']}; topic recall {s['topic_recall']}; follow-up precision "
            f"{s['followup_precision']}, recall {s['followup_recall']}; "
            f"{s['unsupported']} of {s['statements']} statements unsupported "
            f"({s['dropped_by_grounding']} dropped before by grounding); "
            f"{s['draft_s_mean']} s a draft",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
