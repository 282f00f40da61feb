"""A model server process the tests own, and what to say when it dies under them.

A llama.cpp built for instructions this CPU lacks dies with SIGILL on its first
completion (FIELD-NOTES: "Building native packages portably"); the test then sees
only "cannot reach the model API". ``ServerProcess.death()`` names the signal and
shows the end of the server's log, so the failure points at its cause.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

HINTS = {
    signal.SIGILL: (
        "illegal instruction: this llama.cpp was built for a CPU this machine lacks; "
        "rebuild it portably with 'rm -rf .venv ~/.cache/liveclass/wheels && make install' "
        "(the Makefile's LLAMA_CMAKE_ARGS)"
    ),
    signal.SIGKILL: "killed: out of memory (see dmesg) or by another process",
    signal.SIGSEGV: "segmentation fault in the server",
}


class ServerProcess:
    """A server started with its output in ``log_path``; stopped by ``stop()``."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def death(self) -> str | None:
        """None while it runs; once it has exited, how it ended and the end of its log."""
        code = self.process.poll()
        if code is None:
            return None
        if code < 0:
            sig = signal.Signals(-code)
            how = f"was killed by {sig.name} ({HINTS.get(sig) or signal.strsignal(sig)})"
        else:
            how = f"exited with status {code}"
        return f"{self.name} {how}; the end of its log ({self.log_path}):\n{self.log_tail()}"

    def wait_ready(self, url: str, *, timeout: float) -> None:
        """Wait until ``url`` answers 200; fail with the death report if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.death()
            if report is not None:
                raise AssertionError(report)
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} did not answer {url} within {timeout:g} s; its log:\n"
                    + self.log_tail()
                )
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
