"""The web app's family journey in real Chromium; run inside a network namespace with only lo.

Started by tests/browser/test_web_app.py as
``unshare --net sh -c 'ip link set lo up && python -m tests.browser.portal OUT SHOTS'``.
Serves Liveclass on embedded defaults and seeds the demo school; adds yesterday's
lesson of the demo tutor and student, transcribed and ended, so that the server's
own worker drafts its document (the offline drafter); the tutor approves it through
the API, and the server emails the guardian (an .eml under var/outbox/). Then, with
the keyboard alone, the guardian opens the email's link, logs in, reads the summary,
goes to their children's page and turns AI processing off. Each page is checked with
axe-core and photographed into SHOTS. Writes what it saw to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import email
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, async_playwright
from pypdf import PdfReader
from sqlalchemy import select

from bench.lesson_lab import seed_demo
from tests.browser.session import (
    CHROMIUM_ARGS,
    LIVECLASS,
    WAIT,
    axe_check,
    interfaces,
    log_in,
    tab_to,
)

PORT = 8766
REPORT_LINE = " Sam has grown in confidence with fractions."
BASE = f"http://127.0.0.1:{PORT}"
LESSON = [
    ("tutor", "Today we practise adding fractions with unlike denominators."),
    ("student", "I find common denominators hard. Is that the bottom number?"),
    ("tutor", "Yes. Find a number both bottoms divide into, like six for halves and thirds."),
    ("student", "So one half is three sixths and one third is two sixths: five sixths."),
    ("tutor", "Exactly. For homework, try the ten sums on page twelve."),
]


@asynccontextmanager
async def _database() -> AsyncIterator[Any]:
    """One transaction on the server's own database (its settings come from the env)."""
    from api.settings import Settings
    from core.database import create_engine, create_sessionmaker

    engine = create_engine(Settings())
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            yield db
    finally:
        await engine.dispose()


async def _book(
    db: Any,
    *,
    org_id: str,
    tutor_id: str,
    student_id: str,
    start: datetime,
    joined: list[tuple[str, str, datetime]],
) -> str:
    """A one-hour mathematics lesson from ``start`` (booked a week before), and who joined
    it when: (user id, role, at)."""
    from scheduling.bookings import book_session
    from sessions.models import PresenceType
    from sessions.service import record_presence

    live = await book_session(
        db,
        org_id=org_id,
        tutor_id=tutor_id,
        student_ids=[student_id],
        subject="mathematics",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        now=start - timedelta(days=7),
    )
    for participant_id, role, at in joined:
        await record_presence(
            db,
            session_id=live.id,
            participant_id=participant_id,
            role=role,
            type_=PresenceType.JOINED,
            at=at,
        )
    return str(live.id)


async def seed_last_lesson(tutor_email: str, student_email: str) -> str:
    """Yesterday's lesson of the demo pair: both joined, five lines transcribed, a line of
    chat, ended. The server's worker drafts its document from here, as after any lesson."""
    from scheduling.models import Student, Tutor
    from scheduling.people import find_user_by_email
    from sessions.chat import record_chat
    from sessions.events import record
    from sessions.lifecycle import Action
    from sessions.models import TranscriptSegment
    from sessions.service import apply

    async with _database() as db:
        tutor = await find_user_by_email(db, tutor_email)
        student = await find_user_by_email(db, student_email)
        assert tutor is not None and student is not None
        tutor_id = await db.scalar(select(Tutor.id).where(Tutor.user_id == tutor.id))
        student_id = await db.scalar(select(Student.id).where(Student.user_id == student.id))
        start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        lesson = await _book(
            db,
            org_id=tutor.org_id,
            tutor_id=tutor_id,
            student_id=student_id,
            start=start,
            joined=[
                (tutor.id, "tutor", start),
                (student.id, "student", start + timedelta(minutes=1)),
            ],
        )
        for index, (role, text) in enumerate(LESSON):
            user = tutor if role == "tutor" else student
            db.add(
                TranscriptSegment(
                    session_id=lesson,
                    index=index,
                    start=index * 6.0,
                    end=index * 6.0 + 5,
                    participant_id=user.id,
                    speaker=user.display_name,
                    role=role,
                    text=text,
                )
            )
        await record_chat(
            db,
            line_id="cht_seeded_0",
            session_id=lesson,
            participant_id=student.id,
            name=student.display_name,
            role="student",
            text="Is the homework page 12 or 13?",
            at=start + timedelta(minutes=50),
        )
        end = start + timedelta(hours=1)
        record(db, "transcript.ready", session_id=lesson, at=end, payload={"segments": 5})
        await apply(db, lesson, Action.END, now=end)
        return lesson


