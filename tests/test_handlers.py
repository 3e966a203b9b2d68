"""Request handlers: setup/handle/finish, rfile and wfile, datagram handlers."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from server_support import JOIN_TIMEOUT

import socketserver_lit as ss
from socketserver_lit.handlers import SocketWriter


class FakeServer:
    """Just enough of a server for a handler driven by hand."""


def make_handler(cls, request, client_address=("127.0.0.1", 1)):
    return cls(request, client_address, FakeServer())


# -- BaseRequestHandler ----------------------------------------------------------------------


def test_handler_sets_attributes_then_runs_setup_handle_finish_in_order():
    calls = []

    class Ordered(ss.BaseRequestHandler):
        def setup(self):
            calls.append(("setup", self.request, self.client_address))

        def handle(self):
            calls.append(("handle", self.request, self.client_address))

        def finish(self):
            calls.append(("finish", self.request, self.client_address))

    server = FakeServer()
    handler = Ordered("req", ("h", 2), server)
    assert handler.server is server
    assert calls == [
        ("setup", "req", ("h", 2)),
        ("handle", "req", ("h", 2)),
        ("finish", "req", ("h", 2)),
    ]


def test_finish_runs_even_when_handle_raises():
    calls = []

    class Broken(ss.BaseRequestHandler):
        def handle(self):
            raise ValueError("broken")

        def finish(self):
            calls.append("finish")

    with pytest.raises(ValueError):
        make_handler(Broken, "req")
    assert calls == ["finish"]


def test_finish_is_skipped_when_setup_raises():
    calls = []

    class BadSetup(ss.BaseRequestHandler):
        def setup(self):
            raise OSError("no setup")

        def handle(self):
            calls.append("handle")

        def finish(self):
            calls.append("finish")

    with pytest.raises(OSError):
        make_handler(BadSetup, "req")
    assert calls == []


def test_default_methods_do_nothing():
    handler = make_handler(ss.BaseRequestHandler, "req")
    assert handler.setup() is None and handler.handle() is None and handler.finish() is None


# -- StreamRequestHandler ---------------------------------------------------------------------


def run_stream_handler(handler_class, feed_client):
    """Run ``handler_class`` on one end of a socket pair, ``feed_client`` on the other."""
    server_end, client_end = socket.socketpair()
    outcome = {}

    def serve():
        try:
            outcome["handler"] = make_handler(handler_class, server_end)
        except Exception as error:  # reported to the test below
            outcome["error"] = error
        finally:
            server_end.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_end:
            client_end.settimeout(5)
            outcome["client"] = feed_client(client_end)
    finally:
        thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive()
    return outcome


def read_all(sock):
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_stream_handler_class_defaults():
    assert ss.StreamRequestHandler.rbufsize == -1
    assert ss.StreamRequestHandler.wbufsize == 0
    assert ss.StreamRequestHandler.timeout is None
    assert ss.StreamRequestHandler.disable_nagle_algorithm is False


def test_rfile_readline_joins_a_line_sent_in_pieces():
    class Lines(ss.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline().upper())

    def client(sock):
        for piece in (b"he", b"llo wo", b"rld\nextra"):
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)

    assert run_stream_handler(Lines, client)["client"] == b"HELLO WORLD\n"


def test_wfile_is_unbuffered_and_sends_each_write_immediately():
    proceed = threading.Event()

    class Chatty(ss.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"first")
            # The client must receive "first" while we are still inside handle().
            assert proceed.wait(5), "client never saw the first write"
            self.wfile.write(b"second")

    def client(sock):
        first = sock.recv(100)
        proceed.set()
        return first, read_all(sock)

    outcome = run_stream_handler(Chatty, client)
    assert "error" not in outcome
    assert outcome["client"] == (b"first", b"second")
    assert isinstance(outcome["handler"].wfile, SocketWriter)


def test_wfile_write_returns_the_full_length_of_any_bytes_like_object():
    lengths = []

    class Writer(ss.StreamRequestHandler):
        def handle(self):
            lengths.append(self.wfile.write(b"abc"))
            lengths.append(self.wfile.write(bytearray(b"de")))
            lengths.append(self.wfile.write(memoryview(b"fghi")))

    outcome = run_stream_handler(Writer, read_all)
    assert outcome["client"] == b"abcdefghi"
    assert lengths == [3, 2, 4]


def test_wfile_write_of_a_large_reply_sends_everything():
    payload = bytes(range(256)) * 8192  # 2 MiB: far more than one send() takes

    class Bulk(ss.StreamRequestHandler):
        def handle(self):
            assert self.wfile.write(payload) == len(payload)

    assert run_stream_handler(Bulk, read_all)["client"] == payload


def test_wfile_write_of_str_raises_a_clear_type_error():
    class Texty(ss.StreamRequestHandler):
        def handle(self):
            self.wfile.write("text")

    outcome = run_stream_handler(Texty, read_all)
    assert isinstance(outcome["error"], TypeError)
    assert "encode" in str(outcome["error"])


def test_socket_writer_interface():
    left, right = socket.socketpair()
    with left, right:
        writer = SocketWriter(left)
        assert writer.writable() and not writer.readable()
        assert writer.fileno() == left.fileno()
        assert isinstance(writer, io.BufferedIOBase)
        writer.close()
        with pytest.raises(ValueError):
            writer.write(b"closed")


def test_positive_wbufsize_buffers_until_finish():
    class Buffered(ss.StreamRequestHandler):
        wbufsize = 1 << 16

        def handle(self):
            self.wfile.write(b"held ")
            self.wfile.write(b"back")

    outcome = run_stream_handler(Buffered, read_all)
    assert outcome["client"] == b"held back"
    assert not isinstance(outcome["handler"].wfile, SocketWriter)


def test_finish_closes_rfile_and_wfile():
    outcome = run_stream_handler(ss.StreamRequestHandler, read_all)
    handler = outcome["handler"]
    assert handler.rfile.closed and handler.wfile.closed
    assert handler.connection is handler.request


def test_timeout_makes_a_silent_client_raise_timeout_error():
    class Patient(ss.StreamRequestHandler):
        timeout = 0.05

        def handle(self):
            self.rfile.readline()

    done = threading.Event()

    def silent_client(sock):
        done.wait(1)  # say nothing; the handler must give up by itself
        return b""

    outcome = run_stream_handler(Patient, silent_client)
    done.set()
    assert isinstance(outcome["error"], TimeoutError)


def test_disable_nagle_algorithm_sets_tcp_nodelay():
    options = []

    class Quick(ss.StreamRequestHandler):
        disable_nagle_algorithm = True

        def handle(self):
            options.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    with ss.TCPServer(("127.0.0.1", 0), Quick) as server:
        with socket.create_connection(server.server_address, timeout=5):
            server.handle_request()
    assert options and options[0] != 0


# -- DatagramRequestHandler -------------------------------------------------------------------


def test_datagram_handler_reads_the_packet_and_replies_with_what_was_written():
    class Upper(ss.DatagramRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline().upper())
            self.wfile.write(b"!")

    with ss.UDPServer(("127.0.0.1", 0), Upper) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"quiet\nrest", server.server_address)
            server.handle_request()
            assert client.recv(100) == b"QUIET\n!"


def test_datagram_handler_exposes_packet_and_socket():
    seen = []

    class Looking(ss.DatagramRequestHandler):
        def handle(self):
            seen.append((self.packet, self.socket is self.server.socket))

    with ss.UDPServer(("127.0.0.1", 0), Looking) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"p", server.server_address)
            server.handle_request()
            client.recv(100)  # the (empty) reply finish() always sends
    assert seen == [(b"p", True)]


def test_wfile_write_completes_although_signals_keep_interrupting_it():
    """sendall() resumes after each signal (PEP 475), so write() still sends everything."""
    import signal

    payload = b"s" * (8 << 20)  # 8 MiB: the write blocks many times on the slow reader
    interruptions = []
    server_end, client_end = socket.socketpair()
    received = bytearray()

    def slow_reader():
        with client_end:
            client_end.settimeout(10)
            while chunk := client_end.recv(65536):
                received.extend(chunk)
                time.sleep(0.0005)

    class Bulk(ss.StreamRequestHandler):
        def handle(self):
            self.written = self.wfile.write(payload)

    previous = signal.signal(signal.SIGALRM, lambda *_: interruptions.append(1))
    reader = threading.Thread(target=slow_reader)
    reader.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
        handler = make_handler(Bulk, server_end)  # runs in the main thread, where signals land
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
        server_end.close()
        reader.join(JOIN_TIMEOUT)
    assert handler.written == len(payload)
    assert bytes(received) == payload
    assert interruptions, "no signal arrived during the write: the test proved nothing"


def test_datagram_reply_to_a_client_without_an_address_explains_binding():
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with left, right:
        with pytest.raises(TypeError, match="must bind its socket"):
            ss.DatagramRequestHandler((b"hi", left), None, FakeServer())
