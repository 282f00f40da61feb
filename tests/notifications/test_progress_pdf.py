"""The progress report PDF: what a guardian opens, read back with an independent parser."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from notifications import progress_pdf as module
from notifications.progress_pdf import progress_pdf, progress_pdf_name

REPORT = {
    "student_name": "Zoë Łukasiewicz",
    "period_start": "2025-02-01",
    "period_label": "February 2025",
    "summary": "In February 2025, Zoë had 4 sessions of mathematics and came to 3.",
    "attendance": "Zoë came to 3 of 4 sessions (missed 10 Feb).",
    "covered": [{"text": "fractions (mathematics)", "sessions": ["a"]}],
    "went_well": [],
    "working_on": [{"text": "Carrying over in subtraction…", "sessions": ["a", "b"]}],
    "homework": "Homework was set in 2 sessions.",
    "next_steps": [{"text": "More column subtraction", "sessions": ["b"]}],
}


def text_of(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((p.extract_text() or "") for p in reader.pages).split())


def test_every_section_is_printed_in_order() -> None:
    """Title, summary, attendance, the lists under their headings, and homework."""
    printed = text_of(progress_pdf(REPORT))
    order = [
        "Progress report: Zoë Łukasiewicz, February 2025",
        "In February 2025",
        "Attendance",
        "What we covered",
        "fractions (mathematics)",
        "Still working on",
        "Next steps",
        "Homework",
    ]
    positions = [printed.index(part) for part in order]
    assert positions == sorted(positions)
    assert "What went well" not in printed  # an empty list gets no heading


def test_without_a_unicode_font_names_are_spelled_in_latin_letters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a machine without DejaVu the core font prints ë and spells Ł as L, never fails."""
    monkeypatch.setattr(module, "DEJAVU", tmp_path / "no-fonts")
    printed = text_of(progress_pdf(REPORT))
    assert "Progress report: Zoë Lukasiewicz, February 2025" in printed
    assert "Carrying over in subtraction..." in printed


def test_the_file_name_is_plain_ascii() -> None:
    assert progress_pdf_name(REPORT) == "progress-report-zoe-lukasiewicz-2025-02-01.pdf"
