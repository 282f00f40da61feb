"""A lesson on a bad network, beside a clean baseline: what a viewer gets when its own link is poor.

    python -m bench.network [--viewer bot|chromium] [--cap 300kbit] [--json FILE]   # root

``liveclass serve`` runs in a network namespace of its own; the tutor and the
student are ``liveclass bot`` processes, each in a namespace joined to the
SFU's by a veth pair (``bench.netlab``), as in ``bench.impaired_session``. The
tutor publishes 640×480 VP8 in three temporal layers (about 525 kbit/s) and a
32 kbit/s Opus tone; the student watches. One run, in phases, each followed
by a clean stretch:

1. ``baseline``: nothing impaired;
2. ``downlink loss``: 10% of the UDP packets to the student dropped;
3. ``cap``: what the SFU sends the student capped at ``--cap`` (tc tbf, a
   200 ms queue) for ``--cap-seconds``.

Per phase, from the student's bot (``sfu.reception``, packet by packet, on the
clock every process of the machine shares): the share of the tutor's audio
frames that arrived, the decodable video frames per second and the longest
freeze, the video notices the SFU sent the student (``video_thinned`` and the
like), and after the cap how long until video ran at full rate again. With
``--viewer chromium`` the student is Debian's Chromium (``bench.chromium_viewer``)
and the figures are Chrome's own: audio samples concealed, jitter-buffer delay,
frames decoded, and what a tile's notice said. Under the cap, with either
viewer, the link's own queue is sampled every 25 ms (``tc -s qdisc``): its
peak in ms at the cap's rate and when it came. ``--outages`` runs the other
half of a bad network instead, links cut and a student killed (``bench.outages``).
``tests/bench/test_network.py`` asserts the goals on the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import outages
from bench.impaired_session import AUDIO_FPS, VIDEO_FPS, VIEWERS
from bench.lesson_lab import lesson, reports
from bench.netlab import Link, NetLab, NetLabError

TUTOR_VIDEO = "640x480"
QUEUE_EVERY = 0.025  # seconds between samples of the cap's queue


@dataclass(frozen=True)
class Window:
    name: str
    start: float  # time.monotonic()
    end: float


def run(
    *,
    viewer: str = "bot",
    warmup: float = 6.0,
    phase: float = 10.0,
    settle: float = 6.0,
    loss: int = 10,
    cap: str = "300kbit",
    cap_seconds: float = 20.0,
    after_cap: float = 10.0,
    wait_factor: float = 1.0,
) -> dict[str, Any]:
    """Run the phases; returns the reports and each window's times.

    ``viewer``: who the student is, ``bot`` or ``chromium`` (its getStats).
    """
    if viewer not in VIEWERS:
        raise ValueError(f"viewer must be one of {', '.join(VIEWERS)}, not {viewer!r}")
    with lesson(name="network", wait_factor=wait_factor) as room:
        warm = warmup * wait_factor
        if viewer == "chromium":
            warm += 4 * wait_factor  # the browser starts, joins and connects within it
        stay = warm + 2 * (phase + settle) + cap_seconds + after_cap + 2
        tutor = room.bot(room.tutor, "tutor", stay, "--video-size", TUTOR_VIDEO)
        if viewer == "chromium":
            student = room.chromium(room.student, "student", stay)
        else:
            student = room.bot(room.student, "student", stay)
        windows, queue = _impair(
            room.lab, room.student, warm, phase, settle, loss, cap, cap_seconds, after_cap
        )
        got = reports({"tutor": tutor, "student": student}, stay + 60 * wait_factor)
    return {
        "viewer": viewer,
        "windows": [w.__dict__ for w in windows],
        "reports": got,
        "cap": cap,
        "queue": queue,
        "serve_log": str(room.serve_log),
        # The serve log stamps wall-clock time; the windows are monotonic.
        "wall_minus_monotonic": time.time() - time.monotonic(),
    }


def _impair(
    lab: NetLab,
    student: Link,
    warm: float,
    phase: float,
    settle: float,
    loss: int,
    cap: str,
    cap_seconds: float,
    after_cap: float,
) -> tuple[list[Window], list[tuple[float, int, int]]]:
    """The phases, and the cap's queue as ``_QueueTrace`` sampled it."""
    time.sleep(warm)
    windows = []
    start = time.monotonic()
    time.sleep(phase)
    windows.append(Window("baseline", start, time.monotonic()))
    time.sleep(settle)
    # What arrives at the student: its end of the link drops a share of the UDP.
    start = time.monotonic()
    lab.loss(student.b, student.b_device, loss, udp_only=True)
    time.sleep(phase)
    lab.loss(student.b, student.b_device, 0)
    windows.append(Window("downlink loss", start, time.monotonic()))
    time.sleep(settle)
    # What the SFU sends the student: its end of the link queues and drops past the rate.
    trace = _QueueTrace(lab, student)
    start = time.monotonic()
    lab.cap(student.a, student.a_device, cap)
    trace.start()
    time.sleep(cap_seconds)
    trace.stop()
    lab.uncap(student.a, student.a_device)
    windows.append(Window("cap", start, time.monotonic()))
    time.sleep(after_cap)
    return windows, trace.samples


