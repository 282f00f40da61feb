"""Fields every kind of person shares (tutor, student, guardian), as the API reads them.

The tutor, student and guardian routes build their bodies from these schemas;
the changes themselves are ``scheduling.people``'s, which takes a finished
password hash, so hashing stays here beside ``api.auth``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from api.auth import hash_password
from api.schemas import Email, Input, Name, Password, TimeZoneName
from core.errors import ErrorDetail, ValidationFailed


class PersonCreate(Input):
    email: Email
    display_name: Name
    password: Password | None = None
    time_zone: TimeZoneName = "UTC"


class PersonUpdate(Input):
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


def reject_nulls(body: BaseModel, *fields: str) -> None:
    """PATCH with an explicit null for a required field is an error, not a no-op."""
    bad = [f for f in fields if f in body.model_fields_set and getattr(body, f) is None]
    if bad:
        raise ValidationFailed(
            "these fields cannot be null; leave them out to keep the current value",
            details=[
                ErrorDetail(loc=["body", f], message="may not be null", type="null_not_allowed")
                for f in bad
            ],
        )
