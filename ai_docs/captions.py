"""WebVTT captions from a transcript's segments.

Each segment is one cue with a ``<v Speaker>`` voice tag, so players can show
who speaks; cues of different speakers may overlap, which WebVTT allows.
Times are ``HH:MM:SS.mmm`` on the session clock.
"""

from __future__ import annotations

from ai_docs.transcript import Transcript

MIN_CUE_SECONDS = 0.001  # a cue must end after it starts


def timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm``, hours always written (a session may pass 59 minutes)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def escape(text: str) -> str:
    """Cue text with ``&``, ``<`` and ``>`` as character references, on one line.

    A line break inside a cue is allowed but a blank line would end it, and
    ``-->`` would read as a timing line: escaping ``>`` and joining lines
    rules out both.
    """
    one_line = " ".join(text.split())
    return one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(transcript: Transcript) -> str:
    """The transcript as a WebVTT file (text; write it as UTF-8)."""
    blocks = ["WEBVTT"]
    for number, seg in enumerate(transcript.segments, start=1):
        end = max(seg.end, seg.start + MIN_CUE_SECONDS)
        blocks.append(
            f"{number}\n{timestamp(seg.start)} --> {timestamp(end)}\n"
            f"<v {escape(seg.speaker)}>{escape(seg.text)}"
        )
    return "\n\n".join(blocks) + "\n"
