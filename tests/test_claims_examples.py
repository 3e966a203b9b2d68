"""What the documented-example notebooks say about sockets and socketserver, run.

``notebooks/examples/01-tcp-server.ipynb`` to ``06-threading-udp.ipynb`` run the
documentation's examples and show most of what they claim in their own outputs. Each test
here backs one sentence that a notebook states but does not show (or shows for ours only).
Every test names its notebook and quotes its sentence in the docstring. Where a sentence is
about ``socketserver``, the test runs it on the standard library's module and on ours.
(The sentences about the example *programs*, ``python -m socketserver_lit.examples...``
and the tour, are backed by ``tests/test_examples.py``.)

Platform: Linux (``/proc``, ``FIONREAD``, how the kernel reports an ICMP "port
unreachable"), Python 3.10 to 3.13. Every socket is closed, every server shut down and
closed, every child process reaped, every wait bounded.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import claims_support
import pytest
from claims_support import MODULES, bytes_waiting, nothing_arrives_within, process_state
from server_support import open_descriptor_count, receive_all, serving, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks" / "examples"
SANITIZE_FILE = EXAMPLES.parent / "sanitize.cfg"

# Seconds any socket call or wait may take before the test fails instead of hanging.
WAIT = 5.0
# Seconds after which "nothing has happened yet" counts as "it is waiting".
SHORT_WAIT = 0.3


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- 01-tcp-server ---------------------------------------------------------------------------


def test_the_server_creates_one_handler_instance_per_connection(module):
    """01-tcp-server: "The server creates one instance of it per connection; inside handle(),
    self.request is the connected socket and self.client_address is the client's (host,
    port)"."""
    seen = []

    class RecordingHandler(module.BaseRequestHandler):
        def handle(self):
            seen.append((id(self), self, self.request, self.client_address))
            self.request.sendall(b"ok")

    with module.TCPServer(("127.0.0.1", 0), RecordingHandler) as server:
        clients = []
        for _ in range(3):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                server.handle_request()
                assert receive_all(client) == b"ok"
                clients.append(client.getsockname())
    assert len({handler for _, handler, _, _ in seen}) == 3
    assert all(isinstance(request, socket.socket) for _, _, request, _ in seen)
    assert [address for _, _, _, address in seen] == clients


def documented_recv_loop_handler(module, pieces_seen: list[list[bytes]]):
    """The notebook's MyTCPHandler loop (with its added end-of-stream exit), recording."""

    class MyTCPHandler(module.BaseRequestHandler):
        def handle(self):
            pieces = [b""]
            total = 0
            while b"\n" not in pieces[-1] and total < 10_000:
                pieces.append(self.request.recv(2000))
                if not pieces[-1]:
                    break
                total += len(pieces[-1])
            pieces_seen.append(pieces)
            self.request.sendall(b"".join(pieces).upper())

    return MyTCPHandler


def test_the_documented_recv_loop_stops_once_it_holds_10000_bytes(module):
    """01-tcp-server: the handler "stops once it holds 10,000 bytes or more, so that a client
    that never sends one [a newline] cannot make it collect data forever"."""
    pieces_seen: list[list[bytes]] = []
    handler = documented_recv_loop_handler(module, pieces_seen)
    with module.TCPServer(("127.0.0.1", 0), handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"x" * 30_000)  # no newline, ever
            server.handle_request()
            reply = receive_all(client)
    total = sum(len(piece) for piece in pieces_seen[0])
    assert 10_000 <= total < 10_000 + 2000
    assert reply == b"X" * total


