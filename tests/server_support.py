"""Helpers shared by the test modules: run a server in a thread, count descriptors, read a
socket to its end, wait (bounded) for a condition.

They live here rather than in ``conftest.py`` because test modules import them, and
``tests/site/`` has a ``conftest.py`` of its own: two modules named ``conftest`` in one
run cannot both be imported by that name.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# Longest a test waits for a server thread to stop before calling it a hang.
JOIN_TIMEOUT = 10.0
# Longest wait_until() and wait_for() wait for their condition, in seconds, unless told.
CONDITION_TIMEOUT = 5.0


@contextlib.contextmanager
def serving(server: Any, poll_interval: float = 0.5) -> Iterator[Any]:
    """Run ``server.serve_forever`` in a thread for the ``with`` block, then stop and close it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        assert not thread.is_alive(), "serve_forever() did not return after shutdown()"


def open_descriptor_count() -> int:
    """How many file descriptors this process has open (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


def exchange(address: Any, payload: bytes = b"ping\n", family: int = socket.AF_INET) -> bytes:
    """Connect, send ``payload``, and return everything the server sends until it closes."""
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(address)
        client.sendall(payload)
        chunks = []
        while chunk := client.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def receive_all(sock: socket.socket) -> bytes:
    """Everything ``sock`` receives until the peer ends the stream (its timeout bounds a recv)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def wait_until(condition: Callable[[], bool], timeout: float = CONDITION_TIMEOUT) -> bool:
    """Poll ``condition()`` every 5 ms until it is true or ``timeout`` seconds pass.

    Returns whether it became true, for the caller to assert with a message of its own.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def wait_for(condition: Callable[[], bool], what: str, timeout: float = CONDITION_TIMEOUT) -> None:
    """Poll ``condition()`` until it is true; after ``timeout`` s fail the test, naming ``what``."""
    assert wait_until(condition, timeout), f"timed out waiting for {what}"


def stays(condition: Callable[[], bool], seconds: float = 0.3) -> bool:
    """True if ``condition`` holds throughout ``seconds`` (checked every 10 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(0.01)
    return True


def error_text(error: BaseException) -> str:
    """An exception's message with its PEP 678 notes, as a traceback would print them.

    Our bind errors are the stdlib's own exception, untouched, plus a note that names
    the address and says what to try: tests read both.
    """
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


# A program that runs a server, uses up every free descriptor, connects one client and
# counts the serve loop's turns (service_actions calls) in half a second; argument: the
# module to import. It prints a JSON line; what Python printed to stderr is the caller's.
OUT_OF_DESCRIPTORS_PROGRAM = """
import importlib, json, os, resource, socket, sys, threading, time
module = importlib.import_module(sys.argv[1])

first_request_closed = threading.Event()

class Counting(module.TCPServer):
    turns = 0

    def service_actions(self):
        Counting.turns += 1

    def shutdown_request(self, request):
        super().shutdown_request(request)
        first_request_closed.set()

server = Counting(("127.0.0.1", 0), module.BaseRequestHandler)
loop = threading.Thread(target=server.serve_forever, args=(0.5,))
loop.start()
with socket.create_connection(server.server_address, timeout=5) as first:
    first.recv(10)  # served: the loop is running, its wake-up pair made
# The client sees the end of the stream before the server has closed its socket; once it
# has, no descriptor frees itself later, when the loop would take it for the next client.
first_request_closed.wait(5)
client = socket.socket()
client.settimeout(5)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
highest = max(int(name) for name in os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
fillers = []
try:
    while True:
        fillers.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass  # every descriptor below the limit is now taken
client.connect(server.server_address)  # the kernel completes it; accept() cannot
time.sleep(0.1)
before = Counting.turns
time.sleep(0.5)
turns = Counting.turns - before
for fd in fillers:
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
served = client.recv(10) == b""  # accepted at last, handled, closed
client.close()
server.shutdown()
loop.join(5)
server.server_close()
print(json.dumps({"turns": turns, "served": served}))
"""
