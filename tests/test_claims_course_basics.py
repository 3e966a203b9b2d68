"""What the first two course notebooks say about sockets and socketserver, run.

``notebooks/course/01-sockets-without-a-framework.ipynb`` and
``notebooks/course/02-framing.ipynb`` show most of what they claim in their own
outputs. Each test here backs one sentence that the notebooks state but do not show
(or show for one case only): the kernel's listen queue, refusals and time-outs,
TIME_WAIT and ``SO_REUSEADDR``, running out of descriptors, what ``recv()`` and
``send()`` return, and what ``socketserver`` does and does not do for you. Every test
names its notebook and sentence in its docstring. Where a sentence is about
``socketserver``, the test runs it on the standard library's module and on ours.

Platform: the kernel's behaviour is Linux's (``/proc/net/tcp``, the listen backlog,
``FIONREAD``); Python 3.10 to 3.13. Every socket is closed, every thread joined, every
wait bounded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import claims_support
import pytest
from claims_support import bytes_waiting, nothing_arrives_within, try_connect
from server_support import JOIN_TIMEOUT, receive_all, serving

NOTEBOOK_1 = "01-sockets-without-a-framework"
NOTEBOOK_2 = "02-framing"

# Seconds a client waits before we call the outcome "timed out", or "no answer yet".
SHORT_WAIT = 0.3
# Seconds any other socket call may take before the test fails instead of hanging.
WAIT = 5.0


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- Helpers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def listening(backlog: int = 5, reuse_address: bool = False) -> Iterator[socket.socket]:
    """A TCP socket listening on a free loopback port, closed at the end."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        listener.settimeout(WAIT)
        yield listener


@contextlib.contextmanager
def connected_pair(
    receive_buffer: int | None = None,
) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server_side) pair on loopback, both with a timeout, both closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        if receive_buffer is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server_side, _ = listener.accept()
    server_side.settimeout(WAIT)
    with client, server_side:
        yield client, server_side


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def free_port_address() -> tuple[str, int]:
    """A loopback address nothing is bound to (the kernel's pick, given back at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as finder:
        finder.bind(("127.0.0.1", 0))
        return finder.getsockname()


def wait_for_bytes(sock: socket.socket, count: int) -> int:
    deadline = time.monotonic() + WAIT
    while bytes_waiting(sock) < count and time.monotonic() < deadline:
        time.sleep(0.001)
    return bytes_waiting(sock)


def started(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    return thread


def time_wait_seconds_left(port: int) -> list[float]:
    """Seconds left for each TCP connection in TIME_WAIT on local ``port`` (Linux /proc)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    left = []
    with open("/proc/net/tcp") as table:
        for row in list(table)[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "06":
                timer, when = fields[5].split(":")
                assert timer == "03", row  # the TIME_WAIT timer is the one running
                left.append(int(when, 16) / ticks_per_second)
    return left


def port_closed_first(reuse_address: bool) -> tuple[str, int]:
    """The address of a listener, now closed, whose side closed a connection first."""
    with listening(reuse_address=reuse_address) as listener:
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server's side closes first: TIME_WAIT is on its side
            assert client.recv(1) == b""
        return listener.getsockname()


def bind_outcome(address, reuse_address: bool) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        try:
            sock.bind(address)
        except OSError as error:
            return errno.errorcode[error.errno]
        return "bound"


def line_upper_handler(module):
    """The notebooks' LineUpperHandler, on ``module``'s StreamRequestHandler."""

    class LineUpperHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(1000).upper())

    return LineUpperHandler


# -- Notebook 1: the listen queue, refusals and time-outs (Linux) -----------------------------


def test_connect_succeeds_before_the_server_calls_accept():
    """01-sockets-without-a-framework: "connect() returned: the kernel completed the
    connection on the server's behalf, and it waits in the listen queue"."""
    with listening() as listener:
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            client.sendall(b"before accept\n")  # the kernel takes the data, too
            connection, client_address = listener.accept()
            with connection:
                assert client_address == client.getsockname()
                assert connection.recv(100) == b"before accept\n"


def test_a_tcpserver_client_is_connected_before_the_server_gets_the_request(module):
    """01-sockets-without-a-framework: the client connects and sends its line first;
    handle_request() then serves it (the kernel queued the connection meanwhile)."""
    with module.TCPServer(("127.0.0.1", 0), line_upper_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"queued\n")
            server.handle_request()
            assert receive_all(client) == b"QUEUED\n"


