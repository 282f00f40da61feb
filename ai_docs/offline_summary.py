"""The offline summary: a session document from the transcript alone, no model.

It runs when no model is configured and when the configured one fails. It does
not understand the session; it measures it and picks out sentences by cue words,
so what it writes is quoted from the transcript and always labelled
``drafted_by="offline"``. Same input, same output: no randomness, no clock, and
every ranking breaks ties by position.

- key sentences: TF-IDF over segments (a segment is a "document"), normalised by
  sentence length;
- questions: sentences ending with ``?``; a tutor's question is a comprehension
  check, judged by the answer and the tutor's next words;
- terms: frequent content words; the top ones are the topics;
- talk time: seconds and share per speaker from segment times;
- homework, praise and difficulty: sentences with cue phrases.

``analyse`` (the measurements) is also what a model-drafted document carries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from ai_docs._offline import OFFLINE, clip, content_words
from ai_docs.documents import (
    MAX_ITEMS,
    MAX_SUMMARY_CHARS,
    Analysis,
    ComprehensionCheck,
    Item,
    Question,
    SessionDocument,
    SourceSegment,
    SourceTranscript,
    Summary,
    TalkTime,
    Term,
)

__all__ = ["analyse", "draft_offline"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_HOMEWORK = re.compile(
    r"\b(homework|for next time|before next|next week|practi[cs]e|worksheet|exercises?)\b", re.I
)
_PRAISE = re.compile(
    r"\b(well done|great job|good job|nice work|excellent|exactly|perfect|"
    r"that's (?:right|correct)|that is (?:right|correct)|correct|brilliant|spot on)\b",
    re.I,
)
_CONFUSION = re.compile(
    r"\b(don't understand|do not understand|confus\w*|not sure|don't know|do not know|"
    r"don't get|stuck|lost|hard|difficult|tricky)\b",
    re.I,
)
_UNDERSTOOD = re.compile(r"\b(got it|makes sense|i see|i understand|oh right|yes|yeah)\b", re.I)
_PARTLY = re.compile(r"\b(not quite|almost|close|nearly|partly|sort of)\b", re.I)

TOP_TERMS = 8
TOPIC_TERMS = 5
MIN_TERM_COUNT = 2
MIN_KEY_WORDS = 3
MAX_CITED = 20


@dataclass(frozen=True)
class _Sentence:
    segment: SourceSegment
    position: int  # within the whole transcript, for stable ordering
    text: str

    @property
    def index(self) -> int:
        return self.segment.index


def _sentences(transcript: SourceTranscript) -> list[_Sentence]:
    out: list[_Sentence] = []
    for segment in transcript.segments:
        for part in _SENTENCE_END.split(segment.text.strip()):
            if part.strip():
                out.append(_Sentence(segment, len(out), part.strip()))
    return out


def _quote(sentence: _Sentence) -> str:
    return clip(f"{sentence.segment.speaker}: {sentence.text}")


def _tutors(transcript: SourceTranscript) -> set[str]:
    """Speakers who are tutors; without roles, whoever spoke longest."""
    named = {s.speaker for s in transcript.segments if (s.role or "").lower() == "tutor"}
    if named or not transcript.segments:
        return named
    talk = _talk_time(transcript)
    return {talk[0].speaker}


def _talk_time(transcript: SourceTranscript) -> list[TalkTime]:
    seconds: dict[str, float] = {}
    counts: Counter[str] = Counter()
    roles: dict[str, str | None] = {}
    for s in transcript.segments:
        seconds[s.speaker] = seconds.get(s.speaker, 0.0) + (s.end - s.start)
        counts[s.speaker] += 1
        roles.setdefault(s.speaker, s.role)
    total = sum(seconds.values())
    return sorted(
        (
            TalkTime(
                speaker=speaker,
                role=roles[speaker],
                seconds=round(value, 2),
                share=round(value / total, 3) if total > 0 else 0.0,
                segments=counts[speaker],
            )
            for speaker, value in seconds.items()
        ),
        key=lambda t: (-t.seconds, t.speaker),
    )


def _key_sentences(transcript: SourceTranscript, sentences: list[_Sentence]) -> list[_Sentence]:
    n = len(transcript.segments)
    df: Counter[str] = Counter()
    for segment in transcript.segments:
        df.update(set(content_words(segment.text)))
    scored: list[tuple[float, int, _Sentence]] = []
    for sentence in sentences:
        words = content_words(sentence.text)
        if len(words) < MIN_KEY_WORDS:
            continue
        tf = Counter(words)
        score = sum(c * (math.log((1 + n) / (1 + df[w])) + 1) for w, c in tf.items())
        scored.append((-score / math.sqrt(len(words)), sentence.position, sentence))
    keep = min(5, max(1, len(sentences) // 5))
    best = sorted(scored, key=lambda t: (t[0], t[1]))[:keep]
    return sorted((s for _, _, s in best), key=lambda s: s.position)


def _terms(transcript: SourceTranscript) -> list[Term]:
    counts: Counter[str] = Counter()
    where: dict[str, list[int]] = {}
    for segment in transcript.segments:
        for word in content_words(segment.text):
            if len(word) < 4:
                continue
            counts[word] += 1
            cited = where.setdefault(word, [])
            if segment.index not in cited:
                cited.append(segment.index)
    ranked = sorted(
        (item for item in counts.items() if item[1] >= MIN_TERM_COUNT),
        key=lambda item: (-item[1], item[0]),
    )
    return [
        Term(term=word, count=count, segments=where[word][:MAX_CITED])
        for word, count in ranked[:TOP_TERMS]
    ]


def analyse(transcript: SourceTranscript) -> Analysis:
    """Measure a transcript: key sentences, questions, terms and talk time."""
    sentences = _sentences(transcript)
    return Analysis(
        key_sentences=[
            Item(text=_quote(s), segments=[s.index]) for s in _key_sentences(transcript, sentences)
        ],
        questions=[
            Question(
                text=clip(s.text),
                segments=[s.index],
                speaker=s.segment.speaker,
                role=s.segment.role,
            )
            for s in sentences
            if s.text.endswith("?")
        ],
        terms=_terms(transcript),
        talk_time=_talk_time(transcript),
    )


def _matching(sentences: list[_Sentence], pattern: re.Pattern[str]) -> list[Item]:
    items: list[Item] = []
    for s in sentences:
        if pattern.search(s.text) and len(items) < MAX_ITEMS:
            items.append(Item(text=_quote(s), segments=[s.index]))
    return items


def _checks(transcript: SourceTranscript, tutors: set[str]) -> list[ComprehensionCheck]:
    segments = transcript.segments
    checks: list[ComprehensionCheck] = []
    for segment in segments:
        if segment.speaker not in tutors or not segment.text.rstrip().endswith("?"):
            continue
        after = segments[segment.index + 1 :]
        reply = next((s for s in after if s.speaker != segment.speaker), None)
        cited = [segment.index]
        outcome = "unclear"
        if reply is not None:
            cited.append(reply.index)
            follow = next(
                (s for s in segments[reply.index + 1 :] if s.speaker == segment.speaker), None
            )
            if _CONFUSION.search(reply.text):
                outcome = "not_yet"
            elif follow is not None and _PARTLY.search(follow.text):
                outcome = "partly"
                cited.append(follow.index)
            elif follow is not None and _PRAISE.search(follow.text):
                outcome = "understood"
                cited.append(follow.index)
            elif _UNDERSTOOD.search(reply.text):
                outcome = "understood"
        question = _SENTENCE_END.split(segment.text.strip())[-1]
        checks.append(
            ComprehensionCheck(
                text=clip(f"{segment.speaker} asked: {question}"),
                segments=cited,
                outcome=outcome,
            )
        )
        if len(checks) == MAX_ITEMS:
            break
    return checks


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _summary(
    transcript: SourceTranscript,
    analysis: Analysis,
    checks: list[ComprehensionCheck],
    homework: list[Item],
) -> Summary:
    if not transcript.segments:
        return Summary(text="No speech was recorded in this session.", segments=[])
    topics = [t.term for t in analysis.terms[:3]]
    parts = [
        f"This session covered {_join(topics)}." if topics else "This session was a short one."
    ]
    understood = sum(1 for c in checks if c.outcome == "understood")
    if checks:
        parts.append(f"Of {len(checks)} checks of understanding, {understood} went well.")
    parts.append(
        f"There is homework ({len(homework)} item{'s' if len(homework) != 1 else ''})."
        if homework
        else "No homework was mentioned."
    )
    # Nothing about review here: whether a person approved it is known only once
    # someone has, and the guardian's email says so then.
    cited = sorted({i for item in [*analysis.key_sentences, *homework] for i in item.segments})
    return Summary(text=clip(" ".join(parts), MAX_SUMMARY_CHARS), segments=cited[:MAX_CITED] or [0])


def draft_offline(
    transcript: SourceTranscript, *, fallback_reason: str | None = None
) -> SessionDocument:
    """Fill a ``SessionDocument`` from the transcript alone, deterministically.

    Args:
        transcript: the session's numbered segments.
        fallback_reason: why a configured model did not draft it, when that is why
            this runs; recorded on the document.
    """
    sentences = _sentences(transcript)
    analysis = analyse(transcript)
    tutors = _tutors(transcript)
    learners = [s for s in sentences if s.segment.speaker not in tutors]
    checks = _checks(transcript, tutors)
    homework = _matching(sentences, _HOMEWORK)
    difficulties = _matching(learners, _CONFUSION)
    struggled = [c for c in checks if c.outcome in ("not_yet", "partly")]
    next_focus = [
        Item(text=clip(f"Revisit: {item.text}"), segments=item.segments)
        for item in [*difficulties, *struggled][:3]
    ]
    if not next_focus and analysis.terms:
        top = analysis.terms[0]
        next_focus = [Item(text=f"Build on {top.term}", segments=top.segments)]
    return SessionDocument(
        topics=[Item(text=t.term, segments=t.segments) for t in analysis.terms[:TOPIC_TERMS]],
        went_well=_matching(sentences, _PRAISE),
        difficulties=difficulties,
        comprehension_checks=checks,
        homework=homework,
        next_focus=next_focus,
        parent_summary=_summary(transcript, analysis, checks, homework),
        drafted_by=OFFLINE,
        automatic=True,
        fallback_reason=fallback_reason,
        analysis=analysis,
    )
