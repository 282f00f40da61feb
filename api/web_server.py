"""How uvicorn serves the app: the options ``liveclass serve`` and the test servers share."""

from __future__ import annotations

from typing import Any

from api.settings import Settings

__all__ = ["uvicorn_options"]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``settings``.

    ``ws_max_size``: a WebSocket frame over ``LIVECLASS_MAX_MESSAGE_BYTES`` is refused
    by the web server from its header (close 1009, "message too big"), before any of
    it is read. Left at uvicorn's 16 MiB, any client, logged in or not, could make
    the server hold 16 MiB per socket before signaling saw the message.
    """
    return {
        "ws_max_size": settings.max_message_bytes,
        "log_config": None,
        "access_log": False,
    }
