"""Transcribing a session's per-speaker tracks with faster-whisper.

The model is loaded once per ``Transcriber`` (on first use) and shared. Whisper
is CPU-bound, so the async API runs it in a pool of worker threads (CTranslate2
releases the GIL) behind a semaphore of ``LIVECLASS_TRANSCRIBE_CONCURRENCY``
slots: at most that many tracks are in the pool at once, and the rest wait
on the event loop instead of in an unbounded executor queue.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ai_docs import _whisper
from ai_docs.audio import probe_duration
from ai_docs.errors import AudioNotFound, AudioUnreadable, TranscriptionFailed
from ai_docs.settings import AIDocsSettings
from ai_docs.transcript import Segment, Track, Transcript
from core.logging import get_logger

log = get_logger(__name__)

ProgressCallback = Callable[[float, float], None]
"""Called with (seconds of audio done, seconds in all), never going backwards."""

ComputeType = Literal[
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]


@dataclass(frozen=True)
class WhisperOptions:
    """How to run Whisper; ``from_settings`` reads the ``LIVECLASS_WHISPER_*`` settings.

    Args:
        model: a CTranslate2 model folder or a cached model name; empty: bundled tiny.en.
        device: ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type.
        threads: CPU threads per track being transcribed; 0: every core.
        beam_size: decoder beam width (1 is greedy).
        vad: skip silence with voice activity detection first.
        concurrency: tracks transcribed at once.
    """

    model: str = ""
    device: Literal["cpu", "cuda"] = "cpu"
    compute_type: ComputeType = "int8"
    threads: int = 0
    beam_size: int = 1
    vad: bool = True
    concurrency: int = 1

    @classmethod
    def from_settings(cls, settings: AIDocsSettings) -> WhisperOptions:
        return cls(
            model=settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            threads=settings.whisper_threads,
            beam_size=settings.whisper_beam_size,
            vad=settings.whisper_vad,
            concurrency=settings.transcribe_concurrency,
        )


class _Cancelled(Exception):
    """Raised inside a worker thread when its caller has gone away."""


class Transcriber:
    """Turns per-speaker audio tracks into one ``Transcript``.

    Use ``await atranscribe(tracks)`` from async code and ``transcribe(tracks)``
    from plain threads; ``aclose()`` (or ``async with``) stops the worker pool.

    Args:
        options: how to run Whisper (default: the settings' defaults).
    """

    def __init__(self, options: WhisperOptions | None = None) -> None:
        self.options = options or WhisperOptions()
        self._model: _whisper.WhisperModel | None = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=self.options.concurrency, thread_name_prefix="whisper"
        )
        # One semaphore per event loop (a semaphore binds to the loop it waits on);
        # the pool's fixed size bounds the threads across loops too.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    @property
    def model_path(self) -> str:
        """The model folder or name this transcriber loads."""
        return self.options.model or str(_whisper.bundled_model_path())

    def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first transcription).

        Raises:
            ModelUnavailable: the model cannot be loaded; the message names the setting.
        """
        self._loaded()

    async def aload(self) -> None:
        """``load`` on a worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._loaded)

    def _loaded(self) -> _whisper.WhisperModel:
        with self._load_lock:
            if self._model is None:
                self._model = _whisper.WhisperModel(
                    self.model_path,
                    device=self.options.device,
                    compute_type=self.options.compute_type,
                    threads=self.options.threads,
                    workers=self.options.concurrency,
                )
                log.info("whisper model loaded", model=self.model_path, device=self.options.device)
            return self._model

    def transcribe(
        self, tracks: Sequence[Track], *, progress: ProgressCallback | None = None
    ) -> Transcript:
        """Transcribe every track, one after another, in the calling thread.

        Blocks for seconds to minutes: never call it on an event loop.

        Raises:
            AudioNotFound, AudioUnreadable: a track's file (checked before any work).
            ModelUnavailable: the model cannot be loaded.
            TranscriptionFailed: Whisper failed on a file.
        """
        self._check_open()
        durations = [probe_duration(t.path, t.data) for t in tracks]
        total = sum(durations)
        done = [0.0] * len(tracks)

        def report(index: int, seconds: float) -> None:
            done[index] = seconds
            if progress is not None:
                progress(sum(done), total)

        if progress is not None:
            progress(0.0, total)
        per_track = [
            self._transcribe_track(i, t, durations[i], report, threading.Event())
            for i, t in enumerate(tracks)
        ]
        return _merge(tracks, durations, per_track)

    async def atranscribe(
        self, tracks: Sequence[Track], *, progress: ProgressCallback | None = None
    ) -> Transcript:
        """Transcribe every track on the worker pool, without blocking the event loop.

        Tracks run side by side up to the concurrency setting. ``progress`` is
        called on the event loop. If this is cancelled, each running track stops
        at its next segment and its slot is freed only then, so the pool never
        holds more work than the setting allows.

        Raises:
            AudioNotFound, AudioUnreadable: a track's file (checked before any work).
            ModelUnavailable: the model cannot be loaded.
            TranscriptionFailed: Whisper failed on a file.
        """
        self._check_open()
        tracks = list(tracks)
        loop = asyncio.get_running_loop()
        durations = await asyncio.to_thread(
            lambda: [probe_duration(t.path, t.data) for t in tracks]
        )
        total = sum(durations)
        done = [0.0] * len(tracks)

        def on_loop(index: int, seconds: float) -> None:
            done[index] = max(done[index], seconds)
            if progress is not None:
                progress(sum(done), total)

        def report(index: int, seconds: float) -> None:  # on a worker thread
            loop.call_soon_threadsafe(on_loop, index, seconds)

        slots = self._slots.setdefault(loop, asyncio.Semaphore(self.options.concurrency))

        async def run_one(index: int, track: Track) -> tuple[list[Segment], str]:
            stop = threading.Event()
            async with slots:
                future = loop.run_in_executor(
                    self._executor,
                    self._transcribe_track,
                    index,
                    track,
                    durations[index],
                    report,
                    stop,
                )
                try:
                    return await asyncio.shield(future)
                except asyncio.CancelledError:
                    stop.set()
                    await asyncio.wait([future])
                    if not future.cancelled():
                        future.exception()  # retrieved: it is _Cancelled, or moot now
                    raise

        if tracks:
            await self.aload()  # once, so a model that fails to load fails here, once
        if progress is not None:
            progress(0.0, total)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run_one(i, t)) for i, t in enumerate(tracks)]
        except BaseExceptionGroup as failed:
            # The other tracks were cancelled; callers catch our errors, not groups.
            raise failed.exceptions[0]  # noqa: B904  (it carries its own cause)
        # Let the last progress calls queued by the workers run before returning.
        await asyncio.sleep(0)
        return _merge(tracks, durations, [t.result() for t in tasks])

    def _transcribe_track(
        self,
        index: int,
        track: Track,
        duration: float,
        report: Callable[[int, float], None],
        stop: threading.Event,
    ) -> tuple[list[Segment], str]:
        model = self._loaded()
        path = str(track.path)
        try:
            # Decoding the file (PyAV) and VAD happen here, before any segment.
            raw, language = model.transcribe(
                track.source(), beam_size=self.options.beam_size, vad=self.options.vad
            )
        except FileNotFoundError as exc:
            raise AudioNotFound(
                f"{path}: the audio file went away before transcription; keep recordings "
                "in place until their transcript is stored"
            ) from exc
        except Exception as exc:  # PyAV, onnxruntime (VAD)
            raise AudioUnreadable(
                f"track {index} ({Path(path).name}): its audio could not be decoded "
                f"({type(exc).__name__}: {exc}); check that it plays, or convert it with "
                "ffmpeg -i IN -ar 16000 -ac 1 OUT.wav"
            ) from exc
        segments = []
        try:
            for seg in raw:
                if stop.is_set():
                    raise _Cancelled
                segments.append(
                    Segment(
                        start=round(seg.start + track.offset, 3),
                        end=round(seg.end + track.offset, 3),
                        text=seg.text,
                        speaker=track.speaker,
                        role=track.role,
                        track=index,
                    )
                )
                report(index, min(seg.end, duration))
        except _Cancelled:
            raise
        except Exception as exc:  # CTranslate2 at run time: memory, device
            raise TranscriptionFailed(
                f"track {index} ({Path(path).name}): Whisper failed after "
                f"{segments[-1].end - track.offset if segments else 0:.0f} s "
                f"({type(exc).__name__}: {exc}); try again, or lower "
                "LIVECLASS_TRANSCRIBE_CONCURRENCY or LIVECLASS_WHISPER_THREADS if memory ran out"
            ) from exc
        report(index, duration)
        return segments, language

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("cannot transcribe with a transcriber that is already closed")

    async def aclose(self) -> None:
        """Wait for running work to end, stop the worker threads and free the model."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._model = None

    async def __aenter__(self) -> Transcriber:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _merge(
    tracks: Sequence[Track],
    durations: Sequence[float],
    per_track: Sequence[tuple[list[Segment], str]],
) -> Transcript:
    end = max((t.offset + d for t, d in zip(tracks, durations, strict=True)), default=0.0)
    language = per_track[0][1] if per_track else "en"
    return Transcript.merge(
        [segments for segments, _ in per_track], duration=round(end, 3), language=language
    )
