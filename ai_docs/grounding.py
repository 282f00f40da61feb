"""Every statement of a document must rest on what was said: checked, and what fails dropped.

A parent must never read a statement the lesson does not bear out. A model's
citations are claims like any other, so each item is checked against the lines
it cites: most of its content words (``ITEM_SUPPORT``) must be there, compared
after folding what speech recognition writes differently ("home work",
"practice" and "practise", plurals and verb endings). An item that fails is
dropped. The summary for families is checked sentence by sentence against the
whole transcript (a summary words things its own way, so the share asked is
lower, ``SUMMARY_SUPPORT``), and a sentence saying there is no homework stands
only when the tutor said so. A summary left with no sentence is replaced by
the offline drafter's. The offline drafter's own summary is composed from its
checked items (how many checks went well, the homework's task), so its
sentences are not matched word for word (``check_summary=False``).

Both drafters' documents go through ``ground`` (``ai_docs.model_drafter.draft_document``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ai_docs._offline import content_words
from ai_docs.documents import Item, SessionDocument, SourceTranscript, Summary
from ai_docs.offline_summary import draft_offline

ITEM_SUPPORT = 0.6
SUMMARY_SUPPORT = 0.5
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NO_HOMEWORK = re.compile(
    r"\b(no home[ -]?work|not (?:set|given) any home[ -]?work|home[ -]?work was not)\b", re.I
)
_TUTOR_SAID_NONE = re.compile(
    r"\b(no home[ -]?work|not (?:setting|set) (?:any )?home[ -]?work)\b", re.I
)
_PARTS = ("topics", "went_well", "difficulties", "comprehension_checks", "homework", "next_focus")


@dataclass(frozen=True)
class Dropped:
    """A statement taken out of a document, and where it was."""

    part: str
    text: str


def _fold(word: str) -> str:
    word = word.replace("practice", "practise")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    """The content words of ``text``, folded for comparison."""
    joined = re.sub(r"\bhome[ -]work\b", "homework", text, flags=re.I)
    return {_fold(w) for w in content_words(joined)}


def supported(claim: str, evidence: str, share: float = ITEM_SUPPORT) -> bool:
    """Whether ``evidence`` holds at least ``share`` of ``claim``'s content words."""
    wanted = words(claim)
    return not wanted or len(wanted & words(evidence)) >= share * len(wanted)


def _line(transcript: SourceTranscript, index: int) -> str:
    segment = transcript.segments[index]
    return f"{segment.speaker}: {segment.text}"


def _cited(transcript: SourceTranscript, item: Item) -> str:
    known = len(transcript.segments)
    return " ".join(_line(transcript, i) for i in item.segments if 0 <= i < known)


def ground(
    document: SessionDocument, transcript: SourceTranscript, *, check_summary: bool = True
) -> tuple[SessionDocument, list[Dropped]]:
    """``document`` with every statement its transcript does not bear out taken out."""
    dropped: list[Dropped] = []
    kept: dict[str, list[Item]] = {}
    for part in _PARTS:
        items: list[Item] = list(getattr(document, part))
        kept[part] = []
        for item in items:
            if supported(item.text, _cited(transcript, item)):
                kept[part].append(item)
            else:
                dropped.append(Dropped(part, item.text))
    summary = document.parent_summary
    if check_summary:
        summary = _ground_summary(summary, transcript, dropped)
    grounded = document.model_copy(
        update={**kept, "parent_summary": summary, "dropped": document.dropped + len(dropped)}
    )
    return grounded, dropped


def _ground_summary(
    summary: Summary, transcript: SourceTranscript, dropped: list[Dropped]
) -> Summary:
    if not transcript.segments:
        return summary
    everything = " ".join(_line(transcript, s.index) for s in transcript.segments)
    tutor_said_none = any(
        (s.role or "").lower() == "tutor" and _TUTOR_SAID_NONE.search(s.text)
        for s in transcript.segments
    )
    sentences = [part for part in _SENTENCE.split(summary.text.strip()) if part]
    kept = []
    for sentence in sentences:
        if _NO_HOMEWORK.search(sentence) and not tutor_said_none:
            dropped.append(Dropped("parent_summary", sentence))
        elif not supported(sentence, everything, SUMMARY_SUPPORT):
            dropped.append(Dropped("parent_summary", sentence))
        else:
            kept.append(sentence)
    if kept == sentences:
        return summary
    if kept:
        return summary.model_copy(update={"text": " ".join(kept)})
    return draft_offline(transcript).parent_summary
