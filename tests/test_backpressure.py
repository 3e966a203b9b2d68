"""Backpressure: a full thread pool stops taking requests, and loses none it took.

``ThreadPoolMixIn`` holds at most ``max_workers + max_queued_requests`` accepted
requests. Beyond that the serving thread does not call ``accept()`` (or
``recvfrom()``) until a worker finishes one, so the rest wait in the kernel's
queues. These tests count what the server really accepted (a subclass counts
``get_request`` returns), block the workers on an event, and check the bound, that
every accepted request is served, and that ``shutdown()``, ``server_close()`` and
``handle_request()`` still work while the serving thread waits for room.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import pytest
from server_support import JOIN_TIMEOUT, stays, wait_for

import socketserver_lit as ss

# Longest any wait in these tests may take before it is called a hang.
WAIT = 5.0


class Gate(ss.StreamRequestHandler):
    """Reads a line, waits until the server's gate opens, echoes the line."""

    def handle(self) -> None:
        line = self.rfile.readline(100)
        self.server.started.append(line)  # type: ignore[attr-defined]
        self.server.gate.wait(WAIT)  # type: ignore[attr-defined]
        self.wfile.write(line)
        self.server.served.append(line)  # type: ignore[attr-defined]


def pool_server(workers: int, queued: int | None, base: Any = ss.ThreadPoolTCPServer) -> Any:
    class Counting(base):  # type: ignore[misc, valid-type]
        max_workers = workers
        max_queued_requests = queued
        request_queue_size = 64  # room in the kernel's backlog for every test client

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.accepted = 0
            self.started: list[bytes] = []
            self.served: list[bytes] = []
            self.gate = threading.Event()

        def get_request(self) -> Any:
            request = super().get_request()
            self.accepted += 1
            self.most_open = max(self.most_open, self.accepted - self.closed)
            return request

        def close_request(self, request: Any) -> None:
            super().close_request(request)
            self.closed += 1

    server = Counting(("127.0.0.1", 0), Gate)
    server.closed = server.most_open = 0
    return server


@pytest.fixture
def connect_all() -> Any:
    """Open connections that each send one line; every one is closed after the test."""
    opened: list[socket.socket] = []

    def connect(address: Any, count: int) -> list[socket.socket]:
        clients = []
        for number in range(count):
            client = socket.create_connection(address, timeout=WAIT)
            opened.append(client)
            client.sendall(b"%d\n" % number)
            clients.append(client)
        return clients

    yield connect
    for client in opened:
        client.close()


def read_replies(clients: list[socket.socket]) -> list[bytes]:
    replies = []
    for client in clients:
        with client:
            try:
                replies.append(client.makefile("rb").readline())
            except OSError:
                replies.append(b"")
    return replies


@pytest.mark.parametrize(("workers", "queued"), [(1, 0), (2, 3), (4, 4)])
def test_a_full_pool_accepts_no_more_than_workers_plus_queue_and_serves_everyone(
    serve, workers, queued, connect_all
):
    bound = workers + queued
    with serve(pool_server(workers, queued)) as server:
        clients = connect_all(server.server_address, bound + 5)
        wait_for(lambda: len(server.started) == workers, "the workers to start")
        wait_for(lambda: server.accepted == bound, "the pool to fill")
        assert stays(lambda: server.accepted == bound), "accepted beyond the bound"
        server.gate.set()
        replies = read_replies(clients)
    assert replies == [b"%d\n" % number for number in range(bound + 5)]  # nobody lost


def test_no_bound_means_every_connection_is_accepted_at_once(serve, connect_all):
    with serve(pool_server(1, None)) as server:
        clients = connect_all(server.server_address, 12)
        wait_for(lambda: server.accepted == 12, "every connection to be accepted")
        server.gate.set()
        assert len([r for r in read_replies(clients) if r]) == 12


def test_the_default_queue_is_as_large_as_the_default_pool():
    assert ss.ThreadPoolTCPServer.max_queued_requests == ss.ThreadPoolTCPServer.max_workers
    assert ss.ThreadPoolUDPServer.max_queued_requests == ss.ThreadPoolUDPServer.max_workers


def test_shutdown_while_waiting_for_room_returns_and_close_finishes_what_was_accepted(connect_all):
    server = pool_server(1, 1)
    thread = threading.Thread(target=server.serve_forever, args=(3600,))
    thread.start()
    clients = connect_all(server.server_address, 5)
    try:
        wait_for(lambda: server.accepted == 2, "the pool to fill")
        server.shutdown()  # the serving thread is waiting for room: it must still stop
        assert not thread.is_alive()
        assert server.accepted == 2  # shutdown() made it take nothing more
        server.gate.set()
        server.server_close()  # waits for the two accepted requests
        assert sorted(server.served) == [b"0\n", b"1\n"]
    finally:
        server.gate.set()
        server.server_close()
        thread.join(JOIN_TIMEOUT)
    replies = read_replies(clients)
    assert replies[:2] == [b"0\n", b"1\n"]
    assert replies[2:] == [b"", b"", b""]  # never accepted: closed by the kernel, not served


