"""Two Chromium pages in one live session; run inside a network namespace with only lo.

Started by tests/browser/test_join_page.py as
``unshare --net sh -c 'ip link set lo up && python -m tests.browser.session OUT'``.
Serves Liveclass on embedded defaults, opens the demo's join links for the
tutor and the student, waits until each decodes the other's video and receives
audio (from getStats), then the tutor leaves; writes what it saw to OUT as JSON.
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
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

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
  if (s.pc) (await s.pc.getStats()).forEach((x) => {
    if (x.type === "inbound-rtp") {
      inbound[x.kind] = {
        framesDecoded: x.framesDecoded || 0,
        packetsReceived: x.packetsReceived || 0,
      };
    }
  });
  const tiles = [...document.querySelectorAll("#tiles li .name")].map((n) => n.textContent);
  return {
    inbound,
    participants: [...s.participants.keys()],
    tiles,
    connection: s.pc && s.pc.connectionState,
    quality: document.getElementById("quality").textContent,
    message: document.getElementById("message").textContent,
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


def interfaces() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


async def until(page: Page, check: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within * WAIT
    while True:
        stats: dict[str, Any] = await page.evaluate(STATS)
        if await page.evaluate(check) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.25)


async def run(out: Path) -> None:
    data = Path(tempfile.mkdtemp())
    port = 8765
    env = {
        **os.environ,
        "LIVECLASS_DATA_DIR": str(data / "var"),
        "LIVECLASS_ICE_ADDRESSES": "127.0.0.1",
        "LIVECLASS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env = {
        k: v for k, v in env.items() if k != "LIVECLASS_DATABASE_URL" and k != "LIVECLASS_REDIS_URL"
    }
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(
        [LIVECLASS, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=data,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    result: dict[str, Any] = {"interfaces": interfaces()}
    try:
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
        deadline = time.monotonic() + 30 * WAIT
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)
        async with async_playwright() as pw:
            pages: dict[str, Page] = {}
            contexts = []
            for role in ("tutor", "student"):
                ctx = await pw.chromium.launch_persistent_context(
                    tempfile.mkdtemp(),
                    executable_path="/usr/bin/chromium",
                    headless=False,
                    args=CHROMIUM_ARGS,
                )
                contexts.append(ctx)
                page = ctx.pages[0] if ctx.pages else await ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                result[f"{role}_errors"] = errors
                await page.goto(demo[role]["join_url"])
                join = page.get_by_role("button", name="Join session")
                await join.wait_for()
                await page.wait_for_function("!document.getElementById('join').disabled")
                await join.click()
                pages[role] = page
            for role, page in pages.items():
                result[role] = await until(page, MEDIA_FLOWING, 20)
            await pages["tutor"].get_by_role("button", name="Leave").click()
            result["student_after_leave"] = await until(
                pages["student"], "window.liveclass.participants.size === 0", 10
            )
            result["tutor_after_leave"] = await pages["tutor"].evaluate(STATS)
            for ctx in contexts:
                await ctx.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
        result["server_log_tail"] = (data / "serve.log").read_text()[-3000:]
        out.write_text(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1])))
