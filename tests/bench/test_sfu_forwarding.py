"""The forwarding benchmark runs end to end, as `make bench` runs it, on a tiny load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_benchmark_reports_both_servers_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.sfu_forwarding",
            "--sessions=2",
            "--compare-sessions=1",
            "--seconds=2",
            "--warmup=0.5",
            "--video-size=160x120",
            "--group=3",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    assert "Per forwarded video track the relay used" in run.stdout
    assert "in the same phase size" in run.stdout
    assert "with the SFU at 2 sessions" in run.stdout
    assert "[5/7] sfu: 2 sessions" in run.stderr  # progress goes to stderr
    assert "[7/7] sfu: 1 sessions of 3" in run.stderr
    phases = json.loads(out.read_text())
    assert [(p["server"], p["sessions"], p["kinds"], p["room_size"]) for p in phases] == [
        ("sfu", 1, "video", 2),
        ("relay", 1, "video", 2),
        ("sfu", 1, "audio+video", 2),
        ("relay", 1, "audio+video", 2),
        ("sfu", 2, "audio+video", 2),
        ("sfu", 2, "video", 2),
        ("sfu", 1, "audio+video", 3),
    ]
    group = phases[-1]
    assert group["forwarded_tracks"] == 3 * 2 * 2  # everyone gets both tracks of the other two
    for phase in phases:
        assert phase["server_cores"] > 0
        assert 0 <= phase["server_kernel_share"] < 1
        assert phase["video_sent"] > 0
        if phase["server"] == "sfu":
            assert phase["video_received"] >= 0.9 * phase["video_sent"]


def test_capacity_only_runs_the_sfu_phase_alone(tmp_path: Path) -> None:
    """--capacity-only: one SFU phase of --sessions, every frame counted by the bots."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.sfu_forwarding",
            "--capacity-only",
            "--sessions=3",
            "--seconds=2",
            "--warmup=0.5",
            "--video-size=160x120",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    assert "[1/1] sfu: 3 sessions" in run.stderr
    (phase,) = json.loads(out.read_text())
    assert (phase["server"], phase["sessions"], phase["kinds"]) == ("sfu", 3, "audio+video")
    assert phase["audio_received"] >= 0.9 * phase["audio_sent"] > 0
    assert phase["video_received"] >= 0.9 * phase["video_sent"] > 0


def test_live_transcription_phases_run_the_sfu_with_and_without_it(tmp_path: Path) -> None:
    """--live-transcription: speaking bots, the SFU as it is and then recording and
    transcribing everyone live; both deliver, and the workers' CPU is reported."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.sfu_forwarding",
            "--live-transcription",
            "--sessions=1",
            "--compare-sessions=1",
            "--seconds=4",
            "--warmup=0.5",
            "--video-size=160x120",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "[3/3] sfu: 1 sessions, audio (speech)+video, recorded, live transcription on" in (
        run.stderr
    )
    phases = json.loads(out.read_text())
    assert [(p["recorded"], p["live"]) for p in phases] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    for phase in phases:
        assert phase["audio_received"] >= 0.9 * phase["audio_sent"] > 0
        assert phase["video_received"] >= 0.9 * phase["video_sent"] > 0
    assert phases[0]["live_worker_cores"] is None and phases[1]["live_worker_cores"] is None
    assert phases[2]["live_worker_cores"] > 0 and phases[2]["live_behind_s"] is not None


def test_benchmark_refuses_a_bad_video_size() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.sfu_forwarding", "--video-size=640by480"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "is not WIDTHxHEIGHT, e.g. 640x480" in run.stderr
