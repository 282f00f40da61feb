"""Crafted transcripts for the drafter tests: known questions, praise, confusion, homework."""

from __future__ import annotations

from ai_docs.documents import Item, SessionDocument, SourceSegment, SourceTranscript, Summary

LINES: list[tuple[str, str, str]] = [
    ("Ms Rivera", "tutor", "Today we are working on fractions and equivalent fractions."),
    ("Sam", "student", "Okay. I remember fractions from last week."),
    ("Ms Rivera", "tutor", "What is one half plus one quarter?"),
    ("Sam", "student", "Three quarters."),
    ("Ms Rivera", "tutor", "Exactly, well done. You found the common denominator."),
    ("Ms Rivera", "tutor", "Why do we need a common denominator before adding fractions?"),
    ("Sam", "student", "I don't understand why the denominator has to match."),
    (
        "Ms Rivera",
        "tutor",
        "The denominator names the size of the pieces, so pieces must be the same size.",
    ),
    ("Sam", "student", "Can we simplify the fraction six eighths?"),
    ("Ms Rivera", "tutor", "Yes, six eighths simplifies to three quarters. Perfect question."),
    (
        "Ms Rivera",
        "tutor",
        "For homework, practice adding fractions with different denominators on the worksheet.",
    ),
    ("Sam", "student", "Okay, I will do the worksheet before next session."),
]


def crafted() -> SourceTranscript:
    """A tutoring exchange about fractions, 4 s a line, on the session clock."""
    return SourceTranscript(
        segments=tuple(
            SourceSegment(
                index=i, start=i * 4.0, end=i * 4.0 + 3.5, speaker=who, role=role, text=text
            )
            for i, (who, role, text) in enumerate(LINES)
        )
    )


def document(summary: str, *, drafted_by: str = "offline", **parts: list[Item]) -> SessionDocument:
    """A document with only the given parts (the rest empty) and a summary citing line 0."""
    empty: dict[str, list[Item]] = {
        "topics": [],
        "went_well": [],
        "difficulties": [],
        "homework": [],
        "next_focus": [],
    }
    return SessionDocument(
        **(empty | parts),
        comprehension_checks=[],
        parent_summary=Summary(text=summary, segments=[0]),
        drafted_by=drafted_by,
    )