def test_server_close_from_another_thread_while_waiting_for_room_ends_the_loop(connect_all):
    server = pool_server(1, 0)
    thread = threading.Thread(target=server.serve_forever, args=(3600,))
    thread.start()
    clients = connect_all(server.server_address, 3)
    try:
        wait_for(lambda: server.accepted == 1 and server.started, "the worker to start")
        closer = threading.Thread(target=server.server_close)
        closer.start()
        time.sleep(0.1)
        assert closer.is_alive(), "server_close() returned before the accepted request finished"
        server.gate.set()
        closer.join(JOIN_TIMEOUT)
        thread.join(JOIN_TIMEOUT)
        assert not closer.is_alive() and not thread.is_alive()
        assert server.served == [b"0\n"] and server.accepted == 1
    finally:
        server.gate.set()
        server.server_close()
        thread.join(JOIN_TIMEOUT)
        read_replies(clients)


def test_handle_request_waits_for_room_then_serves(serve, connect_all):
    server = pool_server(1, 0)
    try:
        clients = connect_all(server.server_address, 2)
        server.handle_request()  # the first: handed to the worker, which waits at the gate
        wait_for(lambda: server.started == [b"0\n"], "the worker to start")
        second = threading.Thread(target=server.handle_request)
        second.start()
        assert stays(lambda: server.accepted == 1), "took a request while the pool was full"
        server.gate.set()
        second.join(JOIN_TIMEOUT)
        assert not second.is_alive() and server.accepted == 2
        assert read_replies(clients) == [b"0\n", b"1\n"]
    finally:
        server.gate.set()
        server.server_close()


def test_a_full_pool_holds_at_most_its_bound_of_open_requests_under_a_flood(serve, connect_all):
    # 60 connections against one worker and a queue of 2: the server holds at most 3
    # accepted sockets open at any time; the others wait in the kernel's backlog.
    with serve(pool_server(1, 2)) as server:
        clients = connect_all(server.server_address, 60)
        wait_for(lambda: server.accepted == 3, "the pool to fill")
        assert stays(lambda: server.accepted - server.closed == 3)
        server.gate.set()
        assert len([r for r in read_replies(clients) if r]) == 60
        wait_for(lambda: server.closed == 60, "every request to be closed")
        assert server.most_open == 3


@pytest.mark.parametrize(
    ("workers", "queued", "error", "sentence"),
    [
        (1, -1, ValueError, "max_queued_requests must be 0 or more, or None for no bound"),
        (0, 4, ValueError, "max_workers must be at least 1, not 0"),
        ("4", 4, TypeError, "max_workers must be a whole number of threads, not '4'"),
        (2.5, 4, TypeError, "max_workers must be a whole number of threads, not 2.5"),
        (2, 1.5, TypeError, "max_queued_requests must be a whole number of requests"),
    ],
)
@pytest.mark.parametrize("base", [ss.ThreadPoolTCPServer, ss.ThreadPoolUDPServer])
def test_bad_pool_settings_are_refused_at_construction_with_a_sentence(
    workers, queued, error, sentence, base
):
    # Not at the first request, where the error would end the serve loop and leave the
    # client waiting.
    with pytest.raises(error, match=re.escape(sentence)):
        pool_server(workers, queued, base=base)


def test_pool_settings_changed_after_construction_are_checked_before_serving():
    server = pool_server(1, 1)
    try:
        server.max_workers = 0
        with pytest.raises(ValueError, match="max_workers must be at least 1"):
            server.serve_forever(0.05)
        with pytest.raises(ValueError, match="max_workers must be at least 1"):
            server.handle_request()
    finally:
        server.server_close()


class UpperDatagram(ss.DatagramRequestHandler):
    def handle(self) -> None:
        self.server.started.append(self.packet)  # type: ignore[attr-defined]
        self.server.gate.wait(WAIT)  # type: ignore[attr-defined]
        self.wfile.write(self.packet.upper())


def test_a_full_udp_pool_stops_reading_and_every_datagram_it_read_is_answered(serve):
    # While full, the serving thread leaves datagrams in the socket's receive buffer;
    # these few fit, so none is lost, and each gets its reply once the gate opens.
    class Counting(ss.ThreadPoolUDPServer):
        max_workers = 1
        max_queued_requests = 1

        def get_request(self) -> Any:
            request = super().get_request()
            self.accepted += 1
            return request

    server = Counting(("127.0.0.1", 0), UpperDatagram)
    server.accepted, server.started, server.gate = 0, [], threading.Event()
    with serve(server), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(WAIT)
        for number in range(6):
            client.sendto(b"d%d" % number, server.server_address)
        wait_for(lambda: server.accepted == 2, "the pool to fill")
        assert stays(lambda: server.accepted == 2), "read beyond the bound"
        server.gate.set()
        replies = sorted(client.recv(100) for _ in range(6))
    assert replies == [b"D%d" % number for number in range(6)]
