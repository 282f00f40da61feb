"""A student in Chromium for the impaired-link session: joins, then samples getStats.

``python -m bench.chromium_viewer --url JOIN_URL --seconds N`` (run inside the
student's network namespace by ``bench.impaired_session --viewer chromium``)
opens the join link in Debian's Chromium with a fake camera and microphone,
joins, and every ``--every`` seconds reads what the page receives from
``getStats()``: for audio, samples received and concealed (what a listener
hears patched over), FEC, NACKs and jitter-buffer delay; for video, frames
decoded, freezes; and what a tile's notice says ("Video paused to keep audio
clear"), if one shows. It
prints one JSON object: the timeline, the page's SDP answer (to check what
Chrome kept of the SFU's offer: NACK and in-band FEC for Opus), and any page
errors. Times are ``time.monotonic()``, the clock the bench's phases use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import urllib.parse
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

CHROMIUM = "/usr/bin/chromium"
# FIELD-NOTES.md: the flags Debian's Chromium needs headless, with fake devices.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Summed over the inbound streams of each kind that received anything: in a
# room of two, the other participant's audio and video.
SAMPLE = """async () => {
  const s = window.liveclass;
  const out = {audio: null, video: null, connection: s.pc ? s.pc.connectionState : null};
  const notice = [...document.querySelectorAll("#tiles li .notice")].find((n) => !n.hidden);
  out.notice = notice ? notice.textContent : "";
  if (!s.pc) return out;
  (await s.pc.getStats()).forEach((x) => {
    if (x.type !== "inbound-rtp" || !x.packetsReceived) return;
    const a = out[x.kind] || (out[x.kind] = {});
    const add = (k) => { a[k] = (a[k] || 0) + (x[k] || 0); };
    ["packetsReceived", "packetsLost", "nackCount"].forEach(add);
    if (x.kind === "audio") {
      ["totalSamplesReceived", "concealedSamples", "fecPacketsReceived",
       "jitterBufferDelay", "jitterBufferEmittedCount", "jitterBufferTargetDelay",
       "jitterBufferMinimumDelay"].forEach(add);
    } else {
      ["framesDecoded", "freezeCount", "totalFreezesDuration", "pliCount",
       "jitterBufferDelay", "jitterBufferEmittedCount"].forEach(add);
    }
  });
  return out;
}"""


async def view(url: str, seconds: float, every: float, join_within: float) -> dict[str, Any]:
    result: dict[str, Any] = {"timeline": [], "errors": [], "answer": None}
    parts = urllib.parse.urlsplit(url)
    # The SFU is at a namespace address, not localhost: without this the page is
    # no secure context, and has no camera or microphone to join with.
    origin = f"{parts.scheme}://{parts.netloc}"
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="liveclass-chromium-"),
            executable_path=CHROMIUM,
            headless=False,
            args=[*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"],
        )
        try:
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            page.on("pageerror", lambda e: result["errors"].append(str(e)))
            await page.goto(url)
            join = page.get_by_role("button", name="Join session")
            await join.wait_for(timeout=join_within * 1000)
            # Not wait_for_function: it evaluates a string in the page, which the lesson
            # page's Content-Security-Policy (no 'unsafe-eval') refuses.
            await page.wait_for_selector("#join:not([disabled])", timeout=join_within * 1000)
            await join.click()
            result["joined_at"] = time.monotonic()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sample = await page.evaluate(SAMPLE)
                sample["at"] = time.monotonic()
                result["timeline"].append(sample)
                if result["answer"] is None and sample["connection"] == "connected":
                    result["answer"] = await page.evaluate(
                        "window.liveclass.pc.localDescription && "
                        "window.liveclass.pc.localDescription.sdp"
                    )
                await asyncio.sleep(every)
            # As a user ends a lesson: Leave, so the others see a leave and the seat
            # is free at once (closing the browser alone reads as a drop).
            with contextlib.suppress(PlaywrightError):
                await page.get_by_role("button", name="Leave").click(timeout=2000)
                await asyncio.sleep(0.3)  # the leave goes out before the socket closes
        finally:
            await ctx.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the student's join link")
    parser.add_argument("--seconds", type=float, required=True, help="how long to stay")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between samples")
    parser.add_argument("--join-within", type=float, default=30.0)
    args = parser.parse_args()
    result = asyncio.run(view(args.url, args.seconds, args.every, args.join_within))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
