"""The signaling protocol without a network: what is accepted, what is refused and why."""

import json

import pytest

from sfu.allocation import Allocation, Reason
from signaling.protocol import (
    ActiveSpeaker,
    ConnectionProtocol,
    Join,
    Ping,
    ProtocolError,
    encode,
    parse_client_message,
    video_notice,
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"v": 2, "type": "ping"}', "unsupported_version"),
        ('{"type": "join", "token": "t"}', "invalid_message"),
        ('{"type": "mute", "kind": "smell", "muted": true}', "invalid_message"),
        ('{"type": "ping", "extra": 1}', "invalid_message"),
        ('{"type": "offer", "sdp": "' + "x" * 70_000 + '"}', "message_too_large"),
    ],
    ids=[
        "text",
        "array",
        "bytes",
        "unknown",
        "version",
        "missing",
        "bad-enum",
        "extra-field",
        "too-large",
    ],
)
def test_bad_messages_are_refused_with_a_stable_code(raw: str | bytes, code: str) -> None:
    """Every kind of bad input gets its own code and a message that says what to send."""
    with pytest.raises(ProtocolError) as info:
        parse_client_message(raw, max_bytes=65_536)
    assert info.value.code == code
    assert info.value.message


def test_valid_messages_parse_to_their_types() -> None:
    """Well-formed messages come back typed; v defaults to 1."""
    join = parse_client_message(
        json.dumps({"type": "join", "session_id": "ses_1", "token": "t"}), max_bytes=4096
    )
    assert isinstance(join, Join) and join.v == 1
    assert isinstance(parse_client_message('{"v": 1, "type": "ping"}', max_bytes=64), Ping)


def test_join_must_come_first_and_only_once() -> None:
    """Before join nothing else is allowed; after it, join is refused."""
    proto = ConnectionProtocol()
    with pytest.raises(ProtocolError) as early:
        proto.check(Ping(type="ping"))
    assert early.value.code == "not_joined"
    proto.check(Join(type="join", session_id="s", token="t"))
    proto.joined()
    with pytest.raises(ProtocolError) as again:
        proto.check(Join(type="join", session_id="s", token="t"))
    assert again.value.code == "already_joined"


def test_nothing_after_leave() -> None:
    """A closed connection accepts no more messages."""
    proto = ConnectionProtocol()
    proto.joined()
    proto.closed()
    with pytest.raises(ProtocolError) as info:
        proto.check(Ping(type="ping"))
    assert info.value.code == "closed"


def test_active_speaker_names_someone_or_explicitly_nobody() -> None:
    """active_speaker always carries participant_id: an id, or null for nobody."""
    assert json.loads(encode(ActiveSpeaker(participant_id="usr_1"))) == {
        "v": 1,
        "type": "active_speaker",
        "participant_id": "usr_1",
    }
    assert json.loads(encode(ActiveSpeaker(participant_id=None)))["participant_id"] is None


def test_a_subscriber_hears_of_its_video_being_paused_thinned_and_resumed() -> None:
    """Each change of a subscriber's allocation is one message; no change, no message."""
    full = Allocation()
    half = Allocation(layer=1, reason=Reason.BANDWIDTH)
    paused = Allocation(layer=None, reason=Reason.BANDWIDTH)
    quarter = Allocation(layer=0, reason=Reason.BANDWIDTH)

    def said(after: Allocation, before: Allocation) -> dict[str, object] | None:
        notice = video_notice("usr_T", after, before)
        return None if notice is None else json.loads(encode(notice))

    assert said(half, full) == {
        "v": 1,
        "type": "video_thinned",
        "participant_id": "usr_T",
        "source": "camera",
        "frame_share": 0.5,
        "reason": "bandwidth",
    }
    assert said(paused, half) == {
        "v": 1,
        "type": "video_paused",
        "participant_id": "usr_T",
        "source": "camera",
        "reason": "bandwidth",
    }
    screen = video_notice("usr_T", paused, half, "screen")
    assert screen is not None and screen.source == "screen"
    resumed = said(quarter, paused)
    assert resumed is not None and resumed["type"] == "video_resumed"
    assert resumed["frame_share"] == 0.25
    back = said(full, half)
    assert back is not None and (back["type"], back["frame_share"], back["reason"]) == (
        "video_thinned",
        1.0,
        "full",
    )
    assert said(paused, paused) is None
    assert said(half, Allocation(layer=1, reason=Reason.LOSS)) is None
