"""Load: hundreds of concurrent clients, each with its own payload, every reply checked.

Each client sends a few lines that only it could have sent (its number, a random
token, random bytes of random lengths), cut into random pieces. The server replies
to every line with the line's length and the line reversed. A client passes only if
it gets back exactly the replies to its own lines, in order: a lost line, a reply
sent to the wrong connection or two replies spliced together all show up as a
mismatch. On the server side every handler records which client it served, so the
test also checks that each client was served exactly once.

The same scenario runs against the three ways of serving many clients at once
(a thread per request, a thread pool, a process per request), over TCP, Unix
stream sockets and UDP. There is no timing here: the benchmarks in ``bench/``
measure speed; these tests only check that nothing is lost or crossed under load.
"""

from __future__ import annotations

import random
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_support import serving
from support_faults import (
    PipeLog,
    ReversingLineHandler,
    assert_no_descriptor_leak,
    connect,
    no_new_zombies,
    read_to_end,
    reversed_line_reply,
)

import socketserver_lit as ss

CLIENTS = 200
# Client-side concurrency for the "many client threads" tests: bounded, so the test
# stays a few seconds on a shared two-core machine, yet far above the core count.
CLIENT_THREADS = 16
# Line lengths to draw from: empty lines, short ones, and lines longer than a
# socket read, so a line often arrives in several pieces.
LINE_LENGTHS = [0, 1, 7, 100, 1500, 9000]


class ClientScript:
    """What client number ``n`` sends, how it cuts it up, and what it must get back."""

    def __init__(self, number: int, rng: random.Random) -> None:
        self.number = number
        token = rng.getrandbits(64).to_bytes(8, "big").hex().encode()
        lines = [b"client %d %s" % (number, token)]
        for _ in range(rng.randint(0, 4)):
            length = rng.choice(LINE_LENGTHS)
            lines.append(rng.getrandbits(8 * length).to_bytes(length, "big").replace(b"\n", b"~"))
        stream = b"".join(line + b"\n" for line in lines)
        cuts = sorted(rng.sample(range(1, len(stream)), k=min(3, len(stream) - 1)))
        self.pieces = [
            stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)
        ]
        self.expected_reply = b"".join(reversed_line_reply(line) for line in lines)

    def send(self, client: socket.socket) -> None:
        for piece in self.pieces:
            client.sendall(piece)
        client.shutdown(socket.SHUT_WR)  # end of stream: the handler's loop ends


def scripts(seed: int) -> list[ClientScript]:
    rng = random.Random(seed)
    return [ClientScript(number, rng) for number in range(CLIENTS)]


def assert_each_client_got_its_own_reply(scripts_sent, replies) -> None:
    wrong = [
        s.number
        for s, reply in zip(scripts_sent, replies, strict=True)
        if reply != s.expected_reply
    ]
    assert not wrong, f"{len(wrong)} of {len(replies)} clients got a wrong reply: {wrong[:10]}"


def assert_each_client_served_once(done_log: PipeLog) -> None:
    served = sorted(int(line.split()[1]) for line in done_log.collect())
    assert served == list(range(CLIENTS))


def backlog_for_a_burst(server_class: type) -> type:
    """The server class with a listen backlog that holds the whole burst.

    With the default backlog of 5, the kernel drops the SYNs of a burst and the
    clients retry only after a second or more: slow, though not wrong.
    """
    return type(server_class.__name__, (server_class,), {"request_queue_size": CLIENTS})


STREAM_SERVERS = [
    pytest.param(ss.ThreadingTCPServer, id="threading-tcp"),
    pytest.param(ss.ThreadPoolTCPServer, id="thread-pool-tcp"),
    pytest.param(ss.ForkingTCPServer, id="forking-tcp", marks=pytest.mark.fork),
    pytest.param(ss.ThreadingUnixStreamServer, id="threading-unix", marks=pytest.mark.unix),
    pytest.param(
        ss.ForkingUnixStreamServer, id="forking-unix", marks=[pytest.mark.fork, pytest.mark.unix]
    ),
]


def server_address_for(server_class: type, tmp_path) -> object:
    if server_class.address_family == socket.AF_UNIX:
        return str(tmp_path / "load.sock")
    return ("127.0.0.1", 0)