def test_recv_returns_empty_bytes_at_once_every_time_after_the_peer_closes():
    """01-tcp-server: "a client that hangs up before sending a newline makes every recv()
    return b"" at once, for ever after" (so the documented loop, without our exit, would
    spin)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            connection, _ = listener.accept()
            client.sendall(b"no newline")
        with connection:
            connection.settimeout(SHORT_WAIT)  # a recv() that waited would raise TimeoutError
            assert connection.recv(2000) == b"no newline"
            assert [connection.recv(2000) for _ in range(100)] == [b""] * 100


def test_tcpserver_closes_the_connection_after_handle_returns(module):
    """01-tcp-server: TCPServer "calls handle() and closes the connection afterwards";
    02-stream-handler: recv() returns b"" "when the server closes the connection, after
    handle() and finish() have returned"."""
    events = []

    class Handler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"reply")
            events.append("handle returned")

        def finish(self):
            super().finish()
            events.append("finish returned")

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            serving_one = threading.Thread(target=server.handle_request)
            serving_one.start()
            assert receive_all(client) == b"reply"  # ends with b"": the server closed
            events.append("client saw the end")
            serving_one.join(WAIT)
    assert events == ["handle returned", "finish returned", "client saw the end"]


def test_localhost_is_resolved_for_ipv4_by_an_af_inet_server_and_client(module):
    """01-tcp-server: "The client address is 127.0.0.1 because localhost is resolved for an
    IPv4 socket (TCPServer.address_family is AF_INET), on the server and on the client
    alike"."""
    assert module.TCPServer.address_family == socket.AF_INET
    with module.TCPServer(("localhost", 0), None) as server:
        assert server.server_address[0] == "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.connect(("localhost", server.server_address[1]))
            assert client.getsockname()[0] == "127.0.0.1"


def test_two_sendall_calls_can_arrive_as_one_recv():
    """01-tcp-server: "several sendall() calls can arrive as one"; 03-udp: "(With TCP, two
    sendall() calls can arrive as one recv())"."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(WAIT)
                client.sendall(b"first\n")
                client.sendall(b"second\n")
                assert wait_until(lambda: bytes_waiting(connection) == 13)
                assert connection.recv(1024) == b"first\nsecond\n"


def test_leaving_the_with_block_calls_server_close(module):
    """01-tcp-server: "server_close() then closes the listening socket (the documented with
    block does that on its way out)"."""
    calls = []

    class RecordingServer(module.TCPServer):
        def server_close(self):
            calls.append("server_close")
            super().server_close()

    with RecordingServer(("127.0.0.1", 0), None) as server:
        assert calls == []
    assert calls == ["server_close"] and server.socket.fileno() == -1


# -- 02-stream-handler -----------------------------------------------------------------------


def test_wfile_is_unbuffered_by_default_and_write_sends_before_handle_returns(module):
    """02-stream-handler: "By default it [wfile] has no buffer (the class attribute wbufsize
    is 0), so each write() has sent its bytes when it returns"; "The standard library's
    StreamRequestHandler has the same default"."""
    assert module.StreamRequestHandler.wbufsize == 0
    client_has_read = threading.Event()

    class WriteThenWaitHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"sent by write()\n")
            client_has_read.wait(WAIT)

    with module.TCPServer(("127.0.0.1", 0), WriteThenWaitHandler) as server:
        serving_one = threading.Thread(target=server.handle_request)
        serving_one.start()
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            assert client.recv(1024) == b"sent by write()\n"
            assert serving_one.is_alive()  # handle() is still waiting
            client_has_read.set()
        serving_one.join(WAIT)


def test_rfile_is_a_buffered_reader(module):
    """02-stream-handler: "self.rfile, a buffered reader: readline(), read(), iteration"."""
    kinds = []

    class Handler(module.StreamRequestHandler):
        def handle(self):
            kinds.append(type(self.rfile))
            kinds.append([line for line in self.rfile])

    assert module.StreamRequestHandler.rbufsize == -1
    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"one\ntwo\n")
            client.shutdown(socket.SHUT_WR)
            server.handle_request()
    assert kinds == [io.BufferedReader, [b"one\n", b"two\n"]]


def test_finish_flushes_a_buffered_wfile_only_after_handle_returns(module):
    """02-stream-handler: finish() "flushes wfile first, which matters only for a handler that
    sets wbufsize to give wfile a buffer": then nothing is sent while handle() runs."""
    handle_may_return = threading.Event()

    class BufferedHandler(module.StreamRequestHandler):
        wbufsize = -1  # the default buffer size

        def handle(self):
            self.wfile.write(b"held in the buffer\n")
            handle_may_return.wait(WAIT)

    with module.TCPServer(("127.0.0.1", 0), BufferedHandler) as server:
        serving_one = threading.Thread(target=server.handle_request)
        serving_one.start()
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            assert nothing_arrives_within(client)
            handle_may_return.set()
            assert receive_all(client) == b"held in the buffer\n"
        serving_one.join(WAIT)


