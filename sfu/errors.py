"""Errors of the media plane.

Hierarchy::

    core.errors.LiveclassError
    └── SfuError                    (500 sfu_error)
        ├── UnsupportedCodec        (422 unsupported_codec)
        ├── NegotiationFailed       (422 negotiation_failed: an SDP we cannot use)
        ├── RoomFull                (409 room_full)
        ├── IcePortsExhausted       (503 ice_ports_exhausted: LIVECLASS_ICE_PORT_RANGE is full)
        └── MediaFileError          (422 media_file_unusable: a file the bot cannot publish)
"""

from __future__ import annotations

from core.errors import LiveclassError


class SfuError(LiveclassError):
    code = "sfu_error"


class UnsupportedCodec(SfuError):
    status_code = 422
    code = "unsupported_codec"


class NegotiationFailed(SfuError):
    status_code = 422
    code = "negotiation_failed"


class RoomFull(SfuError):
    status_code = 409
    code = "room_full"


class IcePortsExhausted(SfuError):
    """Every UDP port of ``LIVECLASS_ICE_PORT_RANGE`` is taken on an address."""

    status_code = 503
    code = "ice_ports_exhausted"
    retryable = True  # once connections end and free their ports


class MediaFileError(SfuError):
    """A media file that cannot be published as it is; the message says how to fix it."""

    status_code = 422
    code = "media_file_unusable"
