"""What a parent reads must rest on what was said: unsupported statements are dropped."""

from __future__ import annotations

from ai_docs.documents import (
    Item,
    SessionDocument,
    SourceSegment,
    SourceTranscript,
)
from ai_docs.grounding import ground, supported
from ai_docs.offline_summary import draft_offline
from tests.ai_docs.transcripts import document

LINES = [
    ("Taylor Tutor", "tutor", "Today we are adding fractions."),
    ("Taylor Tutor", "tutor", "For home work, please finish the fractions worksheet."),
    ("Sam Student", "student", "I find it hard when the bottom numbers are different."),
]


def _transcript(lines: list[tuple[str, str, str]] = LINES) -> SourceTranscript:
    return SourceTranscript(
        segments=tuple(
            SourceSegment(index=i, start=i * 5.0, end=i * 5.0 + 4, speaker=who, role=role, text=t)
            for i, (who, role, t) in enumerate(lines)
        )
    )


def _model_document(summary: str, **parts: list[Item]) -> SessionDocument:
    return document(summary, drafted_by="model:smollm2", **parts)


def test_speech_recognitions_spellings_count_as_the_same_words() -> None:
    assert supported("Homework: practise fractions", "home work: practice the fraction sums")
    assert not supported("Sam mastered long division", "Today we are adding fractions.")


def test_a_model_statement_its_cited_lines_do_not_hold_is_dropped() -> None:
    """A model's citations are checked, not trusted: 'long division' citing the fractions
    line goes; the homework, in the tutor's words with 'home work' split, stays."""
    document = _model_document(
        "Sam added fractions today and has a fractions worksheet to finish.",
        topics=[
            Item(text="Adding fractions", segments=[0]),
            Item(text="Long division with remainders", segments=[0]),
        ],
        homework=[Item(text="Finish the fractions worksheet", segments=[1])],
        went_well=[Item(text="Sam mastered every question quickly", segments=[2])],
    )
    grounded, dropped = ground(document, _transcript())
    assert [t.text for t in grounded.topics] == ["Adding fractions"]
    assert [h.text for h in grounded.homework] == ["Finish the fractions worksheet"]
    assert grounded.went_well == []
    assert {(d.part, d.text) for d in dropped} == {
        ("topics", "Long division with remainders"),
        ("went_well", "Sam mastered every question quickly"),
    }
    assert grounded.parent_summary == document.parent_summary
    # The document says how many were left out: the tutor's review tells them.
    assert document.dropped == 0 and grounded.dropped == 2


def test_no_homework_is_said_only_when_the_tutor_said_so() -> None:
    """A summary sentence saying there is no homework goes unless the tutor said it; the
    rest of the summary stays. Said by the tutor, it stands."""
    document = _model_document("Sam added fractions. No homework was set.")
    grounded, dropped = ground(document, _transcript())
    assert grounded.parent_summary.text == "Sam added fractions."
    assert [d.part for d in dropped] == ["parent_summary"]
    said = [*LINES[:1], ("Taylor Tutor", "tutor", "There is no homework this week.")]
    kept, none_dropped = ground(document, _transcript(said))
    assert kept.parent_summary.text == document.parent_summary.text and none_dropped == []


def test_a_summary_with_nothing_true_left_is_the_offline_one() -> None:
    document = _model_document("Sam was wonderful and mastered long division.")
    grounded, _ = ground(document, _transcript())
    assert grounded.parent_summary == draft_offline(_transcript()).parent_summary


def test_the_offline_drafter_passes_its_own_check() -> None:
    """Built from cue phrases and quotes, nothing it writes is dropped."""
    transcript = _transcript()
    document = draft_offline(transcript)
    grounded, dropped = ground(document, transcript, check_summary=False)
    assert dropped == [] and grounded == document
