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
- homework followed up: a line about homework set before ("did you finish last
  week's homework?", "how did the practice go?");
- homework: a tutor's sentence that sets it ("for homework", "before next time",
  "your homework is", with what speech recognition writes: "home work",
  "practice"), never a question about last week's; quoted as the task in the
  tutor's words. "No homework" is said only when the tutor said so;
- topics: what the tutor said the lesson is about ("today we are looking at the
  water cycle"), else the most frequent content words;
- praise and difficulty: sentences with cue phrases; next time: the student's
  difficulties and the checks they struggled with, never advice nobody gave.

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

# A tutor setting homework; speech recognition also writes "home work", "home-work".
_HOMEWORK = re.compile(
    r"\b(for (?:your )?home[ -]?work|as home[ -]?work|your home[ -]?work(?: this week| for)? is"
    r"|home[ -]?work (?:is|for this week|tonight)|for next time|before next time"
    r"|before (?:the )?next (?:lesson|session|week)|by next (?:lesson|session|week))\b",
    re.I,
)
# Not homework set now: asking about, or marking, what was set before.
_PAST_HOMEWORK = re.compile(
    r"\b(last (?:week|time|lesson)'?s?|did you (?:do|finish|try|manage)"
    r"|have you (?:done|finished))\b",
    re.I,
)
# Taking up homework set before: a homework word, and words that look back at it.
_HOMEWORK_WORD = re.compile(r"\b(home[ -]?work|practi[cs]e|worksheet|exercises?)\b", re.I)
_LOOKING_BACK = re.compile(
    r"\b(last (?:week|time|lesson|session)'?s?|did you (?:do|finish|try|manage|get|complete)"
    r"|have you (?:done|finished|tried|completed)|how did (?:the|your|you)"
    r"|from last|were you able)\b",
    re.I,
)
_NO_HOMEWORK = re.compile(
    r"\b(no home[ -]?work|not (?:setting|set) (?:any )?home[ -]?work)\b", re.I
)
# What a tutor says the lesson is about: "today we are looking at the water cycle".
_TOPIC = re.compile(
    r"\b(?:today|this (?:lesson|session)|in this (?:lesson|session)),? (?:we are going to|"
    r"we're going to|we will be|we'll be|we will|we'll|we are|we're|let's|we|is about|is on)\s+"
    r"(?:(?:learn|find|talk|think|read)(?:ing)? (?:out )?about|find(?:ing)? out about|"
    r"look(?:ing)? at|stud(?:y|ying)|practi[cs](?:e|ing)|work(?:ing)? (?:out|on)|"
    r"learn(?:ing)?|revis(?:e|ing)|do(?:ing)?|go(?:ing)? over)?\s*(?P<topic>[^.?!]+)",
    re.I,
)
_PRAISE = re.compile(
    r"\b(well done|great job|good job|nice work|excellent|exactly|perfect|"
    r"that's (?:right|correct)|that is (?:right|correct)|correct|brilliant|spot on)\b",
    re.I,
)
_CONFUSION = re.compile(
    r"\b(don't understand|do not understand|confus\w*|not sure|don't know|do not know|"
    r"don't get|stuck|lost|hard|difficult|tricky|forget\w*|mix up|mixed up|muddled)\b",
    re.I,
)
_UNDERSTOOD = re.compile(r"\b(got it|makes sense|i see|i understand|oh right|yes|yeah)\b", re.I)
# A tutor's question that checks nothing: a greeting, the start, last week's homework.
_NOT_A_CHECK = re.compile(
    r"\b(how are you|ready to (?:start|begin)|can you (?:hear|see) me|any questions"
    r"|shall we (?:start|begin))\b",
    re.I,
)
_PARTLY = re.compile(r"\b(not quite|almost|close|nearly|partly|sort of)\b", re.I)
_GREETING = re.compile(
    r"^\W*(good (?:morning|afternoon|evening)|hello|hi|hey|welcome|thank you|thanks|bye"
    r"|goodbye|see you)\b",
    re.I,
)

TOP_TERMS = 8
TOPIC_TERMS = 5
MIN_TERM_COUNT = 2
MIN_KEY_WORDS = 3
MAX_CITED = 20
MIN_EXPLAINED_WORDS = 4


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
    """Measure a transcript: key sentences, questions, terms, talk time, and the lines
    that follow up earlier homework."""
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
        homework_followups=[
            Item(text=_quote(s), segments=[s.index])
            for s in sentences
            if _follows_up_homework(s.text)
        ][:MAX_ITEMS],
    )


