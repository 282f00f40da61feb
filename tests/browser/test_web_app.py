"""The web app in real headless Chromium, each journey with the keyboard alone and each
page checked by axe-core: the tutor reviews and approves yesterday's drafted lesson;
the guardian follows the summary email to it and turns AI processing off; the
coordinator gives a no-show's lesson to a substitute and books a weekly series, seeing
each conflict explained first.

Runs tests/browser/portal.py inside ``unshare --net`` with only loopback up. The
screenshots it takes of each page are the ones in docs/screenshots/ (``make
screenshots`` writes them there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for tool in ("unshare", "ip"):
        assert shutil.which(tool), f"{tool} is missing; 'make test' installs it"
    assert Path("/usr/bin/chromium").exists(), (
        "Chromium is missing; 'make test' installs the Debian package"
    )
    where = tmp_path_factory.mktemp("web-app")
    out, shots = where / "result.json", where / "shots"
    inner = f"ip link set lo up && exec {sys.executable} -m tests.browser.portal {out} {shots}"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", inner],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240 * WAIT,
    )
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    assert proc.returncode == 0, (
        f"the web app journey failed (unshare needs root): {result.get('error')}\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{result.get('server_log_tail', '')}"
    )
    result["shots_dir"] = shots
    return result


def test_runs_with_loopback_only(journey: dict[str, Any]) -> None:
    assert journey["interfaces"] == ["lo"]


def test_the_tutor_finds_the_draft_on_the_desk_and_approves_it_edited(
    journey: dict[str, Any],
) -> None:
    """The desk lists the draft awaiting review and the lesson to come (with Join); the
    review shows the document beside its transcript, a citation focuses the line it
    names, and the rewritten summary for families is saved and approved."""
    desk = journey["desk"]["main"]
    assert "Awaiting your review" in desk and "automatic draft (offline)" in desk
    assert "Coming up" in desk and "Join" in desk
    assert journey["tabbed_to_draft"] and journey["tabbed_to_cite"]
    review = journey["review_page"]["main"]
    assert "Transcript" in review and "Summary for families" in review
    assert "Sam Student: I find common denominators hard" in review  # a transcript line
    assert "Sam Student: Is the homework page 12 or 13?" in review  # the lesson's chat
    line = journey["cite"]["button"].removeprefix("line ")
    assert journey["cite"]["focused"] == f"seg-{line}"
    assert journey["cite"]["highlighted"] == [f"seg-{line}"]
    assert journey["status_after_save"].startswith("Saved. The draft is not sent")
    assert journey["status_after_approve"].startswith("Approved")
    assert journey["approved_meta"].startswith("Approved")
    assert journey["document_after_review"] == {
        "status": "approved",
        "summary": journey["approved_summary"],
    }
    assert journey["approved_summary"] != journey["drafted_summary"]


def test_the_summary_email_links_to_the_summary_in_the_family_portal(
    journey: dict[str, Any],
) -> None:
    """The tutor approved yesterday's drafted lesson; the guardian's email links to it, and
    after logging in (the keyboard alone: the email field has the focus) the page shows
    the text the tutor approved, the tutor, and when in the guardian's own zone."""
    assert journey["email_link"].endswith(f"/app#/summaries/{journey['lesson']}")
    assert journey["login_focus"] == "email"
    page = journey["summary_page"]
    assert page["text"] == journey["approved_summary"]
    assert "with Taylor Tutor" in page["main"]
    assert "Reviewed and approved by the tutor" in page["main"]
    assert page["title"].endswith("· Liveclass") and page["heading"].startswith("mathematics")
    assert "GMT" in page["main"]  # the demo guardian's zone is Europe/London


def test_the_guardian_turns_ai_processing_off_with_the_keyboard_and_it_holds(
    journey: dict[str, Any],
) -> None:
    """From the summary, Tab and Enter reach the children's page; Tab and Space turn AI
    processing off; the page says it was saved, the API has it (tests/api/test_consent.py
    shows the next session honouring it), and the other terms did not move."""
    assert journey["tabbed_to_back"] and journey["tabbed_to_ai"]
    assert journey["status_after_switch"].startswith("Saved for Sam Student")
    assert journey["status_after_switch"].endswith("is off.")
    [link] = journey["consents_after"]
    assert link["ai_processing_consent"] is False
    assert link["recording_consent"] is True and link["notify_summaries"] is True


