"""One-click stops for a guardian's emails: a signed link per guardian, child and kind.

Each email a guardian gets about a child carries a link that stops that kind of
email about that child (RFC 8058 one-click: mail clients POST to it from their
own "Unsubscribe" button, from the ``List-Unsubscribe`` headers). The link is
the whole permission: it names the guardian, the child and the switch, signed
with the server's secret, and never expires (an old email's link still works).
It only ever turns a switch off; turning one back on is the family portal's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jwt

from notifications.models import DeliveryKind

__all__ = ["STOPS", "Stop", "read_stop_token", "stop_links", "stop_token"]

# Which switch of the guardianship each kind of guardian email obeys.
STOPS: dict[DeliveryKind, str] = {
    DeliveryKind.SESSION_SUMMARY: "notify_summaries",
    # Progress reports go, and stop, with the session summaries they are drawn from.
    DeliveryKind.PROGRESS_REPORT: "notify_summaries",
    DeliveryKind.ABSENCE_NOTICE: "notify_absences",
    DeliveryKind.SESSION_REMINDER: "notify_reminders",
}
_AUDIENCE = "liveclass:stop-email"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Stop:
    """What a stop link turns off: ``term`` of the guardian's link to the student."""

    guardian_id: str
    student_id: str
    term: str


def stop_token(stop: Stop, *, secret: str) -> str:
    claims = {"aud": _AUDIENCE, "g": stop.guardian_id, "s": stop.student_id, "t": stop.term}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_stop_token(token: str, *, secret: str) -> Stop:
    """The stop a token names.

    Raises:
        ValueError: forged, malformed, or naming a switch that no email obeys.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE)
    except jwt.InvalidTokenError as exc:
        raise ValueError("this link is not one Liveclass sent, or it was cut short") from exc
    stop = Stop(guardian_id=str(claims["g"]), student_id=str(claims["s"]), term=str(claims["t"]))
    if stop.term not in STOPS.values():
        raise ValueError("this link names no kind of email")
    return stop


def stop_links(base_url: str, *, secret: str) -> Callable[[Stop], str]:
    """The URL of each stop on the server at ``base_url`` (``LIVECLASS_PUBLIC_URL``)."""
    base = base_url.rstrip("/")

    def link(stop: Stop) -> str:
        return f"{base}/unsubscribe/{stop_token(stop, secret=secret)}"

    return link
