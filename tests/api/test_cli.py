"""The liveclass command, run as a user would: real processes, real ports on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.migrate import head_revision
from tests.conftest import SECRET, fresh_database
from tests.sfu.media_files import write_media

LIVECLASS = shutil.which("liveclass", path=str(Path(sys.executable).parent)) or "liveclass"
WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
    env["LIVECLASS_DATA_DIR"] = str(tmp_path / "var")
    env.update(extra)
    return env


def _run(
    tmp_path: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIVECLASS, *args],
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120 * WAIT,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["demo"],
        ["create-user"],
        ["bot"],
        ["transcribe"],
        ["facts", "rebuild"],
    ],
)
def test_help_on_every_command(tmp_path: Path, command: list[str]) -> None:
    """--help works on the command and every subcommand, and names its options."""
    r = _run(tmp_path, *command, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: liveclass" in r.stdout
    if command == ["serve"]:
        assert "--host" in r.stdout and "--port" in r.stdout


ICE_LOOPBACK = {"LIVECLASS_ICE_ADDRESSES": "127.0.0.1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`liveclass serve` on embedded defaults (ICE confined to loopback), on a free port."""
    port = _free_port()
    proc = subprocess.Popen(
        [LIVECLASS, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path, **ICE_LOOPBACK),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output = ""
    deadline = time.monotonic() + 60 * WAIT
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"liveclass serve did not answer /healthz:\n{out}")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=20 * WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdout:
                proc.stdout.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in output


