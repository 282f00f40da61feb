"""Transcription, summaries and briefings (recording and AI issue)."""

__all__: list[str] = []
