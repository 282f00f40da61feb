"""The transcription benchmark runs end to end, as `make bench-transcribe` does, briefly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_benchmark_reports_vad_on_and_off_and_the_time_to_a_draft(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.transcribe", "--minutes=0.4", "--draft-minutes=0.4"]
        + ["--live-speed=4"]
        + [f"--cache={tmp_path / 'speech'}", f"--json={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert json.loads(run.stdout.split("\nVAD on ")[0]) == report
    assert [r["vad"] for r in report["runs"]] == [True, False]
    for r in report["runs"]:
        assert r["session_s"] >= 24 and r["audio_s"] > r["session_s"]
        assert 0 < r["rtf"] < 1 and r["segments"] > 0
        assert set(r["wer"]) == {"tutor", "student"}
    assert "RTF" in run.stdout and "vad=on: 100%" in run.stderr
    documented = report["documenting"]
    assert documented["session_s"] >= 20 and documented["segments"] > 0
    assert 0 < documented["end_to_drafted_s"] < 240 and documented["drafted_by"] == "offline"
    assert "session.ended -> summary.drafted in" in run.stdout
    live = report["documenting_live"]
    assert live["session_s"] == documented["session_s"] and live["segments"] > 0
    assert live["drafted_by"] == "offline" and 0 < live["end_to_drafted_s"] < 240
    # Both files were heard in full while the lesson played, by worker processes.
    assert live["live"]["files_heard_live"] == 2 and live["live"]["worker_cpu_s"] > 0
    assert set(live["wer"]) == {"tutor", "student"}
    assert "transcribed live: session.ended -> summary.drafted" in run.stdout
