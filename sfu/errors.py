"""Errors of the media plane.

Hierarchy::

    core.errors.LiveclassError
    └── SfuError                    (500 sfu_error)
        ├── UnsupportedCodec        (422 unsupported_codec)
        ├── NegotiationFailed       (422 negotiation_failed: an SDP we cannot use)
        └── RoomFull                (409 room_full)
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
