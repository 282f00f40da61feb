"""The offline drafter: schema-valid, deterministic, and grounded in the transcript."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from ai_docs.documents import (
    SessionDocument,
    SourceSegment,
    SourceTranscript,
    segment_context,
)
from ai_docs.offline_briefing import brief_offline
from ai_docs.offline_summary import draft_offline
from tests.ai_docs.transcripts import crafted


def _cited(document: SessionDocument) -> set[int]:
    dumped = document.model_dump()
    found: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "segments" and isinstance(value, list):
                    found.update(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dumped)
    return found


def test_document_is_schema_valid_and_labelled_offline() -> None:
    """The draft round-trips through JSON and says it is an automatic offline draft."""
    transcript = crafted()
    document = draft_offline(transcript)
    again = SessionDocument.model_validate_json(
        document.model_dump_json(), context=segment_context(transcript)
    )
    assert again == document
    assert document.drafted_by == "offline"
    assert document.automatic is True
    assert document.fallback_reason is None
    assert document.label == "automatic draft (offline)"


def test_same_input_same_output() -> None:
    """Two drafts of equal transcripts are byte-for-byte the same."""
    first = draft_offline(crafted()).model_dump_json()
    assert draft_offline(crafted()).model_dump_json() == first


def test_every_cited_segment_exists() -> None:
    """Every item cites at least one segment and every cited index is in the transcript."""
    transcript = crafted()
    document = draft_offline(transcript)
    cited = _cited(document)
    assert cited
    assert cited <= transcript.indices
    document.for_transcript(transcript)
    for item in [*document.topics, *document.went_well, *document.homework]:
        assert item.segments


def test_questions_homework_and_checks_found() -> None:
    """The crafted questions, homework, praise and confusion land in the right fields."""
    document = draft_offline(crafted())
    questions = {(q.speaker, q.segments[0]) for q in document.analysis.questions}
    assert questions == {("Ms Rivera", 2), ("Ms Rivera", 5), ("Sam", 8)}
    # The tutor set it (line 10); the student saying they will do it is not more homework.
    assert [h.segments for h in document.homework] == [[10]]
    assert "worksheet" in document.homework[0].text
    outcomes = {c.segments[0]: c.outcome for c in document.comprehension_checks}
    assert outcomes == {2: "understood", 5: "not_yet"}
    assert [d.segments for d in document.difficulties] == [[6]]
    # What went well: the student's right answer, beside the question, in their words.
    [well] = document.went_well
    assert well.segments == [2, 3, 4] and well.text.startswith('Sam answered "')
    # What the tutor said the lesson is about, in their words, with what they explained.
    topic, explained = document.topics[0].text.split(": ")
    assert topic == "Fractions and equivalent fractions"
    assert (
        explained
        == "the denominator names the size of the pieces, so pieces must be the same size."
    )
    assert "Ms Rivera explained that the denominator names" in document.parent_summary.text
    assert document.next_focus[0].text.startswith("Revisit:")


def test_talk_time_per_speaker() -> None:
    """Talk time sums each speaker's segment durations and shares add up to one."""
    talk = draft_offline(crafted()).analysis.talk_time
    assert [(t.speaker, t.seconds, t.segments) for t in talk] == [
        ("Ms Rivera", 24.5, 7),
        ("Sam", 17.5, 5),
    ]
    assert sum(t.share for t in talk) == pytest.approx(1.0, abs=0.002)


def test_citing_a_missing_segment_is_refused() -> None:
    """Validation against the transcript names the segments that do not exist."""
    transcript = crafted()
    data = draft_offline(transcript).model_dump()
    data["homework"][0]["segments"] = [99]
    with pytest.raises(ValidationError, match=r"\[99\] do not exist"):
        SessionDocument.model_validate(data, context=segment_context(transcript))


def test_empty_transcript_still_documents_the_session() -> None:
    """A session with no speech gets a valid document that says so."""
    document = draft_offline(SourceTranscript())
    assert document.parent_summary.text == "No speech was recorded in this session."
    assert document.topics == []


def test_segments_must_be_numbered_in_order() -> None:
    """A transcript whose indices skip is refused, with how to fix it."""
    segment = SourceSegment(index=1, start=0, end=1, speaker="A", role=None, text="hi")
    with pytest.raises(ValidationError, match="number segments"):
        SourceTranscript(segments=(segment,))