def test_readline_with_a_limit_returns_after_that_many_bytes_without_a_newline(module):
    """02-stream-handler: "readline(10000) returns after 10,000 bytes even if no newline
    came, so a sender cannot make the handler buffer without end" (the client keeps its
    connection open and sends 30,000 bytes)."""
    lines = []

    class MyTCPHandler(module.StreamRequestHandler):
        def handle(self):
            lines.append(self.rfile.readline(10000))

    with module.TCPServer(("127.0.0.1", 0), MyTCPHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"x" * 30_000)
            server.handle_request()
    assert lines == [b"x" * 10_000]


# -- 03-udp ----------------------------------------------------------------------------------


def test_a_udp_server_reads_only_max_packet_size_bytes_of_a_datagram(module):
    """03-udp: "The server reads each datagram with one recvfrom(max_packet_size), and
    max_packet_size is 8192 bytes, in the stdlib as in ours. ... the kernel hands over the
    first 8192 bytes and throws the rest away, and nobody is told"."""
    received, errors = [], []

    class LengthHandler(module.BaseRequestHandler):
        def handle(self):
            received.append(self.request[0])

    class RecordingServer(module.UDPServer):
        def handle_error(self, request, client_address):
            errors.append(sys.exc_info()[1])

    assert module.UDPServer.max_packet_size == 8192
    with RecordingServer(("127.0.0.1", 0), LengthHandler) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(bytes(range(256)) * 80, server.server_address)  # 20,480 bytes
            client.sendto(b"next", server.server_address)
            server.handle_request()
            server.handle_request()
    assert received == [(bytes(range(256)) * 80)[:8192], b"next"]  # the rest is not a request
    assert errors == []


def test_a_udp_recv_cuts_a_longer_datagram_silently():
    """03-udp: "The client's recv(1024) cuts a longer reply the same way"."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(WAIT)
        sender.sendto(b"a" * 2000, receiver.getsockname())
        sender.sendto(b"b" * 10, receiver.getsockname())
        assert receiver.recv(1024) == b"a" * 1024
        assert receiver.recv(1024) == b"b" * 10  # the next datagram, not the rest


def test_an_ipv4_udp_datagram_carries_at_most_65507_bytes():
    """03-udp: "over IPv4 a datagram carries at most 65,507 bytes" (65,535 minus the IPv4 and
    UDP headers); a longer one is refused by sendto() with EMSGSIZE."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(WAIT)
        assert sender.sendto(b"x" * 65_507, receiver.getsockname()) == 65_507
        assert len(receiver.recv(70_000)) == 65_507
        with pytest.raises(OSError) as caught:
            sender.sendto(b"x" * 65_508, receiver.getsockname())
    assert caught.value.errno == errno.EMSGSIZE


def test_a_server_looks_up_request_handler_class_for_every_request(module):
    """03-udp: "A server looks up RequestHandlerClass for every request, in the stdlib as in
    ours, so we can swap in a recording subclass while it runs"."""
    handled = []

    def handler_named(name):
        class Handler(module.BaseRequestHandler):
            def handle(self):
                handled.append(name)

        return Handler

    with module.UDPServer(("127.0.0.1", 0), handler_named("first")) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"one", server.server_address)
            server.handle_request()
            server.RequestHandlerClass = handler_named("second")
            client.sendto(b"two", server.server_address)
            server.handle_request()
    assert handled == ["first", "second"]


