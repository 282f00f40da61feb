"""The impaired-link lab: real namespaces, a veth pair, nftables loss and cuts (needs root).

UDP datagrams cross the link from one namespace to the other; what arrives is
counted. 5,000 datagrams at 10% loss give a standard deviation of 0.42
points, so the 7.5 to 12.5% band is about six deviations wide either way.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.netlab import Link, NetLab, tbf_queue

RECEIVE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 40000))
s.settimeout(2.0)
print("ready", flush=True)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except TimeoutError:
    pass
print(n, flush=True)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * 200, (sys.argv[1], 40000))
    if i % 50 == 49:
        time.sleep(0.005)
"""


@pytest.fixture
def lab() -> Iterator[tuple[NetLab, Link]]:
    with NetLab() as lab:
        link = lab.connect(lab.namespace("a"), lab.namespace("b"))
        yield lab, link


def _received(lab: NetLab, link: Link, count: int) -> int:
    """Send ``count`` datagrams from a to b; how many b received."""
    receiver = lab.popen(
        link.b,
        [sys.executable, "-c", RECEIVE, link.b_address],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        assert receiver.stdout.readline().strip() == "ready"
        lab.exec(link.a, [sys.executable, "-c", SEND, link.b_address, str(count)])
        out, _ = receiver.communicate(timeout=60)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    return int(out.strip())


def test_a_clean_link_delivers_everything(lab: tuple[NetLab, Link]) -> None:
    """The pair carries traffic between the two namespaces' own addresses."""
    net, link = lab
    assert _received(net, link, 2000) == 2000


def test_ten_percent_loss_drops_about_one_in_ten(lab: tuple[NetLab, Link]) -> None:
    """``loss`` drops a random share of what arrives; removing it lets everything through."""
    net, link = lab
    net.loss(link.b, link.b_device, 10)
    lost = 1 - _received(net, link, 5000) / 5000
    assert 0.075 <= lost <= 0.125, f"{lost:.1%} lost"
    net.loss(link.b, link.b_device, 0)
    assert _received(net, link, 1000) == 1000


def test_a_cut_drops_everything_until_restored(lab: tuple[NetLab, Link]) -> None:
    """A cut link delivers nothing; restored, it delivers everything again."""
    net, link = lab
    net.cut(link.b, link.b_device)
    assert _received(net, link, 500) == 0
    net.restore(link.b, link.b_device)
    assert _received(net, link, 500) == 500


def test_a_cap_holds_a_burst_to_its_rate_until_taken_off(lab: tuple[NetLab, Link]) -> None:
    """400 kB sent at once through 300 kbit/s: the cap's queue takes a little, drops the rest."""
    net, link = lab
    assert net.queue(link.a, link.a_device) is None  # no cap, no cap's queue
    net.cap(link.a, link.a_device, "300kbit")
    assert net.queue(link.a, link.a_device) == (0, 0)
    assert _received(net, link, 2000) < 1000
    queued = net.queue(link.a, link.a_device)
    assert queued is not None and queued[1] > 1000  # what the queue could not take
    net.uncap(link.a, link.a_device)
    net.uncap(link.a, link.a_device)  # twice: nothing to take off is not an error
    assert _received(net, link, 2000) == 2000


def test_the_namespaces_are_gone_afterwards() -> None:
    """Leaving the lab deletes its namespaces, and the host never had the lab's addresses."""
    with NetLab() as net:
        link = net.connect(net.namespace("a"), net.namespace("b"))
        made = set(net.namespaces)
        host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        assert link.a_address not in host and link.b_address not in host
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in left for name in made)


def test_bad_loss_is_refused() -> None:
    """A share outside 0-100 is a clear error, not a broken nft rule."""
    with NetLab() as net:
        ns = net.namespace("a")
        with pytest.raises(ValueError, match="0 to 100"):
            net.loss(ns, "lo", 101)


def test_the_caps_queue_is_read_in_either_of_tcs_units() -> None:
    stats = """qdisc noqueue 0: dev lo root refcnt 2
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0)
 backlog 0b 0p requeues 0
qdisc tbf 800c: root refcnt 3 rate 300Kbit burst 15Kb lat 200ms
 Sent 52000 bytes 40 pkt (dropped 3, overlimits 12 requeues 0)
 backlog 6632b 5p requeues 0
"""
    assert tbf_queue(stats) == (6632, 3)
    assert tbf_queue(stats.replace("6632b", "15Kb")) == (15360, 3)
    assert tbf_queue("qdisc noqueue 0: dev lo root refcnt 2") is None
