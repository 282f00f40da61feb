"""WebVTT captions: a valid file, read back by an independent parser (webvtt-py)."""

from __future__ import annotations

import re

import webvtt

from ai_docs import Segment, Transcript, to_webvtt
from ai_docs.captions import escape, timestamp
from tests.ai_docs.conftest import Transcribed

TIMING = re.compile(r"^\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}$")


def _check_shape(vtt: str) -> list[str]:
    """The file's own grammar: header, then blank-line separated cues with one timing line."""
    assert vtt.startswith("WEBVTT\n\n")
    blocks = vtt.rstrip("\n").split("\n\n")[1:]
    for block in blocks:
        identifier, timing, *text = block.split("\n")
        assert identifier.isdigit() and TIMING.match(timing), block
        assert text and all(line.strip() for line in text), block
        assert "-->" not in " ".join(text)
    return blocks


def test_timestamps_are_hours_minutes_seconds_millis() -> None:
    """Timestamps always carry hours and three decimals."""
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(61.5) == "00:01:01.500"
    assert timestamp(3723.0456) == "01:02:03.046"
    assert timestamp(-0.2) == "00:00:00.000"


def test_markup_characters_are_escaped() -> None:
    """&, < and > become character references, and text stays on one line."""
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert escape("two\n\nlines -->") == "two lines --&gt;"


def test_cues_carry_voices_and_escaped_text() -> None:
    """Each segment is a cue with its speaker as the voice; the parser reads it back."""
    transcript = Transcript.merge(
        [
            [Segment(0.5, 2.25, "Is 3 < 4 & 5 > 2?", "Ms <Rivera> & Co", "tutor", 0)],
            [Segment(2.0, 2.0, "Yes!", "Sam", "student", 1)],
        ],
        duration=4.0,
    )
    vtt = to_webvtt(transcript)
    assert len(_check_shape(vtt)) == 2
    assert "<v Ms &lt;Rivera&gt; &amp; Co>Is 3 &lt; 4 &amp; 5 &gt; 2?" in vtt
    cues = list(webvtt.from_string(vtt))
    assert [(c.start, c.end) for c in cues] == [
        ("00:00:00.500", "00:00:02.250"),
        ("00:00:02.000", "00:00:02.001"),  # a cue must end after it starts
    ]
    assert cues[1].voice == "Sam" and cues[1].text == "Yes!"


def test_an_empty_transcript_is_a_valid_empty_file() -> None:
    """No segments still gives the header a player needs."""
    assert to_webvtt(Transcript()) == "WEBVTT\n"
    assert list(webvtt.from_string(to_webvtt(Transcript()))) == []


def test_captions_of_a_real_transcript_read_back(transcribed: Transcribed) -> None:
    """Captions of the two-speaker dialogue parse back to the same times, voices and words."""
    transcript = transcribed.transcript
    vtt = to_webvtt(transcript)
    assert len(_check_shape(vtt)) == len(transcript.segments)
    cues = list(webvtt.from_string(vtt))
    assert [c.voice for c in cues] == [s.speaker for s in transcript.segments]
    assert [c.start_time.in_milliseconds() for c in cues] == [
        round(s.start * 1000) for s in transcript.segments
    ]
    assert [c.text for c in cues] == [s.text for s in transcript.segments]