def free_udp_address() -> tuple[str, int]:
    """A loopback UDP address nothing is bound to (the kernel's pick, given back at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as finder:
        finder.bind(("127.0.0.1", 0))
        return finder.getsockname()


def test_a_udp_client_of_a_closed_port_hears_of_it_only_when_connected_on_linux():
    """03-udp: the kernel "does answer with an ICMP 'port unreachable' message, but Linux
    passes that on only to a connected UDP socket (whose next recv() then raises
    ConnectionRefusedError), and the documented client never calls connect(): it hears
    nothing"."""
    address = free_udp_address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as documented_client:
        documented_client.settimeout(SHORT_WAIT)
        documented_client.sendto(b"anybody there?\n", address)
        with pytest.raises(TimeoutError):
            documented_client.recv(1024)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as connected_client:
        connected_client.settimeout(WAIT)
        connected_client.connect(address)
        connected_client.send(b"anybody there?\n")
        with pytest.raises(ConnectionRefusedError):
            connected_client.recv(1024)


def test_a_udp_client_without_a_timeout_waits_in_recv_until_a_datagram_comes():
    """03-udp: "The documented client has no timeout and would wait in recv() for ever"
    (still waiting after a while; a datagram from elsewhere is what ends the wait here)."""
    results = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.sendto(b"anybody there?\n", free_udp_address())
        assert client.gettimeout() is None
        waiting = threading.Thread(target=lambda: results.append(client.recv(1024)))
        waiting.start()
        waiting.join(SHORT_WAIT)
        assert waiting.is_alive() and results == []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.sendto(b"wake up", client.getsockname())
        waiting.join(WAIT)
    assert results == [b"wake up"]


# -- 04-threading-mixin and 06-threading-udp -------------------------------------------------


def test_threading_mixin_overrides_process_request_and_server_close_only(module):
    """04-threading-mixin: "ThreadingMixIn replaces process_request() ... (It also extends
    server_close(), to wait for those threads)": of the server's methods, it overrides those
    two."""
    mixin_methods = {
        name
        for name, value in vars(module.ThreadingMixIn).items()
        if callable(value) and not name.startswith("__")
    }
    overridden = {name for name in mixin_methods if hasattr(module.TCPServer, name)}
    assert overridden == {"process_request", "server_close"}


@pytest.mark.parametrize("server_name", ["TCPServer", "UDPServer"])
def test_with_the_mixin_second_the_synchronous_process_request_wins(module, server_name):
    """04-threading-mixin: "The mix-in comes first in the bases so that its methods are found
    before the synchronous ones"; 06-threading-udp: with UDPServer first, process_request()
    "is now found in BaseServer" and the loop's own thread handles the request."""
    base = getattr(module, server_name)

    class MixInFirst(module.ThreadingMixIn, base):
        pass

    class MixInLast(base, module.ThreadingMixIn):
        pass

    assert MixInFirst.process_request is module.ThreadingMixIn.process_request
    assert MixInLast.process_request is module.BaseServer.process_request
    threads = []

    class Handler(module.BaseRequestHandler):
        def handle(self):
            threads.append(threading.current_thread())

    for server_class in (MixInFirst, MixInLast):
        with server_class(("127.0.0.1", 0), Handler) as server:
            kind = socket.SOCK_STREAM if server_name == "TCPServer" else socket.SOCK_DGRAM
            with socket.socket(socket.AF_INET, kind) as client:
                client.connect(server.server_address)
                client.send(b"hello")
                server.handle_request()
    assert threads[0] is not threading.current_thread()  # a request thread of its own
    assert threads[1] is threading.current_thread()  # handled by the loop's (here: ours)


def test_udpserver_derives_from_tcpserver(module):
    """06-threading-udp: "UDPServer derives from TCPServer, in the stdlib as here"."""
    assert module.UDPServer.__mro__[1] is module.TCPServer


