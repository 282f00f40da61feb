"""Where people reach this server: the base of every link it prints or mails.

``LIVECLASS_PUBLIC_URL`` wins when it is set (a proxy, a domain). Otherwise links
follow the address ``liveclass serve`` listens on, so ``make run PORT=9000`` mails
working links. While it serves, ``serve`` leaves that address in
``DATA_DIR/serving.json``, and ``liveclass demo`` run beside it prints links to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from api.settings import Settings

SERVING_FILE = "serving.json"
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def is_explicit(settings: Settings) -> bool:
    """Whether the public URL was configured rather than defaulted."""
    return "public_url" in settings.model_fields_set


def listening_url(host: str, port: int) -> str:
    """A URL for a listening address; a wildcard one is reached on loopback from here."""
    shown = "127.0.0.1" if host in WILDCARDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def for_serving(settings: Settings, host: str, port: int) -> Settings:
    """The settings ``serve`` runs with: links follow its port unless configured."""
    if is_explicit(settings):
        return settings
    return settings.model_copy(update={"public_url": listening_url(host, port)})


def _serving_path(settings: Settings) -> Path:
    return settings.data_dir / SERVING_FILE


def announce(settings: Settings) -> None:
    """Note this process's public URL in DATA_DIR for the other commands to find."""
    path = _serving_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": settings.public_url, "pid": os.getpid()}))


def withdraw(settings: Settings) -> None:
    """Remove this process's note, if it is still ours."""
    path = _serving_path(settings)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def for_links(settings: Settings) -> Settings:
    """The settings a command that prints links runs with: the configured URL, else the
    URL of the server serving this DATA_DIR now, else the default."""
    if is_explicit(settings):
        return settings
    try:
        note = json.loads(_serving_path(settings).read_text())
        url, pid = str(note["url"]), int(note["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return settings
    if not _alive(pid) or not url.startswith(("http://", "https://")):
        return settings
    return settings.model_copy(update={"public_url": url.rstrip("/")})
