"""Erasing a guardian: their login, profile, links to their children and calendar feed.

What a guardian withheld stays withheld: if they had not consented to recording or
AI processing for a child, that consent is turned off on the child's other
guardianships too, so erasing the guardian who said no never makes a child
recordable by itself; the other guardians can give it again in their portal. The
emails to the guardian are the notifications package's (``notifications.erasure``);
``api.privacy`` composes the two.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from scheduling.models import CalendarFeed, FeedOwner, Guardian, Guardianship, User

__all__ = ["GuardianErasure", "erase_guardian", "org_guardian"]


@dataclass
class GuardianErasure:
    guardian_id: str
    rows: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


async def org_guardian(db: AsyncSession, *, org_id: str, guardian_id: str) -> tuple[Guardian, User]:
    """The organisation's guardian and their login.

    Raises:
        NotFound: no such guardian in the organisation.
    """
    guardian = await db.scalar(
        select(Guardian).where(Guardian.id == guardian_id, Guardian.org_id == org_id)
    )
    if guardian is None:
        raise NotFound(f"no guardian {guardian_id} in your organisation")
    return guardian, await db.get_one(User, guardian.user_id)


async def erase_guardian(db: AsyncSession, *, org_id: str, guardian_id: str) -> GuardianErasure:
    """Erase the guardian ``guardian_id`` of ``org_id`` (see the module docstring).

    Raises:
        NotFound: no such guardian in the organisation.
    """
    guardian, user = await org_guardian(db, org_id=org_id, guardian_id=guardian_id)
    out = GuardianErasure(guardian_id=guardian_id)
    links = list(
        await db.scalars(select(Guardianship).where(Guardianship.guardian_id == guardian_id))
    )
    for link in links:
        for consent in ("recording_consent", "ai_processing_consent"):
            if getattr(link, consent):
                continue
            others = await db.execute(
                update(Guardianship)
                .where(
                    Guardianship.student_id == link.student_id,
                    Guardianship.guardian_id != guardian_id,
                    getattr(Guardianship, consent).is_(True),
                )
                .values({consent: False})
            )
            if int(getattr(others, "rowcount", 0) or 0):
                out.notes.append(
                    f"{consent.replace('_', ' ')} for student {link.student_id} stays off: the "
                    "erased guardian had not given it; the other guardians can give it again"
                )
    for table, statement in (
        ("guardianships", delete(Guardianship).where(Guardianship.guardian_id == guardian_id)),
        (
            "calendar_feeds",
            delete(CalendarFeed).where(
                CalendarFeed.owner_kind == FeedOwner.GUARDIAN, CalendarFeed.owner_id == guardian_id
            ),
        ),
        ("guardians", delete(Guardian).where(Guardian.id == guardian.id)),
        ("users", delete(User).where(User.id == user.id)),
    ):
        result = await db.execute(statement)
        out.rows[table] += int(getattr(result, "rowcount", 0) or 0)
    await db.flush()
    return out