def _follows_up_homework(text: str) -> bool:
    """Whether a sentence takes up homework set before, rather than setting new."""
    if not (_HOMEWORK_WORD.search(text) and _LOOKING_BACK.search(text)):
        return False
    return not _HOMEWORK.search(text) or bool(_PAST_HOMEWORK.search(text))


def _homework(sentences: list[_Sentence], tutors: set[str]) -> tuple[list[Item], Item | None]:
    """Homework the tutor set, each as the task in their words; and the line where the
    tutor said there is none, if they did (the only ground for saying so)."""
    items: list[Item] = []
    none: Item | None = None
    for s in sentences:
        if s.segment.speaker not in tutors:
            continue
        if _NO_HOMEWORK.search(s.text):
            none = none or Item(text=_quote(s), segments=[s.index])
            continue
        if not _HOMEWORK.search(s.text) or _PAST_HOMEWORK.search(s.text):
            continue
        said, cited = s.text, [s.index]
        # "Before next time" | "please sort the objects ...": speech recognition can cut a
        # sentence in two at a pause; the task is then the tutor's next sentence.
        later = sentences[s.position + 1] if s.position + 1 < len(sentences) else None
        if (
            len(content_words(_HOMEWORK.sub("", said))) < 2
            and later is not None
            and later.segment.speaker == s.segment.speaker
        ):
            said = f"{said.rstrip(' .,')}, {later.text[0].lower()}{later.text[1:]}"
            cited = sorted({s.index, later.index})
        if len(items) < MAX_ITEMS:
            items.append(Item(text=clip(f"{s.segment.speaker} set: {said}"), segments=cited))
    return items, (none if not items else None)


def _explains(s: _Sentence) -> bool:
    """A tutor's sentence that teaches something: a statement (not a question, praise,
    greeting or homework) with enough content to say what was explained."""
    text = s.text
    return (
        not text.rstrip().endswith("?")
        and len(content_words(text)) >= MIN_EXPLAINED_WORDS
        and not any(
            p.search(text)
            for p in (_PRAISE, _HOMEWORK, _NO_HOMEWORK, _PAST_HOMEWORK, _TOPIC, _GREETING)
        )
    )


def _topics(sentences: list[_Sentence], tutors: set[str], terms: list[Term]) -> list[Item]:
    """What the tutor said the lesson is about, in their words, each with the first thing
    they explained about it ("Adding fractions: when the bottom numbers match, ..."); else
    the frequent terms."""
    found: list[tuple[str, _Sentence]] = []
    seen: set[str] = set()
    for s in sentences:
        match = _TOPIC.search(s.text) if s.segment.speaker in tutors else None
        if match is None:
            continue
        topic = match.group("topic").strip(" ,;:")
        if len(content_words(topic)) == 0 or topic.lower() in seen:
            continue
        seen.add(topic.lower())
        found.append((topic, s))
        if len(found) == TOPIC_TERMS:
            break
    if not found:
        return [Item(text=t.term, segments=t.segments) for t in terms[:TOPIC_TERMS]]
    items: list[Item] = []
    for n, (topic, intro) in enumerate(found):
        until = found[n + 1][1].position if n + 1 < len(found) else len(sentences)
        explained = next(
            (
                s
                for s in sentences[intro.position + 1 : until]
                if s.segment.speaker in tutors and _explains(s)
            ),
            None,
        )
        text = topic[0].upper() + topic[1:]
        cited = [intro.index]
        if explained is not None:
            text += ": " + _lower_first(explained.text.rstrip(" ."), always=True) + "."
            cited.append(explained.index)
        items.append(Item(text=clip(text), segments=sorted(set(cited))))
    return items


def _went_well(
    transcript: SourceTranscript, checks: list[ComprehensionCheck], sentences: list[_Sentence]
) -> list[Item]:
    """The student's right answers, in their words and beside the question; without any,
    the tutor's praise as said."""
    items: list[Item] = []
    for check in checks:
        if check.outcome != "understood" or len(check.segments) < 2:
            continue
        reply = transcript.segments[check.segments[1]]
        question = check.text.split(" asked: ", 1)[-1]
        answer = reply.text.strip()
        items.append(
            Item(
                text=clip(f'{reply.speaker} answered "{question}" with "{answer}"'),
                segments=check.segments,
            )
        )
    return items[:MAX_ITEMS] or _matching(sentences, _PRAISE)


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
        question = _SENTENCE_END.split(segment.text.strip())[-1]
        if _NOT_A_CHECK.search(question) or _PAST_HOMEWORK.search(question):
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


