"""The tutor's journey in real headless Chromium: join from the desk, hold the lesson with a
student (media both ways, chat, a shared screen, a drop, a leave and a rejoin), end it, then
review and approve the draft the server made of it.

Runs tests/browser/session.py inside ``unshare --net`` with only loopback up,
so no candidate on any other interface can be tried (see FIELD-NOTES.md).
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
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for tool in ("unshare", "ip"):
        assert shutil.which(tool), (
            f"{tool} is missing; 'make test' installs what the browser test needs"
        )
    assert Path("/usr/bin/chromium").exists(), (
        "Chromium is missing; 'make test' installs the Debian package"
    )
    folder = tmp_path_factory.mktemp("browser")
    out, shots = folder / "result.json", folder / "shots"
    inner = f"ip link set lo up && exec {sys.executable} -m tests.browser.session {out} {shots}"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", inner],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=330 * WAIT,
    )
    assert proc.returncode == 0, (
        f"browser session failed (unshare needs root):\n{proc.stdout}\n{proc.stderr}"
    )
    result: dict[str, Any] = json.loads(out.read_text())
    result["shots_dir"] = shots
    return result


def test_runs_with_loopback_only(session: dict[str, Any]) -> None:
    """The session ran in a namespace whose only interface is lo."""
    assert session["interfaces"] == ["lo"]


@pytest.mark.parametrize(("me", "other"), [("tutor", "Sam Student"), ("student", "Taylor Tutor")])
def test_each_page_decodes_the_others_video_and_receives_audio(
    session: dict[str, Any], me: str, other: str
) -> None:
    """Each page decodes the other's video frames, receives its audio, and names its tile."""
    seen = session[me]
    assert seen["connection"] == "connected", session["server_log_tail"]
    assert seen["inbound"]["video"]["framesDecoded"] > 0, seen
    assert seen["inbound"]["audio"]["packetsReceived"] > 0, seen
    assert any(other in tile for tile in seen["tiles"]), seen["tiles"]
    assert seen["quality"].startswith("Connection:")
    assert session[f"{me}_errors"] == []


def test_the_speaking_tutor_is_highlighted_as_active_speaker(session: dict[str, Any]) -> None:
    """Chrome's audio levels make the tutor active speaker: the student's page highlights the
    tutor's tile, and the tutor's page is told it is the one speaking."""
    seen = session["student_speaker"]
    [tutor] = seen["participants"]
    assert seen["active_speaker"] == tutor, {**seen, "log": session["server_log_tail"]}
    assert seen["highlighted"] == [tutor]
    assert session["tutor_speaker"]["active_speaker"] == session["tutor_speaker"]["me"]


def test_leaving_is_seen_by_the_other(session: dict[str, Any]) -> None:
    """When the tutor leaves, the student's page drops the tutor's tile."""
    assert session["student_after_leave"]["participants"] == []
    assert session["student_after_leave"]["tiles"] == []
    assert session["tutor_after_leave"]["message"] == "You left the session."
    assert session["tutor_after_leave"]["rejoin_offered"], "no Rejoin button after leaving"


@pytest.mark.parametrize("role", ["tutor", "student"])
def test_each_page_shows_the_sfus_rating_of_each_connection(
    session: dict[str, Any], role: str
) -> None:
    """The SFU rates both connections (loopback: excellent); the page's own indicator says
    its rating, and a tile names a poor or lost connection of the other person."""
    rated = session[f"{role}_rated"]
    assert len(rated["ratings"]) == 2, rated
    assert set(rated["ratings"].values()) == {"excellent"}, rated
    assert rated["quality"] == "Connection: excellent", rated
    assert session["student_tile_quality"] == ["Poor connection", "Connection lost", ""]


def test_a_dropped_page_comes_back_into_its_seat(session: dict[str, Any]) -> None:
    """The student's socket drops: the page rejoins at once with its resume token and gets
    its seat back; the tutor's page sees reconnecting then reconnected, never a leave, and
    both decode each other's video again."""
    back = session["student_after_drop"]
    assert back["resumed"], {**back, "log": session["server_log_tail"]}
    assert back["inbound"]["video"]["framesDecoded"] > 0, back
    assert back["participants"] and back["message"] == "", back
    assert session["tutor_saw_of_the_drop"] == [
        "participant.reconnecting",
        "participant.reconnected",
    ]
    after = session["tutor_after_drop"]
    assert after["participants"], after
    # The tutor's page decodes the student on the same track, from its new connection.
    assert after["inbound"]["video"]["framesDecoded"] > after["decoded_before"] + 15, after


@pytest.mark.parametrize("role", ["tutor", "student"])
def test_each_page_publishes_three_temporal_layers(session: dict[str, Any], role: str) -> None:
    """Chromium sends L1T3: the SFU reads TIDs 0, 1 and 2 in its VP8 payload descriptors."""
    layers = session["layer_bytes"].get(role, {})
    assert all(layers.get(n, 0) > 0 for n in ("0", "1", "2")), session["layer_bytes"]


def test_a_viewers_tile_says_when_video_is_paused_or_thinned(session: dict[str, Any]) -> None:
    """video_paused, then video_resumed at a quarter, then back to full: the tile follows."""
    assert session["student_notice"] == [
        {"text": "Video paused to keep audio clear", "state": "paused"},
        {"text": "Video reduced to fit your connection", "state": "thinned"},
        {"text": "", "state": ""},
    ]


