"""Errors of the scheduling package.

Hierarchy::

    core.errors.Conflict
    └── EmailTaken            (409 email_taken)
    core.errors.ValidationFailed
    └── InvalidReference      (422 invalid_reference: an id in a body names nothing usable)
"""

from __future__ import annotations

from core.errors import Conflict, ErrorDetail, ValidationFailed


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("a user with this email address already exists; use another address")


class InvalidReference(ValidationFailed):
    code = "invalid_reference"

    def __init__(self, field: str, what: str, value: str) -> None:
        super().__init__(
            f"{field} does not name a {what} in your organisation",
            details=[
                ErrorDetail(
                    loc=["body", field],
                    message=f"no {what} with id {value}",
                    type="invalid_reference",
                )
            ],
        )
