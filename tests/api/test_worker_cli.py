"""`liveclass worker`, run as an operator would: refuses without Redis, stops on SIGTERM."""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.api.test_cli import LIVECLASS, WAIT, _env, _run
from tests.conftest import REDIS_URL


def test_worker_without_redis_refuses_and_says_why(tmp_path: Path) -> None:
    """Without LIVECLASS_REDIS_URL the worker exits 2 pointing at serve's embedded bus."""
    r = _run(tmp_path, "worker")
    assert r.returncode == 2
    assert (
        "the embedded bus runs inside 'liveclass serve'; set LIVECLASS_REDIS_URL to run workers"
        in r.stderr
    )


def test_worker_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    """A worker never migrates: it asks for 'liveclass migrate' instead."""
    r = _run(tmp_path, "worker", LIVECLASS_REDIS_URL=REDIS_URL)
    assert r.returncode == 2 and "run 'liveclass migrate' first" in r.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_runs_until_told_to_stop(tmp_path: Path, signum: signal.Signals) -> None:
    """On a migrated database with Redis the worker runs, and stops cleanly on a signal."""
    assert _run(tmp_path, "migrate").returncode == 0
    prefix = f"test-cli-{secrets.token_hex(6)}"
    log = tmp_path / "worker.log"
    env = _env(
        tmp_path,
        LIVECLASS_REDIS_URL=REDIS_URL,
        LIVECLASS_EVENT_STREAM_PREFIX=prefix,
        LIVECLASS_EVENT_POLL_SECONDS="0.1",
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [LIVECLASS, "worker"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60 * WAIT
        while "worker started" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        # "worker started" comes as the first lifecycle sweep begins, so the signal
        # often lands inside it. The runner lets its loops finish the step they are in
        # (at most a 10 s grace, then cancels): usually about 1 s. Cancelling them
        # mid-transaction instead once made this take over 20 s, or never end.
        proc.send_signal(signum)
        assert proc.wait(timeout=20 * WAIT) == 0, log.read_text()
        assert "worker stopping" in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(f"{prefix}:events", f"{prefix}:dead")
        client.close()
