"""`liveclass transcribe`, run as a user would, on a short espeak-ng clip."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import webvtt

from ai_docs import word_error_rate
from api.cli import ProgressBar
from tests.ai_docs.conftest import CLIP_TEXT

LIVECLASS = shutil.which("liveclass", path=str(Path(sys.executable).parent)) or "liveclass"
WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
    env["LIVECLASS_DATA_DIR"] = str(cwd / "var")
    return subprocess.run(
        [LIVECLASS, "transcribe", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120 * WAIT,
    )


def test_prints_the_text_and_progress(tmp_path: Path, clip: Path) -> None:
    """Plain output is the words on stdout; stderr (not a terminal) gets a few progress lines."""
    r = _run(tmp_path, str(clip))
    assert r.returncode == 0, r.stderr
    assert word_error_rate(CLIP_TEXT, r.stdout) <= 0.2, r.stdout
    progress = r.stderr.splitlines()
    assert 2 <= len(progress) <= 5, r.stderr
    assert progress[0].startswith("[..........]   0% 0.0/")
    assert progress[-1].startswith("[##########] 100% ")


def test_prints_segments_as_json(tmp_path: Path, clip: Path) -> None:
    """--json is one object whose segments carry times, text and the named speaker."""
    r = _run(tmp_path, str(clip), "--json", "--speaker", "Ms Rivera")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["speakers"] == ["Ms Rivera"] and out["duration"] > 3
    assert {s["speaker"] for s in out["segments"]} == {"Ms Rivera"}
    assert all(0 <= s["start"] < s["end"] <= out["duration"] + 0.5 for s in out["segments"])
    heard = " ".join(s["text"] for s in out["segments"])
    assert word_error_rate(CLIP_TEXT, heard) <= 0.2, heard


def test_prints_webvtt(tmp_path: Path, clip: Path) -> None:
    """--vtt prints captions a WebVTT parser reads, voiced by --speaker."""
    r = _run(tmp_path, str(clip), "--vtt", "--speaker", "Ms Rivera")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("WEBVTT\n\n")
    cues = list(webvtt.from_string(r.stdout))
    assert cues and {c.voice for c in cues} == {"Ms Rivera"}


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    """No such file: one line on stderr that says so, exit status 2."""
    r = _run(tmp_path, "lesson.wav")
    assert r.returncode == 2
    assert r.stderr == "liveclass: lesson.wav: no such audio file; give the path of a recording\n"
    assert r.stdout == ""


def test_a_file_that_is_not_audio_exits_2(tmp_path: Path) -> None:
    """A text file is refused with a message that says what to give instead."""
    (tmp_path / "notes.txt").write_text("lesson notes\n" * 100)
    r = _run(tmp_path, "notes.txt")
    assert r.returncode == 2
    assert r.stderr.startswith("liveclass: notes.txt: not an audio file")
    assert "give WAV, Ogg/Opus, WebM, MP3" in r.stderr
    assert "Traceback" not in r.stderr


def test_json_and_vtt_are_exclusive(tmp_path: Path) -> None:
    """Asking for both outputs is a usage error."""
    r = _run(tmp_path, "x.wav", "--json", "--vtt")
    assert r.returncode == 2 and "not allowed with" in r.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_on_a_terminal() -> None:
    """On a terminal the bar is redrawn in place with a carriage return, then ends the line."""
    out = _Terminal()
    bar = ProgressBar(out)
    for done in (0.0, 31.2, 60.0):
        bar.update(done, 60.0)
    bar.finish()
    assert out.getvalue() == (
        "\r[..........]   0% 0.0/60.0 s"
        "\r[#####.....]  52% 31.2/60.0 s"
        "\r[##########] 100% 60.0/60.0 s\n"
    )


def test_progress_bar_prints_a_few_lines_elsewhere() -> None:
    """Off a terminal, one line per quarter however many updates come."""
    out = io.StringIO()
    bar = ProgressBar(out)
    for step in range(101):
        bar.update(step * 0.6, 60.0)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert [line.split("%")[0][-3:].strip() for line in lines] == ["0", "25", "50", "75", "100"]
