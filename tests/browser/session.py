"""Two Chromium pages in one live session; run inside a network namespace with only lo.

Started by tests/browser/test_join_page.py as
``unshare --net sh -c 'ip link set lo up && python -m tests.browser.session OUT'``.
Serves Liveclass on embedded defaults, seeds the demo school, and runs the tutor's
journey: the tutor logs in to the web app and joins the lesson from the desk, the
student from their lessons; it waits until each decodes the other's video and
receives audio (from getStats) and the student's page highlights the tutor as
active speaker; the tutor chats and shares a screen; the student's WebSocket drops
(no leave) and the page comes back into its seat; the tutor leaves, rejoins and
ends the lesson for everyone; then the tutor finds the lesson's draft on the desk
(recorded, transcribed by Whisper, drafted by the server's workers), edits the
summary for families and approves it. Writes what it saw to OUT as JSON.

The tutor's fake microphone plays a WAV of espeak-ng saying what a tutor says
(``TUTOR_SAYS``), so Chrome's own audio-level header extension makes the tutor
the active speaker and Whisper has words to transcribe; the student's is
Chrome's default fake input, short beeps that are too brief to count as speech.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright

from bench.lesson_lab import seed_demo
from bench.speech import VOICES, say

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
LIVECLASS = str(Path(sys.executable).with_name("liveclass"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
STATS = """async () => {
  const s = window.liveclass;
  const inbound = {};
  let sourceLevel = null;
  if (s.pc) (await s.pc.getStats()).forEach((x) => {
    if (x.type === "media-source" && x.kind === "audio") sourceLevel = x.audioLevel;
    if (x.type === "inbound-rtp") {  // summed: a shared screen is a second video
      const sum = inbound[x.kind] || {framesDecoded: 0, packetsReceived: 0};
      sum.framesDecoded += x.framesDecoded || 0;
      sum.packetsReceived += x.packetsReceived || 0;
      inbound[x.kind] = sum;
    }
  });
  const tiles = [...document.querySelectorAll("#tiles li .name")].map((n) => n.textContent);
  const highlighted = [...document.querySelectorAll("#tiles li.active-speaker")];
  return {
    inbound,
    participants: [...s.participants.keys()],
    tiles,
    active_speaker: s.activeSpeaker,
    audio_source_level: sourceLevel,
    highlighted: highlighted.map((li) => li.dataset.participant),
    connection: s.pc && s.pc.connectionState,
    quality: document.getElementById("quality").textContent,
    message: document.getElementById("message").textContent,
    rejoin_offered: !document.getElementById("rejoin").hidden,
    ratings: Object.fromEntries(s.quality || []),
    resumed: Boolean(s.me && s.me.resumed),
    title: document.getElementById("lesson-title").textContent,
    when: document.getElementById("lesson-when").textContent,
    clock: document.getElementById("clock").textContent,
    waiting: !document.getElementById("waiting").hidden,
    notices: [...document.querySelectorAll("#notices li")].map((li) => li.textContent),
    chat: [...document.querySelectorAll("#chat-log li")].map((li) => li.textContent),
    end_offered: !document.getElementById("end").hidden,
    screen_caption: document.getElementById("screen-caption").textContent,
    screen_shown: !document.getElementById("screen").hidden,
    screen_size: [document.getElementById("screen-video").videoWidth,
                  document.getElementById("screen-video").videoHeight],
    self_view: Boolean(document.getElementById("self-video").srcObject &&
      document.getElementById("self-video").srcObject.getVideoTracks().length),
  };
}"""
MEDIA_FLOWING = """(async () => {
  const s = window.liveclass;
  const quality = document.getElementById("quality").textContent;
  if (!s.pc || !quality.startsWith("Connection:")) return false;
  let video = 0, audio = 0;
  (await s.pc.getStats()).forEach((x) => {
    if (x.type !== "inbound-rtp") return;
    if (x.kind === "video") video += x.framesDecoded || 0;
    else audio += x.packetsReceived || 0;
  });
  return video > 0 && audio > 0;
})()"""


# A shared screen shown on the page, playing: its caption, and the frames it has shown.
SCREEN_PLAYING = """(() => {
  const video = document.getElementById("screen-video");
  return !document.getElementById("screen").hidden && video.videoWidth > 0 &&
    video.getVideoPlaybackQuality().totalVideoFrames > 10;
})()"""
SHARING = """(() => ({
  pressed: document.getElementById("share").getAttribute("aria-pressed"),
  label: document.getElementById("share").textContent,
}))()"""
# The SFU's ratings reached the page, for itself and the other, and its indicator shows its own.
RATED = """(() => {
  const s = window.liveclass;
  const mine = s.quality.get(s.me.participant_id);
  const shown = document.getElementById("quality").textContent;
  return s.quality.size >= 2 && shown === `Connection: ${mine}`;
})()"""
# What a tile shows when the SFU rates that participant's connection poor, then lost, then
# excellent again (the page is handed the message the SFU sends).
QUALITY_SHOWN = """(() => {
  const [id] = [...window.liveclass.participants.keys()];
  const me = window.liveclass.me.participant_id;
  const tile = window.liveclass.participants.get(id);
  const seen = [];
  for (const quality of ["poor", "lost", "excellent"]) {
    const detail = {type: "connection_quality", participants: [
      {participant_id: me, quality: "excellent"}, {participant_id: id, quality}]};
    window.liveclass.signaling.dispatchEvent(new CustomEvent(detail.type, {detail}));
    seen.push(tile.quality.hidden ? "" : tile.quality.textContent);
  }
  return seen;
})()"""
# What the tutor's page hears of the others' presence from now on, in order.
WATCH_PRESENCE = """() => {
  window.presenceSeen = [];
  for (const type of ["participant.joined", "participant.left",
                      "participant.reconnecting", "participant.reconnected"]) {
    window.liveclass.signaling.addEventListener(type, () => window.presenceSeen.push(type));
  }
}"""
# The student's page's decoded frames and received audio on its current connection.
ACTIVE_SPEAKER_SHOWN = "document.querySelectorAll('#tiles li.active-speaker').length > 0"


def speech_like_wav(path: Path, seconds: float = 4.0, rate: int = 48_000) -> Path:
    """Voiced "syllables" (a harmonic buzz, pitch gliding 120-220 Hz, 180 ms on, 70 ms off).

    Bursty and harmonic like speech, so Chrome's noise suppression keeps it.
    """
    t = np.arange(int(seconds * rate)) / rate
    pitch = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    buzz = sum(np.sin(k * phase) / k for k in range(1, 9))
    syllable = t % 0.25
    envelope = np.where(syllable < 0.18, np.sin(np.pi * syllable / 0.18), 0.0)
    samples = (0.4 * 32767 * buzz / np.max(np.abs(buzz)) * envelope).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def frames_past(count: int) -> str:
    """A check: the page has decoded more than ``count`` video frames in all."""
    return f"""(async () => {{
  let decoded = 0;
  (await window.liveclass.pc.getStats()).forEach((x) => {{
    if (x.type === "inbound-rtp" && x.kind === "video") decoded += x.framesDecoded || 0;
  }});
  return decoded > {count};
}})()"""


def interfaces() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


async def until(page: Page, check: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within * WAIT
    while True:
        # The check first, then the page's state: read the other way round, a message
        # arriving between the two (participant.left) made the check pass on a state
        # taken before it.
        done = await page.evaluate(check)
        stats: dict[str, Any] = await page.evaluate(STATS)
        if done or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.25)


def layer_bytes(metrics: str, roles: dict[str, str]) -> dict[str, dict[str, float]]:
    """Video bytes the SFU received per temporal layer, by role, from /metrics."""
    out: dict[str, dict[str, float]] = {}
    for line in metrics.splitlines():
        if not line.startswith("liveclass_media_layer_payload_bytes_received_total{"):
            continue
        labels, value = line.split("} ")
        fields = dict(
            part.split("=", 1) for part in labels.split("{", 1)[1].split(",") if "=" in part
        )
        who = fields["participant"].strip('"')
        if fields.get("source", '"camera"').strip('"') != "camera":
            continue  # a shared screen's layers are its own
        out.setdefault(roles.get(who, who), {})[fields["layer"].strip('"')] = float(value)
    return out


# What a viewer's tile shows when the SFU pauses a video, then thins it, then restores it:
# the page is handed the three signaling messages the SFU sends (docs/signaling.md).
VIDEO_NOTICE_SHOWN = """(() => {
  const [id] = [...window.liveclass.participants.keys()];
  const tile = window.liveclass.participants.get(id);
  const seen = [];
  for (const message of [
    {type: "video_paused", participant_id: id, reason: "bandwidth"},
    {type: "video_resumed", participant_id: id, frame_share: 0.25, reason: "bandwidth"},
    {type: "video_thinned", participant_id: id, frame_share: 1, reason: "full"},
  ]) {
    window.liveclass.signaling.dispatchEvent(new CustomEvent(message.type, {detail: message}));
    const text = tile.notice.hidden ? "" : tile.notice.textContent;
    seen.push({text, state: tile.li.dataset.video});
  }
  return seen;
})()"""


async def axe_check(page: Page, axe: Axe) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds on the page as it is."""
    results = await axe.run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def tab_to(page: Page, check: str, presses: int = 40) -> bool:
    """Press Tab until ``check`` (a JS expression on ``document.activeElement``) holds."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        script = f"(() => {{ const e = document.activeElement; return {check}; }})()"
        if await page.evaluate(script):
            return True
    return False


TUTOR_SAYS = (
    "Today we are adding fractions. When the bottom numbers match, add the top numbers. "
    "For homework, finish the fractions worksheet."
)
EDITED_SUMMARY = (
    "Sam added fractions with matching denominators today and has a worksheet to finish."
)


async def log_in(page: Page, base: str, who: dict[str, str]) -> None:
    """Log in to the web app with the keyboard (the email field has the focus)."""
    await page.goto(f"{base}/app")
    await page.wait_for_selector("#login-form")
    await page.keyboard.type(who["email"])
    await page.keyboard.press("Tab")
    await page.keyboard.type(who["password"])
    await page.keyboard.press("Enter")


async def review_the_draft(page: Page, base: str, session_id: str, result: dict[str, Any]) -> None:
    """From the desk: wait for the lesson's draft, open it, rewrite the summary, approve."""
    link = f"ul.reviews a[href='#/review/{session_id}']"
    deadline = time.monotonic() + 120 * WAIT
    await page.goto(f"{base}/app#/desk")
    await page.wait_for_selector("main h2")
    result["desk_after_end"] = await page.inner_text("main")
    while True:
        await page.wait_for_selector("main h2")
        if await page.query_selector(link) is not None:
            break
        if time.monotonic() > deadline:
            result["desk_without_draft"] = await page.inner_text("main")
            return
        await asyncio.sleep(1)
        await page.reload()  # as a tutor would, to see whether it came
    result["draft_waited_s"] = round(120 * WAIT - (deadline - time.monotonic()), 1)
    keys = result["keys"]
    keys["review"] = await tab_to(
        page, f"e.tagName === 'A' && e.getAttribute('href') === '#/review/{session_id}'"
    )
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#parent-summary")
    result["review_page"] = await page.inner_text("main")
    keys["summary"] = await tab_to(page, "e.id === 'parent-summary'")
    await page.keyboard.press("Control+A")
    await page.keyboard.type(EDITED_SUMMARY)
    keys["save"] = await tab_to(page, "e.textContent === 'Save changes'")
    await page.keyboard.press("Enter")
    await until_text(page, "#status", "Saved", 10)
    keys["approve"] = await tab_to(page, "e.textContent === 'Approve and send to families'")
    await page.keyboard.press("Enter")
    result["review_status"] = await until_text(page, "#status", "Approved", 10)


