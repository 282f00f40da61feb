"""The signaling protocol, version 1: messages and rules, with no I/O.

Every message is one JSON object with ``type`` and ``v`` (the protocol
version). ``parse_client_message`` validates what a client sends;
``ConnectionProtocol`` says whether a message is allowed in the connection's
current state. ``signaling.server`` only moves bytes and calls the SFU.
Documented message by message in docs/signaling.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sfu.allocation import TOP_LAYER, Allocation

PROTOCOL_VERSION = 1
MAX_SDP = 60_000


class CloseCode:
    """WebSocket close codes, each naming why the server ended the connection."""

    NORMAL = 1000
    TRY_AGAIN_LATER = 1013  # the server is out of a resource (ICE ports); rejoin later
    BAD_FIRST_MESSAGE = 4400
    JOIN_REFUSED = 4401
    SESSION_NOT_FOUND = 4404
    TIMEOUT = 4408
    REPLACED = 4409
    SESSION_ENDED = 4410  # the tutor (or a coordinator) ended the session: do not rejoin
    ROOM_FULL = 4429


class ProtocolError(Exception):
    """A message the protocol refuses; ``code`` is stable, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = 1


# --- client to server ----------------------------------------------------------


class Join(_Message):
    type: Literal["join"]
    session_id: str = Field(max_length=64)
    token: str = Field(max_length=4096)
    resume_token: str | None = Field(
        default=None,
        max_length=128,
        description="The resume_token of your last joined, when coming back after a drop: "
        "your seat, publications and the others' view of you carry on.",
    )


class Answer(_Message):
    type: Literal["answer"]
    sdp: str = Field(max_length=MAX_SDP)


class Ice(_Message):
    type: Literal["ice"]
    candidate: str = Field(
        max_length=1024, description="An a=candidate line, with or without 'candidate:'."
    )
    sdp_mid: str | None = Field(default=None, max_length=32)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=64)


class Mute(_Message):
    type: Literal["mute"]
    kind: Literal["audio", "video"]
    muted: bool


# A chat message's text, at most; a room keeps the last CHAT_HISTORY for newcomers.
MAX_CHAT = 500
CHAT_HISTORY = 100


class Chat(_Message):
    type: Literal["chat"]
    text: str = Field(
        min_length=1,
        max_length=MAX_CHAT,
        description="Plain text; shown as text, never as markup. Blank is refused.",
    )


class Screen(_Message):
    """Start or stop sharing your screen.

    ``sharing: true`` the first time on a connection brings an offer with a
    ``publish`` slot whose source is ``screen``: attach the screen's track there
    when answering. Later shares reuse that slot: attach the track to it again
    (``replaceTrack``), then send this. To stop, detach the track and send
    ``sharing: false``; a dropped connection stops it too.
    """

    type: Literal["screen"]
    sharing: bool


class Captions(_Message):
    """Turn live captions on or off for this connection (off when joining).

    While on, each utterance transcribed in the room comes as a ``caption``, a
    few seconds after it was spoken. Only those whose speech may be transcribed
    are captioned: the tutor, and a student whose every guardian consented to AI
    processing; the others' speech never becomes text.
    """

    type: Literal["captions"]
    on: bool


class Leave(_Message):
    type: Literal["leave"]


