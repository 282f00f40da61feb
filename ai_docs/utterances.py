"""Where one speaker's utterances begin and end, decided as the audio arrives.

Live transcription (``ai_docs.live``) hears each participant's audio as it is
recorded and hands Whisper one finished utterance at a time, so that when a
session ends only its last seconds remain to be transcribed. The voice activity
model gives a speech probability for every 32 ms window; ``UtteranceCutter``
turns that stream into utterances. It is pure (probabilities in, sample ranges
out) and keeps no audio.

The rules follow Silero's own offline segmentation (the one Whisper's VAD
filter uses after a session), tuned for being early rather than for seeing the
whole file:

- speech starts at a window at or above ``threshold``; it goes on while windows
  stay at or above ``neg_threshold``;
- an utterance ends after ``min_silence`` seconds below that, so a caption
  appears about that long after the speaker pauses;
- one longer than ``max_length`` is cut at its latest pause of at least 100 ms
  past half that length (else right there), so a speaker who never pauses is
  still transcribed every ``max_length`` seconds;
- stretches with under ``min_speech`` seconds of speech (a cough, a click) are
  dropped;
- each utterance is padded by ``pad`` seconds on both sides, never past the
  end of the previous one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SAMPLE_RATE = 16_000
WINDOW = 512  # samples per voice-activity window: 32 ms at 16 kHz


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch of audio to transcribe: samples ``start`` up to ``end`` (16 kHz)."""

    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class CutterOptions:
    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_silence: float = 0.8
    max_length: float = 20.0
    min_speech: float = 0.25
    pad: float = 0.3
    short_pause: float = 0.1  # the least a pause must last to cut a long utterance at


class UtteranceCutter:
    """Feed it speech probabilities, window by window; it returns the utterances that ended.

    Positions are in samples from the start of the audio (window ``i`` covers
    samples ``i * WINDOW`` up to ``(i + 1) * WINDOW``).
    """

    def __init__(self, options: CutterOptions | None = None) -> None:
        o = options or CutterOptions()
        self.options = o
        self._window = 0  # index of the next window
        self._start: int | None = None  # first speech window of the open utterance
        self._last_speech = 0  # last window at or above neg_threshold in it
        self._speech_windows = 0
        self._pause_start: int | None = None  # first quiet window of the current pause
        self._cut_at: int | None = None  # latest usable cut: the middle of a pause
        self._previous_end = 0  # samples: where the last utterance ended, padding included
        self._min_silence = _windows(o.min_silence)
        self._max_length = _windows(o.max_length)
        self._min_speech = _windows(o.min_speech)
        self._short_pause = max(1, _windows(o.short_pause))
        self._pad = round(o.pad * SAMPLE_RATE)

    @property
    def position(self) -> int:
        """Samples heard so far."""
        return self._window * WINDOW

    @property
    def open_since(self) -> int | None:
        """Sample where the utterance being heard starts (padding included), if any.
        Audio before this (and before ``position`` when None) is never needed again."""
        if self._start is None:
            return None
        return max(self._previous_end, self._start * WINDOW - self._pad)

    def feed(self, probabilities: Iterable[float]) -> list[Utterance]:
        done: list[Utterance] = []
        o = self.options
        for p in probabilities:
            i = self._window
            self._window += 1
            if self._start is None:
                if p >= o.threshold:
                    self._open(i)
                continue
            if p >= o.neg_threshold:
                if self._pause_start is not None and i - self._pause_start >= self._short_pause:
                    self._cut_at = (self._pause_start + i) // 2
                self._pause_start = None
                self._last_speech = i
                self._speech_windows += 1
            elif self._pause_start is None:
                self._pause_start = i
            if i - self._last_speech >= self._min_silence:
                self._close(self._last_speech + 1, done)
            elif i + 1 - self._start >= self._max_length:
                half = self._start + self._max_length // 2
                cut = self._cut_at if self._cut_at is not None and self._cut_at > half else i + 1
                last, pause = self._last_speech, self._pause_start
                self._close(cut, done, padded=False)
                self._open(cut)
                # What was heard past the cut belongs to the next utterance.
                self._last_speech = max(cut, last)
                self._speech_windows = max(1, i + 1 - cut)
                if pause is not None and pause >= cut:
                    self._pause_start = pause
        return done

    def flush(self) -> list[Utterance]:
        """The audio ended: close what is open (up to its last speech)."""
        done: list[Utterance] = []
        if self._start is not None:
            self._close(self._last_speech + 1, done)
        return done

    def _open(self, window: int) -> None:
        self._start = window
        self._last_speech = window
        self._speech_windows = 1
        self._pause_start = None
        self._cut_at = None

    def _close(self, end_window: int, done: list[Utterance], *, padded: bool = True) -> None:
        assert self._start is not None
        start = self.open_since
        assert start is not None
        end = end_window * WINDOW
        if padded:
            end = min(end + self._pad, self.position)
        if self._speech_windows >= self._min_speech:
            done.append(Utterance(start, end))
        self._previous_end = end
        self._start = None
        self._pause_start = None
        self._cut_at = None


def _windows(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE / WINDOW)
