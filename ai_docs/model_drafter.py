"""Drafting session documents with a model, chunk by chunk, and the offline fallback.

``draft_document`` is the entry point: the model when one is configured
(``ai_docs.model_client``), else the offline drafter. When the model fails, after
retries of retryable errors and one repair attempt of invalid output, the offline
drafter writes the document and its ``fallback_reason`` says why, so the session is
documented either way and the caller can raise a coordinator exception.

The model answers in the JSON schema of ``DocumentContent`` (how it is asked for
is the client's business). Whatever comes back is validated with pydantic,
including that every cited segment exists; the first validation errors are sent
back once for repair.

A transcript longer than one chunk is drafted chunk by chunk (each chunk may
cite only its own lines) and the drafts are merged.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import ValidationError

from ai_docs.documents import (
    MAX_ITEMS,
    MAX_SUMMARY_CHARS,
    ComprehensionCheck,
    DocumentContent,
    Item,
    SessionDocument,
    SourceSegment,
    SourceTranscript,
    Summary,
)
from ai_docs.errors import DraftingFailed, ModelOutputInvalid
from ai_docs.grounding import ground
from ai_docs.model_client import ModelClient, ModelOptions
from ai_docs.offline_summary import analyse, draft_offline
from ai_docs.settings import AIDocsSettings
from core.logging import get_logger

__all__ = ["ModelDrafter", "chunk", "citing", "draft_document", "merge"]

log = get_logger(__name__)


SYSTEM_PROMPT = (
    "You write a structured record of one tutoring session from its transcript, for the "
    "tutor and the student's parents. Each transcript line starts with [n], its segment "
    "number. Fill every field: topics covered, what went well, difficulties, comprehension "
    "checks (a question that tested understanding, and its outcome: understood, partly, "
    "not_yet or unclear), homework, focus for next time, and a short, friendly summary for "
    "a parent. Every item's 'segments' lists the numbers [n] of the lines it rests on; cite "
    "only numbers that appear in the transcript. Answer with one JSON object only."
)
REPAIR_PROMPT = (
    "That JSON does not fit the schema. Problems:\n{problems}\n"
    "Send the whole corrected JSON object, and nothing else."
)
MAX_PROBLEMS = 20
SCHEMA_NAME = "session_document"  # for providers that name the schema they are given


def _line(segment: SourceSegment, number: int | None = None) -> str:
    role = f" ({segment.role})" if segment.role else ""
    n = segment.index if number is None else number
    return f"[{n}] {segment.speaker}{role}: {segment.text.strip()}"


def _shift(node: Any, offset: int) -> Any:
    """``node`` (a dumped document) with every cited segment moved by ``offset``."""
    if isinstance(node, dict):
        return {
            key: [i + offset for i in value] if key == "segments" else _shift(value, offset)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_shift(value, offset) for value in node]
    return node


def chunk(transcript: SourceTranscript, max_chars: int) -> list[list[SourceSegment]]:
    """Split the segments into runs whose rendered lines fit in ``max_chars`` each.

    A single line longer than ``max_chars`` is a chunk of its own.
    """
    chunks: list[list[SourceSegment]] = []
    current: list[SourceSegment] = []
    size = 0
    for segment in transcript.segments:
        length = len(_line(segment)) + 1
        if current and size + length > max_chars:
            chunks.append(current)
            current, size = [], 0
        current.append(segment)
        size += length
    if current:
        chunks.append(current)
    return chunks


def citing(schema: dict[str, Any], lines: int) -> dict[str, Any]:
    """``schema`` with every ``segments`` list limited to the line numbers 0 to ``lines`` - 1.

    A schema-constrained server (llama.cpp's grammar, OpenAI's strict mode) then
    cannot cite a line that is not in the chunk: small models otherwise number
    past its end now and then, and the answer needs a repair or falls back.
    """
    numbers = {"type": "integer", "enum": list(range(lines))}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            properties = out.get("properties")
            if isinstance(properties, dict) and isinstance(properties.get("segments"), dict):
                properties["segments"] = {**properties["segments"], "items": numbers}
            return out
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def _strip_fences(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, flags=re.S)
    return match[1] if match else text


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False)[:MAX_PROBLEMS]:
        where = ".".join(str(part) for part in err["loc"]) or "(whole object)"
        lines.append(f"- {where}: {err['msg']}")
    return "\n".join(lines)


class ModelDrafter:
    """Drafts documents with one OpenAI-compatible model; owns its client unless given one."""

    def __init__(self, options: ModelOptions, *, client: AsyncOpenAI | None = None) -> None:
        self.options = options
        self._model = ModelClient(options, client=client)
        self._schema = DocumentContent.model_json_schema()
        self.repairs = 0  # repair attempts made, for logs and tests

    async def aclose(self) -> None:
        await self._model.aclose()

    async def __aenter__(self) -> ModelDrafter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def drafted_by(self) -> str:
        return f"model:{self.options.model}"

    def _messages(
        self, segments: Sequence[SourceSegment], schema: dict[str, Any]
    ) -> list[ChatCompletionMessageParam]:
        system = SYSTEM_PROMPT
        if self.options.structured_output == "json_object":
            system += "\nThe JSON schema:\n" + json.dumps(schema, separators=(",", ":"))
        # Each chunk is numbered from 0, as if it were the whole transcript: small models
        # cite local line numbers far more reliably than an offset range.
        lines = "\n".join(_line(s, number) for number, s in enumerate(segments))
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": "Transcript:\n" + lines},
        ]

    async def adraft_chunk(self, segments: Sequence[SourceSegment]) -> DocumentContent:
        """The model's content for these consecutive segments, citing only them.

        The model sees the chunk numbered from 0; its citations are moved back onto
        the transcript's indices. One repair attempt.

        Raises:
            DraftingFailed: the API failed (after retries) or the answer stayed invalid.
        """
        if not segments:
            raise ValueError("a chunk needs at least one segment")
        context = {"segments": frozenset(range(len(segments)))}
        schema = citing(self._schema, len(segments))
        messages = self._messages(segments, schema)
        answer = await self._model.acomplete(messages, schema=schema, name=SCHEMA_NAME)
        try:
            local = DocumentContent.model_validate_json(_strip_fences(answer), context=context)
            return self._to_transcript(local, segments[0].index)
        except ValidationError as exc:
            problems = _problems(exc)
        log.info("model output invalid; asking for a repair", problems=problems.count("\n") + 1)
        self.repairs += 1
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": REPAIR_PROMPT.format(problems=problems)},
        ]
        repaired = await self._model.acomplete(messages, schema=schema, name=SCHEMA_NAME)
        try:
            local = DocumentContent.model_validate_json(_strip_fences(repaired), context=context)
        except ValidationError as exc:
            raise ModelOutputInvalid(
                f"the model's answer did not fit the document schema after one repair "
                f"({exc.error_count()} problems, first: {_problems(exc).splitlines()[0][2:]}); "
                "try a larger model or another LIVECLASS_LLM_STRUCTURED_OUTPUT"
            ) from exc
        return self._to_transcript(local, segments[0].index)

    @staticmethod
    def _to_transcript(local: DocumentContent, offset: int) -> DocumentContent:
        if offset == 0:
            return local
        return DocumentContent.model_validate(_shift(local.model_dump(), offset))

    async def adraft(self, transcript: SourceTranscript) -> SessionDocument:
        """A document drafted by the model, chunk by chunk when the transcript is long.

        Raises:
            DraftingFailed: see ``adraft_chunk``.
        """
        budget = self.options.chunk_chars
        if self.options.structured_output == "json_object":
            # The schema rides in the prompt there; leave it room in the context.
            budget = max(500, budget - len(json.dumps(self._schema, separators=(",", ":"))))
        chunks = chunk(transcript, budget)
        contents = [await self.adraft_chunk(part) for part in chunks]
        content = contents[0] if len(contents) == 1 else merge(contents)
        document = SessionDocument(
            **content.model_dump(),
            drafted_by=self.drafted_by,
            automatic=True,
            analysis=analyse(transcript),
        )
        return document.for_transcript(transcript)


def _interleave(lists: Sequence[Sequence[Item]]) -> list[Any]:
    """Round-robin over the chunks' items, so every part of the session is represented."""
    out: list[Any] = []
    seen: set[str] = set()
    for row in range(max((len(items) for items in lists), default=0)):
        for items in lists:
            if row < len(items) and len(out) < MAX_ITEMS:
                key = " ".join(items[row].text.lower().split())
                if key not in seen:
                    seen.add(key)
                    out.append(items[row])
    return out