def test_a_daemon_thread_does_not_keep_a_program_alive():
    """04-threading-mixin: the loop's thread is "marked daemon so that it can never keep the
    program alive by itself" (a program whose daemon thread waits for ever still ends)."""
    program = textwrap.dedent(
        """
        import threading
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        print("the main thread ends")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "the main thread ends\n", "")


def test_an_unnamed_thread_is_named_after_its_target_since_3_10():
    """04-threading-mixin: "Since Python 3.10, a thread created without a name is called
    Thread-N (target), after the function it runs"."""

    def serve_forever():
        pass

    thread = threading.Thread(target=serve_forever)
    assert re.fullmatch(r"Thread-\d+ \(serve_forever\)", thread.name)
    assert re.fullmatch(r"Thread-\d+", threading.Thread().name)  # no target, no suffix


@pytest.mark.parametrize("server_name", ["ThreadingTCPServer", "ThreadingUDPServer"])
def test_server_close_waits_for_request_threads_still_running(module, server_name):
    """04-threading-mixin and 06-threading-udp: "server_close() closes the socket and, for a
    threading server, also waits for request threads that are still running (block_on_close
    is true by default)"."""
    server_class = getattr(module, server_name)
    assert server_class.block_on_close is True
    finished = []

    class SlowHandler(module.BaseRequestHandler):
        def handle(self):
            threading.Event().wait(SHORT_WAIT)
            finished.append(True)

    kind = socket.SOCK_STREAM if "TCP" in server_name else socket.SOCK_DGRAM
    with server_class(("127.0.0.1", 0), SlowHandler) as server:
        with socket.socket(socket.AF_INET, kind) as client:
            client.connect(server.server_address)
            client.send(b"hello")
            server.handle_request()  # starts the request thread and returns
            assert finished == []
    assert finished == [True]  # the with block's server_close() waited for it


def test_each_datagram_gets_its_own_thread_in_a_threading_udp_server(module):
    """06-threading-udp: "Two datagrams sent from the same client socket are two requests,
    and each gets its own thread" (the notebook shows ours)."""
    threads = []

    class Handler(module.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            threads.append(threading.current_thread())
            sock.sendto(data, self.client_address)

    with serving(module.ThreadingUDPServer(("127.0.0.1", 0), Handler), 0.05) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(WAIT)
            for message in (b"first", b"second"):
                client.sendto(message, server.server_address)
                assert client.recv(1024) == message
    assert len(set(threads)) == 2


def test_datagrams_sent_on_one_socket_by_many_threads_arrive_whole():
    """06-threading-udp: "each sendto() sends one whole datagram, and datagrams sent by
    different threads at the same time never mix" (4 threads x 10 datagrams of 1000 bytes,
    each datagram one repeated byte, on one socket)."""
    threads, per_thread, size = 4, 10, 1000
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(WAIT)
        start = threading.Barrier(threads, timeout=WAIT)

        def send(thread_number):
            start.wait()
            for sequence in range(per_thread):
                fill = bytes([thread_number * per_thread + sequence])
                shared.sendto(fill * size, receiver.getsockname())

        senders = [threading.Thread(target=send, args=(number,)) for number in range(threads)]
        for sender in senders:
            sender.start()
        received = [receiver.recv(2 * size) for _ in range(threads * per_thread)]
        for sender in senders:
            sender.join(WAIT)
    assert all(len(datagram) == size and len(set(datagram)) == 1 for datagram in received)
    assert sorted(datagram[0] for datagram in received) == list(range(threads * per_thread))


def sanitize_rules() -> list[tuple[re.Pattern[str], str]]:
    """The regex/replace pairs of notebooks/sanitize.cfg, in order."""
    lines = SANITIZE_FILE.read_text(encoding="utf-8").splitlines()
    rules = []
    for line, following in zip(lines, lines[1:], strict=False):
        if line.startswith("regex: ") and following.startswith("replace: "):
            rules.append((re.compile(line[len("regex: ") :]), following[len("replace: ") :]))
    return rules


def stored_output(notebook: str) -> str:
    """Every stdout text stored in an example notebook, joined."""
    cells = json.loads((EXAMPLES / notebook).read_text(encoding="utf-8"))["cells"]
    return "".join(
        "".join(output.get("text", ""))
        for cell in cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
    )


@pytest.mark.parametrize(
    ("notebook", "stored_pattern", "compared_form"),
    [
        ("04-threading-mixin.ipynb", r"Thread-\d+ \(serve_forever\)", "Thread-N (serve_forever)"),
        ("05-forking-mixin.ipynb", r"pid \d+", "pid N"),
        ("06-threading-udp.ipynb", r"Thread-\d+ \(serve_forever\)", "Thread-N (serve_forever)"),
    ],
)
def test_stored_outputs_keep_their_numbers_and_nbval_compares_them_as_n(
    notebook, stored_pattern, compared_form
):
    """04-threading-mixin: "The output stored in this notebook (and shown on the site) keeps
    the numbers of the run that made it; only when nbval checks the notebook does it read
    every Thread- number as N"; the same for pid numbers in 05-forking-mixin and thread
    names in 06-threading-udp."""
    text = stored_output(notebook)
    stored = re.findall(stored_pattern, text)
    assert stored, f"{notebook} stores no output matching {stored_pattern}"
    sanitized = text
    for pattern, replacement in sanitize_rules():
        sanitized = pattern.sub(replacement, sanitized)
    assert compared_form in sanitized
    assert not re.search(stored_pattern.replace(r"\d+", r"\d"), sanitized)


# -- 05-forking-mixin (POSIX) ----------------------------------------------------------------


def pid_reply_handler(module, seconds: float = 0.0):
    """Replies with its process id, after waiting ``seconds``."""

    class PidHandler(module.BaseRequestHandler):
        def handle(self):
            self.request.recv(1024)
            threading.Event().wait(seconds)
            self.request.sendall(b"pid %d" % os.getpid())

    return PidHandler


def ask_for_pid(address) -> int:
    """Send a message; read the reply and the end of the stream; return the replying pid."""
    with socket.create_connection(address, timeout=WAIT) as client:
        client.sendall(b"hello")
        return int(receive_all(client).removeprefix(b"pid "))


def keeping_copies_server_class(module):
    """The notebook's ForkedServerKeepingCopies: the parent never closes its copies."""

    class ForkedServerKeepingCopies(module.ForkingMixIn, module.TCPServer):
        def close_request(self, request):
            if os.getpid() == self.parent_pid:
                self.kept_copies.append(request)
            else:
                super().close_request(request)

    return ForkedServerKeepingCopies


@pytest.mark.fork
def test_the_forking_parent_closes_its_copy_of_each_connection(module):
    """05-forking-mixin: "The parent closed its own copy of the connection at once" (before
    the child has answered)."""
    closed_by_parent = []

    class RecordingServer(module.ForkingMixIn, module.TCPServer):
        def close_request(self, request):
            if os.getpid() == parent_pid:
                closed_by_parent.append(request.fileno())
            super().close_request(request)

    parent_pid = os.getpid()
    with RecordingServer(("127.0.0.1", 0), pid_reply_handler(module, SHORT_WAIT)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hello")
            server.handle_request()  # forks; the parent closes its copy, then returns
            assert len(closed_by_parent) == 1
            assert nothing_arrives_within(client, 0.05)  # the child is still at work
            assert int(receive_all(client).removeprefix(b"pid ")) != parent_pid


@pytest.mark.fork
def test_a_forking_parent_keeping_its_copies_still_ends_each_clients_stream(module):
    """05-forking-mixin: "Not for the client's sake: the child's shutdown ends the stream for
    every process that holds the connection"."""
    with keeping_copies_server_class(module)(("127.0.0.1", 0), pid_reply_handler(module)) as server:
        server.parent_pid, server.kept_copies = os.getpid(), []
        try:
            with serving(server, 0.05):
                pids = [ask_for_pid(server.server_address) for _ in range(3)]  # each saw b""
            assert len(set(pids)) == 3 and os.getpid() not in pids
            assert [copy.fileno() != -1 for copy in server.kept_copies] == [True] * 3
        finally:
            for copy in server.kept_copies:
                copy.close()


@pytest.mark.fork
def test_a_forking_parent_keeping_its_copies_holds_one_descriptor_per_request(module):
    """05-forking-mixin: "What the parent's copy costs is a file descriptor, one per request
    served"; a parent that closes them holds none."""
    held = {}
    for name, server_class in [
        ("keeps", keeping_copies_server_class(module)),
        ("closes", type("ForkedTCPServer", (module.ForkingMixIn, module.TCPServer), {})),
    ]:
        with server_class(("127.0.0.1", 0), pid_reply_handler(module)) as server:
            server.parent_pid, server.kept_copies = os.getpid(), []
            try:
                before = open_descriptor_count()
                for _ in range(5):
                    with socket.create_connection(server.server_address, timeout=WAIT) as client:
                        client.sendall(b"hello")
                        server.handle_request()
                        receive_all(client)
                held[name] = open_descriptor_count() - before
            finally:
                for copy in server.kept_copies:
                    copy.close()
    assert held == {"keeps": 5, "closes": 0}


@pytest.mark.fork
@pytest.mark.parametrize("name", list(MODULES))
def test_a_forked_child_leaves_through_os_exit_without_running_atexit_handlers(name):
    """05-forking-mixin: the child "left through os._exit(), which ends a process on the spot:
    it could never return into the copy of the server loop it was born in" (an atexit
    handler, which any normal exit would run, runs in the parent only)."""
    program = textwrap.dedent(
        f"""
        import atexit, os, socket
        import {"socketserver" if name == "stdlib" else "socketserver_lit"} as module
        parent = os.getpid()
        atexit.register(lambda: print("atexit in the", "parent" if os.getpid() == parent
                                      else "child", flush=True))

        class Handler(module.BaseRequestHandler):
            def handle(self):
                self.request.sendall(b"served")

        with module.ForkingTCPServer(("127.0.0.1", 0), Handler) as server:
            with socket.create_connection(server.server_address, timeout=5) as client:
                server.handle_request()
                assert client.recv(100) == b"served"
                assert client.recv(100) == b""
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "atexit in the parent\n", "")


@pytest.mark.fork
def test_a_finished_child_is_a_zombie_until_the_parent_reaps_it(module):
    """05-forking-mixin: "A child that has exited stays in the process table, a zombie, until
    its parent collects its exit status with waitpid()" (service_actions() reaps it)."""
    server_class = type("ForkedTCPServer", (module.ForkingMixIn, module.TCPServer), {})
    with server_class(("127.0.0.1", 0), pid_reply_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hello")
            server.handle_request()  # a synchronous turn: nothing reaps here
            child = int(receive_all(client).removeprefix(b"pid "))
        assert server.active_children == {child}
        assert wait_until(lambda: process_state(child) == "Z"), process_state(child)
        threading.Event().wait(SHORT_WAIT)
        assert process_state(child) == "Z"  # it stays a zombie
        server.service_actions()  # what every turn of serve_forever() does
        assert process_state(child) is None
        assert not server.active_children


@pytest.mark.fork
def test_the_serve_forever_loop_reaps_finished_children(module):
    """05-forking-mixin: ForkingMixIn "reaps whichever have finished on every turn of the
    serve_forever() loop"."""
    server_class = type("ForkedTCPServer", (module.ForkingMixIn, module.TCPServer), {})
    server = server_class(("127.0.0.1", 0), pid_reply_handler(module))
    with serving(server, poll_interval=0.05):
        children = [ask_for_pid(server.server_address) for _ in range(3)]
        # waitpid() and the set's update happen in the serving thread: wait for both
        assert wait_until(
            lambda: (
                not server.active_children and all(process_state(pid) is None for pid in children)
            )
        ), (server.active_children, [process_state(pid) for pid in children])


@pytest.mark.fork
def test_server_close_waits_for_children_still_running(module):
    """05-forking-mixin: "server_close() waits for the rest (block_on_close is true by
    default)"."""
    server_class = type("ForkedTCPServer", (module.ForkingMixIn, module.TCPServer), {})
    assert server_class.block_on_close is True
    with server_class(("127.0.0.1", 0), pid_reply_handler(module, SHORT_WAIT)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hello")
            server.handle_request()
            (child,) = server.active_children
            assert process_state(child) not in (None, "Z")  # still answering
    # the with block's server_close() has returned: the child ended and was reaped
    assert process_state(child) is None
    assert not server.active_children
