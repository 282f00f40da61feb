"""Join tokens admit one participant to one session until shortly after it ends."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from signaling.errors import JoinTokenError
from signaling.tokens import JoinGrant, issue_join_token, verify_join_token

SECRET = "s" * 40
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
GRANT = JoinGrant(
    session_id="ses_A",
    participant_id="usr_1",
    role="student",
    name="Sam",
    expires_at=NOW + timedelta(hours=2),
)


def test_valid_token_returns_its_grant() -> None:
    """A token verifies for its own session and carries identity and role."""
    token = issue_join_token(GRANT, secret=SECRET, now=NOW)
    grant = verify_join_token(token, secret=SECRET, session_id="ses_A", now=NOW)
    assert grant == GRANT


@pytest.mark.parametrize(
    ("token_for", "now", "secret", "code"),
    [
        ("ses_B", NOW, SECRET, "join_token_wrong_session"),
        ("ses_A", NOW + timedelta(hours=2), SECRET, "join_token_expired"),
        ("ses_A", NOW, "f" * 40, "join_token_invalid"),
    ],
    ids=["wrong-session", "expired", "forged"],
)
def test_bad_tokens_are_refused_with_the_reason(
    token_for: str, now: datetime, secret: str, code: str
) -> None:
    """Wrong session, expired and forged tokens each get their own stable code."""
    token = issue_join_token(GRANT, secret=secret, now=NOW)
    with pytest.raises(JoinTokenError) as info:
        verify_join_token(token, secret=SECRET, session_id=token_for, now=now)
    assert info.value.code == code
    assert info.value.status_code == 401


def test_missing_and_garbage_tokens_are_refused() -> None:
    """No token, or text that is not a token, says how to get one."""
    with pytest.raises(JoinTokenError, match="join-token") as missing:
        verify_join_token("", secret=SECRET, session_id="ses_A", now=NOW)
    assert missing.value.code == "join_token_missing"
    with pytest.raises(JoinTokenError) as garbage:
        verify_join_token("not.a.token", secret=SECRET, session_id="ses_A", now=NOW)
    assert garbage.value.code == "join_token_invalid"


def test_tampered_claims_are_refused() -> None:
    """Re-signing a token with changed claims but without the key fails."""
    token = issue_join_token(GRANT, secret=SECRET, now=NOW)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sid"] = "ses_B"
    header, _, sig = token.split(".")
    forged_body = jwt.encode(claims, "other" * 10, algorithm="HS256").split(".")[1]
    with pytest.raises(JoinTokenError) as info:
        verify_join_token(
            f"{header}.{forged_body}.{sig}", secret=SECRET, session_id="ses_B", now=NOW
        )
    assert info.value.code == "join_token_invalid"


def test_expired_message_names_the_time() -> None:
    """An expired token's message says when, in UTC, and what to do."""
    token = issue_join_token(GRANT, secret=SECRET, now=NOW)
    with pytest.raises(JoinTokenError, match=r"expired at 2030-01-07T11:00:00Z; ask for a new one"):
        verify_join_token(token, secret=SECRET, session_id="ses_A", now=NOW + timedelta(days=1))