class Ping(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[
    Join | Answer | Ice | Mute | Chat | Screen | Captions | Leave | Ping,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("join", "answer", "ice", "mute", "chat", "screen", "captions", "leave", "ping")

# --- server to client ----------------------------------------------------------


class ParticipantInfo(BaseModel):
    participant_id: str
    role: str
    name: str
    audio_muted: bool = False
    video_muted: bool = False


class IceServer(BaseModel):
    urls: str


Source = Literal["microphone", "camera", "screen"]


class TrackRef(BaseModel):
    mid: str
    kind: Literal["audio", "video"]
    participant_id: str | None = Field(description="Publisher of the track; null for an idle slot.")
    publish: bool = Field(
        default=False,
        description="A slot for your own track of this source: attach it when answering.",
    )
    source: Source | None = Field(
        default=None,
        description="What the track is of: microphone, camera or screen (a second video). "
        "Null for an idle slot.",
    )


class ChatSent(_Message):
    """A chat message as the room saw it: sent to everyone, the sender too."""

    type: Literal["chat"] = "chat"
    id: str = Field(description="Unique; the order of ids is the order sent.")
    participant_id: str
    name: str
    role: str
    text: str
    at: datetime = Field(description="When the server received it (UTC).")


class Caption(_Message):
    """One utterance of the room, transcribed while the lesson runs (live captions)."""

    type: Literal["caption"] = "caption"
    participant_id: str
    name: str = Field(description="The speaker's name, as their join token gave it.")
    role: str
    text: str


class Joined(_Message):
    type: Literal["joined"] = "joined"
    session_id: str
    participant_id: str
    role: str
    name: str
    participants: list[ParticipantInfo] = Field(description="Everyone else in the room now.")
    ice_servers: list[IceServer]
    resume_token: str = Field(
        description="Send it back in join if this connection drops: within "
        "reconnect_grace_seconds you get the same seat."
    )
    reconnect_grace_seconds: float = Field(
        description="How long the server keeps your seat after a drop."
    )
    resumed: bool = Field(
        default=False, description="This join took back a seat held since a drop."
    )
    reconnecting: list[str] = Field(
        default_factory=list,
        description="Of the participants, those whose connection dropped and whose seat is held.",
    )
    chat: list[ChatSent] = Field(
        default_factory=list,
        description="The room's last chat messages (up to 100), oldest first: what was said "
        "before you came, or while you were away.",
    )
    captions: bool = Field(
        default=False,
        description="Live captions can be turned on in this room (``captions``): its speech "
        "is transcribed while the lesson runs.",
    )


class ServerOffer(_Message):
    type: Literal["offer"] = "offer"
    sdp: str
    tracks: list[TrackRef]


class ServerAnswer(_Message):
    type: Literal["answer"] = "answer"
    sdp: str


class ParticipantJoined(_Message):
    type: Literal["participant.joined"] = "participant.joined"
    participant: ParticipantInfo


class ParticipantLeft(_Message):
    type: Literal["participant.left"] = "participant.left"
    participant_id: str
    reason: Literal["left", "disconnected", "timeout", "ended"]


class ParticipantReconnecting(_Message):
    type: Literal["participant.reconnecting"] = "participant.reconnecting"
    participant_id: str = Field(
        description="Whose connection dropped: the seat is held for the grace window."
    )


class ParticipantReconnected(_Message):
    type: Literal["participant.reconnected"] = "participant.reconnected"
    participant_id: str = Field(description="Who is back in the seat held for them.")


class TrackPublished(_Message):
    type: Literal["track.published"] = "track.published"
    participant_id: str
    kind: Literal["audio", "video"]
    source: Source = Field(description="screen: they started sharing their screen.")


class TrackUnpublished(_Message):
    type: Literal["track.unpublished"] = "track.unpublished"
    participant_id: str
    kind: Literal["audio", "video"]
    source: Source = Field(description="screen: they stopped sharing (or dropped).")


class MuteChanged(_Message):
    type: Literal["mute"] = "mute"
    participant_id: str
    kind: Literal["audio", "video"]
    muted: bool


class ActiveSpeaker(_Message):
    type: Literal["active_speaker"] = "active_speaker"
    participant_id: str | None = Field(
        description="Who the SFU hears speaking now; null: nobody. Sent only on change."
    )


VideoReason = Literal["bandwidth", "loss", "full"]


class VideoPaused(_Message):
    type: Literal["video_paused"] = "video_paused"
    participant_id: str = Field(description="Whose video the SFU stopped sending you.")
    source: Source = Field(default="camera", description="camera or screen.")
    reason: VideoReason = Field(
        description="bandwidth: your link cannot carry it beside the audio; loss: too many "
        "of your packets are lost."
    )


class VideoResumed(_Message):
    type: Literal["video_resumed"] = "video_resumed"
    participant_id: str = Field(description="Whose paused video flows again.")
    source: Source = Field(default="camera", description="camera or screen.")
    frame_share: float = Field(description="Of the publisher's frames, the share you now get.")
    reason: VideoReason


class VideoThinned(_Message):
    type: Literal["video_thinned"] = "video_thinned"
    participant_id: str = Field(description="Whose video changed for you.")
    source: Source = Field(default="camera", description="camera or screen.")
    frame_share: float = Field(
        description="Of the publisher's frames, the share you now get: 1 (all), 0.5 or 0.25."
    )
    reason: VideoReason


def video_notice(
    publisher_id: str, after: Allocation, before: Allocation, source: Source = "camera"
) -> VideoPaused | VideoResumed | VideoThinned | None:
    """What to tell a subscriber whose video (``source``) of ``publisher_id`` changed
    from ``before``."""
    reason: VideoReason = after.reason.value
    if after.layer is None:
        if before.layer is None:
            return None
        return VideoPaused(participant_id=publisher_id, source=source, reason=reason)
    share = 1 / (1 << (TOP_LAYER - after.layer))
    if before.layer is None:
        return VideoResumed(
            participant_id=publisher_id, source=source, frame_share=share, reason=reason
        )
    if after.layer == before.layer:
        return None
    return VideoThinned(
        participant_id=publisher_id, source=source, frame_share=share, reason=reason
    )


class QualityInfo(BaseModel):
    participant_id: str
    quality: Literal["excellent", "good", "poor", "lost"] = Field(
        description="From the SFU's measurements of their links, the worse way: loss, round "
        "trip, video fitted to the link (good at best), nothing heard (lost)."
    )


class ConnectionQuality(_Message):
    type: Literal["connection_quality"] = "connection_quality"
    participants: list[QualityInfo] = Field(
        description="Everyone connected, you included; sent to all when any rating changes."
    )


class Error(_Message):
    type: Literal["error"] = "error"
    code: str
    message: str


class Pong(_Message):
    type: Literal["pong"] = "pong"


ServerMessage = (
    Joined
    | ServerOffer
    | ServerAnswer
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantReconnecting
    | ParticipantReconnected
    | TrackPublished
    | TrackUnpublished
    | MuteChanged
    | ActiveSpeaker
    | VideoPaused
    | VideoResumed
    | VideoThinned
    | ConnectionQuality
    | Caption
    | Error
    | Pong
)


def parse_client_message(raw: str | bytes, *, max_bytes: int) -> ClientMessage:
    """Validate one client frame.

    Raises:
        ProtocolError: message_too_large, invalid_json, unsupported_version,
            unknown_type or invalid_message.
    """
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ProtocolError(
            "message_too_large", f"message is {size} bytes; the limit is {max_bytes}"
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            "invalid_json", f"message is not JSON ({exc}); send one JSON object"
        ) from exc
    if not isinstance(data, dict):
        raise ProtocolError("invalid_json", "message must be a JSON object")
    if data.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise ProtocolError(
            "unsupported_version",
            f"protocol version {data.get('v')!r} is not supported; use {PROTOCOL_VERSION}",
        )
    if data.get("type") == "offer":
        raise ProtocolError(
            "offer_not_accepted", "the server makes every offer; answer its offers instead"
        )
    if data.get("type") not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {data.get('type')!r}; expected one of {', '.join(CLIENT_TYPES)}",
        )
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise ProtocolError("invalid_message", f"{data['type']}: {where}: {first['msg']}") from exc


def encode(message: BaseModel) -> str:
    return message.model_dump_json()


class ConnectionState(StrEnum):
    AWAITING_JOIN = "awaiting_join"
    JOINED = "joined"
    CLOSED = "closed"


class ConnectionProtocol:
    """The rules of one connection: join first, nothing after leave."""

    def __init__(self) -> None:
        self.state = ConnectionState.AWAITING_JOIN

    def check(self, message: ClientMessage) -> None:
        """Raise ``ProtocolError`` if ``message`` is not allowed now."""
        if self.state is ConnectionState.CLOSED:
            raise ProtocolError("closed", "this connection has left; open a new one to rejoin")
        if self.state is ConnectionState.AWAITING_JOIN:
            if not isinstance(message, Join):
                raise ProtocolError("not_joined", f"send join first, not {message.type}")
            return
        if isinstance(message, Join):
            raise ProtocolError("already_joined", "this connection has joined already")

    def joined(self) -> None:
        self.state = ConnectionState.JOINED

    def closed(self) -> None:
        self.state = ConnectionState.CLOSED
