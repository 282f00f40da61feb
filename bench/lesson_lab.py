"""A lesson across veth pairs: ``liveclass serve`` in a namespace, each participant in one.

The impaired-link benchmarks (``bench.impaired_session``, ``bench.network``)
share this setup: the SFU in a network namespace of its own on embedded
defaults, the demo seeded, and a namespace for each participant joined to the
SFU's by its own veth pair (``bench.netlab``), ICE confined to each side's
address on its link. What they do to the links, and what they measure, is
their own. Everything is removed on the way out, however it is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.netlab import Link, NetLab

LIVECLASS = str(Path(sys.executable).with_name("liveclass"))
ROOT = Path(__file__).resolve().parent.parent
PORT = 8790


@dataclass
class Lesson:
    lab: NetLab
    sfu: str  # the SFU's namespace
    tutor: Link  # a: the SFU's end, b: the tutor's
    student: Link
    env: dict[str, str]  # for the participants' processes
    demo: dict[str, Any]  # ``liveclass demo --json``: join links by role
    serve_log: Path

    def token(self, role: str) -> str:
        url = urllib.parse.urlparse(self.demo[role]["join_url"])
        return str(urllib.parse.parse_qs(url.query)["token"][0])

    def bot(self, link: Link, role: str, seconds: float, *extra: str) -> subprocess.Popen[str]:
        """``liveclass bot`` as ``role`` in ``link.b``, talking to the SFU at ``link.a_address``."""
        return self.lab.popen(
            link.b,
            [LIVECLASS, "bot", "--url", f"ws://{link.a_address}:{PORT}/rtc"]
            + ["--token", self.token(role), "--seconds", str(seconds)]
            + ["--json", "--timeline", *extra],
            env={**self.env, "LIVECLASS_ICE_ADDRESSES": link.b_address},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def chromium(self, link: Link, role: str, seconds: float) -> subprocess.Popen[str]:
        """Chromium in ``link.b`` (``bench.chromium_viewer``), joining as ``role``."""
        url = urllib.parse.urlparse(self.demo[role]["join_url"])
        url = url._replace(netloc=f"{link.a_address}:{url.port or PORT}")
        return self.lab.popen(
            link.b,
            [sys.executable, "-m", "bench.chromium_viewer", "--url", url.geturl()]
            + ["--seconds", str(seconds)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def reports(
    processes: dict[str, subprocess.Popen[str]], timeout: float
) -> dict[str, dict[str, Any]]:
    """Each participant's JSON report, once it has left; a failed one raises with its stderr."""
    out = {}
    for role, proc in processes.items():
        stdout, stderr = proc.communicate(timeout=timeout)
        if proc.returncode not in (0, 1) or not stdout.strip():
            raise RuntimeError(f"the {role} failed ({proc.returncode}): {stderr[-2000:]}")
        out[role] = json.loads(stdout)
    return out


@contextmanager
def lesson(*, name: str, wait_factor: float = 1.0) -> Iterator[Lesson]:
    """Serve a seeded lesson in a namespace; yields it with the participants' links."""
    data = Path(tempfile.mkdtemp(prefix=f"liveclass-{name}-"))
    with NetLab() as lab:
        sfu = lab.namespace("sfu")
        tutor = lab.connect(sfu, lab.namespace("tutor"))
        student = lab.connect(sfu, lab.namespace("student"))
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("LIVECLASS_DATABASE_URL", "LIVECLASS_REDIS_URL")
        }
        env |= {
            "LIVECLASS_DATA_DIR": str(data / "var"),
            "LIVECLASS_PUBLIC_URL": f"http://{tutor.a_address}:{PORT}",
        }
        log_path = data / "serve.log"
        log = log_path.open("w")
        server = lab.popen(
            sfu,
            [LIVECLASS, "serve", "--host", "0.0.0.0", "--port", str(PORT)],
            cwd=data,
            env=env | {"LIVECLASS_ICE_ADDRESSES": f"{tutor.a_address},{student.a_address}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(lab, sfu, within=30 * wait_factor)
            demo = seed_demo(data, env)
            yield Lesson(lab, sfu, tutor, student, env, demo, log_path)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


def seed_demo(data: Path, env: dict[str, str]) -> dict[str, Any]:
    """``liveclass demo --json`` beside a running server (in ``data``, with ``env``): the
    demo school's logins, join links and session. Only once the server is up: both
    migrate the SQLite file, and must not race."""
    out = subprocess.run(
        [LIVECLASS, "demo", "--json"],
        cwd=data,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    demo: dict[str, Any] = json.loads(out)
    return demo


def _wait_healthy(lab: NetLab, namespace: str, *, within: float) -> None:
    check = (
        "import urllib.request, sys; "
        f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz', timeout=2)"
        ".status == 200 else 1)"
    )
    deadline = time.monotonic() + within
    while True:
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", check],
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"liveclass serve did not answer /healthz within {within:.0f} s")
        time.sleep(0.3)