async def until_text(page: Page, selector: str, start: str, within: float) -> str:
    """The text of ``selector`` once it starts with ``start``, or as it is after ``within``."""
    deadline = time.monotonic() + within * WAIT
    while True:
        text = await page.inner_text(selector)
        if text.startswith(start) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.2)


# A caption line came in.
CAPTIONS_SHOWN = "document.querySelectorAll('#caption-lines li').length > 0"
CAPTION_LINES = "[...document.querySelectorAll('#caption-lines li')].map((li) => li.textContent)"


async def run(out: Path, shots: Path | None = None) -> None:
    """The journey; its pictures (the lesson page) into ``shots`` when given."""
    data = Path(tempfile.mkdtemp())
    port = 8765
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LIVECLASS_DATA_DIR": str(data / "var"),
        "LIVECLASS_ICE_ADDRESSES": "127.0.0.1",
        "LIVECLASS_PUBLIC_URL": base,
        "LIVECLASS_EVENT_POLL_SECONDS": "0.2",
    }
    env = {
        k: v for k, v in env.items() if k != "LIVECLASS_DATABASE_URL" and k != "LIVECLASS_REDIS_URL"
    }
    voice = data / "voice.wav"
    say(TUTOR_SAYS, voice, voice=VOICES["tutor"])
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(
        [LIVECLASS, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=data,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    keys: dict[str, bool] = {}  # each step done with the keyboard: its control was reached
    result: dict[str, Any] = {"interfaces": interfaces(), "axe": {}, "shots": [], "keys": keys}
    axe = Axe()
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    try:
        deadline = time.monotonic() + 30 * WAIT
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)
        demo = seed_demo(data, env)
        async with async_playwright() as pw:
            pages: dict[str, Page] = {}
            contexts = []
            for role in ("tutor", "student"):
                ctx = await pw.chromium.launch_persistent_context(
                    tempfile.mkdtemp(),
                    executable_path="/usr/bin/chromium",
                    headless=False,
                    args=CHROMIUM_ARGS
                    + ([f"--use-file-for-fake-audio-capture={voice}"] if role == "tutor" else []),
                )
                contexts.append(ctx)
                page = ctx.pages[0] if ctx.pages else await ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                result[f"{role}_errors"] = errors
                # From the web app: the desk's (or the student's lessons') Join button asks
                # for a join token and opens the lesson page with it.
                if role == "tutor":
                    # The lesson page without a token asks for a login: axe checks it too.
                    await page.goto(f"{base}/join/{demo['session_id']}")
                    await page.wait_for_selector("#login-form")
                    result["axe"]["join_login"] = await axe_check(page, axe)
                # With the keyboard alone, as everything the tutor does below.
                await log_in(page, base, demo[role])
                await page.wait_for_selector("ul.sessions button")
                keys[f"{role}_join"] = await tab_to(page, "e.textContent === 'Join'")
                await page.keyboard.press("Enter")
                # Not wait_for_function: the page's Content-Security-Policy has no eval.
                await page.wait_for_selector("#join:not([disabled])")
                if role == "tutor":
                    result["axe"]["lobby"] = await axe_check(page, axe)
                # The lobby gives Join session the focus.
                keys[f"{role}_join_session"] = await page.evaluate(
                    "document.activeElement.id === 'join'"
                )
                await page.keyboard.press("Enter")
                pages[role] = page
            for role, page in pages.items():
                result[role] = await until(page, MEDIA_FLOWING, 20)
            await asyncio.sleep(2)  # a few L1T3 periods of each page's video
            ids = {
                await page.evaluate("window.liveclass.me.participant_id"): role
                for role, page in pages.items()
            }
            result["layer_bytes"] = layer_bytes(
                httpx.get(f"http://127.0.0.1:{port}/metrics").text, ids
            )
            # Chat: the tutor types a line and sends it with Enter; the student's page shows it.
            await pages["tutor"].fill("#chat-text", "Hello Sam, can you see the worksheet?")
            await pages["tutor"].press("#chat-text", "Enter")
            result["student_chat"] = await until(
                pages["student"], "document.querySelectorAll('#chat-log li').length > 0", 10
            )
            result["tutor_chat"] = await pages["tutor"].evaluate(STATS)
            # Live captions: the student turns them on and reads what the tutor says, with
            # the tutor's name, a few seconds after it was said.
            keys["captions"] = await tab_to(pages["student"], "e.id === 'captions-toggle'")
            await pages["student"].keyboard.press("Enter")
            result["student_captions"] = await until(pages["student"], CAPTIONS_SHOWN, 40)
            result["student_captions"]["lines"] = await pages["student"].evaluate(CAPTION_LINES)
            # Screen sharing: the tutor shares (the browser's picker is accepted by the fake
            # UI flag), the student's page shows it large, then the tutor stops.
            keys["share"] = await tab_to(pages["tutor"], "e.id === 'share'")
            await pages["tutor"].keyboard.press("Enter")
            result["student_screen"] = await until(pages["student"], SCREEN_PLAYING, 20)
            result["tutor_sharing"] = await pages["tutor"].evaluate(SHARING)
            result["axe"]["lesson"] = await axe_check(pages["student"], axe)
            if shots is not None:
                await pages["student"].screenshot(path=str(shots / "lesson.png"), full_page=True)
                result["shots"].append("lesson.png")
            await pages["tutor"].keyboard.press("Enter")  # the focus stays: Stop sharing
            result["student_screen_stopped"] = await until(
                pages["student"], "document.getElementById('screen').hidden", 10
            )
            result["student_notice"] = await pages["student"].evaluate(VIDEO_NOTICE_SHOWN)
            for role, page in pages.items():
                result[f"{role}_rated"] = await until(page, RATED, 15)
            result["student_tile_quality"] = await pages["student"].evaluate(QUALITY_SHOWN)
            result["student_speaker"] = await until(pages["student"], ACTIVE_SPEAKER_SHOWN, 15)
            result["tutor_speaker"] = await pages["tutor"].evaluate(STATS)
            result["tutor_speaker"]["me"] = await pages["tutor"].evaluate(
                "window.liveclass.me.participant_id"
            )
            # A drop: the student's socket closes without a leave. The page comes back
            # at once with its resume token, into the same seat, on a new peer connection.
            await pages["tutor"].evaluate(WATCH_PRESENCE)
            await until(pages["tutor"], "true", 0)
            before = (await pages["tutor"].evaluate(STATS))["inbound"]["video"]["framesDecoded"]
            await pages["student"].evaluate("window.liveclass.signaling.ws.close()")
            await until(pages["student"], "Boolean(window.liveclass.me.resumed)", 15)
            result["student_after_drop"] = await until(pages["student"], MEDIA_FLOWING, 20)
            await until(pages["tutor"], "window.presenceSeen.length >= 2", 10)
            result["tutor_saw_of_the_drop"] = await pages["tutor"].evaluate("window.presenceSeen")
            result["tutor_after_drop"] = await until(pages["tutor"], frames_past(before + 15), 10)
            result["tutor_after_drop"]["decoded_before"] = before
            keys["leave"] = await tab_to(pages["tutor"], "e.id === 'leave'")
            await pages["tutor"].keyboard.press("Enter")
            result["student_after_leave"] = await until(
                pages["student"], "window.liveclass.participants.size === 0", 10
            )
            result["tutor_after_leave"] = await pages["tutor"].evaluate(STATS)
            # The tutor comes back (Rejoin), then ends the lesson for everyone: two presses.
            keys["rejoin"] = await pages["tutor"].evaluate(
                "document.activeElement.id === 'rejoin'"  # offered with the focus
            )
            await pages["tutor"].keyboard.press("Enter")
            await until(pages["tutor"], "window.liveclass.participants.size === 1", 20)
            keys["end"] = await tab_to(pages["tutor"], "e.id === 'end'")
            await pages["tutor"].keyboard.press("Enter")
            await pages["tutor"].keyboard.press("Enter")  # again, to confirm
            ended = "document.getElementById('message').textContent"
            result["student_after_end"] = await until(
                pages["student"], f"{ended} === 'The lesson has ended.'", 15
            )
            result["tutor_after_end"] = await until(
                pages["tutor"], f"{ended} === 'You ended the lesson.'", 15
            )
            # Back to the desk: the lesson just held, recorded, transcribed and drafted
            # by the server's workers, waits for review.
            await review_the_draft(pages["tutor"], base, demo["session_id"], result)
            result["review_errors"] = result["tutor_errors"]
            for ctx in contexts:
                await ctx.close()
    finally:
        # What the pages saw is written whatever the stop takes: a busy machine can
        # make serve's shutdown (worker grace, presence drain) outlast a short wait.
        server.terminate()
        stopping = time.monotonic()
        try:
            server.wait(timeout=60 * WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        result["server_stop_seconds"] = round(time.monotonic() - stopping, 1)
        log.close()
        result["server_log_tail"] = (data / "serve.log").read_text()[-3000:]
        out.write_text(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
