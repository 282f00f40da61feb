"""ICE confined to an address and a UDP port range, on real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import cast

import pytest
from aioice import stun
from aiortc import RTCPeerConnection

from sfu import ice
from sfu.errors import IcePortsExhausted
from sfu.room import Room
from tests.sfu.conftest import eventually, join


def free_port_range(size: int) -> tuple[int, int]:
    """``size`` consecutive UDP ports that are free on 127.0.0.1 right now."""
    for _ in range(50):
        low = random.randrange(20_000, 60_000)
        socks: list[socket.socket] = []
        try:
            for port in range(low, low + size):
                socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                socks[-1].bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return low, low + size - 1
    raise AssertionError(f"no {size} consecutive free UDP ports found")


def candidate_ports(sdp: str) -> list[int]:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
    return [int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def offer_from_new_peer(ice_servers: list[str] | None = None) -> RTCPeerConnection:
    pc = RTCPeerConnection(ice.rtc_configuration(ice_servers or []))
    pc.addTransceiver("audio")
    try:
        await pc.setLocalDescription(await pc.createOffer())
    except BaseException:
        await pc.close()
        raise
    return pc


async def test_two_bots_exchange_media_on_ports_of_the_range(room: Room) -> None:
    """Every local candidate of the SFU and of both bots lies in the range, and media flows."""
    low, high = free_port_range(8)
    ice.confine(["127.0.0.1"], (low, high))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", low))  # in use by someone else: skipped
        a = await join(room, "par_a")
        b = await join(room, "par_b")
        await eventually(
            lambda: all(
                got.audio > 10 and got.video > 5
                for got in (a.received["par_b"], b.received["par_a"])
            )
        )
    sdps = [bot.pc.localDescription.sdp for bot in (a, b)]
    sdps += [room.peers[pid].pc.localDescription.sdp for pid in ("par_a", "par_b")]
    ports = [candidate_ports(sdp) for sdp in sdps]
    assert all(ports), ports
    assert all(low < port <= high for sdp_ports in ports for port in sdp_ports), (low, ports)


async def test_an_exhausted_range_is_a_clear_error() -> None:
    """A full range fails gathering with an error naming the setting; a freed port is reused."""
    low, high = free_port_range(2)
    ice.confine(["127.0.0.1"], (low, high))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", low))
            first = await offer_from_new_peer()
            assert candidate_ports(first.localDescription.sdp) == [high]
            with pytest.raises(IcePortsExhausted, match="LIVECLASS_ICE_PORT_RANGE") as caught:
                await offer_from_new_peer()
            assert f"{low}-{high}" in caught.value.message
            await first.close()
            again = await offer_from_new_peer()
            assert candidate_ports(again.localDescription.sdp) == [high]
            await again.close()
    finally:
        ice.confine([])


async def test_no_range_restores_any_port() -> None:
    """Confining without a range gives aioice's own binding back."""
    low, high = free_port_range(1)
    ice.confine(["127.0.0.1"], (low, high))
    ice.confine(["127.0.0.1"])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", low))
            pc = await offer_from_new_peer()
            [port] = candidate_ports(pc.localDescription.sdp)
            assert port != low
            await pc.close()
    finally:
        ice.confine([])


class StunServer(asyncio.DatagramProtocol):
    """The part of a STUN server ICE gathering uses: answer a binding request with the address."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        self.transport.sendto(bytes(response), addr)


async def test_server_reflexive_candidates_come_from_sockets_in_the_range() -> None:
    """With a STUN server configured, the reflexive candidate's base port lies in the range too."""
    low, high = free_port_range(4)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        StunServer, local_addr=("127.0.0.1", 0)
    )
    stun_port = transport.get_extra_info("sockname")[1]
    ice.confine(["127.0.0.1"], (low, high))
    try:
        pc = await offer_from_new_peer([f"stun:127.0.0.1:{stun_port}"])
        lines = [
            line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")
        ]
        await pc.close()
    finally:
        ice.confine([])
        transport.close()
    [host] = [line for line in lines if "typ host" in line]
    [srflx] = [line for line in lines if "typ srflx" in line]
    port = int(host.split()[5])
    assert low <= port <= high
    assert srflx.split()[5] == str(port) and srflx.endswith(f"rport {port}")