@pytest.mark.parametrize("backlog", [0, 1, 2, 5])
def test_listen_n_lets_n_plus_one_connections_wait_on_linux(backlog):
    """01-sockets-without-a-framework: "On Linux, listen(n) lets n + 1 connections wait"."""
    opened: list[socket.socket] = []
    try:
        with listening(backlog) as listener:
            outcomes = [try_connect(listener.getsockname(), opened) for _ in range(backlog + 2)]
    finally:
        close_all(opened)
    assert outcomes[: backlog + 1] == ["connected"] * (backlog + 1)
    assert outcomes[backlog + 1] != "connected"


def test_a_client_beyond_a_full_listen_queue_times_out_instead_of_being_refused():
    """01-sockets-without-a-framework: "The next client is not told 'no': the kernel silently
    drops its request to connect, and the client's connect() keeps waiting ... until it times
    out"."""
    opened: list[socket.socket] = []
    try:
        with listening(backlog=0) as listener:
            assert try_connect(listener.getsockname(), opened) == "connected"  # fills the queue
            assert try_connect(listener.getsockname(), opened) == "timed out"
    finally:
        close_all(opened)


def test_a_client_dropped_by_a_full_queue_connects_once_the_server_accepts():
    """01-sockets-without-a-framework, exercise 1: the client's connect() keeps "retrying";
    a full queue that gets room 0.2 s later lets a client with a 3 s timeout connect."""
    opened: list[socket.socket] = []
    accepted: list[socket.socket] = []
    with listening(backlog=0) as listener:
        waiting = socket.create_connection(listener.getsockname(), timeout=WAIT)
        accept_later = threading.Timer(0.2, lambda: accepted.append(listener.accept()[0]))
        accept_later.start()
        try:
            outcome = try_connect(listener.getsockname(), opened, timeout=3)
        finally:
            accept_later.join(WAIT)
            close_all([waiting, *accepted, *opened])
    assert outcome == "connected"


def test_connecting_to_a_port_nobody_listens_on_is_refused():
    """01-sockets-without-a-framework: "Compare a port where nobody listens at all: there the
    kernel answers at once with a refusal" (within the 0.3 s the client waits)."""
    opened: list[socket.socket] = []
    assert try_connect(free_port_address(), opened) == "refused"
    assert opened == []


def test_connecting_to_a_socket_that_is_bound_but_not_listening_is_refused():
    """01-sockets-without-a-framework, exercise 1: a socket bound to the port, with no
    listen(), makes the client's connect() "refused"."""
    opened: list[socket.socket] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound_only:
        bound_only.bind(("127.0.0.1", 0))
        outcome = try_connect(bound_only.getsockname(), opened, timeout=3)
    close_all(opened)
    assert outcome == "refused"


def test_accept_and_recv_without_a_timeout_wait_until_something_arrives():
    """01-sockets-without-a-framework: "Without them [the bounds], both calls wait as long as
    it takes": still waiting after 0.3 s, and returning as soon as a client or data comes."""
    results: list[object] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert listener.gettimeout() is None
        accepting = started(lambda: results.append(listener.accept()))
        accepting.join(SHORT_WAIT)
        assert accepting.is_alive(), "accept() returned with no client"
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            accepting.join(WAIT)
            connection, _ = results.pop()
            with connection:
                assert connection.gettimeout() is None
                receiving = started(lambda: results.append(connection.recv(100)))
                receiving.join(SHORT_WAIT)
                assert receiving.is_alive(), "recv() returned with nothing sent"
                client.sendall(b"at last")
                receiving.join(WAIT)
    assert results == [b"at last"]


# -- Notebook 1: forgotten connections, TIME_WAIT, SO_REUSEADDR -------------------------------