def test_the_family_page_shows_lessons_to_come_and_summaries(journey: dict[str, Any]) -> None:
    main = journey["family_page"]["main"]
    assert "Sam Student" in main and "Lessons to come" in main
    assert "mathematics with Taylor Tutor" in main  # the demo's lesson, starting now
    assert "Lesson summaries" in main and "null" not in main
    # The month's report the tutor approved, as a PDF to fetch.
    assert "Progress reports" in main and "(PDF)" in main


def test_a_login_survives_a_reload_and_logging_out_ends_it(journey: dict[str, Any]) -> None:
    assert journey["after_reload"] == "My children"
    assert journey["after_logout"] == {"heading": "Log in", "token": 0}
    assert journey["family_after_logout"] == "Log in"


def test_the_student_joins_from_their_lessons(journey: dict[str, Any]) -> None:
    """A family link opened by the student after the guardian logged out leads to the
    student's own lessons; Join opens the lesson page with a join token."""
    assert "My lessons" in journey["student_page"]["main"]
    assert "/join/" in journey["joined_url"]


def test_a_student_of_the_consent_age_gives_recording_consent_on_their_page(
    journey: dict[str, Any],
) -> None:
    """With a date of birth 15 years back the student's page offers their own consents;
    Tab reaches "Record my voice", Space turns it on, the page says it was saved and the
    API has it, the student deciding for themselves."""
    assert "you decide: you are of the consent age" in journey["student_page"]["main"]
    assert journey["tabbed_to_own_consent"]
    assert journey["student_said"] == "Saved: Record my voice is on."
    assert journey["student_own_consents"] == {
        "decides_for_self": True,
        "recording_consent": True,
        "ai_processing_consent": False,
    }


def test_the_coordinator_gives_a_no_shows_lesson_to_the_ranked_substitute(
    journey: dict[str, Any],
) -> None:
    """Riley did not come to Alex's lesson; the server's sweep raised the exception. On
    Today the coordinator finds substitutes (Morgan, with the reasons), gives Morgan the
    lesson, and the exception is resolved."""
    today = journey["today"]["main"]
    assert "Tutor has not joined: mathematics with Alex Amber, taught by Riley Rivers" in today
    # Live from the ops feed: who is in each room, and a change made elsewhere.
    assert "mathematics with Alex Amber, taught by Riley Rivers (live)" in today
    assert "in the room: Alex Amber (student, since" in today
    # Alex has no guardian's consent: the room records nobody, and says why.
    assert "not recording (not recorded: Alex Amber: no consent)" in today
    assert "No recording: mathematics with Sam Student" in today and "; acknowledged." in today
    assert journey["tabbed_to_find"] and journey["tabbed_to_give"]
    assert "Morgan Moss" in journey["substitutes"]
    assert "qualified for mathematics" in journey["substitutes"]
    assert journey["status_after_substitute"].startswith("Morgan Moss now teaches the lesson")
    assert journey["no_show_session_after"] == {"tutor_id": journey["no_show"]["morgan"]}
    assert journey["no_show_exceptions_after"] == ["resolved"]


def test_the_coordinator_sees_a_series_conflict_explained_then_books_it(
    journey: dict[str, Any],
) -> None:
    """Weekly from today at the demo lesson's time clashes with it, for the tutor and the
    student, and nothing is booked; from tomorrow all four lessons are."""
    refused = journey["booking_refused"]
    assert refused.startswith("Not booked")
    # Named as a coordinator knows them: the lesson by its subject, the student by name.
    assert "the tutor already teaches mathematics (session " in refused
    assert "Sam Student is already in mathematics (session " in refused
    made = journey["booking_made"]
    assert made.startswith("Booked: 4 lessons") and made.count("\n") >= 4
    assert journey["tabbed_to_book"] and journey["tabbed_to_submit"]