def _lower_first(text: str, *, always: bool = False) -> str:
    """'The water cycle' inside a sentence; 'FOGO', 'Romans' and 'I' kept as they are.
    ``always``: any capitalised first word but those (a quoted sentence's start)."""
    first = text.split(" ", 1)[0]
    if first in ("The", "A", "An", "Some") or (first.istitle() and first.lower() in _COMMON):
        return text[0].lower() + text[1:]
    if always and first.istitle() and first != "I" and len(first) > 1:
        return text[0].lower() + text[1:]
    return text


_COMMON = frozenset(
    {"adding", "writing", "reading", "solid", "solids", "magnets", "fractions", "plants"}
)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


_ASKING = re.compile(
    r"^[\s,:]*(?:i(?:'d| would) like you to|i want you to|(?:could|can|would) you"
    r"|please|is to|to|you should|you need to)\s*",
    re.I,
)


def _task(item: Item) -> str:
    """A homework item's task alone, in the tutor's words: their sentence without the cue
    ("for homework, please") and the asking ("I would like you to")."""
    said = item.text.split(" set: ", 1)[-1].strip()
    rest = _HOMEWORK.sub("", said)
    for _ in range(2):
        rest = _ASKING.sub("", rest)
    rest = re.sub(r"^[\s,:]*please\s*", "", rest, flags=re.I).strip(" ,.?!")
    return rest if len(content_words(rest)) >= 2 else said.rstrip(" .?!")


def _summary(
    transcript: SourceTranscript,
    tutor: str,
    topics: list[Item],
    checks: list[ComprehensionCheck],
    difficulties: list[Item],
    homework: list[Item],
    no_homework: Item | None,
) -> Summary:
    """A few plain sentences, each resting on cited lines; nothing is said of what the
    transcript does not show (no homework only when the tutor said there is none)."""
    if not transcript.segments:
        return Summary(text="No speech was recorded in this session.", segments=[])
    named = [_lower_first(t.text.split(": ", 1)[0]) for t in topics[:3]]
    parts = [f"The lesson was about {_join(named)}." if named else "The lesson was a short one."]
    cited = [t.segments[0] for t in topics[:3]]
    explained = next((t for t in topics if ": " in t.text and len(t.segments) > 1), None)
    if explained is not None and tutor:
        said = explained.text.split(": ", 1)[1]
        parts.append(f"{tutor} explained that {said[0].lower() + said[1:]}")
        cited += explained.segments
    if checks:
        # Only what the answers showed: an unclear outcome is neither well nor badly.
        n = len(checks)
        asked = f"{n} question{'s' if n != 1 else ''} checking understanding"
        well = sum(c.outcome == "understood" for c in checks)
        more = sum(c.outcome in ("not_yet", "partly") for c in checks)
        if well:
            parts.append(f"{well} of {asked} {'was' if well == 1 else 'were'} answered well.")
        elif more:
            parts.append(f"{more} of {asked} {'needs' if more == 1 else 'need'} more work.")
        else:
            parts.append(f"The tutor asked {asked}.")
        cited += [i for c in checks for i in c.segments]
    if difficulties:
        who, _, hard = difficulties[0].text.partition(": ")
        parts.append(f'{who} found this hard: "{hard}"' if hard else f'Found hard: "{who}"')
        cited += difficulties[0].segments
    if homework:
        parts.append("Homework: " + "; ".join(_task(h) for h in homework[:2]) + ".")
        cited += [i for h in homework[:2] for i in h.segments]
    elif no_homework is not None:
        parts.append("No homework was set this time.")
        cited += no_homework.segments
    # Nothing about review here: whether a person approved it is known only once
    # someone has, and the guardian's email says so then.
    return Summary(
        text=clip(" ".join(parts), MAX_SUMMARY_CHARS),
        segments=sorted(set(cited))[:MAX_CITED] or [0],
    )


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
    homework, no_homework = _homework(sentences, tutors)
    difficulties = _matching(learners, _CONFUSION)
    struggled = [c for c in checks if c.outcome in ("not_yet", "partly")]
    # Only what the lesson showed: no advice made up from a frequent word.
    next_focus = [
        Item(text=clip(f"Revisit: {item.text}"), segments=item.segments)
        for item in [*difficulties, *struggled][:3]
    ]
    topics = _topics(sentences, tutors, analysis.terms)
    return SessionDocument(
        topics=topics,
        went_well=_went_well(transcript, checks, sentences),
        difficulties=difficulties,
        comprehension_checks=checks,
        homework=homework,
        next_focus=next_focus,
        parent_summary=_summary(
            transcript,
            min(tutors, default=""),
            topics,
            checks,
            difficulties,
            homework,
            no_homework,
        ),
        drafted_by=OFFLINE,
        automatic=True,
        fallback_reason=fallback_reason,
        analysis=analysis,
    )
