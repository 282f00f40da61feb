"""Drafting session documents with an OpenAI-compatible model, and the offline fallback.

``draft_document`` is the entry point: the model when one is configured
(``LIVECLASS_OPENAI_BASE_URL`` and ``LIVECLASS_LLM_MODEL``), else the offline
drafter. When the model fails, after retries of retryable errors and one repair
attempt of invalid output, the offline drafter writes the document and its
``fallback_reason`` says why, so the session is documented either way and the
caller can raise a coordinator exception.

The model answers in the JSON schema of ``DocumentContent``, asked for in one of
three ways because providers differ (``LIVECLASS_LLM_STRUCTURED_OUTPUT``):
OpenAI's ``json_schema``, llama.cpp's ``{"type": "json_object", "schema": ...}``
(it refuses ``json_schema``), or plain ``json_object`` with the schema in the
prompt. Whatever comes back is validated with pydantic, including that every
cited segment exists; the first validation errors are sent back once for repair.

A transcript longer than one chunk is drafted chunk by chunk (each chunk may
cite only its own lines) and the drafts are merged.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import openai
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
from ai_docs.errors import (
    DraftingFailed,
    ModelBusy,
    ModelOutputInvalid,
    ModelRejected,
    ModelTimedOut,
    ModelUnreachable,
)
from ai_docs.offline import analyse, draft_offline
from core.logging import get_logger
from core.settings import Settings

__all__ = ["ModelDrafter", "ModelOptions", "draft_document", "model_configured"]

log = get_logger(__name__)

StructuredOutput = Literal["json_schema", "json_object_schema", "json_object"]

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


@dataclass(frozen=True)
class ModelOptions:
    """Everything about talking to the model, validated in one place.

    Args:
        base_url: the API's base URL (``.../v1``).
        model: the model name sent with each request.
        api_key: the key, or None for a local server that needs none.
        structured_output: how the schema is asked for (see the module docstring).
        timeout: seconds one request may take.
        max_retries: retries of a retryable failure, ``retry_interval`` apart, doubling.
        max_tokens: the most tokens one answer may have.
        chunk_chars: transcript characters per request; longer transcripts are chunked.
    """

    base_url: str
    model: str
    api_key: str | None = None
    structured_output: StructuredOutput = "json_schema"
    timeout: float = 120.0
    max_retries: int = 2
    retry_interval: float = 1.0
    max_tokens: int = 1500
    chunk_chars: int = 6000

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_retries < 0 or self.retry_interval < 0:
            raise ValueError("timeout must be positive, retries and their interval 0 or more")
        if self.chunk_chars < 200 or self.max_tokens < 16:
            raise ValueError("chunk_chars must be 200 or more, max_tokens 16 or more")

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelOptions | None:
        """The options the settings describe, or None when no model is configured."""
        if settings.openai_base_url is None or settings.llm_model is None:
            return None
        key = settings.openai_api_key
        return cls(
            base_url=settings.openai_base_url,
            model=settings.llm_model,
            api_key=key.get_secret_value() if key is not None else None,
            structured_output=settings.llm_structured_output,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )


def model_configured(settings: Settings) -> bool:
    """Whether documents are drafted by a model (else by the offline drafter)."""
    return ModelOptions.from_settings(settings) is not None


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


def _translate(exc: Exception, options: ModelOptions) -> DraftingFailed:
    """Our error for an ``openai`` (or timeout) error; the caller chains it."""
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return ModelTimedOut(
            f"the model did not answer within {options.timeout:g} s; raise "
            "LIVECLASS_LLM_TIMEOUT_SECONDS or use a faster model"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnreachable(
            f"cannot reach the model API at {options.base_url}; check that it runs and "
            "LIVECLASS_OPENAI_BASE_URL"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429 or status >= 500:
            return ModelBusy(f"the model API answered HTTP {status}; it will be tried again")
        return ModelRejected(
            f"the model API refused the request with HTTP {status}; check "
            "LIVECLASS_OPENAI_API_KEY, LIVECLASS_LLM_MODEL and LIVECLASS_LLM_STRUCTURED_OUTPUT"
        )
    return ModelRejected(f"the model API failed unexpectedly ({type(exc).__name__})")


class ModelDrafter:
    """Drafts documents with one OpenAI-compatible model; owns its client unless given one."""

    def __init__(self, options: ModelOptions, *, client: AsyncOpenAI | None = None) -> None:
        self.options = options
        self._owns_client = client is None
        self._client = client or AsyncOpenAI(
            base_url=options.base_url,
            # Local servers need no key, but the client insists on one.
            api_key=options.api_key or "unused",
            timeout=options.timeout,
            max_retries=0,  # we retry ourselves, only what is retryable
        )
        self._schema = DocumentContent.model_json_schema()
        self.repairs = 0  # repair attempts made, for logs and tests

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> ModelDrafter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def drafted_by(self) -> str:
        return f"model:{self.options.model}"

    def _request(
        self, messages: list[ChatCompletionMessageParam], schema: dict[str, Any]
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "temperature": 0,
            "seed": 0,
            "max_tokens": self.options.max_tokens,
        }
        mode = self.options.structured_output
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "session_document", "schema": schema},
            }
        elif mode == "json_object_schema":
            # llama.cpp's own variant; the typed client does not know it, so it rides
            # in the body as is.
            kwargs["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        else:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], schema: dict[str, Any]
    ) -> str:
        """One answer, retrying retryable failures with doubling pauses."""
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.options.timeout):
                    response = await self._client.chat.completions.create(
                        **self._request(messages, schema)
                    )
                if not response.choices:
                    return ""
                return response.choices[0].message.content or ""
            except (TimeoutError, openai.OpenAIError) as exc:
                error = _translate(exc, self.options)
                if not error.retryable or attempt >= self.options.max_retries:
                    raise error from exc
                pause = self.options.retry_interval * 2**attempt
                log.warning(
                    "model request failed; retrying",
                    code=error.code,
                    attempt=attempt + 1,
                    pause_seconds=pause,
                )
                attempt += 1
                await asyncio.sleep(pause)

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
        answer = await self._complete(messages, schema)
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
        repaired = await self._complete(messages, schema)
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
    settings: Settings,
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
        return await asyncio.to_thread(draft_offline, transcript)
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
            return await asyncio.to_thread(
                draft_offline, transcript, fallback_reason=f"{exc.code}: {exc.message}"
            )
    log.info(
        "document drafted",
        drafted_by=document.drafted_by,
        repairs=drafter.repairs,
        segments=len(transcript.segments),
        seconds=round(time.monotonic() - started, 2),
    )
    return document
