"""Impaired links for tests and benchmarks: network namespaces joined by veth pairs.

The media plane's loss and outage goals (issue 14) need one participant's link
made bad while the others stay clean. This kernel has no netem, so, as
FIELD-NOTES.md measured: nftables drops packets (a share of them, or all of
them for a cut) and ``tc tbf`` caps the rate, each on the receiving side of one
direction. Every address here exists only inside namespaces this lab made, so
no traffic reaches the host's own interfaces (the network rule). The lab
deletes its namespaces on every exit path, and names them with a random tag so
two runs side by side never meet.

Needs root, ``ip`` (iproute2), ``nft`` (nftables) and ``tc``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

TOOLS = ("ip", "nft", "tc")
# Private /30s for the links: 10.200.N.0/30, N = 0..63, unless the host already uses them.
SUBNETS = ("10.200.0.0/16", "10.201.0.0/16", "10.202.0.0/16")


class NetLabError(RuntimeError):
    """A namespace command failed; the message has the command and what it printed."""


@dataclass(frozen=True)
class Link:
    """One veth pair: ``a`` and ``b`` are namespaces, each end with its device and address."""

    a: str
    a_device: str
    a_address: str
    b: str
    b_device: str
    b_address: str


@dataclass
class NetLab:
    """Namespaces and links, removed again by ``close`` (or leaving the ``with`` block)."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    _base: ipaddress.IPv4Network | None = None

    def __enter__(self) -> NetLab:
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            raise NetLabError(
                f"{', '.join(missing)} missing: 'make test' installs iproute2 and nftables"
            )
        self._base = _free_subnet()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def namespace(self, name: str) -> str:
        """Make namespace ``name`` (tagged) with loopback up; returns its full name."""
        full = f"lc{self.tag}-{name}"
        _run(["ip", "netns", "add", full])
        self.namespaces.append(full)
        self.exec(full, ["ip", "link", "set", "lo", "up"])
        return full

    def connect(self, a: str, b: str) -> Link:
        """Join namespaces ``a`` and ``b`` by a veth pair with a /30 of their own."""
        assert self._base is not None, "use NetLab in a with block"
        index = len(self.links)
        net = list(self._base.subnets(new_prefix=30))[index]
        hosts = list(net.hosts())
        # Device names are at most 15 characters.
        a_dev, b_dev = f"v{self.tag}{index}a", f"v{self.tag}{index}b"
        _run(["ip", "link", "add", a_dev, "netns", a, "type", "veth", "peer", b_dev, "netns", b])
        for ns, dev, addr in ((a, a_dev, hosts[0]), (b, b_dev, hosts[1])):
            self.exec(ns, ["ip", "addr", "add", f"{addr}/30", "dev", dev])
            self.exec(ns, ["ip", "link", "set", dev, "up"])
        link = Link(a, a_dev, str(hosts[0]), b, b_dev, str(hosts[1]))
        self.links.append(link)
        return link

    def loss(self, namespace: str, device: str, percent: int, *, udp_only: bool = False) -> None:
        """Drop ``percent``% of the packets arriving on ``device`` (0 removes the rule).

        ``udp_only``: only UDP (media); TCP (signaling) passes.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"loss must be 0 to 100 percent, got {percent}")
        self._filter(namespace, device, None if percent == 0 else percent, udp_only=udp_only)

    def cut(self, namespace: str, device: str) -> None:
        """Drop every packet arriving on ``device``: the link is down that way."""
        self._filter(namespace, device, 100)

    def restore(self, namespace: str, device: str) -> None:
        """Let every packet arriving on ``device`` through again."""
        self._filter(namespace, device, None)

    def cap(self, namespace: str, device: str, rate: str, *, burst: str = "15kb") -> None:
        """Cap what ``device`` sends to ``rate`` (tc's units, e.g. ``300kbit``)."""
        self.exec(
            namespace,
            ["tc", "qdisc", "replace", "dev", device, "root", "tbf", "rate", rate]
            + ["burst", burst, "latency", "200ms"],
        )

    def queue(self, namespace: str, device: str) -> tuple[int, int] | None:
        """What ``device``'s cap holds now: (bytes queued, packets dropped so far); None
        when it has no cap. Sampled every few ms, it shows the queue a sender built."""
        return tbf_queue(self.exec(namespace, ["tc", "-s", "qdisc", "show", "dev", device]))

    def uncap(self, namespace: str, device: str) -> None:
        """Take ``device``'s cap off again (nothing happens when it has none)."""
        subprocess.run(
            ["ip", "netns", "exec", namespace, "tc", "qdisc", "del", "dev", device, "root"],
            capture_output=True,
            check=False,
        )

    def exec(self, namespace: str, argv: Sequence[str]) -> str:
        """Run a command inside ``namespace`` and return what it printed."""
        return _run(["ip", "netns", "exec", namespace, *argv])

    def popen(self, namespace: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process inside ``namespace`` (the caller waits for it)."""
        return subprocess.Popen(["ip", "netns", "exec", namespace, *argv], **kwargs)

    def kill_all(self, namespace: str) -> int:
        """SIGKILL every process in ``namespace``, as a crash or a pulled plug would end
        them (the kernel still closes their sockets); how many there were."""
        pids = [int(pid) for pid in _run(["ip", "netns", "pids", namespace]).split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def close(self) -> None:
        """Delete every namespace made here; their veth ends go with them."""
        while self.namespaces:
            subprocess.run(
                ["ip", "netns", "delete", self.namespaces.pop()], capture_output=True, check=False
            )
        self.links.clear()

    def _filter(
        self, namespace: str, device: str, percent: int | None, *, udp_only: bool = False
    ) -> None:
        table = f"lc_{device}"
        subprocess.run(
            ["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", table],
            capture_output=True,
            check=False,
        )
        if percent is None:
            return
        match = "meta l4proto udp " if udp_only else ""
        if percent != 100:
            match += f"numgen random mod 100 < {percent} "
        rules = (
            f"table inet {table} {{\n  chain input {{\n"
            f"    type filter hook input priority 0;\n"
            f'    iifname "{device}" {match}drop\n  }}\n}}\n'
        )
        _run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], stdin=rules)


_SIZE_UNITS = {"b": 1, "Kb": 1024, "Mb": 1024 * 1024}


def tbf_queue(stats: str) -> tuple[int, int] | None:
    """(backlog bytes, dropped packets) of the tbf in ``tc -s qdisc show``'s output.

    tc writes a backlog that is a whole number of KiB as ``15Kb``, any other as
    ``15140b``.
    """
    found = re.search(
        r"qdisc tbf .*?\(dropped (\d+),.*?backlog (\d+(?:\.\d+)?)(b|Kb|Mb) ", stats, re.S
    )
    if found is None:
        return None
    dropped, size, unit = found.groups()
    return round(float(size) * _SIZE_UNITS[unit]), int(dropped)


def _run(argv: Sequence[str], *, stdin: str | None = None) -> str:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NetLabError(
            f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        )
    return proc.stdout


def _free_subnet() -> ipaddress.IPv4Network:
    """The first of SUBNETS that no address of the host falls in."""
    out = _run(["ip", "-o", "-4", "addr", "show"])
    used = [ipaddress.ip_interface(part.split()[3]) for part in out.splitlines() if part.split()]
    for candidate in SUBNETS:
        net = ipaddress.IPv4Network(candidate)
        if not any(iface.network.overlaps(net) for iface in used):
            return net
    raise NetLabError(f"every lab subnet ({', '.join(SUBNETS)}) overlaps an address of this host")
