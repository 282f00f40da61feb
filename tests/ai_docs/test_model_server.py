"""The model server's death is reported with its signal and log, not as a network error."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.ai_docs.conftest import free_port
from tests.ai_docs.model_server import ServerProcess

# Answers /v1/models like a model server, then dies of SIGILL on the first completion,
# as a llama.cpp built for the wrong CPU does.
DIES_ON_COMPLETION = """
import http.server, os, signal, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"data": []}')
    def do_POST(self):
        print("computing the first completion", flush=True)
        os.kill(os.getpid(), signal.SIGILL)
    def log_message(self, *args):
        pass
print("model loaded", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_server_killed_by_sigill_is_reported_with_its_cause(tmp_path: Path) -> None:
    """A server that dies mid-request is named with its signal, a hint and its log."""
    port = free_port()
    server = ServerProcess(
        "llama_cpp.server",
        [sys.executable, "-c", DIES_ON_COMPLETION, str(port)],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/v1/models", timeout=30)
        assert server.death() is None
        with pytest.raises(httpx.TransportError):
            httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={}, timeout=10)
        server.process.wait(timeout=10)
        report = server.death()
    finally:
        server.stop()
    assert report is not None
    assert "SIGILL" in report and "built for a CPU this machine lacks" in report
    assert "computing the first completion" in report


def test_a_server_that_exits_while_starting_fails_with_its_log(tmp_path: Path) -> None:
    """A server that never comes up fails the wait with its exit status and its output."""
    server = ServerProcess(
        "llama_cpp.server",
        [sys.executable, "-c", "print('no such model file'); raise SystemExit(3)"],
        tmp_path / "server.log",
    )
    try:
        with pytest.raises(AssertionError, match=r"exited with status 3[\s\S]*no such model"):
            server.wait_ready(f"http://127.0.0.1:{free_port()}/v1/models", timeout=30)
    finally:
        server.stop()
