"""A progress report as a PDF, for guardians: made with fpdf2 from the report's JSON.

The input is the report as ``progress_report.approved`` carries it
(``ai_docs.ProgressReportContent`` dumped to JSON: ``student_name``,
``period_label``, ``summary``, ``attendance``, ``covered``, ``went_well``,
``working_on``, ``homework``, ``next_steps``, each list item a ``text``), so this
package needs nothing of the drafter's. Text is set in DejaVu Sans when the
system has it (Debian's ``fonts-dejavu-core``; any name in any European script
prints), else in the PDF core font Helvetica, which holds Latin-1 only: other
characters are then written as their nearest Latin letters, or ``?``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF

__all__ = ["progress_pdf", "progress_pdf_name"]

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_SECTIONS = (
    ("covered", "What we covered"),
    ("went_well", "What went well"),
    ("working_on", "Still working on"),
    ("next_steps", "Next steps"),
)


# Letters that have no decomposition into an ASCII letter and a mark.
_PLAIN = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE",
     "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th", "ı": "i"}
)  # fmt: skip


def _ascii(text: str) -> str:
    """``text`` in ASCII letters where it can be: accents dropped, ł as l."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    return "".join(c for c in decomposed if c.isascii())


def _latin1(text: str) -> str:
    """``text`` in the characters Helvetica has: accents kept where Latin-1 has them."""
    out = []
    for ch in text.replace("\u2026", "...").replace("\u2019", "'").replace("\u2014", "-"):
        if ord(ch) < 256:
            out.append(ch)
            continue
        out.append(_ascii(ch) or "?")
    return "".join(out)


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.title_text = title
        regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
        self.unicode = regular.is_file() and bold.is_file()
        if self.unicode:
            self.add_font("Body", "", str(regular))
            self.add_font("Body", "B", str(bold))
        self.body_font = "Body" if self.unicode else "Helvetica"
        self.set_title(self.clean(title))
        self.set_creator("Liveclass")
        self.set_auto_page_break(auto=True, margin=18)

    def clean(self, text: str) -> str:
        return text if self.unicode else _latin1(text)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.body_font, "", 8)
        self.set_text_color(110)
        self.cell(0, 8, self.clean(f"{self.title_text} - page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(self.body_font, "B", 12)
        self.set_text_color(20)
        self.multi_cell(0, 7, self.clean(text), new_x="LMARGIN", new_y="NEXT")

    def para(self, text: str) -> None:
        self.set_font(self.body_font, "", 10.5)
        self.set_text_color(30)
        self.multi_cell(0, 5.5, self.clean(text), new_x="LMARGIN", new_y="NEXT")

    def bullets(self, items: Sequence[str]) -> None:
        self.set_font(self.body_font, "", 10.5)
        self.set_text_color(30)
        for item in items:
            self.set_x(self.l_margin + 3)
            self.multi_cell(0, 5.5, self.clean(f"- {item}"), new_x="LMARGIN", new_y="NEXT")


def progress_pdf_name(report: Mapping[str, Any]) -> str:
    """The attachment's file name: ``progress-report-<name>-<period start>.pdf``."""
    plain = _ascii(str(report.get("student_name", "student")))
    name = "-".join("".join(c if c.isalnum() else " " for c in plain).split())
    return f"progress-report-{name.lower() or 'student'}-{report.get('period_start', '')}.pdf"


def progress_pdf(report: Mapping[str, Any], *, school: str | None = None) -> bytes:
    """The report as a PDF document (its bytes)."""
    title = f"Progress report: {report['student_name']}, {report['period_label']}"
    pdf = _Report(title)
    pdf.add_page()
    pdf.set_font(pdf.body_font, "B", 16)
    pdf.multi_cell(0, 9, pdf.clean(title), new_x="LMARGIN", new_y="NEXT")
    if school:
        pdf.para(school)
    pdf.ln(2)
    pdf.para(str(report["summary"]))
    pdf.heading("Attendance")
    pdf.para(str(report["attendance"]))
    for key, label in _SECTIONS:
        items = [str(i["text"]) for i in report.get(key) or []]
        if items:
            pdf.heading(label)
            pdf.bullets(items)
    pdf.heading("Homework")
    pdf.para(str(report["homework"]))
    pdf.ln(4)
    pdf.set_font(pdf.body_font, "", 8.5)
    pdf.set_text_color(110)
    pdf.multi_cell(
        0,
        4.5,
        pdf.clean(
            "Drawn from the session notes your child's tutors reviewed, and reviewed "
            "before it was sent."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
