"""The structured session document, the tutor's briefing, and the transcript they rest on.

A ``SessionDocument`` is what the drafters (the model in ``llm.py``, the offline
one in ``offline.py``) make of one session's transcript. Every statement in it
carries ``segments``: the indices of the transcript segments it rests on, so a
tutor reviewing the draft can jump to the evidence, and a claim with no evidence
cannot be written. Indices are checked against the transcript by validating with
``context={"segments": transcript.indices}`` (``for_transcript`` does it).

``DocumentContent`` is the part a model writes; ``SessionDocument`` adds what
code knows for certain (the deterministic ``analysis``, who drafted it, why a
fallback happened). A ``Briefing`` is drawn from the last few documents of one
tutor-student pair, for the tutor's next session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_ITEMS = 8
MAX_ITEM_CHARS = 400
MAX_SUMMARY_CHARS = 800

ItemText = Annotated[str, Field(min_length=1, max_length=MAX_ITEM_CHARS)]


class SegmentLike(Protocol):
    """Anything shaped like a transcription segment (``ai_docs.transcript.Segment`` is)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def speaker(self) -> str: ...
    @property
    def role(self) -> str | None: ...


class SourceSegment(BaseModel):
    """One stretch of one speaker's speech; times in seconds on the session clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0, description="Position in the transcript; what items cite.")
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker: str = Field(min_length=1)
    role: str | None = Field(default=None, description="'tutor', 'student', or unknown.")
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> SourceSegment:
        if self.end < self.start:
            raise ValueError(f"segment {self.index} ends ({self.end}) before it starts")
        return self


class SourceTranscript(BaseModel):
    """The drafters' input: a session's segments in time order, numbered 0, 1, 2, ..."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    segments: tuple[SourceSegment, ...] = ()

    @field_validator("segments")
    @classmethod
    def _numbered(cls, value: tuple[SourceSegment, ...]) -> tuple[SourceSegment, ...]:
        for position, segment in enumerate(value):
            if segment.index != position:
                raise ValueError(
                    f"segment at position {position} has index {segment.index}; "
                    "number segments 0, 1, 2, ... in order (from_segments does it)"
                )
        return value

    @classmethod
    def from_segments(cls, segments: Iterable[SegmentLike]) -> SourceTranscript:
        """Number any segments (e.g. a transcription's) in the order given."""
        return cls(
            segments=tuple(
                SourceSegment(
                    index=i, start=s.start, end=s.end, speaker=s.speaker, role=s.role, text=s.text
                )
                for i, s in enumerate(segments)
            )
        )

    @property
    def indices(self) -> frozenset[int]:
        return frozenset(range(len(self.segments)))


def _check_cited(value: list[int], info: ValidationInfo) -> list[int]:
    value = sorted(set(value))
    context = info.context if isinstance(info.context, dict) else None
    if context is None or "segments" not in context:
        return value
    known: frozenset[int] = context["segments"]
    missing = sorted(set(value) - known)
    if missing:
        span = f"{min(known)}-{max(known)}" if known else "none"
        raise ValueError(
            f"segments {missing} do not exist in the transcript (segments are {span}); "
            "cite only the [n] numbers of the lines given"
        )
    return value


Cited = Annotated[list[int], Field(min_length=1, max_length=20)]


class Item(BaseModel):
    """One statement in a document and the transcript segments that support it."""

    model_config = ConfigDict(extra="forbid")

    text: ItemText
    segments: Cited = Field(description="Indices [n] of the transcript lines this rests on.")

    _cited = field_validator("segments")(_check_cited)


class ComprehensionCheck(Item):
    """A check of understanding (usually a tutor's question) and how it went."""

    outcome: Literal["understood", "partly", "not_yet", "unclear"] = Field(
        description="How the student did on this check."
    )


