"""Fields every kind of person shares (tutor, student, guardian), as the API reads them.

The tutor, student and guardian routes build their bodies from these schemas;
the changes themselves are ``scheduling.people``'s, which takes a finished
password hash, so hashing stays here beside ``api.auth``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from api.auth import hash_password
from api.schemas import Email, Input, Name, Password, Patch, TimeZoneName


class PersonCreate(Input):
    email: Email
    display_name: Name
    password: Password | None = None
    time_zone: TimeZoneName = "UTC"


class PersonUpdate(Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("email", "display_name", "time_zone")

    email: Email | None = None
    display_name: Name | None = None
    password: Password | None = None
    time_zone: TimeZoneName | None = None


class PersonOut(BaseModel):
    id: str
    user_id: str
    email: str
    display_name: str
    time_zone: str
    created_at: datetime


async def optional_hash(password: str | None) -> str | None:
    return None if password is None else await hash_password(password)
