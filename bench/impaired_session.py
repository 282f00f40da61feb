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

With ``--viewer chromium`` the student is Debian's Chromium instead
(``bench.chromium_viewer``, in the student's namespace), and the figures are
what Chrome itself reports: the share of audio samples it concealed, the
frames it decoded, its freezes, and whether its answer kept NACK and in-band
FEC for Opus.

``python -m bench.impaired_session`` prints the figures (root needed, as for
any namespace); ``tests/bench/test_impaired_links.py`` asserts the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
ROOT = Path(__file__).resolve().parent.parent
VIEWERS = ("bot", "chromium")
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


def _chromium(lab: NetLab, link: Link, join_url: str, seconds: float, env: dict[str, str]) -> Any:
    """Chromium in ``link.b``, opening the join link at the SFU's address on that link."""
    url = urllib.parse.urlparse(join_url)
    url = url._replace(netloc=f"{link.a_address}:{url.port or PORT}")
    return lab.popen(
        link.b,
        [sys.executable, "-m", "bench.chromium_viewer", "--url", url.geturl()]
        + ["--seconds", str(seconds)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(
    *,
    viewer: str = "bot",
    warmup: float = 6.0,
    phase: float = 8.0,
    cut: float = 5.0,
    settle: float = 4.0,
    loss: int = 10,
    wait_factor: float = 1.0,
) -> dict[str, Any]:
    """Run the three phases; returns the raw reports and each phase's times.

    ``viewer``: who the student is, ``bot`` or ``chromium``.
    """
    if viewer not in VIEWERS:
        raise ValueError(f"viewer must be one of {', '.join(VIEWERS)}, not {viewer!r}")
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
            if viewer == "chromium":
                warm += 4 * wait_factor  # the browser starts, joins and connects within it
            stay = warm + 3 * (phase + settle) + 2
            tutor = _bot(lab, tutor_link, _token(demo["tutor"]["join_url"]), stay, env)
            if viewer == "chromium":
                student = _chromium(lab, student_link, demo["student"]["join_url"], stay, env)
            else:
                student = _bot(lab, student_link, _token(demo["student"]["join_url"]), stay, env)
            phases = _impair(lab, tutor_link, student_link, warm, phase, cut, settle, loss)
            reports = {}
            for role, proc in (("tutor", tutor), ("student", student)):
                out, err = proc.communicate(timeout=stay + 60 * wait_factor)
                if proc.returncode not in (0, 1) or not out.strip():
                    raise RuntimeError(f"the {role} failed ({proc.returncode}): {err[-2000:]}")
                reports[role] = json.loads(out)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    return {
        "viewer": viewer,
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
    if result.get("viewer") == "chromium":
        return chromium_figures(result)
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
            # Expected: the span of sequence numbers that arrived. The SFU forwards
            # each packet under the publisher's number plus a fixed offset, so a
            # packet lost on the way is a gap. Not the wall clock's 50 a second: on
            # a busy machine the tutor's bot itself falls behind real time, and a
            # wall-clock count blamed the SFU for frames never sent (2026-12-03).
            span = max(seqs) - min(seqs) + 1 if seqs else 0
            by_clock = round((end - since) * AUDIO_FPS)
            out["loss"] = {
                "audio_received": len(seqs),
                "audio_expected": span,
                "audio_expected_by_clock": by_clock,
                "audio_share": len(seqs) / span if span else 0.0,
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


def _delta(samples: list[dict[str, Any]], kind: str, key: str) -> float:
    """How much ``kind``'s ``key`` grew from the first sample to the last."""
    values = [s[kind].get(key, 0) for s in samples if s.get(kind)]
    return values[-1] - values[0] if len(values) > 1 else 0.0


def _opus_answer(sdp: str | None) -> dict[str, bool]:
    """What Chrome's answer kept of the SFU's offer for Opus."""
    sdp = sdp or ""
    found = re.search(r"a=rtpmap:(\d+) opus/48000", sdp)
    if found is None:
        return {"opus": False, "nack": False, "inband_fec": False}
    pt = found.group(1)
    fmtp = re.search(rf"a=fmtp:{pt} (.*)", sdp)
    return {
        "opus": True,
        "nack": re.search(rf"a=rtcp-fb:{pt} nack\s*$", sdp, re.MULTILINE) is not None,
        "inband_fec": fmtp is not None and "useinbandfec=1" in fmtp.group(1),
    }


def chromium_figures(result: dict[str, Any]) -> dict[str, Any]:
    """What Chromium, as the student, reported of the tutor's media in each phase."""
    viewer = result["reports"]["student"]
    timeline = viewer["timeline"]
    out: dict[str, Any] = {"answer": _opus_answer(viewer.get("answer")), "errors": viewer["errors"]}
    for phase in result["phases"]:
        start, end = phase["start"], phase["end"]
        if phase["name"] == "loss":
            window = [s for s in timeline if start + 1.0 <= s["at"] < end]
            seconds = window[-1]["at"] - window[0]["at"] if len(window) > 1 else 0.0
            received = _delta(window, "audio", "totalSamplesReceived")
            decoded = [(s["at"], s["video"]["framesDecoded"]) for s in window if s.get("video")]
            changes = [at for (at, n), (_, m) in zip(decoded, decoded[1:], strict=False) if n != m]
            changes = [window[0]["at"], *changes, window[-1]["at"]] if window else []
            out["loss"] = {
                "audio_concealed_share": (
                    _delta(window, "audio", "concealedSamples") / received if received else 1.0
                ),
                "audio_nacks": _delta(window, "audio", "nackCount"),
                "audio_fec_packets": _delta(window, "audio", "fecPacketsReceived"),
                "video_fps": _delta(window, "video", "framesDecoded") / seconds if seconds else 0.0,
                "video_freezes": _delta(window, "video", "freezeCount"),
                "longest_freeze_s": max(
                    (b - a for a, b in zip(changes, changes[1:], strict=False)), default=0.0
                ),
            }
        else:
            before = [s for s in timeline if s["at"] < end and s.get("video")]
            frames_then = before[-1]["video"]["framesDecoded"] if before else 0
            audio_then = (
                before[-1]["audio"]["packetsReceived"] if before and before[-1].get("audio") else 0
            )
            after = [s for s in timeline if s["at"] >= end]
            video_back = next(
                (
                    s["at"]
                    for s in after
                    if s.get("video") and s["video"]["framesDecoded"] > frames_then
                ),
                None,
            )
            audio_back = next(
                (
                    s["at"]
                    for s in after
                    if s.get("audio") and s["audio"]["packetsReceived"] > audio_then
                ),
                None,
            )
            out[phase["name"]] = {
                "video_back_after_s": None if video_back is None else video_back - end,
                "audio_back_after_s": None if audio_back is None else audio_back - end,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", type=int, default=10, help="percent lost on the tutor's uplink")
    parser.add_argument("--viewer", choices=VIEWERS, default="bot", help="who the student is")
    parser.add_argument("--json", action="store_true", help="print raw reports too")
    args = parser.parse_args()
    result = run(loss=args.loss, viewer=args.viewer)
    print(json.dumps(result if args.json else figures(result), indent=2))


if __name__ == "__main__":
    main()
