"""Where live transcription cuts a speaker's audio into utterances (no audio, no model)."""

from __future__ import annotations

from ai_docs.utterances import SAMPLE_RATE, WINDOW, CutterOptions, Utterance, UtteranceCutter

W_PER_S = SAMPLE_RATE / WINDOW  # 31.25 windows a second


def probs(*parts: tuple[float, float]) -> list[float]:
    """(seconds, probability) stretches, as windows."""
    out: list[float] = []
    for seconds, p in parts:
        out += [p] * round(seconds * W_PER_S)
    return out


def seconds(u: Utterance) -> tuple[float, float]:
    return round(u.start / SAMPLE_RATE, 2), round(u.end / SAMPLE_RATE, 2)


def test_an_utterance_ends_after_the_pause_and_is_padded_both_sides() -> None:
    cutter = UtteranceCutter()
    done = cutter.feed(probs((2.0, 0.0), (3.0, 0.9), (0.5, 0.0)))
    assert done == [], "a half-second pause is not yet the end"
    done = cutter.feed(probs((1.0, 0.0)))
    assert len(done) == 1
    start, end = seconds(done[0])
    assert abs(start - 1.7) < 0.05 and abs(end - 5.3) < 0.05


def test_speech_that_wavers_between_the_thresholds_stays_one_utterance() -> None:
    cutter = UtteranceCutter()
    done = cutter.feed(probs((1.0, 0.9), (2.0, 0.4), (1.0, 0.9), (2.0, 0.0)))
    [only] = done
    start, end = seconds(only)
    assert start == 0.0 and abs(end - 4.3) < 0.05


def test_two_utterances_never_overlap_through_padding() -> None:
    cutter = UtteranceCutter(CutterOptions(min_silence=0.5, pad=0.4))
    done = cutter.feed(probs((1.0, 0.9), (0.6, 0.0), (1.0, 0.9), (1.0, 0.0)))
    assert len(done) == 2
    assert done[0].end <= done[1].start


def test_a_cough_is_not_an_utterance() -> None:
    cutter = UtteranceCutter()
    assert cutter.feed(probs((0.1, 0.9), (2.0, 0.0))) == []
    assert cutter.open_since is None


def test_a_speaker_who_never_pauses_is_cut_at_the_last_short_pause_past_half() -> None:
    cutter = UtteranceCutter(CutterOptions(max_length=10.0))
    done = cutter.feed(probs((7.0, 0.9), (0.2, 0.1), (5.0, 0.9)))
    assert len(done) == 1
    start, end = seconds(done[0])
    assert start == 0.0 and 7.0 < end < 7.2, "cut in the middle of the pause"
    done = cutter.feed(probs((3.0, 0.0)))
    assert len(done) == 1
    assert seconds(done[0])[0] == end and seconds(done[0])[1] > 12.1


def test_without_any_pause_a_long_utterance_is_cut_at_the_limit() -> None:
    cutter = UtteranceCutter(CutterOptions(max_length=5.0))
    done = cutter.feed(probs((12.0, 0.9)))
    assert [round(u.seconds) for u in done] == [5, 5]
    rest = cutter.flush()
    assert len(rest) == 1 and 1.5 < rest[0].seconds < 2.5


def test_flush_closes_the_open_utterance_at_its_last_speech() -> None:
    cutter = UtteranceCutter()
    cutter.feed(probs((1.0, 0.0), (2.0, 0.9), (0.3, 0.0)))
    assert cutter.open_since is not None
    (last,) = cutter.flush()
    start, end = seconds(last)
    assert abs(start - 0.7) < 0.05 and abs(end - 3.3) < 0.05
    assert cutter.flush() == []


def test_open_since_says_what_audio_is_still_needed() -> None:
    cutter = UtteranceCutter()
    cutter.feed(probs((5.0, 0.0)))
    assert cutter.open_since is None and cutter.position == round(5.0 * W_PER_S) * WINDOW
    cutter.feed(probs((1.0, 0.9)))
    since = cutter.open_since
    assert since is not None and abs(since / SAMPLE_RATE - 4.7) < 0.05


def test_voice_activity_heard_in_chunks_is_heard_as_a_whole() -> None:
    """The live path feeds the VAD a second at a time; its probabilities must not differ
    from hearing the whole stretch at once (a reset per chunk lost short first words)."""
    import numpy as np

    from ai_docs._whisper import VoiceActivity

    rng = np.random.default_rng(3)
    t = np.arange(16_000 * 4) / 16_000
    # A voiced buzz with gaps, like syllables, then quiet: something the model scores.
    voiced = (np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    audio = np.concatenate([voiced * 0.3, rng.normal(0, 0.001, 16_000 * 2).astype(np.float32)])
    audio = audio[: len(audio) // WINDOW * WINDOW]
    whole = VoiceActivity().probabilities(audio)
    stream = VoiceActivity()
    chunked: list[float] = []
    for start in range(0, len(audio), WINDOW * 31):
        chunked += stream.probabilities(audio[start : start + WINDOW * 31])
    assert len(chunked) == len(whole) == len(audio) // WINDOW
    assert max(abs(a - b) for a, b in zip(whole, chunked, strict=True)) < 1e-4
