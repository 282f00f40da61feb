"""One participant's audio, transcribed as it is recorded: Opus frames in, segments out.

Runs inside a live transcription worker process (``ai_docs.live_worker``), one
``StreamTranscriber`` per recorded file. It hears the same encoded frames the
recorder writes, at the same positions in the file (48 kHz samples from the
file's first sample), so its segments carry the file's own clock, exactly as
transcribing the file afterwards would:

- each frame is decoded (Opus, PyAV) and resampled to 16 kHz mono; a gap
  between frames (packet loss, the participant away) becomes silence, as the
  recorder writes it; a frame behind what was already heard is skipped;
- every whole 32 ms window gets a speech probability (Silero VAD), and
  ``ai_docs.utterances.UtteranceCutter`` decides where utterances end;
- each finished utterance goes to Whisper at once, after up to 20 s of the
  speech heard before it and 0.3 s of silence (context: Whisper's encoder
  hears 30 s windows anyway, and alone an utterance's first words came out
  wrong twice as often); the words whose middle comes before the middle of that
  silence are the context's and are left out. Only the audio an open utterance may
  still need is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from ai_docs._whisper import Audio, RawSegment, VoiceActivity, WhisperModel
from ai_docs.utterances import SAMPLE_RATE, WINDOW, CutterOptions, UtteranceCutter

FILE_RATE = 48_000  # the recorder's positions: Opus's clock
_DOWN = FILE_RATE // SAMPLE_RATE
# A frame this far (16 kHz samples) past what was heard means audio went missing:
# fill with silence. Less is the resampler's own delay.
_GAP_TOLERANCE = 960
CONTEXT_SAMPLES = 20 * SAMPLE_RATE
# Between the context and the utterance, a little silence; a word is the utterance's when
# its own middle comes after the middle of it. (A second of it, tried, cost the student's
# short answers their context: 26% WER on one lesson against 3% with this.)
GAP_SECONDS = 0.3
_SILENCE = np.zeros(round(GAP_SECONDS * SAMPLE_RATE), dtype=np.float32)
KEEP_SLACK = GAP_SECONDS / 2


@dataclass(frozen=True, slots=True)
class Heard:
    """What one ``feed`` or ``finish`` produced, and how far the stream has got."""

    segments: list[RawSegment]
    upto: float  # seconds of the file heard and segmented so far


class StreamTranscriber:
    """Decode, detect speech, cut and transcribe one file's audio as its frames come.

    Args:
        model: the worker's Whisper model.
        beam_size: Whisper's beam width (the settings' ``WHISPER_BEAM_SIZE``).
        cutter: where utterances end (``ai_docs.utterances``).
    """

    def __init__(
        self,
        model: WhisperModel,
        *,
        beam_size: int = 1,
        cutter: CutterOptions | None = None,
    ) -> None:
        self._model = model
        self._vad = VoiceActivity()  # its state is this stream's
        self._beam_size = beam_size
        self._decoder = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self._cutter = UtteranceCutter(cutter)
        self._pad = round(self._cutter.options.pad * SAMPLE_RATE)
        self._chunks: list[Audio] = []
        self._base = 0  # sample index (16 kHz) of the first kept sample
        self._heard = 0  # samples received, gaps included
        self._context: Audio = np.zeros(0, dtype=np.float32)  # the last utterances' audio

    def feed(self, frames: list[tuple[int, bytes]]) -> Heard:
        """Take ``(position in 48 kHz samples, Opus packet)`` frames in file order."""
        for at, packet in frames:
            expected = at // _DOWN
            if expected > self._heard + _GAP_TOLERANCE:
                self._append(np.zeros(expected - self._heard, dtype=np.float32))
            elif expected + _GAP_TOLERANCE < self._heard:
                continue  # already heard: a repeat, or a sender's step back
            for frame in self._decoder.decode(av.Packet(packet)):
                frame.pts = None  # the resampler need not follow the packet clock
                for out in self._resampler.resample(frame):
                    self._append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        return Heard(self._segment(flush=False), self._cutter.position / SAMPLE_RATE)

    def finish(self) -> Heard:
        """The file ended: transcribe what is left, the open utterance included."""
        for out in self._resampler.resample(None):
            self._append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        tail = (-self._heard) % WINDOW
        if tail:
            self._append(np.zeros(tail, dtype=np.float32))
        return Heard(self._segment(flush=True), self._heard / SAMPLE_RATE)

    def _append(self, samples: Audio) -> None:
        if len(samples):
            self._chunks.append(samples)
            self._heard += len(samples)

    def _audio(self) -> Audio:
        if len(self._chunks) != 1:
            self._chunks = [
                np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
            ]
        return self._chunks[0]

    def _segment(self, *, flush: bool) -> list[RawSegment]:
        audio = self._audio()
        done = self._cutter.position
        whole = (self._heard - done) // WINDOW * WINDOW
        fresh = audio[done - self._base : done - self._base + whole]
        utterances = self._cutter.feed(self._vad.probabilities(fresh))
        if flush:
            utterances += self._cutter.flush()
        segments: list[RawSegment] = []
        for u in utterances:
            clip = audio[u.start - self._base : u.end - self._base]
            # Whisper hears the utterance after the speech just before it: on the 10-minute
            # benchmark session the tutor's WER was 8.9% heard alone, 2.9% with 20 s of
            # context (3.3% transcribing the file afterwards), for about 25% more time.
            context = self._context[-CONTEXT_SAMPLES:]
            if len(context):
                context = np.concatenate([context, _SILENCE])
            lead = len(context) / SAMPLE_RATE
            offset = u.start / SAMPLE_RATE - lead
            for seg in self._model.transcribe_audio(
                np.concatenate([context, clip]) if len(context) else clip,
                beam_size=self._beam_size,
                keep_from=max(0.0, lead - KEEP_SLACK),
            ):
                # Within the utterance: a first word's times can reach back into the
                # silence before it, even whole (then it ends where the utterance starts).
                start = max(seg.start + offset, u.start / SAMPLE_RATE)
                end = min(max(seg.end + offset, start), u.end / SAMPLE_RATE)
                segments.append(RawSegment(round(start, 3), round(max(end, start), 3), seg.text))
            self._context = np.concatenate([self._context, clip])[-CONTEXT_SAMPLES:]
        keep = self._cutter.open_since
        if keep is None:
            keep = max(self._base, self._cutter.position - self._pad)
        if keep > self._base:
            self._chunks = [audio[keep - self._base :]]
            self._base = keep
        return segments
