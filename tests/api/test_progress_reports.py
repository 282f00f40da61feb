"""Progress reports end to end: drafted from a month of sessions, reviewed by the tutor,
emailed with a PDF to the guardian who consented (read back here), and to nobody else."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, update
from starlette.applications import Starlette

from bench.histories import History, generate, write
from core.clock import FixedClock
from notifications.models import Delivery, DeliveryKind, DeliveryStatus
from scheduling.models import Guardianship, Student, Tutor, User
from sessions.facts import rebuild_all
from tests.api.test_analytics import _bearer
from tests.conftest import World
from tests.notifications.test_notifications import (
    MailServer,
    dispatcher,
    run_handlers,
    settle,
    smtp,
)
from tests.notifications.test_notifications import mail as mail  # noqa: F401  (the fixture)

NAME = "Zoë Łukasiewicz"  # beyond Latin-1: the PDF must still print it


@dataclass
class Family:
    history: History
    coord: dict[str, str]
    tutor: dict[str, str]  # t0, who teaches s0 and s1
    other_tutor: dict[str, str]  # t1, who teaches neither


@pytest.fixture
async def family(app: Starlette, clock: FixedClock) -> Family:
    """Ten weeks from 6 January 2025: tutor t0 with students s0 (renamed, guardian
    consented) and s1 (guardian without AI-processing consent)."""
    history = generate(seed=4, weeks=10, tutors=2, students_per_tutor=2)
    async with app.state.services.sessionmaker() as db, db.begin():
        await write(db, history, now=clock.now())
        await rebuild_all(db, now=clock.now(), consent_age=13)
        s0 = await db.get(Student, history.ids["s0"])
        assert s0 is not None
        await db.execute(update(User).where(User.id == s0.user_id).values(display_name=NAME))
        await db.execute(
            update(Guardianship)
            .where(Guardianship.student_id == history.ids["s1"])
            .values(ai_processing_consent=False)
        )
        tutors = {
            key: await db.scalar(select(Tutor.user_id).where(Tutor.id == history.ids[key]))
            for key in ("t0", "t1")
        }
    return Family(
        history,
        coord=await _bearer(app, clock, history.ids["coord"]),
        tutor=await _bearer(app, clock, str(tutors["t0"])),
        other_tutor=await _bearer(app, clock, str(tutors["t1"])),
    )


def pdf_text(data: bytes) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)


async def test_a_report_goes_from_sessions_to_the_guardians_inbox_with_its_pdf(
    app: Starlette, client: httpx.AsyncClient, clock: FixedClock, family: Family, mail: MailServer
) -> None:
    """February's report: drafted by the coordinator, edited and approved by the tutor,
    sent once to the consenting guardian with a PDF that says what the month held."""
    h = family.history
    february = [p for p in h.sessions if p.student == "s0" and p.start.date().month == 2]
    r = await client.post(
        f"/api/v1/students/{h.ids['s0']}/progress-reports",
        json={"day": "2025-02-14"},
        headers=family.coord,
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    report = draft["report"]
    assert draft["status"] == "draft"
    assert (draft["period_start"], draft["period_end"]) == ("2025-02-01", "2025-02-28")
    assert report["period_label"] == "February 2025" and report["student_name"] == NAME
    assert len(draft["session_ids"]) == len(february) == report["figures"]["sessions"]
    attended = sum(p.student_present for p in february)
    assert report["figures"]["attended"] == attended
    assert f"came to {attended} of {len(february)} sessions" in report["attendance"]
    topics = {p.topic for p in february if p.documented}
    assert {i["text"].split(" (")[0] for i in report["covered"]} == topics

    # Another tutor may not see it; this one edits and approves it.
    r = await client.get(f"/api/v1/progress-reports/{draft['id']}", headers=family.other_tutor)
    assert r.status_code == 404
    edited = report["summary"] + " Zoë has worked hard this month."
    r = await client.patch(
        f"/api/v1/progress-reports/{draft['id']}",
        json={"summary": edited},
        headers=family.tutor,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/progress-reports/{draft['id']}/approve", headers=family.tutor)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = await client.post(f"/api/v1/progress-reports/{draft['id']}/approve", headers=family.tutor)
    assert r.status_code == 409
    r = await client.patch(
        f"/api/v1/progress-reports/{draft['id']}", json={"summary": "x"}, headers=family.tutor
    )
    assert r.status_code == 409

    await run_handlers(app, clock)
    await run_handlers(app, clock)  # a second pass queues nothing twice
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 1
    await settle(mail.inbox, 1)
    [message] = mail.inbox.parsed()
    assert message["Subject"] == f"{NAME}'s progress report for February 2025"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "worked hard this month" in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "progress-report-zoe-lukasiewicz-2025-02-01.pdf"
    printed = " ".join(pdf_text(attachment.get_content()).split())
    assert f"Progress report: {NAME}, February 2025" in printed
    assert "worked hard this month" in printed
    assert f"came to {attended} of {len(february)} sessions" in printed
    for topic in topics:
        assert topic in printed

    # The same PDF is there for the reviewer to download.
    r = await client.get(f"/api/v1/progress-reports/{draft['id']}/report.pdf", headers=family.tutor)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert NAME in pdf_text(r.content)


async def test_no_report_email_without_ai_consent_and_nothing_to_report_is_a_404(
    app: Starlette, client: httpx.AsyncClient, clock: FixedClock, family: Family, mail: MailServer
) -> None:
    """A guardian without AI-processing consent gets no report (the log says why); a
    month without sessions cannot be reported on."""
    h = family.history
    r = await client.post(
        f"/api/v1/students/{h.ids['s1']}/progress-reports",
        json={"day": "2025-01-20"},
        headers=family.tutor,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/progress-reports/{r.json()['id']}/approve", headers=family.coord
    )
    assert r.status_code == 200
    await run_handlers(app, clock)
    async with app.state.services.sessionmaker() as db:
        rows = list(
            await db.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.PROGRESS_REPORT))
        )
    assert [(d.status, d.attachment) for d in rows] == [(DeliveryStatus.SKIPPED, None)]
    assert "ai_processing_consent" in (rows[0].skip_reason or "")
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 0

    r = await client.post(
        f"/api/v1/students/{h.ids['s1']}/progress-reports",
        json={"day": "2025-06-01"},
        headers=family.coord,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "nothing_to_report"


async def test_only_the_students_tutors_and_coordinators_draft_reports(
    client: httpx.AsyncClient, family: Family, world: World
) -> None:
    """A tutor who never taught the student, or a guardian, is refused; another
    organisation's coordinator does not find the student."""
    h = family.history
    body = {"day": "2025-02-14"}
    url = f"/api/v1/students/{h.ids['s0']}/progress-reports"
    r = await client.post(url, json=body, headers=family.other_tutor)
    assert r.status_code == 403
    r = await client.post(url, json=body, headers=world.as_("g1"))
    assert r.status_code == 403
    r = await client.post(url, json=body, headers=world.as_("coord"))
    assert r.status_code == 404
    r = await client.get("/api/v1/progress-reports", headers=family.tutor)
    assert r.status_code == 200 and r.json()["total"] == 0


