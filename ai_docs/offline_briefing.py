"""The offline briefing: what a tutor should pick up on, from a student's last documents.

No model: it compares the documents' items by their content words, so what it
writes is quoted from them, labelled ``drafted_by="offline"``, and the same input
always gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence

from ai_docs._offline import OFFLINE, clip, content_words
from ai_docs.documents import MAX_ITEMS, Briefing, BriefingItem, SessionDocument

__all__ = ["brief_offline"]


def _key(text: str) -> frozenset[str]:
    return frozenset(content_words(text.split(": ", 1)[-1]))


def _overlaps(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and len(a & b) * 2 >= len(a)


def _collect(pairs: list[tuple[int, str]], limit: int) -> list[BriefingItem]:
    """Merge points that say the same (same content words), keeping first-seen order."""
    merged: dict[frozenset[str] | str, BriefingItem] = {}
    for doc, text in pairs:
        key: frozenset[str] | str = _key(text) or text
        if key in merged:
            if doc not in merged[key].documents:
                merged[key].documents.append(doc)
        elif len(merged) < limit:
            merged[key] = BriefingItem(text=clip(text), documents=[doc])
    return list(merged.values())


def brief_offline(documents: Sequence[SessionDocument], *, last: int = 3) -> Briefing:
    """A briefing for the tutor's next session, from the student's latest documents.

    Args:
        documents: this tutor and student's session documents, oldest first.
        last: how many of the newest to draw from.

    A difficulty counts as open unless a later document says something that
    went well, or a check that was understood, about the same content words.
    Homework to check is the newest document's.
    """
    if last < 1:
        raise ValueError(f"last must be 1 or more, got {last}")
    start = max(0, len(documents) - last)
    window = list(enumerate(documents))[start:]
    if not window:
        return Briefing(based_on=0, drafted_by=OFFLINE)

    def resolved(position: int, text: str) -> bool:
        key = _key(text)
        for later, doc in window:
            if later <= position:
                continue
            evidence = [i.text for i in doc.went_well]
            evidence += [c.text for c in doc.comprehension_checks if c.outcome == "understood"]
            if any(_overlaps(key, _key(e)) for e in evidence):
                return True
        return False

    open_difficulties = _collect(
        [
            (position, item.text)
            for position, doc in window
            for item in doc.difficulties
            if not resolved(position, item.text)
        ],
        MAX_ITEMS,
    )
    newest_position, newest = window[-1]
    focus_pairs = [(newest_position, item.text) for item in newest.next_focus]
    focus_pairs += [
        (newest_position, f"Check again: {c.text}")
        for c in newest.comprehension_checks
        if c.outcome == "not_yet"
    ]
    focus_pairs += [
        (d, f"Revisit: {item.text}") for item in open_difficulties for d in item.documents[:1]
    ]
    return Briefing(
        open_difficulties=open_difficulties,
        homework_to_check=_collect(
            [(newest_position, item.text) for item in newest.homework], MAX_ITEMS
        ),
        suggested_focus=_collect(focus_pairs, 5),
        what_worked=_collect(
            [(p, item.text) for p, doc in reversed(window) for item in doc.went_well], 5
        ),
        based_on=len(window),
        drafted_by=OFFLINE,
    )
