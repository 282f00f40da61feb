"""Join tokens: a signed pass into one session's room, for one participant.

A join token is a JWT (HS256) whose audience differs from the API's login
tokens, so neither can stand in for the other. It names the session, the
participant's user id, role and display name, and expires shortly after the
session's scheduled end. Issuing checks who may have one (the API does that);
this module only signs and verifies.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from signaling.errors import JoinTokenError

JOIN_AUDIENCE = "liveclass:join"
ISSUER = "liveclass"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class JoinGrant:
    """What a valid join token admits."""

    session_id: str
    participant_id: str
    role: str
    name: str
    expires_at: datetime


def issue_join_token(grant: JoinGrant, *, secret: str, now: datetime) -> str:
    claims = {
        "iss": ISSUER,
        "aud": JOIN_AUDIENCE,
        "sub": grant.participant_id,
        "sid": grant.session_id,
        "role": grant.role,
        "name": grant.name,
        "iat": int(now.timestamp()),
        "exp": int(grant.expires_at.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_join_token(
    token: str | None, *, secret: str, session_id: str, now: datetime
) -> JoinGrant:
    """Return the grant a token carries, if it admits its bearer to ``session_id`` now.

    Raises:
        JoinTokenError: missing, forged or malformed, expired, or for another session;
            the ``code`` and message say which.
    """
    if not token:
        raise JoinTokenError(
            "no join token given; ask for one with POST /api/v1/sessions/{id}/join-token",
            code="join_token_missing",
        )
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=JOIN_AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["exp", "sub", "aud", "iss"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise JoinTokenError(
            "join token is not valid (forged, damaged or not a join token); ask for a new one",
            code="join_token_invalid",
        ) from exc
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    # Expiry is checked against our injectable clock, not the system's, so
    # tests and replays agree with the server's idea of now.
    if now >= expires_at:
        raise JoinTokenError(
            f"join token expired at {expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}; ask for a new one",
            code="join_token_expired",
        )
    if claims.get("sid") != session_id:
        raise JoinTokenError(
            "join token is for another session; use the link for this session",
            code="join_token_wrong_session",
        )
    return JoinGrant(
        session_id=str(claims["sid"]),
        participant_id=str(claims["sub"]),
        role=str(claims.get("role", "")),
        name=str(claims.get("name", "")),
        expires_at=expires_at,
    )
