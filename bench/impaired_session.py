"""A live session over impaired links: loss on the tutor's uplink, then each link cut for 5 s.

The SFU (``liveclass serve`` on embedded defaults) runs in a network namespace
of its own; the tutor and the student are ``liveclass bot`` processes, each in
a namespace joined to the SFU's by its own veth pair (``bench.netlab``). All
three run unchanged: signaling, ICE, DTLS and SRTP cross the veth pairs like
they would cross a network, and no address of the host's own is involved.

One run goes through three phases, each followed by a clean stretch:

1. ``loss``: 10% of the UDP packets from the tutor to the SFU dropped;
2. ``publisher cut``: the tutor's link down both ways for 5 s;
3. ``viewer cut``: the student's link down both ways for 5 s.

The student's bot reports, packet by packet (``sfu.reception``), what a browser
could have played of the tutor's media: the share of audio frames received,
the decodable video frames per second, the longest freeze, and for each cut
how long after the link came back the next picture was decoded.

``python -m bench.impaired_session`` prints the figures (root needed, as for
any namespace); ``tests/bench/test_impaired_links.py`` asserts the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.netlab import Link, NetLab

LIVECLASS = str(Path(sys.executable).with_name("liveclass"))
PORT = 8790
AUDIO_FPS = 50  # the bot's Opus frames are 20 ms
VIDEO_FPS = 15


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # time.monotonic()
    end: float


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


def _token(join_url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlparse(join_url).query)["token"][0]


def _bot(lab: NetLab, link: Link, token: str, seconds: float, env: dict[str, str]) -> Any:
    """A bot in ``link.b``, talking to the SFU at ``link.a_address``."""
    return lab.popen(
        link.b,
        [LIVECLASS, "bot", "--url", f"ws://{link.a_address}:{PORT}/rtc", "--token", token]
        + ["--seconds", str(seconds), "--json", "--timeline"],
        env={**env, "LIVECLASS_ICE_ADDRESSES": link.b_address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(
    *,
    warmup: float = 6.0,
    phase: float = 8.0,
    cut: float = 5.0,
    settle: float = 4.0,
    loss: int = 10,
    wait_factor: float = 1.0,
) -> dict[str, Any]:
    """Run the three phases; returns the raw bot reports and each phase's times."""
    data = Path(tempfile.mkdtemp(prefix="liveclass-impaired-"))
    with NetLab() as lab:
        sfu = lab.namespace("sfu")
        tutor_link = lab.connect(sfu, lab.namespace("tutor"))
        student_link = lab.connect(sfu, lab.namespace("student"))
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("LIVECLASS_DATABASE_URL", "LIVECLASS_REDIS_URL")
        }
        env |= {
            "LIVECLASS_DATA_DIR": str(data / "var"),
            "LIVECLASS_PUBLIC_URL": f"http://{tutor_link.a_address}:{PORT}",
        }
        server_env = env | {
            "LIVECLASS_ICE_ADDRESSES": f"{tutor_link.a_address},{student_link.a_address}"
        }
        log = (data / "serve.log").open("w")
        server = lab.popen(
            sfu,
            [LIVECLASS, "serve", "--host", "0.0.0.0", "--port", str(PORT)],
            cwd=data,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(lab, sfu, within=30 * wait_factor)
            demo = json.loads(
                subprocess.run(
                    [LIVECLASS, "demo", "--json"],
                    cwd=data,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            warm = warmup * wait_factor
            stay = warm + 3 * (phase + settle) + 2
            tutor = _bot(lab, tutor_link, _token(demo["tutor"]["join_url"]), stay, env)
            student = _bot(lab, student_link, _token(demo["student"]["join_url"]), stay, env)
            phases = _impair(lab, tutor_link, student_link, warm, phase, cut, settle, loss)
            reports = {}
            for role, proc in (("tutor", tutor), ("student", student)):
                out, err = proc.communicate(timeout=stay + 60 * wait_factor)
                if proc.returncode not in (0, 1) or not out.strip():
                    raise RuntimeError(f"the {role} bot failed ({proc.returncode}): {err[-2000:]}")
                reports[role] = json.loads(out)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    return {
        "phases": [p.__dict__ for p in phases],
        "reports": reports,
        "serve_log": str(data / "serve.log"),
    }


def _impair(
    lab: NetLab,
    tutor: Link,
    student: Link,
    warm: float,
    phase: float,
    cut: float,
    settle: float,
    loss: int,
) -> list[Phase]:
    time.sleep(warm)
    phases = []
    # 1. loss on the tutor's uplink: what the SFU receives from the tutor.
    start = time.monotonic()
    lab.loss(tutor.a, tutor.a_device, loss, udp_only=True)
    time.sleep(phase)
    lab.loss(tutor.a, tutor.a_device, 0)
    phases.append(Phase("loss", start, time.monotonic()))
    time.sleep(settle)
    # 2. and 3. each link down both ways for ``cut`` seconds.
    for name, link in (("publisher cut", tutor), ("viewer cut", student)):
        start = time.monotonic()
        lab.cut(link.a, link.a_device)
        lab.cut(link.b, link.b_device)
        time.sleep(cut)
        lab.restore(link.a, link.a_device)
        lab.restore(link.b, link.b_device)
        phases.append(Phase(name, start, time.monotonic()))
        time.sleep(phase + settle - cut)
    return phases


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the student could play of the tutor's media in each phase."""
    student = result["reports"]["student"]
    tutor_id = result["reports"]["tutor"]["participant_id"]
    got = student["participants"][tutor_id]
    arrivals = got["audio_arrivals"]
    decoded = got["video_decoded"]
    out: dict[str, Any] = {}
    for phase in result["phases"]:
        start, end = phase["start"], phase["end"]
        if phase["name"] == "loss":
            # Skip the first second: the loss rule and the stream settle in.
            since = start + 1.0
            seqs = [seq for seq, at in arrivals if since <= at < end]
            frames = [d for d in decoded if since <= d[0] < end]
            gaps = [b[1] - a[1] for a, b in zip(frames, frames[1:], strict=False)]
            media = (frames[-1][1] - frames[0][1]) if len(frames) > 1 else 0.0
            # Expected: what the tutor sent in that time. Not from the sequence numbers: an
            # SFU that packetizes again numbers what it forwards without a gap.
            expected = round((end - since) * AUDIO_FPS)
            out["loss"] = {
                "audio_received": len(seqs),
                "audio_expected": expected,
                "audio_share": min(1.0, len(seqs) / expected),
                "video_frames": len(frames),
                "video_fps": (len(frames) - 1) / media if media else 0.0,
                "longest_freeze_s": max(gaps, default=0.0),
            }
        else:
            after = [d for d in decoded if d[0] >= end]
            out[phase["name"]] = {
                "video_back_after_s": (after[0][0] - end) if after else None,
                "audio_back_after_s": next(
                    (at - end for _, at in sorted(arrivals, key=lambda x: x[1]) if at >= end), None
                ),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", type=int, default=10, help="percent lost on the tutor's uplink")
    parser.add_argument("--json", action="store_true", help="print raw reports too")
    args = parser.parse_args()
    result = run(loss=args.loss)
    print(json.dumps(result if args.json else figures(result), indent=2))


if __name__ == "__main__":
    main()