class _QueueTrace(threading.Thread):
    """The cap's queue every ``QUEUE_EVERY`` seconds: (time, bytes queued, packets dropped).

    What the student's getStats shows is the audio's delay after the fact; this is
    the queue itself, as the link held it, to say when it grew and how far.
    """

    def __init__(self, lab: NetLab, student: Link) -> None:
        super().__init__(daemon=True)
        self.lab, self.student = lab, student
        self.samples: list[tuple[float, int, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(NetLabError):
                queue = self.lab.queue(self.student.a, self.student.a_device)
                if queue is not None:
                    self.samples.append((time.monotonic(), *queue))
            self._done.wait(QUEUE_EVERY)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def _queue_figures(result: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """The cap's queue, in ms at the cap's rate: its peak, and when it came (s into the cap)."""
    samples = [s for s in result.get("queue", []) if start <= s[0] <= end]
    rate = _bits_per_second(result["cap"])
    if not samples or not rate:
        return {"queue_samples": len(samples), "queue_peak_ms": None}
    at, peak, _ = max(samples, key=lambda s: s[1])
    return {
        "queue_samples": len(samples),
        "queue_peak_ms": round(peak * 8 / rate * 1000),
        "queue_peak_at_s": round(at - start, 2),
        "queue_dropped": samples[-1][2] - samples[0][2],
    }


def _bits_per_second(rate: str) -> float | None:
    """tc's rate (``300kbit``, ``1mbit``, ``64000bit``) in bits a second."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", rate.strip().lower())
    if found is None:
        return None
    return float(found.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[found.group(2)]


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the student got of the tutor's media in each window."""
    if result.get("viewer") == "chromium":
        return chromium_figures(result)
    student = result["reports"]["student"]
    tutor_id = result["reports"]["tutor"]["participant_id"]
    got = student["participants"][tutor_id]
    arrivals = got["audio_arrivals"]
    decoded = [d[0] for d in got["video_decoded"]]
    notices = [n for n in student.get("video_notices", []) if n["participant_id"] == tutor_id]
    student_id = student["participant_id"]
    # The SFU's rating of the student's own connection, as the student was told it.
    rated = [(q["at"], q["ratings"].get(student_id)) for q in student.get("quality", [])]
    out: dict[str, Any] = {}
    windows = result["windows"]
    for n, window in enumerate(windows):
        start, end = window["start"], window["end"]
        # Notices up to the next window: the stretch after one belongs to it.
        until = windows[n + 1]["start"] if n + 1 < len(windows) else float("inf")
        since = start + 1.0  # the rule and the stream settle in
        seqs = [seq for seq, at in arrivals if since <= at < end]
        span = max(seqs) - min(seqs) + 1 if seqs else 0
        frames = [at for at in decoded if since <= at < end]
        gaps = [b - a for a, b in zip(frames, frames[1:], strict=False)]
        figures = {
            "audio_share": len(seqs) / span if span else 0.0,
            "audio_expected_by_clock": round((end - since) * AUDIO_FPS),
            "video_fps": len(frames) / (end - since),
            "longest_freeze_s": max(gaps, default=end - since),
            "notices": [
                {k: n[k] for k in ("type", "frame_share", "reason") if k in n}
                | {"at_s": round(n["at"] - start, 2)}
                for n in notices
                if start <= n["at"] < until
            ],
        }
        before = [r for at, r in rated if at < start]
        figures["student_rated"] = sorted(
            ({r for at, r in rated if start <= at < end} | set(before[-1:])) - {None}
        )
        if window["name"] == "cap":
            figures["full_rate_back_after_s"] = _full_rate_back(decoded, end)
            figures |= _queue_figures(result, start, end)
        out[window["name"]] = figures
    return out


def chromium_figures(result: dict[str, Any]) -> dict[str, Any]:
    """What Chromium, as the student, reported of the tutor's media in each window."""
    timeline = result["reports"]["student"]["timeline"]
    out: dict[str, Any] = {"errors": result["reports"]["student"]["errors"]}
    windows = result["windows"]
    for n, window in enumerate(windows):
        start, end = window["start"], window["end"]
        until = windows[n + 1]["start"] if n + 1 < len(windows) else float("inf")
        samples = [s for s in timeline if start + 1.0 <= s["at"] < end and s.get("audio")]
        received = _delta(samples, "audio", "totalSamplesReceived")
        emitted = _delta(samples, "audio", "jitterBufferEmittedCount")
        video = [(s["at"], s["video"]["framesDecoded"]) for s in samples if s.get("video")]
        seconds = video[-1][0] - video[0][0] if len(video) > 1 else 0.0
        changes = [at for (at, a), (_, b) in zip(video, video[1:], strict=False) if a != b]
        edges = [video[0][0], *changes, video[-1][0]] if video else []
        figures = {
            "audio_concealed_share": (
                _delta(samples, "audio", "concealedSamples") / received if received else 1.0
            ),
            "jitter_buffer_delay_s": (
                _delta(samples, "audio", "jitterBufferDelay") / emitted if emitted else None
            ),
            "video_fps": (video[-1][1] - video[0][1]) / seconds if seconds else 0.0,
            "longest_freeze_s": max(
                (b - a for a, b in zip(edges, edges[1:], strict=False)), default=0.0
            ),
            "notices": sorted(
                {s.get("notice", "") for s in timeline if start <= s["at"] < until} - {""}
            ),
        }
        if window["name"] == "cap":
            later = [(s["at"], s["video"]["framesDecoded"]) for s in timeline if s.get("video")]
            figures["full_rate_back_after_s"] = _chromium_full_rate_back(later, end)
            figures |= _queue_figures(result, start, end)
        out[window["name"]] = figures
    return out


def _delta(samples: list[dict[str, Any]], kind: str, key: str) -> float:
    values = [s[kind].get(key, 0) for s in samples if s.get(kind)]
    return values[-1] - values[0] if len(values) > 1 else 0.0


def _chromium_full_rate_back(frames: list[tuple[float, int]], since: float) -> float | None:
    """Seconds from ``since`` to the first second in which Chrome decoded nearly every frame."""
    later = [(at, n) for at, n in frames if at >= since]
    for i, (at, count) in enumerate(later):
        ahead = [(t, m) for t, m in later[i:] if t <= at + 1.0]
        if ahead[-1][0] - at >= 0.9 and ahead[-1][1] - count >= VIDEO_FPS - 2:
            return at - since
    return None


def _full_rate_back(decoded: list[float], since: float) -> float | None:
    """Seconds from ``since`` to the start of the first second with nearly every frame."""
    later = [at for at in decoded if at >= since]
    for n, at in enumerate(later):
        if len([t for t in later[n:] if t < at + 1.0]) >= VIDEO_FPS - 2:
            return at - since
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", default="300kbit", help="the student's downlink cap (tc units)")
    parser.add_argument("--cap-seconds", type=float, default=20.0)
    parser.add_argument("--loss", type=int, default=10, help="downlink loss, percent")
    parser.add_argument("--viewer", choices=VIEWERS, default="bot", help="who the student is")
    parser.add_argument("--json", type=Path, help="also write the raw result here")
    parser.add_argument(
        "--outages",
        action="store_true",
        help="instead: cut the student's link for 5 s and 30 s, then kill a student "
        "(bench.outages; with --viewer chromium, the cuts only)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("network namespaces need root")
    if args.outages and args.viewer == "chromium":
        result = outages.run_chromium()
        shown = outages.chromium_figures(result)
    elif args.outages:
        result = outages.run()
        shown = outages.figures(result)
    else:
        result = run(viewer=args.viewer, cap=args.cap, cap_seconds=args.cap_seconds, loss=args.loss)
        shown = figures(result)
    if args.json:
        args.json.write_text(json.dumps(result))
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
