"""What the media plane reads: where ICE may gather and bind, STUN/TURN servers, recording."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from core.settings import LiveclassSettings

CommaList = Annotated[list[str], NoDecode]
MIN_ICE_PORT = 1024  # below: privileged ports
MAX_PORT = 65_535


class MediaSettings(LiveclassSettings):
    """ICE confinement and recording."""

    ice_addresses: CommaList = Field(
        default_factory=list,
        description="Comma-separated IP addresses that ICE may gather and announce, for the SFU "
        "and the bot (e.g. 127.0.0.1). Empty: every address of the host (aioice's default).",
    )

    ice_port_range: Annotated[tuple[int, int] | None, NoDecode] = Field(
        default=None,
        description="UDP ports ICE may bind its host candidates to, as LOW-HIGH (e.g. "
        "50000-50100), for the SFU and the bot. Each connection takes one port per address. "
        "Empty: any free port.",
    )

    ice_servers: CommaList = Field(
        default_factory=list,
        description="Comma-separated STUN/TURN URLs handed to clients and used by the SFU. "
        "Empty: none (no public STUN server is ever used unless listed).",
    )

    recording: bool = Field(
        default=True,
        description="Record each consenting participant's audio, one Ogg Opus file per "
        "participant, under DATA_DIR/recordings/{session_id}/.",
    )

    @field_validator("ice_addresses", "ice_servers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ice_addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ValueError(f"ice_addresses: {address!r} is not an IP address") from exc
        return value

    @field_validator("ice_port_range", mode="before")
    @classmethod
    def _parse_port_range(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
        if match is None:
            raise ValueError(
                f"ice_port_range: {value!r} is not LOW-HIGH; write two port numbers like "
                "50000-50100, or leave it empty for any port"
            )
        return (int(match[1]), int(match[2]))

    @field_validator("ice_port_range")
    @classmethod
    def _port_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return None
        low, high = value
        if low > high:
            raise ValueError(
                f"ice_port_range: {low}-{high} runs backwards; put the lower port first"
            )
        if low < MIN_ICE_PORT or high > MAX_PORT:
            raise ValueError(
                f"ice_port_range: {low}-{high} leaves {MIN_ICE_PORT}-{MAX_PORT}; choose ports "
                "in that span (lower ones are privileged)"
            )
        return value