@pytest.mark.parametrize(("me", "other"), [("tutor", "Sam Student"), ("student", "Taylor Tutor")])
def test_each_page_names_the_lesson_shows_the_clock_and_its_own_camera(
    session: dict[str, Any], me: str, other: str
) -> None:
    """The header names the subject and the other side (from the join token's
    GET .../lesson), with its times and a running clock; a self-view shows the camera."""
    seen = session[me]
    assert seen["title"] == f"mathematics with {other}", seen
    assert "–" in seen["when"], seen
    assert "min" in seen["clock"], seen
    assert seen["self_view"], seen


def test_the_pages_say_who_came_and_went_and_the_student_waits_for_the_tutor(
    session: dict[str, Any],
) -> None:
    """The tutor's page notes the student's drop and return; when the tutor has left, the
    student's page says so and waits for the tutor again."""
    tutor_saw = session["tutor_after_drop"]["notices"]
    assert "Sam Student is reconnecting…" in tutor_saw and "Sam Student is back" in tutor_saw
    alone = session["student_after_leave"]
    assert "Taylor Tutor left" in alone["notices"], alone
    assert alone["waiting"], alone
    assert not session["student"]["waiting"]  # the tutor was there


def test_a_chat_line_reaches_the_other_page(session: dict[str, Any]) -> None:
    """Typed on the tutor's page and sent with Enter: the student's page shows it, named."""
    [line] = session["student_chat"]["chat"]
    assert line.startswith("Taylor Tutor (") and line.endswith(
        "Hello Sam, can you see the worksheet?"
    ), line
    [mine] = session["tutor_chat"]["chat"]
    assert mine.startswith("You (")


def test_live_captions_show_what_the_tutor_says_with_their_name(session: dict[str, Any]) -> None:
    """Captions on (the student's keyboard): the tutor's speech, transcribed while the lesson
    runs, appears on the student's page as lines that name the tutor."""
    lines = session["student_captions"]["lines"]
    assert lines, session["student_captions"]
    assert all(line.startswith("Taylor Tutor: ") for line in lines), lines
    heard = " ".join(lines).lower()
    assert "fraction" in heard or "homework" in heard or "worksheet" in heard, lines


def test_the_tutors_shared_screen_shows_on_the_students_page(session: dict[str, Any]) -> None:
    """Share screen on the tutor's page: the student's page shows it large, captioned, and
    playing, and says so; Stop sharing takes it away there."""
    shown = session["student_screen"]
    assert shown["screen_shown"] and shown["screen_caption"] == "Taylor Tutor's screen", shown
    assert shown["screen_size"][0] > 0, shown
    assert "Taylor Tutor is sharing their screen" in shown["notices"], shown
    assert session["tutor_sharing"] == {"pressed": "true", "label": "Stop sharing"}
    stopped = session["student_screen_stopped"]
    assert not stopped["screen_shown"], stopped
    assert "Taylor Tutor stopped sharing" in stopped["notices"], stopped
    # The camera went on beside it: the tutor's tile kept its video.
    assert stopped["inbound"]["video"]["framesDecoded"] > shown["inbound"]["video"]["framesDecoded"]


def test_the_tutor_ends_the_lesson_for_everyone(session: dict[str, Any]) -> None:
    """Only the tutor's page offers End; pressed twice, both pages say the lesson ended
    and neither offers Rejoin (the session is over)."""
    assert session["tutor"]["end_offered"] and not session["student"]["end_offered"]
    student, tutor = session["student_after_end"], session["tutor_after_end"]
    assert student["message"] == "The lesson has ended.", student
    assert tutor["message"] == "You ended the lesson.", tutor
    assert not student["rejoin_offered"] and not tutor["rejoin_offered"]


def test_the_tutor_reviews_the_lessons_own_draft_and_approves_it(session: dict[str, Any]) -> None:
    """After End the desk lists the lesson just held: recorded, transcribed (Whisper heard
    what the tutor said), drafted; its review shows the lesson's chat; the summary the
    tutor rewrote is approved."""
    assert "desk_without_draft" not in session, session.get("desk_without_draft")
    review = session["review_page"]
    assert "fraction" in review.lower(), review
    assert "Hello Sam, can you see the worksheet?" in review, review
    assert session["review_status"].startswith("Approved"), session["review_status"]
    assert session["review_errors"] == []
    # The ended lesson is no longer one to come: the desk offers no Join for it.
    assert "Join" not in session["desk_after_end"], session["desk_after_end"]


def test_the_tutors_journey_passes_with_the_keyboard_alone(session: dict[str, Any]) -> None:
    """Join from the desk, Join session, Share screen and Stop, Leave, Rejoin, End (twice),
    then the review's link, summary, Save and Approve: each reached with Tab and pressed
    with Enter (the student's Joins and Turn captions on too)."""
    keys = session["keys"]
    assert keys and all(keys.values()), keys
    assert len(keys) == 13, keys


@pytest.mark.parametrize("page", ["join_login", "lobby", "lesson"])
def test_axe_finds_no_serious_or_critical_violations(session: dict[str, Any], page: str) -> None:
    """The lesson page's login (no token), the lobby (camera preview) and the lesson in
    progress, a shared screen shown."""
    assert session["axe"][page] == [], session["axe"][page]


def test_the_lesson_page_is_photographed(session: dict[str, Any]) -> None:
    assert session["shots"] == ["lesson.png"]
    assert (session["shots_dir"] / "lesson.png").stat().st_size > 10_000