def test_briefing_from_previous_documents() -> None:
    """The briefing keeps open difficulties, the newest homework, and what worked."""
    first = draft_offline(crafted())
    later_transcript = SourceTranscript.from_segments(
        [
            SourceSegment(
                index=0,
                start=0,
                end=3,
                speaker="Ms Rivera",
                role="tutor",
                text="Let's add fractions with unlike denominators.",
            ),
            SourceSegment(
                index=1,
                start=3,
                end=6,
                speaker="Sam",
                role="student",
                text="Decimals are still hard for me.",
            ),
            SourceSegment(
                index=2,
                start=6,
                end=9,
                speaker="Ms Rivera",
                role="tutor",
                text="For next time, practice converting decimals.",
            ),
        ]
    )
    second = draft_offline(later_transcript)
    briefing = brief_offline([first, second])
    assert briefing.based_on == 2
    assert briefing.drafted_by == "offline"
    difficulty_texts = [d.text for d in briefing.open_difficulties]
    assert any("denominator" in t for t in difficulty_texts)
    assert any("Decimals" in t for t in difficulty_texts)
    assert [h.documents for h in briefing.homework_to_check] == [[1]]
    assert "decimals" in briefing.homework_to_check[0].text
    assert briefing.what_worked and briefing.what_worked[0].documents == [0]
    assert briefing.suggested_focus
    assert brief_offline([first, second]) == briefing
    assert brief_offline([first, second], last=1).based_on == 1


def test_briefing_drops_a_difficulty_later_resolved() -> None:
    """A difficulty that a later session marks as going well is no longer open."""
    first = draft_offline(crafted())
    resolved = draft_offline(
        SourceTranscript.from_segments(
            [
                SourceSegment(
                    index=0,
                    start=0,
                    end=3,
                    speaker="Ms Rivera",
                    role="tutor",
                    text="Why must the denominator match?",
                ),
                SourceSegment(
                    index=1,
                    start=3,
                    end=6,
                    speaker="Sam",
                    role="student",
                    text="The denominator must match so pieces are the same size.",
                ),
                SourceSegment(
                    index=2,
                    start=6,
                    end=9,
                    speaker="Ms Rivera",
                    role="tutor",
                    text="Exactly, you understand why the denominator has to match.",
                ),
            ]
        )
    )
    assert brief_offline([first, resolved]).open_difficulties == []
    assert brief_offline([]).based_on == 0


def test_without_roles_the_longest_speaker_is_the_tutor() -> None:
    """Transcripts without roles still get comprehension checks: the main speaker asks them."""

    @dataclass(frozen=True)
    class Segment:  # the shape ai_docs' transcription gives
        start: float
        end: float
        text: str
        speaker: str
        role: str | None = None

    transcript = SourceTranscript.from_segments(
        [
            Segment(0, 6, "Let's look at photosynthesis and how leaves use light.", "Ana"),
            Segment(6, 12, "Where does the plant get its carbon from?", "Ana"),
            Segment(12, 14, "From the air, carbon dioxide.", "Leo"),
            Segment(14, 18, "Exactly, well done.", "Ana"),
        ]
    )
    document = draft_offline(transcript)
    assert [(c.segments, c.outcome) for c in document.comprehension_checks] == [
        ([1, 2, 3], "understood")
    ]


def test_homework_cut_in_two_by_speech_recognition_is_read_as_one() -> None:
    """'Before next time' | 'Please sort the objects ...': the task is the next line."""
    said = ["Before next time", "Please sort the objects on the sheet into solids.", "Bye!"]
    transcript = SourceTranscript.from_segments(
        [
            SourceSegment(
                index=i, start=2 * i, end=2 * i + 1, speaker="Ms Rivera", role="tutor", text=t
            )
            for i, t in enumerate(said)
        ]
    )
    [homework] = draft_offline(transcript).homework
    assert homework.segments == [0, 1]
    assert homework.text == (
        "Ms Rivera set: Before next time, please sort the objects on the sheet into solids."
    )
    assert "Homework: sort the objects on the sheet into solids." in (
        draft_offline(transcript).parent_summary.text
    )


@pytest.mark.parametrize(
    ("line", "follows_up"),
    [
        ("Did you finish last week's homework?", True),
        ("How did the practice go?", True),
        ("Have you done the worksheet from last time?", True),
        ("Were you able to try the exercises?", True),
        ("Let's look at last lesson's homework together.", True),
        ("For homework, finish exercise four.", False),
        ("Your homework is the practice sheet for next time.", False),
        ("How did you work that out?", False),
        ("Last week we looked at fractions.", False),
    ],
)
def test_lines_that_take_up_earlier_homework_are_found(line: str, follows_up: bool) -> None:
    """Asking about homework set before counts as following it up; setting new homework,
    or looking back at anything else, does not."""
    transcript = SourceTranscript.from_segments(
        [
            SourceSegment(index=0, start=0, end=2, speaker="Ms Rivera", role="tutor", text=line),
            SourceSegment(index=1, start=3, end=4, speaker="Sam", role="student", text="Yes."),
        ]
    )
    found = draft_offline(transcript).analysis.homework_followups
    assert [i.segments for i in found] == ([[0]] if follows_up else [])
