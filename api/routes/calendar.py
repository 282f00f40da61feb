"""Calendar feeds: subscribe a calendar app to a tutor's or a guardian's sessions."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.audit_trail import address_of
from api.permissions import (
    load_visible,
    require_tutor_or_coordinator,
    visible_guardians,
    visible_tutors,
)
from api.routing import Call, Router
from core.errors import NotFound, PermissionDenied
from core.logging import get_logger
from scheduling.feeds import feed_calendar, issue_feed
from scheduling.models import FeedOwner, Guardian, Role, Tutor

router = Router()
TAGS = ["calendar"]
log = get_logger("liveclass.calendar")


class FeedOut(BaseModel):
    url: str = Field(
        description="The feed's address, shown only now: anyone with it can read the calendar. "
        "Creating a feed again gives a new address and the old one stops working."
    )
    created_at: datetime
    rotated_at: datetime | None


def _feed_path(token: str) -> str:
    return f"/api/v1/calendar/{token}.ics"


async def _issue(call: Call, owner_kind: FeedOwner, owner_id: str, org_id: str) -> FeedOut:
    token, feed = await issue_feed(
        call.db, org_id=org_id, owner_kind=owner_kind, owner_id=owner_id, now=call.now
    )
    log.info("calendar feed issued", owner_kind=owner_kind.value, owner_id=owner_id)
    return FeedOut(
        url=call.services.settings.public_url + _feed_path(token),
        created_at=feed.created_at,
        rotated_at=feed.rotated_at,
    )


@router.post("/api/v1/tutors/{tutor_id}/calendar-feed", tags=TAGS, status_code=201)
async def create_tutor_feed(call: Call, tutor_id: str) -> FeedOut:
    """Create or rotate a tutor's calendar feed (coordinators, or the tutor).

    The URL is shown once; posting again replaces it and the old one stops working.
    """
    p = call.principal
    tutor = await load_visible(call.db, p, Tutor, visible_tutors(p), tutor_id, "tutor")
    require_tutor_or_coordinator(p, tutor, "create a tutor's calendar feed")
    return await _issue(call, FeedOwner.TUTOR, tutor.id, tutor.org_id)


@router.post("/api/v1/guardians/{guardian_id}/calendar-feed", tags=TAGS, status_code=201)
async def create_guardian_feed(call: Call, guardian_id: str) -> FeedOut:
    """Create or rotate a guardian's feed of their children's sessions (coordinators, or them).

    The URL is shown once; posting again replaces it and the old one stops working.
    """
    p = call.principal
    guardian = await load_visible(
        call.db, p, Guardian, visible_guardians(p), guardian_id, "guardian"
    )
    if not (p.is_coordinator or (p.role is Role.GUARDIAN and p.guardian_id == guardian.id)):
        raise PermissionDenied("only a coordinator or this guardian can create their calendar feed")
    return await _issue(call, FeedOwner.GUARDIAN, guardian.id, guardian.org_id)


@router.get("/api/v1/calendar/{token}.ics", tags=TAGS, auth=False, media_type="text/calendar")
async def read_calendar_feed(call: Call, token: str) -> Response:
    """A tutor's or guardian's sessions as an iCalendar (RFC 5545) feed; no login.

    The token in the address is the credential: an unknown or rotated one gets
    404. Events have stable UIDs, UTC times, a SEQUENCE that grows when a
    session changes, and STATUS:CANCELLED once cancelled. Sessions that ended
    more than 90 days ago are left out. Each read is in the audit log (actor
    `calendar_feed`, the feed's id; never the token).
    """
    body = await feed_calendar(
        call.db,
        token,
        now=call.now,
        name="Liveclass sessions",
        domain=urlsplit(call.services.settings.public_url).hostname or "liveclass",
        address=address_of(call.request),
    )
    if body is None:
        raise NotFound("no calendar feed at this address; ask for a new feed link")
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