def merge(contents: Sequence[DocumentContent]) -> DocumentContent:
    """One document's content from the drafts of consecutive chunks."""
    summary_parts: list[str] = []
    cited: list[int] = []
    for content in contents:
        text = content.parent_summary.text.strip()
        if len(" ".join([*summary_parts, text])) <= MAX_SUMMARY_CHARS:
            summary_parts.append(text)
            cited += content.parent_summary.segments
    checks: list[ComprehensionCheck] = _interleave([c.comprehension_checks for c in contents])
    return DocumentContent(
        topics=_interleave([c.topics for c in contents]),
        went_well=_interleave([c.went_well for c in contents]),
        difficulties=_interleave([c.difficulties for c in contents]),
        comprehension_checks=checks,
        homework=_interleave([c.homework for c in contents]),
        # What to do next is best judged from the end of the session.
        next_focus=_interleave([c.next_focus for c in reversed(contents)]),
        parent_summary=Summary(
            text=" ".join(summary_parts) or contents[0].parent_summary.text[:MAX_SUMMARY_CHARS],
            segments=sorted(set(cited))[:20],
        ),
    )


async def draft_document(
    transcript: SourceTranscript,
    *,
    settings: AIDocsSettings,
    client: AsyncOpenAI | None = None,
) -> SessionDocument:
    """Draft one session's document: by the configured model, else offline.

    Never fails for the model's sake: when it cannot draft (unreachable, timing
    out, refusing, or answering outside the schema after one repair), the
    offline drafter writes the document with ``fallback_reason`` set to the
    error's code and message. Raise a coordinator exception when it is set.

    Args:
        transcript: the session's numbered segments.
        settings: where the model is (``LIVECLASS_OPENAI_*``, ``LIVECLASS_LLM_*``).
        client: an ``AsyncOpenAI`` to use instead of one built from the settings
            (it stays open; its own retries should be off).
    """
    options = ModelOptions.from_settings(settings)
    if options is None or not transcript.segments:
        document = await asyncio.to_thread(draft_offline, transcript)
        return await _grounded(document, transcript, check_summary=False)
    started = time.monotonic()
    async with ModelDrafter(options, client=client) as drafter:
        try:
            document = await drafter.adraft(transcript)
        except DraftingFailed as exc:
            log.warning(
                "model drafting failed; the offline drafter writes the document",
                code=exc.code,
                retryable=exc.retryable,
                segments=len(transcript.segments),
            )
            offline = await asyncio.to_thread(
                draft_offline, transcript, fallback_reason=f"{exc.code}: {exc.message}"
            )
            return await _grounded(offline, transcript, check_summary=False)
    log.info(
        "document drafted",
        drafted_by=document.drafted_by,
        repairs=drafter.repairs,
        segments=len(transcript.segments),
        seconds=round(time.monotonic() - started, 2),
    )
    return await _grounded(document, transcript, check_summary=True)


async def _grounded(
    document: SessionDocument, transcript: SourceTranscript, *, check_summary: bool
) -> SessionDocument:
    """The document with what the transcript does not bear out dropped (``ai_docs.grounding``),
    off the event loop: it reads every line, and may draft the offline summary."""
    grounded, dropped = await asyncio.to_thread(
        ground, document, transcript, check_summary=check_summary
    )
    if dropped:
        log.info(
            "unsupported statements dropped",
            drafted_by=document.drafted_by,
            dropped=len(dropped),
            parts=sorted({d.part for d in dropped}),
        )
    return grounded