@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_burst_of_clients_connected_at_once_each_get_their_own_reply(server_class, tmp_path):
    """All clients are connected at the same moment, then each sends and reads."""
    family = server_class.address_family
    sent = scripts(seed=1)
    server_class = backlog_for_a_burst(server_class)
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as done_log:
        with server_class(
            server_address_for(server_class, tmp_path), ReversingLineHandler
        ) as server:
            server.done_log = done_log
            with serving(server, poll_interval=0.05):
                clients: list[socket.socket] = []
                try:
                    for _ in sent:
                        clients.append(connect(server.server_address, family))
                    # Every payload fits in the socket buffers, so sending them all
                    # before reading any reply cannot deadlock.
                    for script, client in zip(sent, clients, strict=True):
                        script.send(client)
                    replies = [read_to_end(client) for client in clients]
                finally:
                    for client in clients:
                        client.close()
            if isinstance(server, ss.ForkingMixIn):
                assert not server.active_children
        assert_each_client_got_its_own_reply(sent, replies)
        assert_each_client_served_once(done_log)


def converse(address: object, script: ClientScript) -> bytes:
    with connect(address) as client:
        # Without Nagle's algorithm each piece leaves as its own segment, so the
        # server really does see lines arrive in pieces.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        script.send(client)
        return read_to_end(client)


@pytest.mark.parametrize("server_class", STREAM_SERVERS[:3])
def test_clients_on_many_threads_each_get_their_own_reply(server_class):
    """Clients run concurrently from a bounded pool of threads, pieces interleaving."""
    sent = scripts(seed=2)
    server_class = backlog_for_a_burst(server_class)
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as done_log:
        with server_class(("127.0.0.1", 0), ReversingLineHandler) as server:
            server.done_log = done_log
            with serving(server, poll_interval=0.05):
                with ThreadPoolExecutor(CLIENT_THREADS) as clients:
                    replies = list(clients.map(lambda s: converse(server.server_address, s), sent))
        assert_each_client_got_its_own_reply(sent, replies)
        assert_each_client_served_once(done_log)


class ReversingDatagramHandler(ss.DatagramRequestHandler):
    """The datagram form of the line protocol: one datagram in, one reply out."""

    def handle(self) -> None:
        datagram = self.rfile.read()
        self.wfile.write(reversed_line_reply(datagram))
        self.server.done_log.record("done " + datagram.split()[1].decode())


def datagram_exchange(address: object, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        # A lost datagram would show up as a timeout: with at most CLIENT_THREADS
        # datagrams in flight on loopback, none should be lost.
        client.settimeout(10)
        client.sendto(payload, address)
        reply, sender = client.recvfrom(65536)
        assert sender == address
        return reply


DATAGRAM_SERVERS = [
    pytest.param(ss.ThreadingUDPServer, id="threading-udp"),
    pytest.param(ss.ThreadPoolUDPServer, id="thread-pool-udp"),
    pytest.param(ss.ForkingUDPServer, id="forking-udp", marks=pytest.mark.fork),
]


@pytest.mark.parametrize("server_class", DATAGRAM_SERVERS)
def test_datagram_clients_each_get_their_own_reply(server_class):
    rng = random.Random(3)
    payloads = []
    for number in range(CLIENTS):
        length = rng.choice([0, 10, 500, 4000])
        payloads.append(
            b"client %d " % number + rng.getrandbits(8 * length).to_bytes(length, "big")
        )
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as done_log:
        with server_class(("127.0.0.1", 0), ReversingDatagramHandler) as server:
            server.done_log = done_log
            with serving(server, poll_interval=0.05):
                with ThreadPoolExecutor(CLIENT_THREADS) as clients:
                    replies = list(
                        clients.map(lambda p: datagram_exchange(server.server_address, p), payloads)
                    )
        wrong = [
            n
            for n, (p, r) in enumerate(zip(payloads, replies, strict=True))
            if r != reversed_line_reply(p)
        ]
        assert not wrong, f"clients with a wrong reply: {wrong[:10]}"
        assert_each_client_served_once(done_log)