def test_the_coordinator_cancels_late_and_moves_a_lesson_from_the_calendar(
    journey: dict[str, Any],
) -> None:
    """Taylor's week shows the demo lesson; cancelled at the family's request the day of
    it, it is flagged late; next week's first lesson of the series moves an hour."""
    assert "Taylor Tutor with Sam Student" in journey["calendar"]["main"]
    assert journey["tabbed_to_calendar"] and journey["tabbed_to_cancel"]
    assert journey["status_after_cancel"].startswith("Cancelled, and flagged late")
    assert journey["demo_after"] == {
        "status": "cancelled",
        "late_cancellation": True,
        "cancelled_by": "student",
    }
    assert journey["status_after_move"].startswith("Moved mathematics to ")


def test_the_coordinator_sees_each_familys_consents_as_the_family_left_them(
    journey: dict[str, Any],
) -> None:
    """Glenn turned AI processing off for Sam in the portal, and stopped summaries from the
    email's link: People shows both so."""
    assert journey["tabbed_to_people"]
    rows = [r for r in journey["people"]["main"].splitlines() if r.startswith("Glenn Guardian")]
    assert rows == [
        "Glenn Guardian\tguardian@demo.example.org\tSam Student\tyes\tno\tabsences, reminders"
    ], rows


def test_the_coordinator_adds_a_student_and_her_guardian_and_is_told_of_a_taken_email(
    journey: dict[str, Any],
) -> None:
    """People's forms, by keyboard: a tutor whose email is taken is refused in place; a
    student and her guardian are added, the guardian linked with every consent off (the
    family gives them in the portal)."""
    added = journey["added_keys"]
    assert added and all(added.values()), added
    assert "Not added:" in journey["tutor_refused"], journey["tutor_refused"]
    assert "null" not in journey["tutor_refused"]  # nothing absent is written as text
    rows = journey["people_after_adding"].splitlines()
    assert "Jo Jones\tjo@demo.example.org\tyear-7" in "\n".join(rows), rows
    assert any(r.startswith("Pat Jones\tpat@demo.example.org\tJo Jones\tno\tno") for r in rows)


def test_the_emails_stop_link_stops_summaries_by_keyboard(journey: dict[str, Any]) -> None:
    """The summary email's one-click stop: a page that names what it stops and about whom,
    one button (no login); pressed, summaries about Sam stop at once."""
    assert "Stop summaries" in journey["stop_page"] or "summar" in journey["stop_page"].lower()
    assert "Sam Student" in journey["stop_page"], journey["stop_page"]
    assert journey["tabbed_to_stop"]
    assert "You will no longer get" in journey["stopped_page"], journey["stopped_page"]
    assert journey["summaries_after_stop"] == [False]


def test_the_coordinator_sets_a_tutors_subjects_hours_and_limits(
    journey: dict[str, Any],
) -> None:
    """From People, Riley's page: a subject added, weekly hours (first refused in place,
    naming why), a daily limit; the API then has each."""
    keys = journey["tutor_keys"]
    assert keys and all(keys.values()), keys
    assert "Not saved:" in journey["hours_refused"], journey["hours_refused"]
    assert "end" in journey["hours_refused"].lower(), journey["hours_refused"]
    riley = journey["riley_after"]
    assert {(q["subject"], q["level"]) for q in riley["qualifications"]["items"]} == {
        ("mathematics", "year-9"),
        ("physics", "year-10"),
    }
    assert [(r["weekday"], r["start"], r["end"]) for r in riley["availability"]["rules"]] == [
        ("monday", "16:00", "19:00")
    ]
    assert riley["limits"]["max_sessions_per_day"] == 3


def test_the_coordinator_stores_a_families_request(journey: dict[str, Any]) -> None:
    """The Requests page's form: Alex, year-9 maths, an hour, tomorrow after school."""
    assert journey["tabbed_to_request_form"] and journey["request_student"] == "Alex Amber"
    assert journey["status_after_new_request"].startswith("Stored: Alex Amber asks for")
    assert ["mathematics", "year-9", 60] in journey["open_requests_after"]
    assert "Alex Amber: mathematics (year-9), 60 min" in journey["requests_after"]