def test_serve_and_demo_on_embedded_defaults(tmp_path: Path, server: str) -> None:
    """With nothing configured, serve answers, and the demo's logins work against it."""
    assert httpx.get(f"{server}/readyz").json()["status"] == "ready"
    r = _run(tmp_path, "demo", "--json", LIVECLASS_PUBLIC_URL=server)
    assert r.returncode == 0, r.stderr
    demo = json.loads(r.stdout)
    assert demo["session_id"].startswith("ses_")
    for role in ("coordinator", "tutor", "student", "guardian"):
        assert {"email", "password"} <= set(demo[role])
    for role in ("tutor", "student"):
        page = httpx.get(demo[role]["join_url"])
        assert page.status_code == 200 and "Join session" in page.text
        assert demo[role]["join_url"].startswith(f"{server}/join/{demo['session_id']}?token=")
    assert "join_url" not in demo["guardian"]
    login = httpx.post(
        f"{server}/api/v1/auth/login",
        json={"email": demo["tutor"]["email"], "password": demo["tutor"]["password"]},
    )
    assert login.status_code == 200
    token = login.json()["access_token"]
    sessions = httpx.get(
        f"{server}/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert demo["session_id"] in {s["id"] for s in sessions["items"]}
    join = httpx.post(
        f"{server}/api/v1/sessions/{demo['session_id']}/join-token",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert join.status_code == 201
    assert (tmp_path / "var" / "liveclass.db").exists()


def test_links_follow_the_port_unless_public_url_is_set(tmp_path: Path, server: str) -> None:
    """Served on another port with no LIVECLASS_PUBLIC_URL, every link names that port."""
    assert not server.endswith(":8000")
    r = _run(tmp_path, "demo", "--json")
    assert r.returncode == 0, r.stderr
    demo = json.loads(r.stdout)
    for role in ("tutor", "student"):
        assert demo[role]["join_url"].startswith(f"{server}/join/"), demo[role]["join_url"]
        assert httpx.get(demo[role]["join_url"]).status_code == 200
    token = httpx.post(
        f"{server}/api/v1/auth/login",
        json={"email": demo["tutor"]["email"], "password": demo["tutor"]["password"]},
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    tutor_id = httpx.get(f"{server}/api/v1/me", headers=auth).json()["tutor_id"]
    feed = httpx.post(f"{server}/api/v1/tutors/{tutor_id}/calendar-feed", headers=auth)
    assert feed.status_code == 201, feed.text
    assert feed.json()["url"].startswith(f"{server}/api/v1/calendar/")
    assert httpx.get(feed.json()["url"]).status_code == 200
    # A configured public URL (a proxy, a domain) wins over the port.
    r = _run(tmp_path, "demo", "--json", LIVECLASS_PUBLIC_URL="https://tutor.example.org/")
    assert json.loads(r.stdout)["tutor"]["join_url"].startswith("https://tutor.example.org/join/")


def _join_tokens(tmp_path: Path, server: str) -> dict[str, str]:
    """Join tokens of a fresh demo session's tutor and student, got as a user would."""
    demo = json.loads(_run(tmp_path, "demo", "--json").stdout)
    tokens = {}
    for role in ("tutor", "student"):
        creds = {"email": demo[role]["email"], "password": demo[role]["password"]}
        login = httpx.post(f"{server}/api/v1/auth/login", json=creds).json()
        r = httpx.post(
            f"{server}/api/v1/sessions/{demo['session_id']}/join-token",
            headers={"Authorization": f"Bearer {login['access_token']}"},
        )
        tokens[role] = r.json()["token"]
    return tokens


def test_two_bots_through_a_served_session(tmp_path: Path, server: str) -> None:
    """`liveclass bot` for the demo tutor and student each report the other's media and exit 0."""
    tokens = _join_tokens(tmp_path, server)
    ws = server.replace("http://", "ws://") + "/rtc"
    bots = {
        role: subprocess.Popen(
            [LIVECLASS, "bot", "--url", ws, "--token", token, "--seconds", "4", "--json"],
            cwd=tmp_path,
            env=_env(tmp_path, **ICE_LOOPBACK),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role, token in tokens.items()
    }
    reports = {}
    for role, proc in bots.items():
        out, err = proc.communicate(timeout=60 * WAIT)
        assert proc.returncode == 0, err
        reports[role] = json.loads(out)
    for role, other in (("tutor", "student"), ("student", "tutor")):
        assert reports[role]["ok"] is True
        [(pid, got)] = reports[role]["participants"].items()
        assert pid == reports[other]["participant_id"]
        assert got["audio"] > 50 and got["video"] > 15


def test_bot_publishes_a_file_through_a_served_session(tmp_path: Path, server: str) -> None:
    """`liveclass bot --publish clip.webm` sends the file's VP8 and Opus to the other bot."""
    write_media(tmp_path / "clip.webm")
    tokens = _join_tokens(tmp_path, server)
    ws = server.replace("http://", "ws://") + "/rtc"
    publish = {"tutor": "clip.webm", "student": "synthetic"}
    bots = {
        role: subprocess.Popen(
            [LIVECLASS, "bot", "--url", ws, "--token", token, "--seconds", "4", "--json"]
            + ["--publish", publish[role]],
            cwd=tmp_path,
            env=_env(tmp_path, **ICE_LOOPBACK),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role, token in tokens.items()
    }
    reports = {}
    for role, proc in bots.items():
        out, err = proc.communicate(timeout=60 * WAIT)
        assert proc.returncode == 0, err
        reports[role] = json.loads(out)
    [(pid, got)] = reports["student"]["participants"].items()
    assert pid == reports["tutor"]["participant_id"]
    assert got["audio"] > 50 and got["video"] > 15


def test_bot_refuses_a_file_it_cannot_forward(tmp_path: Path) -> None:
    """An H.264/AAC file, or no file at all, is a one-line error that says what to do; exit 2."""
    write_media(tmp_path / "clip.mp4", video="libx264", audio="aac")
    base = ["bot", "--url", "ws://127.0.0.1:9/rtc", "--token", "x", "--publish"]
    r = _run(tmp_path, *base, "clip.mp4")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    assert "has video h264, audio aac" in r.stderr
    assert "only VP8 video and Opus audio" in r.stderr
    assert "ffmpeg -i clip.mp4 -c:v libvpx -c:a libopus out.webm" in r.stderr
    missing = _run(tmp_path, *base, "synthetik")
    assert missing.returncode == 2
    assert missing.stderr.startswith("liveclass: --publish synthetik: no such file")
    assert "synthetic, silent, none" in missing.stderr


def test_bot_with_a_bad_token_says_why(tmp_path: Path, server: str) -> None:
    """A refused bot prints the server's reason and exits non-zero."""
    r = _run(
        tmp_path, "bot", "--url", server.replace("http://", "ws://") + "/rtc", "--token", "nonsense"
    )
    assert r.returncode == 2
    assert "not a token" in r.stderr


def test_demo_twice_refreshes_passwords(tmp_path: Path) -> None:
    """A second demo run reuses the people, books another session, and issues new passwords."""
    first = json.loads(_run(tmp_path, "demo", "--json").stdout)
    second = json.loads(_run(tmp_path, "demo", "--json").stdout)
    assert first["tutor"]["email"] == second["tutor"]["email"]
    assert first["tutor"]["password"] != second["tutor"]["password"]
    assert first["session_id"] != second["session_id"]


def test_create_user_reads_password_from_stdin(tmp_path: Path) -> None:
    """create-user makes a login-ready user and explains bad input."""
    r = _run(
        tmp_path,
        "create-user",
        "--email",
        "boss@school.example.org",
        "--name",
        "Boss",
        "--role",
        "coordinator",
        "--org",
        "My School",
        stdin="a long password\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("created coordinator usr_")
    again = _run(
        tmp_path,
        "create-user",
        "--email",
        "BOSS@school.example.org",
        "--name",
        "B",
        "--role",
        "tutor",
        stdin="a long password\n",
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
    short = _run(
        tmp_path,
        "create-user",
        "--email",
        "x@school.example.org",
        "--name",
        "X",
        "--role",
        "student",
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 10" in short.stderr
    zone = _run(
        tmp_path,
        "create-user",
        "--email",
        "y@school.example.org",
        "--name",
        "Y",
        "--role",
        "student",
        "--time-zone",
        "Nowhere/Land",
        stdin="a long password\n",
    )
    assert zone.returncode == 2 and "unknown time zone" in zone.stderr


def test_shared_database_is_migrated_explicitly(tmp_path: Path) -> None:
    """On PostgreSQL, serve refuses an unmigrated database until `liveclass migrate` runs."""
    with fresh_database("postgresql", tmp_path) as url:
        env = {"LIVECLASS_DATABASE_URL": url, "LIVECLASS_SECRET_KEY": SECRET}
        refused = _run(tmp_path, "serve", "--port", str(_free_port()), **env)
        assert refused.returncode == 2
        assert "run 'liveclass migrate' first" in refused.stderr
        migrated = _run(tmp_path, "migrate", **env)
        assert migrated.returncode == 0, migrated.stderr
        assert f"database is at migration {head_revision()}" in migrated.stdout
        emptied = _run(tmp_path, "migrate", "--downgrade", "base", **env)
        assert "base (empty)" in emptied.stdout


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    """A database that does not answer gets a message naming the setting to fix."""
    r = _run(tmp_path, "migrate", LIVECLASS_DATABASE_URL="postgresql://x@127.0.0.1:1/none")
    assert r.returncode == 2
    assert "LIVECLASS_DATABASE_URL" in r.stderr


def test_facts_rebuild_fills_the_facts_of_sessions_held_before(tmp_path: Path) -> None:
    """Sessions stored without facts (held before the upgrade) get them from
    ``liveclass facts rebuild``, with progress on stderr and the count on stdout."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from bench.histories import generate, write
    from core.clock import SystemClock
    from core.database import create_sessionmaker
    from sessions.models import ParticipantFacts, SessionFacts

    with fresh_database("sqlite", tmp_path) as url:
        env = {"LIVECLASS_DATABASE_URL": url, "LIVECLASS_SECRET_KEY": SECRET}
        assert _run(tmp_path, "migrate", **env).returncode == 0
        history = generate(seed=1, weeks=4, tutors=2, students_per_tutor=2)

        async def seed() -> None:
            engine = create_async_engine(url)
            try:
                async with create_sessionmaker(engine)() as db, db.begin():
                    await write(db, history, now=SystemClock().now())
            finally:
                await engine.dispose()

        asyncio.run(seed())
        r = _run(tmp_path, "facts", "rebuild", **env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "rebuilt the facts of 16 held sessions"
        assert "100% 16/16 sessions" in r.stderr

        async def count() -> tuple[int, int]:
            engine = create_async_engine(url)
            try:
                async with create_sessionmaker(engine)() as db:
                    sessions = await db.scalar(select(func.count()).select_from(SessionFacts))
                    people = await db.scalar(select(func.count()).select_from(ParticipantFacts))
                    return int(sessions or 0), int(people or 0)
            finally:
                await engine.dispose()

        assert asyncio.run(count()) == (16, 32)
