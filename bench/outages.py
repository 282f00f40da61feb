"""Outages in a live lesson: a student's link cut for 5 s, then for 30 s, then the student killed.

    python -m bench.network --outages [--json FILE]   # root

The set-up is ``bench.network``'s (``bench.lesson_lab``): ``liveclass serve`` in a
namespace of its own, the tutor and the student ``liveclass bot`` processes in
namespaces joined to it by veth pairs, every default as shipped (a 15 s
reconnect grace window). One run, in windows:

1. ``baseline``: nothing impaired, media both ways;
2. ``5 s cut``: the student's link down both ways (nftables drops) for 5 s;
3. ``30 s cut``: the same for 30 s, longer than the grace window;
4. ``kill``: a second student bot joins, and is killed with SIGKILL.

The tutor's bot keeps, with the time it came, every presence message it is
sent (``participant.reconnecting`` and the like) and every packet it receives;
the first student's bot does the same for what it receives. From those: what
the others saw of each outage, in order, and when; how long after the link
came back media flowed again each way; when a dropped student was let go.
``tests/bench/test_network.py`` asserts the goals on the same run.

``run_chromium`` (``--outages --viewer chromium``) is the same lesson with
Debian's Chromium as the student (``bench.chromium_viewer``, the browser
client as shipped): the two cuts, then a second Chromium killed with SIGKILL
(every process in the student's namespace). What the tutor's bot saw is read
as above; what came back to the student, from Chromium's ``getStats``.
"""

from __future__ import annotations

import time
from typing import Any

from bench.lesson_lab import Lesson, lesson, reports
from bench.netlab import Link, NetLab

GRACE = 15.0  # LIVECLASS_RECONNECT_GRACE_SECONDS as shipped
SILENCE = 3.0  # nothing on a media connection this long reads as a drop (signaling.server)


def run(
    *,
    warmup: float = 6.0,
    baseline: float = 6.0,
    short_cut: float = 5.0,
    long_cut: float = 30.0,
    settle: float = 10.0,
    after_long: float = 12.0,
    wait_factor: float = 1.0,
) -> dict[str, Any]:
    """Run the windows; returns the bots' reports and each window's times."""
    with lesson(name="outages", wait_factor=wait_factor) as room:
        warm = warmup * wait_factor
        first_stay = warm + baseline + short_cut + settle + long_cut + after_long
        joins = 8 * wait_factor  # the second student joins, connects and sends media
        tutor_stay = first_stay + 2 + joins + GRACE + 8
        tutor = room.bot(room.tutor, "tutor", tutor_stay)
        student = room.bot(room.student, "student", first_stay)
        windows = _baseline_and_cuts(room, warm, baseline, short_cut, settle, long_cut)
        first = reports({"student": student}, first_stay + 60 * wait_factor)["student"]
        second = room.bot(room.student, "student", 120)
        time.sleep(joins)
        killed = time.monotonic()
        second.kill()
        second.communicate(timeout=30)  # reaps it and closes its pipes
        windows.append({"name": "kill", "start": killed, "end": killed})
        got = reports({"tutor": tutor}, tutor_stay + 60 * wait_factor)
    return {
        "windows": windows,
        "reports": {"tutor": got["tutor"], "student": first},
        "serve_log": str(room.serve_log),
    }


def run_chromium(
    *,
    warmup: float = 10.0,
    baseline: float = 6.0,
    short_cut: float = 5.0,
    long_cut: float = 30.0,
    settle: float = 12.0,
    after_long: float = 15.0,
    wait_factor: float = 1.0,
) -> dict[str, Any]:
    """The two cuts with Chromium as the student, the bot as the tutor; then a second
    Chromium joins as the student and every process in its namespace is killed
    with SIGKILL (the browser, its renderer and GPU processes, its driver)."""
    with lesson(name="outages-chromium", wait_factor=wait_factor) as room:
        warm = warmup * wait_factor  # the browser starts, joins and connects within it
        stay = warm + baseline + short_cut + settle + long_cut + after_long
        joins = warmup * wait_factor  # the second browser, likewise
        tutor = room.bot(room.tutor, "tutor", stay + 5 + joins + GRACE + 8)
        student = room.chromium(room.student, "student", stay)
        windows = _baseline_and_cuts(room, warm, baseline, short_cut, settle, long_cut)
        first = reports({"student": student}, stay + 60 * wait_factor)["student"]
        second = room.chromium(room.student, "student", 120)
        time.sleep(joins)
        killed = time.monotonic()
        room.lab.kill_all(room.student.b)
        second.communicate(timeout=30)  # reaps it and closes its pipes
        windows.append({"name": "kill", "start": killed, "end": killed})
        got = reports({"tutor": tutor}, stay + joins + GRACE + 60 * wait_factor)
    return {
        "viewer": "chromium",
        "windows": windows,
        "reports": {"tutor": got["tutor"], "student": first},
        "serve_log": str(room.serve_log),
    }


