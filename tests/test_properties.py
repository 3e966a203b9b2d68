"""Property: a line-protocol handler replies the same however its input is cut up.

TCP is a stream: the bytes arrive in order, but in pieces that have nothing to do
with how the client wrote them. A handler that reads with ``rfile.readline()``
must therefore give the same replies whether a line arrives whole, a byte at a
time, or glued to the next one. Hypothesis generates arbitrary byte streams
(biased towards newlines and lines right at the length limit), cuts each at
arbitrary points, and feeds the pieces to a real ``StreamRequestHandler``
subclass; the replies must equal what a plain model, written with
``bytes.split``, predicts for the uncut stream.

Two drives:

* over a socket pair, handler called directly, waiting after each piece until the
  handler has read it (the kernel's count of unread bytes drops to zero), so the
  handler's reads really are cut at the generated points; the read buffer size
  (``rbufsize``) is generated too, down to one byte;
* over a real ``ThreadingTCPServer`` started once for the whole test, with
  ``TCP_NODELAY`` so each piece leaves as its own segment.
"""

from __future__ import annotations

import fcntl
import itertools
import socket
import struct
import termios
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from server_support import serving
from support_faults import WAIT_TIMEOUT, connect, read_to_end, threads_joined

import socketserver_lit as ss

MAX_LINE = 32


def line_reply(kind: bytes, body: bytes) -> bytes:
    return kind + b" %d " % len(body) + body[::-1] + b"\n"


class LineProtocolHandler(ss.StreamRequestHandler):
    """A line protocol: reply to each line; refuse over-long lines; report a cut-off end.

    * a line of at most ``max_line`` bytes (newline not counted): ``LINE <len> <reversed>``
    * a longer line: ``TOO LONG``, and the rest of that line is skipped
    * bytes after the last newline, at end of stream: ``PARTIAL <len> <reversed>``
    """

    max_line = MAX_LINE
    timeout = WAIT_TIMEOUT  # a test gone wrong must not leave the handler waiting forever

    def handle(self) -> None:
        while line := self.rfile.readline(self.max_line + 1):
            if line.endswith(b"\n"):
                self.wfile.write(line_reply(b"LINE", line[:-1]))
            elif len(line) > self.max_line:
                self.wfile.write(b"TOO LONG\n")
                self.skip_rest_of_line()
            else:
                self.wfile.write(line_reply(b"PARTIAL", line))

    def skip_rest_of_line(self) -> None:
        while chunk := self.rfile.readline(self.max_line + 1):
            if chunk.endswith(b"\n"):
                return


def expected_replies(stream: bytes) -> bytes:
    """The model: what the protocol says the replies to ``stream`` are."""
    *lines, tail = stream.split(b"\n")
    replies = [
        line_reply(b"LINE", body) if len(body) <= MAX_LINE else b"TOO LONG\n" for body in lines
    ]
    if tail:
        replies.append(line_reply(b"PARTIAL", tail) if len(tail) <= MAX_LINE else b"TOO LONG\n")
    return b"".join(replies)


segments = st.one_of(
    st.binary(max_size=2 * MAX_LINE + 4),
    st.just(b"\n"),
    st.sampled_from([b"\r\n", b"\n\n", b"\0", b"\xff"]),
    # Lines right at the limit, where an off-by-one would show.
    st.integers(MAX_LINE - 1, MAX_LINE + 2).map(lambda n: b"a" * n + b"\n"),
)
streams = st.lists(segments, max_size=20).map(b"".join)


@st.composite
def streams_cut_into_pieces(draw) -> tuple[bytes, list[bytes]]:
    stream = draw(streams)
    cuts = sorted(draw(st.sets(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    pieces = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    return stream, [piece for piece in pieces if piece]


# -- the model itself, on examples worked out by hand --------------------------------------------


def test_the_model_on_hand_worked_examples():
    assert expected_replies(b"") == b""
    assert expected_replies(b"ab\n") == b"LINE 2 ba\n"
    assert expected_replies(b"ab\ncd") == b"LINE 2 ba\nPARTIAL 2 dc\n"
    assert expected_replies(b"\n\n") == b"LINE 0 \nLINE 0 \n"
    assert expected_replies(b"a" * MAX_LINE + b"\n") == line_reply(b"LINE", b"a" * MAX_LINE)
    assert expected_replies(b"a" * (MAX_LINE + 1) + b"\nok\n") == b"TOO LONG\nLINE 2 ko\n"
    assert expected_replies(b"a" * (MAX_LINE + 1)) == b"TOO LONG\n"


# -- drive 1: socket pair, one read per generated piece -------------------------------------------


def unread_byte_count(sock: socket.socket) -> int:
    """Bytes that have arrived on ``sock`` and that nobody has read yet."""
    raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", raw)[0]


def wait_until_read(sock: socket.socket, failures: list[BaseException]) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while unread_byte_count(sock):
        assert not failures, f"the handler failed: {failures!r}"
        assert time.monotonic() < deadline, "the handler stopped reading"
        time.sleep(0.0002)


HANDLERS_BY_READ_BUFFER = {
    size: type(f"LineProtocolHandler_rbufsize_{size}", (LineProtocolHandler,), {"rbufsize": size})
    for size in (1, 2, 7, 64, -1)
}


def replies_when_fed_in_pieces(handler_class: type, pieces: list[bytes]) -> bytes:
    server_side, client_side = socket.socketpair()
    failures: list[BaseException] = []

    def run_handler() -> None:
        try:
            handler_class(server_side, "socketpair", None)
        except BaseException as error:  # re-raised in the test below
            failures.append(error)
        finally:
            server_side.shutdown(socket.SHUT_WR)  # as a server ends a request

    with server_side, client_side:
        client_side.settimeout(WAIT_TIMEOUT)
        with threads_joined([threading.Thread(target=run_handler)]) as (handler_thread,):
            handler_thread.start()
            for piece in pieces:
                client_side.sendall(piece)
                wait_until_read(server_side, failures)
            client_side.shutdown(socket.SHUT_WR)
            replies = read_to_end(client_side)
    assert not failures, f"the handler failed: {failures!r}"
    return replies


@settings(max_examples=50, deadline=None, database=None)
@given(case=streams_cut_into_pieces(), rbufsize=st.sampled_from(sorted(HANDLERS_BY_READ_BUFFER)))
def test_replies_do_not_depend_on_how_the_stream_is_cut(case, rbufsize):
    stream, pieces = case
    handler_class = HANDLERS_BY_READ_BUFFER[rbufsize]
    assert replies_when_fed_in_pieces(handler_class, pieces) == expected_replies(stream)


# -- drive 2: a real threading TCP server, one for the whole test --------------------------------


def test_replies_over_a_real_tcp_server_do_not_depend_on_how_the_stream_is_cut():
    with ss.ThreadingTCPServer(("127.0.0.1", 0), LineProtocolHandler) as server:
        with serving(server, poll_interval=0.05):

            @settings(max_examples=50, deadline=None, database=None)
            @given(case=streams_cut_into_pieces())
            def check(case: tuple[bytes, list[bytes]]) -> None:
                stream, pieces = case
                with connect(server.server_address) as client:
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
                    for piece in pieces:
                        client.sendall(piece)
                    client.shutdown(socket.SHUT_WR)
                    assert read_to_end(client) == expected_replies(stream)

            check()