def test_the_coordinator_matches_a_request_by_hand(journey: dict[str, Any]) -> None:
    """Alex's request: Find tutors ranks those qualified and free, each with its slot and
    reasons; Book with the first books it, and the request is booked."""
    assert journey["tabbed_to_requests"] and journey["tabbed_to_find_tutors"]
    assert "Tutors who could take it, best first" in journey["candidates"]
    assert "null" not in journey["candidates"]
    assert journey["tabbed_to_book_request"]
    assert journey["status_after_request"].startswith("Booked Alex Amber with")
    assert journey["request_after"] == "booked"


def test_the_tutor_reviews_the_months_progress_report_and_the_family_gets_its_pdf(
    journey: dict[str, Any],
) -> None:
    """The desk lists the month's report; the tutor adds a line, previews the PDF and
    approves it by keyboard; the guardian's email carries the PDF with that line."""
    assert "Progress reports to review" in journey["report_desk"]["main"]
    assert journey["tabbed_to_report"] and journey["tabbed_to_report_summary"]
    page = journey["report_page"]["main"]
    assert "progress report for" in page and "What we covered" in page
    assert "adding fractions" in page.lower()
    assert journey["preview_link"] == "Download the PDF"
    assert journey["report_meta"].startswith("Approved")
    mail = journey["report_email"]
    assert mail["to"] == journey["guardian_email"]
    assert mail["subject"].startswith("Sam Student's progress report for")
    assert mail["filename"].startswith("progress-report-sam-student-")
    assert "Progress report: Sam Student" in mail["pdf_text"]
    assert "grown in confidence with fractions" in mail["pdf_text"]


def test_the_coordinator_reads_the_months_figures_in_insight(journey: dict[str, Any]) -> None:
    """Insight shows a row per student and month, with the lesson the tutor reviewed."""
    assert journey["tabbed_to_insight"]
    main = journey["insight"]["main"]
    assert "Sam Student" in main and "Talk share" in main


def test_the_coordinator_sees_what_was_emailed_and_what_failed(journey: dict[str, Any]) -> None:
    """The guardian's summary email is listed as sent, with its subject; no event failed."""
    main = journey["messages"]["main"]
    assert journey["tabbed_to_messages"]
    assert "Sam Student's mathematics session on" in main and "sent" in main
    assert "No failed events" in main


@pytest.mark.parametrize(
    "page",
    [
        "desk",
        "review",
        "login",
        "summary",
        "family",
        "lessons",
        "today",
        "book",
        "calendar",
        "people",
        "people_forms",
        "tutor",
        "stop",
        "stopped",
        "home",
        "requests",
        "messages",
        "report",
        "insight",
        "audit",
        "student",
    ],
)
def test_axe_finds_no_serious_or_critical_violations(journey: dict[str, Any], page: str) -> None:
    assert journey["axe"][page] == [], journey["axe"][page]


def test_the_pages_break_no_content_security_policy_and_log_no_errors(
    journey: dict[str, Any],
) -> None:
    """The app runs under script-src 'self' with no eval: nothing in it is refused, and no
    script error reached the console. Chromium logs each 4xx answer the page asked for
    and showed (the refused booking's 409); those are not errors of the page."""
    refused = "error: Failed to load resource: the server responded with a status of 4"
    assert [m for m in journey["console"] if not m.startswith(refused)] == []


def test_each_page_is_photographed(journey: dict[str, Any]) -> None:
    shots = journey["shots_dir"]
    for name in journey["shots"]:
        assert (shots / name).stat().st_size > 10_000, name
    assert len(journey["shots"]) == 16


def test_the_coordinator_reads_the_audit_log_and_a_students_download(
    journey: dict[str, Any],
) -> None:
    """The audit log lists the journey's reads of children's data, reached by keyboard; a
    student's page prepares the family's zip."""
    assert journey["tabbed_to_audit"] and journey["tabbed_to_student"]
    main = journey["audit"]["main"]
    assert "entries, newest first" in main
    assert "\tread\t" in main and "GET /api/v1/" in main
    student = journey["student_data"]["main"]
    assert "Download student-" in student and "Erase everything about this student" in student