def chromium_figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the tutor saw of each cut of Chromium's link, and how soon media flowed again."""
    tutor, student = result["reports"]["tutor"], result["reports"]["student"]
    tutor_id = tutor["participant_id"]
    seen = [p for p in tutor["presence"] if p["participant_id"] != tutor_id]
    audio_at_tutor = sorted(
        at
        for pid, got in tutor["participants"].items()
        if pid != tutor_id
        for _, at in got.get("audio_arrivals", [])
    )
    timeline = student["timeline"]
    out: dict[str, Any] = {"errors": student["errors"]}
    windows = result["windows"]
    for n, window in enumerate(windows):
        start, end = window["start"], window["end"]
        until = windows[n + 1]["start"] if n + 1 < len(windows) else float("inf")
        during = [p for p in seen if start <= p["at"] < until]
        figures: dict[str, Any] = {
            "others_saw": [p["type"] for p in during],
            "at_s": [round(p["at"] - start, 2) for p in during],
            "connection": _states(timeline, start, until),
        }
        if window["name"] in ("5 s cut", "30 s cut"):
            figures["audio_back_at_tutor_s"] = _first_after(audio_at_tutor, end)
            figures["audio_back_at_student_s"] = _first_after(_arrivals(timeline, "audio"), end)
            figures["video_back_at_student_s"] = _first_after(_arrivals(timeline, "video"), end)
        if window["name"] == "30 s cut":
            left = [p["at"] for p in during if p["type"] == "participant.left"]
            figures["left_after_cut_s"] = round(left[0] - start, 2) if left else None
            back = [p["at"] for p in during if p["type"] == "participant.joined" and p["at"] >= end]
            figures["joined_again_after_link_s"] = round(back[0] - end, 2) if back else None
        if window["name"] == "kill":
            for kind in ("reconnecting", "left"):
                times = [p["at"] for p in during if p["type"] == f"participant.{kind}"]
                figures[f"{kind}_after_kill_s"] = round(times[0] - start, 2) if times else None
        out[window["name"]] = figures
    out["grace_s"] = GRACE
    return out


def _arrivals(timeline: list[dict[str, Any]], kind: str) -> list[float]:
    """The sample times at which Chromium had received more of ``kind`` than at the one
    before (a new peer connection starts its counters again)."""
    out = []
    before = 0
    for sample in timeline:
        now = (sample.get(kind) or {}).get("packetsReceived", 0)
        if now > 0 and now != before:
            out.append(sample["at"])
        before = now
    return out


def _states(timeline: list[dict[str, Any]], start: float, until: float) -> list[str]:
    """The peer connection's states in the window, each change once."""
    states: list[str] = []
    for sample in timeline:
        state = str(sample["connection"])  # None: no peer connection (between two)
        if start <= sample["at"] < until and (not states or states[-1] != state):
            states.append(state)
    return states


def _baseline_and_cuts(
    room: Lesson, warm: float, baseline: float, short_cut: float, settle: float, long_cut: float
) -> list[dict[str, Any]]:
    """After the warm-up: a clean baseline, the student's link cut short, then long."""
    time.sleep(warm)
    start = time.monotonic()
    time.sleep(baseline)
    windows = [{"name": "baseline", "start": start, "end": time.monotonic()}]
    windows.append(_cut(room.lab, room.student, "5 s cut", short_cut))
    time.sleep(settle)
    windows.append(_cut(room.lab, room.student, "30 s cut", long_cut))
    return windows


def _cut(lab: NetLab, link: Link, name: str, seconds: float) -> dict[str, Any]:
    start = time.monotonic()
    lab.cut(link.a, link.a_device)
    lab.cut(link.b, link.b_device)
    time.sleep(seconds)
    lab.restore(link.a, link.a_device)
    lab.restore(link.b, link.b_device)
    return {"name": name, "start": start, "end": time.monotonic()}


def _first_after(times: list[float], since: float) -> float | None:
    later = [t for t in times if t >= since]
    return round(min(later) - since, 3) if later else None


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the others saw of each outage, and how soon media flowed again."""
    tutor, student = result["reports"]["tutor"], result["reports"]["student"]
    student_id, tutor_id = student["participant_id"], tutor["participant_id"]
    seen = [p for p in tutor["presence"] if p["participant_id"] == student_id]
    from_student = tutor["participants"].get(student_id, {})
    from_tutor = student["participants"].get(tutor_id, {})
    audio_in = {
        "tutor": [at for _, at in from_student.get("audio_arrivals", [])],
        "student": [at for _, at in from_tutor.get("audio_arrivals", [])],
    }
    video_in = {
        "tutor": [d[0] for d in from_student.get("video_decoded", [])],
        "student": [d[0] for d in from_tutor.get("video_decoded", [])],
    }
    windows = result["windows"]
    out: dict[str, Any] = {}
    for n, window in enumerate(windows):
        start, end = window["start"], window["end"]
        until = windows[n + 1]["start"] if n + 1 < len(windows) else float("inf")
        during = [p for p in seen if start <= p["at"] < until]
        figures: dict[str, Any] = {
            "others_saw": [p["type"] for p in during],
            "at_s": [round(p["at"] - start, 2) for p in during],
        }
        if window["name"] == "baseline":
            for who in ("tutor", "student"):
                got = [at for at in audio_in[who] if start <= at < end]
                figures[f"audio_packets_per_s_at_{who}"] = round(len(got) / (end - start), 1)
        elif window["name"] == "5 s cut":
            figures |= {
                "audio_back_at_tutor_s": _first_after(audio_in["tutor"], end),
                "video_back_at_tutor_s": _first_after(video_in["tutor"], end),
                "audio_back_at_student_s": _first_after(audio_in["student"], end),
                "video_back_at_student_s": _first_after(video_in["student"], end),
            }
        elif window["name"] == "30 s cut":
            left = [p["at"] for p in during if p["type"] == "participant.left"]
            figures["left_after_cut_s"] = round(left[0] - start, 2) if left else None
            back = [p["at"] for p in during if p["type"] == "participant.joined" and p["at"] >= end]
            figures["joined_again_after_link_s"] = round(back[0] - end, 2) if back else None
        elif window["name"] == "kill":
            for kind in ("reconnecting", "left"):
                times = [p["at"] for p in during if p["type"] == f"participant.{kind}"]
                figures[f"{kind}_after_kill_s"] = round(times[0] - start, 2) if times else None
        out[window["name"]] = figures
    out["grace_s"] = GRACE
    return out