def test_forgotten_connections_use_up_descriptors_until_accept_fails_with_emfile():
    """01-sockets-without-a-framework: "each forgotten connection keeps a file descriptor
    open. A process may have only so many (its RLIMIT_NOFILE ...), and when they run out,
    accept() itself fails with OSError EMFILE". Run in a child process with a low limit."""
    program = textwrap.dedent(
        """
        import errno, os, resource, socket
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(12)]
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 4, hard))  # room for 3 more
        forgotten = []
        try:
            for _ in range(12):
                forgotten.append(listener.accept()[0])  # and never closed
            print("no error")
        except OSError as error:
            print(len(forgotten), errno.errorcode[error.errno])
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split()[-1] == "EMFILE", child.stdout
    accepted, error_name = child.stdout.split()
    assert int(accepted) >= 1  # some were accepted (and forgotten) first
    assert error_name == "EMFILE"


def test_a_tcp_connection_closed_first_stays_in_time_wait_for_at_most_60_s_on_linux():
    """01-sockets-without-a-framework: "After closing first, a TCP connection stays in the
    TIME_WAIT state for a while (60 s on Linux) ...; while any such connection exists, the
    port counts as in use"."""
    address = port_closed_first(reuse_address=False)
    left = time_wait_seconds_left(address[1])
    assert len(left) == 1 and 0 < left[0] <= 60, left
    assert bind_outcome(address, reuse_address=False) == "EADDRINUSE"


@pytest.mark.parametrize(
    ("old_sets_it", "new_sets_it"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_so_reuseaddr_rebinds_a_port_in_time_wait_only_if_old_and_new_sockets_set_it(
    old_sets_it, new_sets_it
):
    """01-sockets-without-a-framework: "On Linux it works only if the old listening socket
    had set it too (its connections inherit it); setting it on the new socket alone is not
    enough"."""
    address = port_closed_first(reuse_address=old_sets_it)
    assert time_wait_seconds_left(address[1])
    outcome = bind_outcome(address, reuse_address=new_sets_it)
    assert outcome == ("bound" if old_sets_it and new_sets_it else "EADDRINUSE")


# -- Notebook 1: what TCPServer does with the socket ------------------------------------------


def test_the_constructor_creates_the_socket_and_binds_and_activates_it_unless_told_not_to(module):
    """01-sockets-without-a-framework: "The server's constructor creates its socket
    (socket.socket(address_family, socket_type)) and, by default, binds and activates it at
    once"; with bind_and_activate=False it does neither."""
    handler = module.BaseRequestHandler
    with module.TCPServer(("127.0.0.1", 0), handler, bind_and_activate=False) as idle:
        assert (idle.socket.family, idle.socket.type) == (
            module.TCPServer.address_family,
            module.TCPServer.socket_type,
        )
        assert idle.socket.getsockname() == ("0.0.0.0", 0)  # not bound yet
        assert idle.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
    with module.TCPServer(("127.0.0.1", 0), handler) as ready:
        assert ready.socket.getsockname()[1] != 0
        assert ready.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def test_server_bind_sets_so_reuseaddr_when_allow_reuse_address_is_true(module):
    """01-sockets-without-a-framework, the call table: server_bind() "also sets SO_REUSEADDR
    first if allow_reuse_address is true"; not otherwise."""

    class ReusingServer(module.TCPServer):
        allow_reuse_address = True

    handler = module.BaseRequestHandler
    with ReusingServer(("127.0.0.1", 0), handler) as reusing:
        assert reusing.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    with module.TCPServer(("127.0.0.1", 0), handler) as plain:
        assert plain.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0


def serve_one_request_and_close(server_class, module) -> tuple[str, int]:
    """Serve one client on ``server_class`` (the server closes first); return its address."""
    with server_class(("127.0.0.1", 0), line_upper_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hello\n")
            server.handle_request()
            assert receive_all(client) == b"HELLO\n"
        return server.server_address


def test_a_restarted_tcpserver_cannot_bind_its_port_in_time_wait_by_default(module):
    """01-sockets-without-a-framework, "It leaves to you: Restarting on a busy port:
    allow_reuse_address is False on TCPServer"."""
    address = serve_one_request_and_close(module.TCPServer, module)
    assert time_wait_seconds_left(address[1])
    with pytest.raises(OSError) as refused:
        module.TCPServer(address, module.BaseRequestHandler).server_close()
    assert refused.value.errno == errno.EADDRINUSE


def test_allow_reuse_address_lets_a_restarted_server_bind_a_port_in_time_wait(module):
    """01-sockets-without-a-framework: "set it to True and server_bind() sets SO_REUSEADDR"
    (which lets the restarted server bind, since the old one set it too)."""

    class RestartableServer(module.TCPServer):
        allow_reuse_address = True

    address = serve_one_request_and_close(RestartableServer, module)
    assert time_wait_seconds_left(address[1])
    with RestartableServer(address, module.BaseRequestHandler) as restarted:
        assert restarted.server_address == address


def test_close_alone_does_not_end_the_stream_while_another_copy_of_the_descriptor_is_open():
    """01-sockets-without-a-framework: shutdown(SHUT_WR) ends the stream "even while another
    copy of the connection's descriptor is still open ...; close() alone would not"."""
    with connected_pair() as (client, server_side):
        copy = server_side.dup()  # what a forked child holds
        with copy:
            server_side.close()
            assert nothing_arrives_within(client)
            copy.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""


def test_shutdown_request_ends_the_stream_while_another_copy_of_the_descriptor_is_open(module):
    """01-sockets-without-a-framework: "shutdown(SHUT_WR) before close() ... tells the client
    'end of stream' even while another copy of the connection's descriptor is still open"."""
    with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            request, _ = server.get_request()
            with request.dup():  # another copy stays open throughout
                server.shutdown_request(request)
                assert request.fileno() == -1
                assert client.recv(1) == b""


def test_shutdown_returns_after_the_serve_loop_has_stopped(module):
    """01-sockets-without-a-framework: "server.shutdown()  # stops the serve_forever() loop,
    and waits until it has stopped": a client arriving afterwards is not served."""
    server = module.TCPServer(("127.0.0.1", 0), line_upper_handler(module))
    with serving(server):
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"served\n")
            assert receive_all(client) == b"SERVED\n"
        server.shutdown()
        with socket.create_connection(server.server_address, timeout=WAIT) as late:
            late.sendall(b"too late\n")
            assert nothing_arrives_within(late)


# -- Notebook 1: what socketserver takes off your hands, and what it does not ----------------


def test_close_request_runs_for_answered_failed_and_refused_requests(module):
    """01-sockets-without-a-framework: socketserver closes "every connection, however the
    request ended: answered, handler raised, or refused by verify_request()"."""

    class Handler(line_upper_handler(module)):
        def handle(self):
            if self.server.requests_seen == 2:
                raise ValueError("the second request fails")
            super().handle()

    class CountingServer(module.TCPServer):
        def verify_request(self, request, client_address):
            self.requests_seen += 1
            self.requests.append(request)
            return self.requests_seen != 3

        def close_request(self, request):
            self.closed += 1
            super().close_request(request)

        def handle_error(self, request, client_address):
            self.errors.append(sys.exc_info()[0])

    with CountingServer(("127.0.0.1", 0), Handler) as server:
        server.requests_seen, server.closed, server.requests, server.errors = 0, 0, [], []
        answers = []
        for line in (b"one\n", b"two\n", b"three\n"):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                client.sendall(line)
                server.handle_request()
                answers.append(receive_all(client))
    assert answers == [b"ONE\n", b"", b""]
    assert server.errors == [ValueError]
    assert server.closed == 3
    assert all(request.fileno() == -1 for request in server.requests)


def test_the_server_keeps_serving_after_a_handler_raises(module, capsys):
    """01-sockets-without-a-framework: "Go on serving after a handler raises: handle_error()
    prints the traceback to stderr, then the loop continues"."""

    class Handler(line_upper_handler(module)):
        def handle(self):
            if self.rfile.readline(1000) == b"fail\n":
                raise ValueError("this request fails")
            self.wfile.write(b"OK\n")

    server = module.TCPServer(("127.0.0.1", 0), Handler)
    with serving(server):
        answers = []
        for line in (b"fail\n", b"next\n"):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                client.sendall(line)
                answers.append(receive_all(client))
    assert answers == [b"", b"OK\n"]
    error_output = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error_output
    assert "ValueError: this request fails" in error_output


def test_rfile_readline_without_a_limit_reads_a_line_of_any_length(module):
    """01-sockets-without-a-framework: "readline() without a limit reads a line of any
    length"; 02-framing: "Without one, a client that never sends a newline makes the reader
    collect bytes for as long as it keeps sending" (here 4 MiB)."""
    line = b"x" * (4 * 1024 * 1024) + b"\n"

    class Handler(module.StreamRequestHandler):
        def handle(self):
            self.server.line_length = len(self.rfile.readline())

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            sender = started(client.sendall, line)
            server.handle_request()
            sender.join(JOIN_TIMEOUT)
    assert server.line_length == len(line)


def test_stream_request_handler_has_no_timeout_by_default(module):
    """01-sockets-without-a-framework: "StreamRequestHandler.timeout is None"."""
    assert module.StreamRequestHandler.timeout is None


def test_a_silent_client_holds_a_handler_without_a_timeout(module):
    """01-sockets-without-a-framework: "a silent client holds its handler as long as it
    likes": with the default timeout, handle() is still waiting after 0.5 s of silence, and
    returns only when the client speaks."""
    entered, returned = threading.Event(), threading.Event()

    class Handler(line_upper_handler(module)):
        def handle(self):
            entered.set()
            super().handle()
            returned.set()

    server = module.TCPServer(("127.0.0.1", 0), Handler)
    with serving(server):
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            assert entered.wait(WAIT)
            assert not returned.wait(0.5)
            client.sendall(b"finally\n")
            assert receive_all(client) == b"FINALLY\n"
    assert returned.is_set()


def test_a_handler_timeout_raises_timeouterror_in_handle(module):
    """01-sockets-without-a-framework: "set it [timeout] and handle() gets a TimeoutError"."""
    raised = []

    class Handler(line_upper_handler(module)):
        timeout = 0.1

        def handle(self):
            try:
                super().handle()
            except Exception as error:
                raised.append(type(error))

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            server.handle_request()  # the client says nothing
            assert client.recv(1) == b""
    assert raised == [TimeoutError]


def test_tcpserver_serves_one_client_at_a_time_and_threadingtcpserver_does_not(module):
    """01-sockets-without-a-framework: "TCPServer serves one client at a time, like our loop;
    threads or processes are your choice (ThreadingTCPServer, ...)"."""
    for server_class, second_waits in [
        (module.TCPServer, True),
        (module.ThreadingTCPServer, False),
    ]:
        server = server_class(("127.0.0.1", 0), line_upper_handler(module))
        with serving(server):
            with socket.create_connection(server.server_address, timeout=WAIT) as first:
                first.sendall(b"fir")  # connected, and in the middle of its line
                with socket.create_connection(server.server_address, timeout=WAIT) as second:
                    second.sendall(b"second\n")
                    assert nothing_arrives_within(second) is second_waits, server_class.__name__
                    first.sendall(b"st\n")
                    assert receive_all(first) == b"FIRST\n"
                    assert receive_all(second) == b"SECOND\n"


# -- Notebook 2: what recv() returns -----------------------------------------------------------


def test_recv_returns_at_most_the_bytes_asked_for():
    """02-framing: "recv(1024) returned all that was there (up to 1024 bytes)"; exercise 1:
    recv(5) returns b"abcde" with 7 bytes waiting."""
    with connected_pair() as (client, server_side):
        client.sendall(b"abc")
        client.sendall(b"defg")
        assert wait_for_bytes(server_side, 7) == 7
        assert server_side.recv(5) == b"abcde"
        assert server_side.recv(5) == b"fg"


@pytest.mark.parametrize("ending", ["close", "shutdown(SHUT_WR)"])
def test_recv_returns_empty_bytes_at_the_end_of_the_stream_and_every_time_after(ending):
    """02-framing: "It returns b'' only when the other side has said it will send no more, by
    close() or by shutdown(SHUT_WR); and from then on, every time it is called"."""
    with connected_pair() as (client, server_side):
        assert nothing_arrives_within(server_side)  # nothing yet: it waits, it does not return b""
        client.sendall(b"last")
        if ending == "close":
            client.close()
        else:
            client.shutdown(socket.SHUT_WR)
        assert server_side.recv(100) == b"last"
        assert [server_side.recv(100) for _ in range(3)] == [b"", b"", b""]


def test_recv_zero_returns_empty_bytes_while_data_is_waiting():
    """02-framing: "recv(0) asks for nothing and returns b'' at any time"."""
    with connected_pair() as (client, server_side):
        client.sendall(b"waiting")
        assert wait_for_bytes(server_side, 7) == 7
        assert server_side.recv(0) == b""
        assert server_side.recv(100) == b"waiting"


def test_a_small_receive_buffer_cannot_hold_a_mebibyte_for_a_reader_that_does_not_read():
    """02-framing: "The server side's receive buffer is set to 64 KiB, so the kernel cannot hold
    the whole MiB at once"."""
    payload = bytes(range(256)) * 4096
    with connected_pair(receive_buffer=64 * 1024) as (client, server_side):
        sender = started(client.sendall, payload)
        time.sleep(SHORT_WAIT)  # the sender fills what it can; nobody reads
        held = bytes_waiting(server_side)
        received = bytearray()
        while len(received) < len(payload):
            received += server_side.recv(65536)
        sender.join(JOIN_TIMEOUT)
    assert 0 < held < len(payload)
    assert received == payload


def test_rfile_read_n_returns_n_bytes_however_they_are_cut_and_fewer_only_at_the_end(module):
    """02-framing: "rfile.read(n) keeps reading until it has n bytes, or the stream ends" and
    "read(n) returns fewer than n bytes only at the end of the stream" (a handler's rfile)."""

    class Handler(module.StreamRequestHandler):
        def handle(self):
            self.server.reads = [self.rfile.read(19), self.rfile.read(10), self.rfile.read(4)]

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:

            def send_in_pieces():
                for piece in (b"hello", b", fr", b"amed", b" world", b"short"):
                    client.sendall(piece)
                    time.sleep(0.02)
                client.shutdown(socket.SHUT_WR)

            sender = started(send_in_pieces)
            server.handle_request()
            sender.join(JOIN_TIMEOUT)
    assert server.reads == [b"hello, framed world", b"short", b""]


# -- Notebook 2: send(), sendall() and wfile ---------------------------------------------------


def test_a_socket_with_a_timeout_is_non_blocking_underneath():
    """02-framing: "A socket with a timeout ... is non-blocking underneath" (O_NONBLOCK set);
    without a timeout it is not."""
    with connected_pair() as (client, _):
        assert bool(fcntl.fcntl(client.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)
        client.settimeout(None)
        assert not fcntl.fcntl(client.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def test_send_on_a_socket_with_a_timeout_returns_a_short_count_then_waits_for_room():
    """02-framing: "send() waits until there is room for some data, hands over what fits, and
    returns" how many bytes that was."""
    big = bytes(range(256)) * 16384
    with connected_pair() as (client, server_side):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sent = client.send(big)
        assert 0 < sent < len(big)
        client.settimeout(SHORT_WAIT)
        with pytest.raises(TimeoutError):  # once there is no room at all, send() waits
            for _ in range(1000):  # nobody reads: the buffers fill long before
                sent += client.send(big[sent:])
        assert sent < len(big)


def test_sendall_sends_every_byte_and_returns_none():
    """02-framing: "sendall() ... calls send() until every byte is handed over, and returns
    None"."""
    big = bytes(range(256)) * 16384
    with connected_pair() as (client, server_side):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        received: list[bytes] = []
        reader = started(lambda: received.append(receive_all(server_side)))
        assert client.sendall(big) is None
        client.shutdown(socket.SHUT_WR)
        reader.join(JOIN_TIMEOUT)
    assert received == [big]


def test_a_raw_socket_file_write_may_return_a_short_count():
    """02-framing: "A file made by sock.makefile('wb', buffering=0) is no safer: like send(),
    its write() may return a short count"."""
    big = bytes(range(256)) * 16384
    with connected_pair() as (client, _):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        with client.makefile("wb", buffering=0) as raw_file:
            assert 0 < raw_file.write(big) < len(big)


def test_wfile_write_sends_every_byte_and_returns_the_full_length(module):
    """02-framing: "Both the standard library and socketserver_lit give it [wfile] a small
    writer class whose write() calls sendall()": one write() of 4 MiB on a connection with a
    timeout and a 64 KiB send buffer returns 4 MiB, and the client gets every byte."""
    big = bytes(range(256)) * 16384

    class Handler(module.StreamRequestHandler):
        timeout = WAIT

        def handle(self):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            self.server.written = self.wfile.write(big)
            self.server.rfile_type = type(self.rfile)

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        serving_thread = started(server.handle_request)
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            reply = receive_all(client)
        serving_thread.join(JOIN_TIMEOUT)
    assert server.written == len(big)
    assert reply == big
    assert server.rfile_type.__name__ == "BufferedReader"


def test_struct_network_order_unsigned_int_is_four_bytes_most_significant_first():
    """02-framing: 'the format "!I" is an unsigned integer in 4 bytes, in network byte order
    (most significant byte first)'."""
    assert struct.calcsize("!I") == 4
    assert struct.pack("!I", 0x01020304) == b"\x01\x02\x03\x04"
    with pytest.raises(struct.error):
        struct.pack("!I", -1)
