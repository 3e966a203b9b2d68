"""Helpers shared by the claims tests (``test_claims_*.py``): the two modules each claim runs on,
and the small probes of a socket or a process that several notebooks' claims need.

A claims test runs a sentence of a notebook or a page on the standard library's
``socketserver`` and on ours. Each test module takes the ``module`` fixture with one line::

    module = claims_support.stdlib_then_ours

(an assignment, not an import: pytest finds the fixture under its name, and the linter
does not take the test's ``module`` argument for a redefined import). What any test
module may need (``serving``, ``receive_all``, ``wait_until``) is in ``server_support``.

Platform: ``bytes_waiting`` uses Linux's ``FIONREAD``, ``process_state`` reads ``/proc``.
"""

from __future__ import annotations

import fcntl
import signal
import socket
import socketserver
import sys
import termios
import threading
import time
from typing import Any

import pytest
from server_support import JOIN_TIMEOUT

import socketserver_lit

MODULES = {"stdlib": socketserver, "lit": socketserver_lit}
# Seconds after which "nothing has arrived yet" counts as "nothing comes".
SHORT_WAIT = 0.3


@pytest.fixture(params=list(MODULES), ids=list(MODULES), name="module")
def stdlib_then_ours(request: pytest.FixtureRequest) -> Any:
    """The stdlib's socketserver, then ours."""
    return MODULES[request.param]


def nothing_arrives_within(sock: socket.socket, seconds: float = SHORT_WAIT) -> bool:
    """True if nothing, not even the end of the stream, arrives on ``sock`` within ``seconds``.

    Only peeks: whatever did arrive is still there for the next ``recv()``.
    """
    previous = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(previous)
    return False


def bytes_waiting(sock: socket.socket) -> int:
    """Received bytes the kernel holds for ``sock``, not read yet (FIONREAD)."""
    return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.FIONREAD, bytes(4)), sys.byteorder)


def process_state(pid: int) -> str | None:
    """The state letter of process ``pid`` (``Z`` for a zombie), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def try_connect(address: Any, opened: list[socket.socket], timeout: float = SHORT_WAIT) -> str:
    """Return "connected" (the socket goes to ``opened``), "refused" or "timed out"."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except ConnectionRefusedError:
        sock.close()
        return "refused"
    except TimeoutError:
        sock.close()
        return "timed out"
    opened.append(sock)
    return "connected"


class HeldUntilTheClientLeaves:
    """A handler that reads until end of stream, noting its thread's id once it runs."""

    started = threading.Event()
    thread_id = 0

    def __init__(self, request: socket.socket, client_address: Any, server: Any) -> None:
        type(self).thread_id = threading.get_ident()
        type(self).started.set()
        while request.recv(100):
            pass


def seconds_until_a_signal_handler_runs(server: Any, client: socket.socket) -> float:
    """Call ``server_close()`` in the main thread while a request thread is held by
    ``client``; 0.2 s in, SIGUSR1 goes to that request thread (``pthread_kill``), 1.5 s
    in, the client leaves. How long after the start the main thread's handler ran."""
    ran_at: list[float] = []
    previous = signal.signal(signal.SIGUSR1, lambda number, frame: ran_at.append(time.monotonic()))
    started = time.monotonic()

    def deliver_then_leave() -> None:
        time.sleep(0.2)
        signal.pthread_kill(HeldUntilTheClientLeaves.thread_id, signal.SIGUSR1)
        time.sleep(1.3)
        client.close()

    helper = threading.Thread(target=deliver_then_leave)
    helper.start()
    try:
        server.server_close()
        time.sleep(0.01)  # a handler left pending runs between bytecodes, so here at the latest
    finally:
        helper.join(JOIN_TIMEOUT)
        signal.signal(signal.SIGUSR1, previous)
    assert len(ran_at) == 1
    return ran_at[0] - started