@asynccontextmanager
async def chromium(console: list[str]) -> AsyncIterator[tuple[BrowserContext, Page]]:
    """A fresh Chromium with its own profile, and its first page, whose console messages
    and script errors are kept in ``console``; closed on the way out."""
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(),
            executable_path="/usr/bin/chromium",
            headless=False,
            args=CHROMIUM_ARGS,
        )
        try:
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            yield ctx, page
        finally:
            await ctx.close()


async def poll(what: str, check: Any, within: float) -> Any:
    deadline = time.monotonic() + within * WAIT
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within * WAIT:.0f} s")
        await asyncio.sleep(0.25)


async def login(client: httpx.AsyncClient, who: dict[str, str]) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json=who)
    r.raise_for_status()
    return {"authorization": f"Bearer {r.json()['access_token']}"}


EDITED = (
    "Sam added fractions with unlike denominators today and found that one half and one "
    "third make five sixths. Homework: the ten sums on page twelve."
)


async def review_as_tutor(
    page: Page, who: dict[str, str], lesson: str, shots: Path, result: dict[str, Any]
) -> None:
    """The tutor, with the keyboard alone: log in, open the draft from the desk, check a
    citation against the transcript, rewrite the summary for families, save, approve."""
    axe = Axe()
    await log_in_by_keyboard(page, who, landing="ul.reviews a")
    result["desk"] = {"main": await main_text(page)}
    result["axe"]["desk"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-desk.png"), full_page=True)
    result["shots"].append("app-desk.png")
    result["tabbed_to_draft"] = await tab_to(
        page, f"e.tagName === 'A' && e.getAttribute('href') === '#/review/{lesson}'"
    )
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#parent-summary")
    result["axe"]["review"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-review.png"), full_page=True)
    result["shots"].append("app-review.png")
    result["review_page"] = {"main": await main_text(page)}
    # A citation shows the transcript line it names.
    result["tabbed_to_cite"] = await tab_to(page, "e.classList.contains('cite')")
    cited = await page.evaluate("document.activeElement.textContent")
    await page.keyboard.press("Enter")
    result["cite"] = {
        "button": cited,
        "focused": await page.evaluate("document.activeElement.id"),
        "highlighted": await page.evaluate(
            "[...document.querySelectorAll('.transcript li.cited')].map((li) => li.id)"
        ),
    }
    result["tabbed_to_summary"] = await tab_to(page, "e.id === 'parent-summary'")
    await page.keyboard.press("Control+A")
    await page.keyboard.type(EDITED)
    result["tabbed_to_save"] = await tab_to(page, "e.textContent === 'Save changes'")
    await page.keyboard.press("Enter")

    async def said(start: str) -> bool:
        return (await page.inner_text("#status")).startswith(start)

    await poll("the draft to be saved", lambda: said("Saved"), 10)
    result["status_after_save"] = await page.inner_text("#status")
    result["tabbed_to_approve"] = await tab_to(
        page, "e.textContent === 'Approve and send to families'"
    )
    await page.keyboard.press("Enter")
    await poll("the draft to be approved", lambda: said("Approved"), 10)
    result["status_after_approve"] = await page.inner_text("#status")
    result["approved_meta"] = await page.inner_text("p.meta")
    await page.click("#logout")
    await page.wait_for_selector("#login-form")


async def review_report_as_tutor(
    page: Page, who: dict[str, str], report: str, shots: Path, result: dict[str, Any]
) -> None:
    """The tutor, with the keyboard alone: open the month's progress report from the desk,
    add a line to its summary, preview its PDF, and approve it for the family."""
    axe = Axe()
    await log_in_by_keyboard(page, who, landing="ul.reports a")
    result["report_desk"] = {"main": await main_text(page)}
    result["tabbed_to_report"] = await tab_to(
        page, f"e.tagName === 'A' && e.getAttribute('href') === '#/reports/{report}'"
    )
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#report-summary")
    result["axe"]["report"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-report.png"), full_page=True)
    result["shots"].append("app-report.png")
    result["report_page"] = {"main": await main_text(page)}
    result["tabbed_to_report_summary"] = await tab_to(page, "e.id === 'report-summary'")
    await page.keyboard.press("Control+End")
    await page.keyboard.type(REPORT_LINE)
    result["tabbed_to_preview"] = await tab_to(page, "e.textContent === 'Preview the PDF'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("a[download]")
    result["preview_link"] = await page.evaluate("document.activeElement.textContent")

    async def said(start: str) -> bool:
        return (await page.inner_text("#status")).startswith(start)

    result["tabbed_to_approve_report"] = await tab_to(
        page, "e.textContent === 'Approve and send to the family'"
    )
    await page.keyboard.press("Enter")
    await poll("the report to be approved", lambda: said("Approved"), 10)
    result["report_meta"] = await page.inner_text("p.meta")
    await page.click("#logout")
    await page.wait_for_selector("#login-form")


async def seed_no_show(client: httpx.AsyncClient, coordinator: dict[str, str]) -> dict[str, str]:
    """Riley teaches Alex a lesson that began 12 minutes ago; Alex came, Riley did not.
    Morgan is free and qualified. The server's own sweep raises the tutor_no_show."""
    made = {}
    for kind, key, body in (
        ("tutors", "riley", {"display_name": "Riley Rivers"}),
        ("tutors", "morgan", {"display_name": "Morgan Moss"}),
        ("students", "alex", {"display_name": "Alex Amber", "level": "year-9"}),
    ):
        extra = {"subjects": ["mathematics"], "levels": ["year-9"]} if kind == "tutors" else {}
        r = await client.post(
            f"/api/v1/{kind}",
            json=body | extra | {"email": f"{key}@demo.example.org", "time_zone": "Europe/London"},
            headers=coordinator,
        )
        r.raise_for_status()
        made[key] = r.json()["id"]
        if kind == "tutors":
            q = {"items": [{"subject": "mathematics", "level": "year-9"}]}
            r = await client.put(
                f"/api/v1/tutors/{made[key]}/qualifications", json=q, headers=coordinator
            )
            r.raise_for_status()
    session_id = await _book_started(made["riley"], made["alex"])
    # Alex asks for a weekly maths tutor: a request, waiting for a coordinator to match.
    day = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    r = await client.post(
        "/api/v1/requests",
        json={
            "student_id": made["alex"],
            "subject": "mathematics",
            "level": "year-9",
            "windows": [{"start": day.isoformat(), "end": (day + timedelta(hours=3)).isoformat()}],
            "duration_minutes": 60,
        },
        headers=coordinator,
    )
    r.raise_for_status()
    made["request"] = r.json()["id"]

    async def raised() -> bool:
        r = await client.get(
            f"/api/v1/exceptions?session_id={session_id}&kind=tutor_no_show", headers=coordinator
        )
        return bool(r.json()["items"])

    await poll("the sweep to raise the tutor's no-show", raised, 30)
    return made | {"session_id": session_id}


async def _book_started(tutor_id: str, student_id: str) -> str:
    """A lesson that began 12 minutes ago, the student in it since its first minute, and
    not recorded: no guardian has consented (what the room's recorder reports)."""
    from scheduling.models import Student
    from sessions.documentation import record_recording_decision

    async with _database() as db:
        student = await db.get(Student, student_id)
        assert student is not None
        start = datetime.now(UTC) - timedelta(minutes=12)
        lesson = await _book(
            db,
            org_id=student.org_id,
            tutor_id=tutor_id,
            student_id=student_id,
            start=start,
            joined=[(student.user_id, "student", start + timedelta(minutes=1))],
        )
        await record_recording_decision(
            db, lesson, student.user_id, "student", False, now=start + timedelta(minutes=1)
        )
        return lesson


async def coordinate(
    page: Page,
    who: dict[str, str],
    demo_session: str,
    demo_start: str,
    shots: Path,
    result: dict[str, Any],
    acknowledge_elsewhere: Callable[[], Awaitable[None]],
) -> None:
    """The coordinator: give the no-show's lesson to the best substitute, then book a
    weekly series that clashes with the demo lesson (each conflict is shown), and again
    from tomorrow (booked). The keyboard alone, but for the date and time inputs."""
    axe = Axe()
    await log_in_by_keyboard(page, who, landing="ul.exceptions")

    async def rooms_shown() -> bool:
        return "Alex Amber (student, since" in await page.inner_text("div.live")

    await poll("the live feed's snapshot", rooms_shown, 15)
    # Live: an exception acknowledged elsewhere shows here without a reload.
    await acknowledge_elsewhere()

    async def acknowledged_shown() -> bool:
        return "; acknowledged." in await main_text(page)

    await poll("the ops feed to bring the change", acknowledged_shown, 15)
    result["today"] = {"main": await main_text(page)}
    result["axe"]["today"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-today.png"), full_page=True)
    result["shots"].append("app-today.png")
    result["tabbed_to_find"] = await tab_to(page, "e.textContent === 'Find a substitute'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".substitutes ol")
    result["substitutes"] = await page.inner_text("li[data-kind=tutor_no_show] .substitutes")
    result["tabbed_to_give"] = await tab_to(page, "e.textContent.startsWith('Give the lesson to')")
    await page.keyboard.press("Enter")

    async def said(start: str) -> bool:
        return (await page.inner_text("#status")).startswith(start)

    await poll("the substitution", lambda: said("Morgan Moss now teaches"), 10)
    result["status_after_substitute"] = await page.inner_text("#status")

    result["tabbed_to_book"] = await tab_to(page, "e.getAttribute('href') === '#/book'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("form.booking")
    # Taylor teaches Sam the demo lesson now: the same time, weekly, clashes today.
    local = datetime.fromisoformat(demo_start).astimezone(ZoneInfo("Europe/London"))
    tomorrow = local + timedelta(days=1)
    await page.focus("#book-tutor")
    await page.keyboard.type("Taylor")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Sam")
    await page.fill("#book-first", local.date().isoformat())
    await page.fill("#book-start", f"{local:%H:%M}")
    for day in (local, tomorrow):
        box = f"#day-{day:%a}"[:7].upper().replace("#DAY", "#day")  # #day-SA
        if not await page.is_checked(box):
            await page.focus(box)
            await page.keyboard.press("Space")
    result["axe"]["book"] = await axe_check(page, axe)
    result["tabbed_to_submit"] = await tab_to(page, "e.textContent === 'Book the series'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".outcome h2")
    result["booking_refused"] = await page.inner_text(".outcome")
    await page.screenshot(path=str(shots / "app-book.png"), full_page=True)
    result["shots"].append("app-book.png")
    await page.fill("#book-first", tomorrow.date().isoformat())
    await page.focus("#book-count")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await poll("the series to be booked", lambda: said("Booked"), 10)
    result["booking_made"] = await page.inner_text(".outcome")

    # The calendar: Taylor's week holds the demo lesson; cancel it as the family asked.
    result["tabbed_to_calendar"] = await tab_to(page, "e.getAttribute('href') === '#/calendar'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#calendar-who")
    await page.focus("#calendar-who")
    await page.keyboard.type("Taylor")
    await page.wait_for_selector(f"li[data-session='{demo_session}']")
    result["calendar"] = {"main": await main_text(page)}
    result["axe"]["calendar"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-calendar.png"), full_page=True)
    result["shots"].append("app-calendar.png")
    result["tabbed_to_cancel"] = await tab_to(
        page,
        f"e.textContent === 'Cancel' && e.closest('li').dataset.session === '{demo_session}'",
        presses=120,
    )
    await page.keyboard.press("Enter")  # the form opens on "Who asked"
    await page.keyboard.type("The student")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Sam is unwell")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await poll("the cancellation", lambda: said("Cancelled"), 10)
    result["status_after_cancel"] = await page.inner_text("#status")
    # Next week's first lesson of the series, an hour later.
    this_week = await page.inner_text("li.day h2")
    result["tabbed_to_next_week"] = await tab_to(page, "e.textContent === 'Next week'")
    await page.keyboard.press("Enter")

    async def next_week_shown() -> bool:
        heading = await page.query_selector("li.day h2")
        return heading is not None and await heading.inner_text() != this_week

    await poll("next week's calendar", next_week_shown, 10)
    await page.wait_for_selector("li.day li[data-session] button")
    moved = await page.evaluate(
        "document.querySelector('li.day li[data-session] button').closest('li').dataset.session"
    )
    await page.click(f"li[data-session='{moved}'] >> text=Move")
    field = f"#move-{moved}"
    shown = await page.input_value(field)  # YYYY-MM-DDTHH:MM, the browser's zone
    later = f"{datetime.fromisoformat(shown) + timedelta(hours=1):%Y-%m-%dT%H:%M}"
    await page.fill(field, later)
    await page.click(f"li[data-session='{moved}'] >> text=Move it")
    await poll("the move", lambda: said("Moved"), 10)
    result["status_after_move"] = await page.inner_text("#status")
    result["moved"] = moved

    # People: the guardian's consents as the guardian left them (AI processing off).
    result["tabbed_to_people"] = await tab_to(page, "e.getAttribute('href') === '#/people'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("table caption")
    result["people"] = {"main": await main_text(page)}
    result["axe"]["people"] = await axe_check(page, axe)

    # Adding people: a tutor with an email already taken is refused in place; a student
    # and her guardian are added (keyboard only; each field reached with Tab).
    async def fill(form: str, values: dict[str, str]) -> bool:
        reached = True
        for label, text in values.items():
            reached &= await tab_to(
                page,
                f"e.labels && e.labels[0] && e.labels[0].textContent === {label!r} && "
                f"e.closest('section.add-person').querySelector('h3').textContent === {form!r}",
                presses=120,
            )
            if text.startswith("choose:"):
                await page.keyboard.type(text.removeprefix("choose:"))
            else:
                await page.keyboard.press("Control+A")
                await page.keyboard.type(text)
        reached &= await tab_to(page, f"e.tagName === 'BUTTON' && e.textContent === {form!r}")
        await page.keyboard.press("Enter")
        return reached

    added = result.setdefault("added_keys", {})
    added["tutor"] = await fill(
        "Add a tutor", {"Name": "Riley Again", "Email": "riley@demo.example.org"}
    )
    await poll("the refusal", lambda: said("Not added"), 10)
    result["tutor_refused"] = await page.inner_text("section.add-person:nth-of-type(1) .outcome")
    added["student"] = await fill(
        "Add a student", {"Name": "Jo Jones", "Email": "jo@demo.example.org", "Level": "year-7"}
    )
    await poll("the student", lambda: said("Added student Jo Jones"), 10)
    added["guardian"] = await fill(
        "Add a guardian",
        {
            "Name": "Pat Jones",
            "Email": "pat@demo.example.org",
            "Their child": "choose:Jo",
            "Relationship (mother, father, carer…)": "mother",
        },
    )
    await poll("the guardian", lambda: said("Added guardian Pat Jones"), 10)
    result["people_after_adding"] = await main_text(page)
    result["axe"]["people_forms"] = await axe_check(page, axe)

    # Riley's teaching, hours and limits, from People: a subject added, weekly hours (a
    # first try refused in place: it ends before it starts), a daily limit.
    keys = result.setdefault("tutor_keys", {})
    keys["open"] = await tab_to(page, "e.tagName === 'A' && e.textContent === 'Riley Rivers'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("form.settings")
    keys["add_subject"] = await tab_to(page, "e.textContent === 'Add a subject'")
    await page.keyboard.press("Enter")  # the new row's Subject takes the focus
    await page.keyboard.type("physics")
    await page.keyboard.press("Tab")
    await page.keyboard.type("year-10")
    keys["save_subjects"] = await tab_to(page, "e.textContent === 'Save qualifications'")
    await page.keyboard.press("Enter")
    await poll("the qualifications", lambda: said("Saved qualifications"), 10)
    keys["add_hours"] = await tab_to(page, "e.textContent === 'Add hours'")
    await page.keyboard.press("Enter")  # Monday, 16:00 to 19:00
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # To
    await page.keyboard.press("Control+A")
    await page.keyboard.type("15:00")
    keys["save_hours"] = await tab_to(page, "e.textContent === 'Save availability'")
    await page.keyboard.press("Enter")
    await poll("the refusal", lambda: said("Availability not saved"), 10)
    result["hours_refused"] = await page.inner_text("form.settings:nth-of-type(2) .outcome")
    result["axe"]["tutor"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-tutor.png"), full_page=True)
    result["shots"].append("app-tutor.png")
    await page.fill(
        "form.settings:nth-of-type(2) ul.rows li:first-child input[placeholder='HH:MM'] >> nth=1",
        "19:00",
    )
    keys["save_hours_again"] = await tab_to(page, "e.textContent === 'Save availability'")
    await page.keyboard.press("Enter")
    await poll("the weekly hours", lambda: said("Saved availability"), 10)
    keys["per_day"] = await tab_to(
        page, "e.labels && e.labels[0] && e.labels[0].textContent === 'Lessons a day at most'"
    )
    await page.keyboard.type("3")
    keys["save_limits"] = await tab_to(page, "e.textContent === 'Save limits'")
    await page.keyboard.press("Enter")
    await poll("the limits", lambda: said("Saved limits"), 10)

    # Requests: Alex's, matched by hand: the ranked tutors, then Book with the first.
    result["tabbed_to_requests"] = await tab_to(page, "e.getAttribute('href') === '#/requests'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("li.request")
    result["tabbed_to_find_tutors"] = await tab_to(page, "e.textContent === 'Find tutors'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".candidates ol")
    result["candidates"] = await page.inner_text(".candidates")
    result["axe"]["requests"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-requests.png"), full_page=True)
    result["shots"].append("app-requests.png")
    result["tabbed_to_book_request"] = await tab_to(page, "e.textContent.startsWith('Book with ')")
    await page.keyboard.press("Enter")
    try:
        await poll("the request to be booked", lambda: said("Booked Alex Amber with"), 10)
    except TimeoutError:
        result["status_stuck"] = await page.inner_text("#status")
        raise
    result["status_after_request"] = await page.inner_text("#status")

    # A new request, as a family asked by phone: Alex, year-9 maths, tomorrow after school.
    await page.wait_for_selector("#request-student")
    result["tabbed_to_request_form"] = await tab_to(page, "e.id === 'request-student'")
    await page.keyboard.type("Alex")  # a closed select picks the option typed
    result["request_student"] = await page.evaluate(
        "document.getElementById('request-student').selectedOptions[0].textContent"
    )
    await tab_to(page, "e.id === 'request-level'")
    await page.keyboard.type("year-9")
    await tab_to(page, "e.textContent === 'Store the request'")
    await page.keyboard.press("Enter")
    await poll("the request to be stored", lambda: said("Stored"), 10)
    result["status_after_new_request"] = await page.inner_text("#status")
    result["requests_after"] = await main_text(page)

    # Insight: the month's figures per student, with the lesson the tutor reviewed.
    result["tabbed_to_insight"] = await tab_to(page, "e.getAttribute('href') === '#/insight'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("table.trends tbody tr")
    result["insight"] = {"main": await main_text(page)}
    result["axe"]["insight"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-insight.png"), full_page=True)
    result["shots"].append("app-insight.png")

    # What was emailed, and what failed: the summary the guardian got is there, sent.
    result["tabbed_to_messages"] = await tab_to(page, "e.getAttribute('href') === '#/messages'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#email-status")
    result["messages"] = {"main": await main_text(page)}
    result["axe"]["messages"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-messages.png"), full_page=True)
    result["shots"].append("app-messages.png")

    # Children's data: the audit log says who read what (the family's and the tutor's
    # reads of this journey are in it); a student's page offers the family's download.
    result["tabbed_to_audit"] = await tab_to(page, "e.getAttribute('href') === '#/audit'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#audit-student")
    await page.wait_for_selector("main table tbody tr")
    result["audit"] = {"main": await main_text(page)}
    result["axe"]["audit"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-audit.png"), full_page=True)
    result["shots"].append("app-audit.png")
    result["tabbed_to_people"] = await tab_to(page, "e.getAttribute('href') === '#/people'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("main table")
    result["tabbed_to_student"] = await tab_to(
        page, "e.textContent === 'Alex Amber' && e.tagName === 'A'", presses=120
    )
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#erase-confirm")
    result["tabbed_to_download"] = await tab_to(page, "e.textContent === 'Prepare the download'")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("main a[download]")
    result["student_data"] = {"main": await main_text(page)}
    result["axe"]["student"] = await axe_check(page, axe)
    await page.screenshot(path=str(shots / "app-student.png"), full_page=True)
    result["shots"].append("app-student.png")


async def log_in_by_keyboard(page: Page, who: dict[str, str], *, landing: str) -> None:
    """Open the app, type the login (the email field has the focus) and wait for the
    role's home page to show ``landing``."""
    await log_in(page, BASE, who)
    await page.wait_for_selector(landing)


async def main_text(page: Page) -> str:
    return str(await page.evaluate("document.getElementById('main').innerText"))


async def run(out: Path, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp())
    env = {
        **os.environ,
        "LIVECLASS_DATA_DIR": str(data / "var"),
        "LIVECLASS_ICE_ADDRESSES": "127.0.0.1",
        "LIVECLASS_PUBLIC_URL": BASE,
        "LIVECLASS_EVENT_POLL_SECONDS": "0.2",
        "LIVECLASS_LIFECYCLE_SWEEP_SECONDS": "1",
    }
    env = {
        k: v for k, v in env.items() if k not in ("LIVECLASS_DATABASE_URL", "LIVECLASS_REDIS_URL")
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("LIVECLASS_")})
    for name in ("LIVECLASS_DATABASE_URL", "LIVECLASS_REDIS_URL"):
        os.environ.pop(name, None)
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(
        [LIVECLASS, "serve", "--host", "127.0.0.1", "--port", str(PORT)],
        cwd=data,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    result: dict[str, Any] = {"interfaces": interfaces(), "axe": {}, "shots": []}
    try:
        async with httpx.AsyncClient(base_url=BASE, timeout=30) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await poll("the server to start", healthy, 30)
            demo = seed_demo(data, env)
            creds = {
                role: {"email": demo[role]["email"], "password": demo[role]["password"]}
                for role in ("tutor", "student", "guardian", "coordinator")
            }
            lesson = await seed_last_lesson(creds["tutor"]["email"], creds["student"]["email"])
            result["lesson"] = lesson
            coordinator = await login(client, creds["coordinator"])
            result["no_show"] = await seed_no_show(client, coordinator)
            tutor = await login(client, creds["tutor"])

            async def drafted() -> bool:
                r = await client.get(f"/api/v1/sessions/{lesson}/document", headers=tutor)
                return r.status_code == 200

            await poll("the worker to draft the lesson's document", drafted, 60)
            draft = (await client.get(f"/api/v1/sessions/{lesson}/document", headers=tutor)).json()
            result["drafted_summary"] = draft["document"]["parent_summary"]["text"]

            console: list[str] = result.setdefault("console", [])
            async with chromium(console) as (ctx, page):
                await review_as_tutor(page, creds["tutor"], lesson, shots, result)
            r = await client.get(f"/api/v1/sessions/{lesson}/document", headers=tutor)
            result["document_after_review"] = {
                "status": r.json()["status"],
                "summary": r.json()["document"]["parent_summary"]["text"],
            }

            outbox = data / "var" / "outbox"

            async def mailed() -> str | None:
                for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
                    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
                    body = message.get_body(preferencelist=("plain",))
                    if body is None or message["To"] != creds["guardian"]["email"]:
                        continue
                    text = str(body.get_content())
                    link = re.search(r"(http://\S+#/summaries/\S+)", text)
                    stop = re.search(r"(http://\S+/unsubscribe/\S+)", text)
                    if link:
                        result["stop_link"] = stop.group(1) if stop else None
                        return link.group(1)
                return None

            link = await poll("the summary email", mailed, 60)
            result["approved_summary"] = EDITED
            result["email_link"] = link

            # The month's progress report, drafted once the approved lesson is in its facts.
            held = (await client.get(f"/api/v1/sessions/{lesson}", headers=coordinator)).json()
            student_id, lesson_day = held["student_ids"][0], held["scheduled_start"][:10]

            async def reported() -> str | None:
                r = await client.post(
                    f"/api/v1/students/{student_id}/progress-reports",
                    json={"day": lesson_day},
                    headers=coordinator,
                )
                body = r.json()
                ready = r.status_code == 201 and body["report"]["covered"]
                return str(body["id"]) if ready else None

            report = await poll("the progress report to be drafted", reported, 30)
            async with chromium(console) as (ctx, page):
                await review_report_as_tutor(page, creds["tutor"], report, shots, result)

            async def report_mailed() -> dict[str, Any] | None:
                for path in sorted(outbox.glob("*.eml")):
                    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
                    if "progress report" not in str(message["Subject"]):
                        continue
                    assert isinstance(message, EmailMessage)
                    [pdf] = list(message.iter_attachments())
                    reader = PdfReader(io.BytesIO(pdf.get_content()))
                    return {
                        "to": message["To"],
                        "subject": message["Subject"],
                        "filename": pdf.get_filename(),
                        "pdf_text": " ".join(
                            " ".join((p.extract_text() or "") for p in reader.pages).split()
                        ),
                    }
                return None

            result["report_email"] = await poll("the progress report email", report_mailed, 60)
            result["guardian_email"] = creds["guardian"]["email"]
            guardian = await login(client, creds["guardian"])
            me = (await client.get("/api/v1/me", headers=guardian)).json()

            async with chromium(console) as (ctx, page):
                axe = Axe()
                await page.goto(link)
                await page.wait_for_selector("#login-form")
                result["axe"]["login"] = await axe_check(page, axe)
                await page.screenshot(path=str(shots / "app-login.png"), full_page=True)
                result["shots"].append("app-login.png")
                # The keyboard alone from here: the email field has the focus.
                result["login_focus"] = await page.evaluate("document.activeElement.id")
                await page.keyboard.type(creds["guardian"]["email"])
                await page.keyboard.press("Tab")
                await page.keyboard.type(creds["guardian"]["password"])
                await page.keyboard.press("Enter")
                try:
                    await page.wait_for_selector("blockquote.summary", timeout=20_000 * WAIT)
                except Exception:
                    result["stuck_at"] = await main_text(page)
                    result["stuck_status"] = await page.inner_text("#status")
                    raise
                result["summary_page"] = {
                    "title": await page.title(),
                    "heading": await page.inner_text("h1"),
                    "text": await page.inner_text("blockquote.summary"),
                    "main": await main_text(page),
                }
                result["axe"]["summary"] = await axe_check(page, axe)
                await page.screenshot(path=str(shots / "app-summary.png"), full_page=True)
                result["shots"].append("app-summary.png")

                result["tabbed_to_back"] = await tab_to(
                    page, "e.tagName === 'A' && e.textContent === 'Back to my children'"
                )
                await page.keyboard.press("Enter")
                await page.wait_for_selector("section.child")
                result["family_page"] = {"main": await main_text(page)}
                result["axe"]["family"] = await axe_check(page, axe)
                await page.screenshot(path=str(shots / "app-family.png"), full_page=True)
                result["shots"].append("app-family.png")

                result["tabbed_to_ai"] = await tab_to(
                    page, "e.name === 'ai_processing_consent'", presses=80
                )
                await page.keyboard.press("Space")

                async def saved() -> bool:
                    return (await page.inner_text("#status")).startswith("Saved")

                # Not page.wait_for_function: it evaluates a string in the page, which the
                # app's Content-Security-Policy (no 'unsafe-eval') refuses, as it should.
                await poll("the switch to be saved", saved, 10)
                result["status_after_switch"] = await page.inner_text("#status")
                got = (
                    await client.get(f"/api/v1/guardians/{me['guardian_id']}", headers=guardian)
                ).json()
                result["consents_after"] = got["students"]

                await page.reload()
                await page.wait_for_selector("section.child")
                result["after_reload"] = await page.inner_text("h1")
                await page.click("#logout")
                await page.wait_for_selector("#login-form")
                result["after_logout"] = {
                    "heading": await page.inner_text("h1"),
                    "token": await page.evaluate("sessionStorage.length"),
                }
                await page.goto(f"{BASE}/app#/family")
                await page.wait_for_selector("#login-form")
                result["family_after_logout"] = await page.inner_text("h1")

                # The email's one-click stop for summaries: a page (no login) with one
                # button, by keyboard; the start page is checked by axe too.
                await page.goto(result["stop_link"])
                result["stop_page"] = await page.inner_text("main")
                result["axe"]["stop"] = await axe_check(page, axe)
                result["tabbed_to_stop"] = await tab_to(page, "e.tagName === 'BUTTON'")
                await page.keyboard.press("Enter")
                await page.wait_for_selector("text=Emails stopped")
                result["stopped_page"] = await page.inner_text("main")
                result["axe"]["stopped"] = await axe_check(page, axe)
                got = (
                    await client.get(f"/api/v1/guardians/{me['guardian_id']}", headers=guardian)
                ).json()
                result["summaries_after_stop"] = [s["notify_summaries"] for s in got["students"]]
                await page.goto(f"{BASE}/")
                result["axe"]["home"] = await axe_check(page, axe)

                # The student's page: their lessons, each with Join. The coordinator has
                # entered their date of birth (15 years ago): of the consent age, they
                # give recording consent themselves, by keyboard.
                born = (datetime.now(UTC) - timedelta(days=int(15.5 * 365))).date()
                r = await client.patch(
                    f"/api/v1/students/{student_id}",
                    json={"date_of_birth": born.isoformat()},
                    headers=coordinator,
                )
                assert r.status_code == 200, r.text
                await page.goto(f"{BASE}/app")
                await page.wait_for_selector("#login-form")
                await page.fill("#email", creds["student"]["email"])
                await page.fill("#password", creds["student"]["password"])
                await page.press("#password", "Enter")
                await page.wait_for_selector("ul.sessions button")
                result["student_page"] = {"main": await main_text(page)}
                result["axe"]["lessons"] = await axe_check(page, axe)
                result["tabbed_to_own_consent"] = await tab_to(
                    page, "e.id === 'own-recording_consent'", presses=40
                )
                await page.keyboard.press("Space")
                result["student_said"] = await poll(
                    "the saved consent",
                    lambda: page.evaluate(
                        "(t => t.startsWith('Saved') && t)"
                        "(document.getElementById('status').textContent)"
                    ),
                    10,
                )
                student = await login(client, creds["student"])
                got = await client.get(f"/api/v1/students/{student_id}", headers=student)
                result["student_own_consents"] = got.json()["consents"]
                await page.screenshot(path=str(shots / "app-lessons.png"), full_page=True)
                result["shots"].append("app-lessons.png")
                await page.click("ul.sessions button")
                await page.wait_for_url(re.compile(r".*/join/.*token=.*"), timeout=10_000 * WAIT)
                result["joined_url"] = page.url.split("?")[0]

                # The coordinator, in a tab of their own (its own sessionStorage).
                page = await ctx.new_page()
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                demo_session = await client.get(
                    f"/api/v1/sessions/{demo['session_id']}", headers=coordinator
                )
                demo_start = demo_session.json()["scheduled_start"].replace("Z", "+00:00")

                async def acknowledge_elsewhere() -> None:
                    """Another coordinator acknowledges yesterday's no-recording exception."""
                    xs = await client.get(
                        "/api/v1/exceptions?kind=no_recording&status=open", headers=coordinator
                    )
                    for x in xs.json()["items"]:
                        r = await client.post(
                            f"/api/v1/exceptions/{x['id']}/acknowledge",
                            json={"note": "looking into it"},
                            headers=coordinator,
                        )
                        r.raise_for_status()

                await coordinate(
                    page,
                    creds["coordinator"],
                    demo["session_id"],
                    demo_start,
                    shots,
                    result,
                    acknowledge_elsewhere,
                )
                cancelled = await client.get(
                    f"/api/v1/sessions/{demo['session_id']}", headers=coordinator
                )
                result["demo_after"] = {
                    k: cancelled.json()[k] for k in ("status", "late_cancellation", "cancelled_by")
                }
                ses = result["no_show"]["session_id"]
                got = (await client.get(f"/api/v1/sessions/{ses}", headers=coordinator)).json()
                result["no_show_session_after"] = {"tutor_id": got["tutor_id"]}
                xs = await client.get(
                    f"/api/v1/exceptions?session_id={ses}&kind=tutor_no_show", headers=coordinator
                )
                result["no_show_exceptions_after"] = [x["status"] for x in xs.json()["items"]]
                request = await client.get(
                    f"/api/v1/requests/{result['no_show']['request']}", headers=coordinator
                )
                result["request_after"] = request.json()["status"]
                riley = result["no_show"]["riley"]
                result["riley_after"] = {
                    part: (
                        await client.get(f"/api/v1/tutors/{riley}/{part}", headers=coordinator)
                    ).json()
                    for part in ("qualifications", "availability", "limits")
                }
                stored = await client.get("/api/v1/requests?status=open", headers=coordinator)
                result["open_requests_after"] = [
                    (r["subject"], r["level"], r["duration_minutes"])
                    for r in stored.json()["items"]
                ]
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=60 * WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        result["server_log_tail"] = (data / "serve.log").read_text()[-3000:]
        out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), Path(sys.argv[2])))