def test_periods_are_calendar_months_or_monday_weeks() -> None:
    """A month runs from its first to its last day; a week from Monday to Sunday."""
    from sessions.analytics import Period
    from sessions.progress_reports import period_bounds

    assert period_bounds(date(2024, 2, 14), Period.MONTH) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
        "February 2024",
    )
    assert period_bounds(date(2025, 2, 14), Period.WEEK)[:2] == (
        date(2025, 2, 10),
        date(2025, 2, 16),
    )


async def test_the_sweep_drafts_each_students_report_once_the_month_ends(
    app: Starlette, family: Family
) -> None:
    """On 1 March every student with a February session gets a February draft; later
    sweeps that month draft nothing more."""
    from datetime import UTC, datetime

    from sessions.analytics import Period
    from sessions.models import ProgressReportRecord
    from sessions.progress_reports import ProgressReportSweep

    sweep = ProgressReportSweep(Period.MONTH)
    async with app.state.services.sessionmaker() as db, db.begin():
        assert await sweep(db, datetime(2025, 2, 28, 23, 0, tzinfo=UTC)) == 4  # January's
        assert await sweep(db, datetime(2025, 3, 1, 0, 30, tzinfo=UTC)) == 4
        assert await sweep(db, datetime(2025, 3, 20, 9, 0, tzinfo=UTC)) == 0
        rows = list(await db.scalars(select(ProgressReportRecord)))
    periods = sorted({(r.period_start.isoformat(), r.status.value) for r in rows})
    assert periods == [("2025-01-01", "draft"), ("2025-02-01", "draft")]
    assert len(rows) == 8


async def test_the_family_lists_approved_reports_and_downloads_the_pdf(
    app: Starlette, client: httpx.AsyncClient, clock: FixedClock, family: Family
) -> None:
    """The student's guardian and the student see approved reports only, and get the PDF;
    another family gets the same 404 as for a report that does not exist."""
    from scheduling.models import Guardian

    h = family.history
    drafted = []
    for day in ("2025-01-20", "2025-02-14"):
        r = await client.post(
            f"/api/v1/students/{h.ids['s0']}/progress-reports",
            json={"day": day},
            headers=family.coord,
        )
        drafted.append(r.json()["id"])
    r = await client.post(f"/api/v1/progress-reports/{drafted[0]}/approve", headers=family.coord)
    assert r.status_code == 200
    async with app.state.services.sessionmaker() as db:
        users = {}
        for key in ("s0", "s1"):
            guardian = await db.scalar(
                select(Guardian.user_id)
                .join(Guardianship, Guardianship.guardian_id == Guardian.id)
                .where(Guardianship.student_id == h.ids[key])
            )
            users[key] = str(guardian)
        student = await db.get(Student, h.ids["s0"])
        assert student is not None
        users["student"] = student.user_id
    mine = await _bearer(app, clock, users["s0"])
    other = await _bearer(app, clock, users["s1"])
    herself = await _bearer(app, clock, users["student"])
    for who in (mine, herself):
        r = await client.get(f"/api/v1/students/{h.ids['s0']}/progress-reports", headers=who)
        assert r.status_code == 200
        assert [i["id"] for i in r.json()["items"]] == [drafted[0]]  # the draft is not there
        r = await client.get(f"/api/v1/progress-reports/{drafted[0]}/report.pdf", headers=who)
        assert r.status_code == 200 and NAME in pdf_text(r.content)
        r = await client.get(f"/api/v1/progress-reports/{drafted[1]}/report.pdf", headers=who)
        assert r.status_code == 404  # a draft is the reviewers' alone
    r = await client.get(f"/api/v1/students/{h.ids['s0']}/progress-reports", headers=other)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/progress-reports/{drafted[0]}/report.pdf", headers=other)
    assert r.status_code == 404