class Summary(BaseModel):
    """A short, plain-language account of the session for a parent."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    segments: list[int] = Field(
        max_length=20, description="Lines it rests on; empty only when nothing was said."
    )

    _cited = field_validator("segments")(_check_cited)


Items = Annotated[list[Item], Field(max_length=MAX_ITEMS)]


class DocumentContent(BaseModel):
    """What a drafter writes about one session; the schema the model must answer in."""

    model_config = ConfigDict(extra="forbid")

    topics: Items = Field(description="Topics covered.")
    went_well: Items = Field(description="What went well.")
    difficulties: Items = Field(description="What the student found difficult.")
    comprehension_checks: Annotated[list[ComprehensionCheck], Field(max_length=MAX_ITEMS)] = Field(
        description="Checks of understanding and how they went."
    )
    homework: Items = Field(description="Homework and action items.")
    next_focus: Items = Field(description="What to focus on next time.")
    parent_summary: Summary = Field(description="A short, friendly summary for a parent.")


class TalkTime(BaseModel):
    """How long one speaker spoke, from segment times."""

    speaker: str
    role: str | None
    seconds: float = Field(ge=0)
    share: float = Field(ge=0, le=1, description="Of all speech in the session.")
    segments: int = Field(ge=0, description="How many segments they spoke.")


class Term(BaseModel):
    """A frequent content word and where it came up."""

    term: str
    count: int = Field(ge=1)
    segments: Cited

    _cited = field_validator("segments")(_check_cited)


class Question(Item):
    """A sentence that ended with a question mark, and who asked it."""

    speaker: str
    role: str | None


class Analysis(BaseModel):
    """Measurements computed from the transcript, the same for every drafter."""

    key_sentences: list[Item] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    terms: list[Term] = Field(default_factory=list)
    talk_time: list[TalkTime] = Field(default_factory=list)
    homework_followups: list[Item] = Field(
        default_factory=list,
        description="Lines that take up homework set before this session ('did you finish "
        "last week's homework?'): whether it was followed up.",
    )


DRAFTED_BY_PATTERN = r"^(offline|model:\S.*)$"


class SessionDocument(DocumentContent):
    """A drafted session document: content, measurements, and where it came from.

    ``automatic`` is always true for a draft: a tutor has not reviewed it. Show it
    as an automatic draft until they approve it. ``fallback_reason`` says why the
    offline drafter wrote it although a model was configured; callers raise a
    coordinator exception when it is set.
    """

    drafted_by: str = Field(pattern=DRAFTED_BY_PATTERN, description="'model:<name>' or 'offline'.")
    automatic: bool = Field(default=True, description="Drafted by software, not yet reviewed.")
    fallback_reason: str | None = Field(
        default=None, description="Why the configured model did not draft this, if it did not."
    )
    dropped: int = Field(
        default=0,
        ge=0,
        description="Statements the drafter made that the transcript did not bear out, left "
        "out of this document (ai_docs.grounding).",
    )
    analysis: Analysis = Field(default_factory=Analysis)

    @property
    def label(self) -> str:
        """What a reader is shown about this document's origin."""
        if not self.automatic:
            return "reviewed"
        return "automatic draft (offline)" if self.drafted_by == "offline" else "automatic draft"

    def for_transcript(self, transcript: SourceTranscript) -> SessionDocument:
        """This document re-validated so that every cited segment exists in ``transcript``.

        Raises:
            pydantic.ValidationError: a cited segment is not in the transcript.
        """
        return SessionDocument.model_validate(
            self.model_dump(), context={"segments": transcript.indices}
        )


class BriefingItem(BaseModel):
    """One point of a briefing and the documents (positions in the input) it comes from."""

    text: ItemText
    documents: list[int] = Field(min_length=1, description="0 is the oldest document given.")


class Briefing(BaseModel):
    """What a tutor should know before their next session with a student."""

    open_difficulties: list[BriefingItem] = Field(default_factory=list)
    homework_to_check: list[BriefingItem] = Field(default_factory=list)
    suggested_focus: list[BriefingItem] = Field(default_factory=list)
    what_worked: list[BriefingItem] = Field(default_factory=list)
    based_on: int = Field(ge=0, description="How many documents it was drawn from.")
    drafted_by: str = Field(pattern=DRAFTED_BY_PATTERN)
    automatic: bool = True


def segment_context(transcript: SourceTranscript) -> dict[str, Any]:
    """The validation context that checks cited segments against ``transcript``."""
    return {"segments": transcript.indices}
