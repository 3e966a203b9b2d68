"""Bad input: every mistake gets a clear exception, and nothing is lost or leaked.

"Bad input" here is whatever a server is handed that it cannot use as it stands:
a datagram longer than it reads, an address that is taken, malformed or not ours,
a Unix socket path where something already lives, and a reply that is not bytes.
For each, the test checks three things:

1. the exception is the one a plain socket raises for the same mistake (so
   existing ``except`` clauses keep working) and its message says what is wrong;
2. no file descriptor is left open afterwards (``/proc/self/fd`` is compared);
3. nothing else is disturbed: the server already on that address keeps serving,
   the file already at that path keeps its contents, the bytes written before a
   bad write still reach the client.

Oversize datagrams are not an error: they are truncated to ``max_packet_size``, as
the ``UDPServer`` docstring says, and the next datagram arrives whole.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import socket
import sys

import pytest
from server_support import error_text, serving
from support_faults import (
    BoundedStreamHandler,
    assert_no_descriptor_leak,
    connect,
    no_new_zombies,
    read_to_end,
)

import socketserver_lit as ss

# -- oversize datagrams ------------------------------------------------------------------------


class DescribesDatagram(ss.DatagramRequestHandler):
    """Replies with the length and SHA-256 of the datagram it received."""

    def handle(self) -> None:
        data = self.rfile.read()
        self.wfile.write(b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode()))


def description(data: bytes) -> bytes:
    return b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())


DATAGRAM_SERVERS = [
    pytest.param(ss.UDPServer, id="udp"),
    pytest.param(ss.ThreadingUDPServer, id="threading-udp"),
    pytest.param(ss.ThreadPoolUDPServer, id="thread-pool-udp"),
    pytest.param(ss.ForkingUDPServer, id="forking-udp", marks=pytest.mark.fork),
    pytest.param(ss.UnixDatagramServer, id="unix-datagram", marks=pytest.mark.unix),
]


@pytest.mark.parametrize("max_packet_size", [None, 1000], ids=["default-8192", "1000"])
@pytest.mark.parametrize("server_class", DATAGRAM_SERVERS)
def test_oversize_datagram_is_truncated_at_max_packet_size_and_the_next_is_whole(
    server_class, max_packet_size, tmp_path
):
    if max_packet_size is not None:
        server_class = type(server_class.__name__, (server_class,), {"max_packet_size": 1000})
    limit = server_class.max_packet_size
    unix = server_class.address_family == socket.AF_UNIX
    address = str(tmp_path / "server.sock") if unix else ("127.0.0.1", 0)
    sizes = [limit - 1, limit, limit + 1, 3 * limit, 0, 5]
    with assert_no_descriptor_leak(), no_new_zombies():
        with server_class(address, DescribesDatagram) as server, serving(server, 0.05):
            with socket.socket(server.address_family, socket.SOCK_DGRAM) as client:
                client.settimeout(10)
                if unix:
                    client.bind(str(tmp_path / "client.sock"))  # so the reply can find us
                for number, size in enumerate(sizes):
                    datagram = bytes([number]) * size
                    client.sendto(datagram, server.server_address)
                    assert client.recv(1000) == description(datagram[:limit])


def test_truncation_of_long_datagrams_is_documented_where_max_packet_size_is():
    assert "max_packet_size" in ss.UDPServer.__doc__
    assert "truncated" in ss.UDPServer.__doc__


# -- ports in use ------------------------------------------------------------------------------


class EchoLine(BoundedStreamHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.readline())


class EchoDatagram(ss.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.read())


_client_numbers = itertools.count()


def assert_still_serving(server, client_directory=None) -> None:
    """One round trip to ``server``. Before a descriptor count, it also makes sure
    the serve loop is running, so its wake-up sockets are not counted as leaked."""
    if server.socket_type == socket.SOCK_STREAM:
        with connect(server.server_address, server.address_family) as client:
            client.sendall(b"still here\n")
            assert read_to_end(client) == b"still here\n"
    else:
        with socket.socket(server.address_family, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            if server.address_family == socket.AF_UNIX:  # a reply needs a client address
                client.bind(str(client_directory / f"client-{next(_client_numbers)}.sock"))
            client.sendto(b"still here", server.server_address)
            assert client.recv(100) == b"still here"


def handler_for(server_class: type) -> type:
    return EchoLine if server_class.socket_type == socket.SOCK_STREAM else EchoDatagram


def raw_bind_error(family: int, kind: int, address: object) -> BaseException:
    """The exception a plain socket raises when bound to ``address``."""
    with socket.socket(family, kind) as raw:
        with pytest.raises(BaseException) as caught:
            raw.bind(address)
    return caught.value


IP_SERVERS = [
    pytest.param(ss.TCPServer, "127.0.0.1", id="tcp"),
    pytest.param(ss.TCPServer, "::1", id="tcp-ipv6"),
    pytest.param(ss.UDPServer, "127.0.0.1", id="udp"),
    pytest.param(ss.UDPServer, "::1", id="udp-ipv6"),
    pytest.param(ss.ThreadingTCPServer, "127.0.0.1", id="threading-tcp"),
    pytest.param(ss.ThreadPoolTCPServer, "127.0.0.1", id="thread-pool-tcp"),
    pytest.param(ss.ForkingTCPServer, "127.0.0.1", id="forking-tcp", marks=pytest.mark.fork),
]


@pytest.mark.parametrize(("server_class", "host"), IP_SERVERS)
def test_port_in_use_raises_eaddrinuse_naming_it_and_the_first_server_keeps_serving(
    server_class, host
):
    handler = handler_for(server_class)
    with server_class((host, 0), handler) as first, serving(first, 0.05):
        expected = raw_bind_error(first.address_family, first.socket_type, first.server_address)
        assert_still_serving(first)
        with assert_no_descriptor_leak():
            with pytest.raises(OSError) as caught:
                server_class(first.server_address, handler)
        error = caught.value
        assert type(error) is type(expected)
        assert error.errno == errno.EADDRINUSE == expected.errno
        assert error.args == expected.args  # the stdlib's exception, untouched
        assert repr(first.server_address) in error_text(error)
        assert "port 0" in error_text(error)  # the hint: how to get a free port
        assert_still_serving(first)


def test_allow_reuse_address_does_not_take_over_a_port_someone_listens_on():
    class Reusing(ss.TCPServer):
        allow_reuse_address = True

    with Reusing(("127.0.0.1", 0), EchoLine) as first, serving(first, 0.05):
        assert_still_serving(first)
        with assert_no_descriptor_leak():
            with pytest.raises(OSError) as caught:
                Reusing(first.server_address, EchoLine)
        assert caught.value.errno == errno.EADDRINUSE
        assert_still_serving(first)


def test_port_held_by_a_plain_socket_is_reported_the_same_way():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with assert_no_descriptor_leak():
            with pytest.raises(OSError) as caught:
                ss.ThreadingTCPServer(holder.getsockname(), EchoLine)
        assert caught.value.errno == errno.EADDRINUSE
        assert repr(holder.getsockname()) in error_text(caught.value)


# -- invalid addresses and ports ---------------------------------------------------------------

# (address, exception type, words the message must contain). Only numeric hosts:
# a name would be looked up, and these tests stay off the network.
INVALID_IP_ADDRESSES = [
    pytest.param(("127.0.0.1", -1), OverflowError, "0-65535", id="negative-port"),
    pytest.param(("127.0.0.1", 65536), OverflowError, "0-65535", id="port-too-big"),
    pytest.param(("::1", 70000), OverflowError, "0-65535", id="ipv6-port-too-big"),
    pytest.param(("127.0.0.1", "8080"), TypeError, "integer", id="port-as-text"),
    pytest.param(("127.0.0.1", 80.5), TypeError, "integer", id="port-as-float"),
    pytest.param(("127.0.0.1", None), TypeError, "integer", id="port-missing"),
    pytest.param("127.0.0.1:8080", TypeError, "tuple", id="host-colon-port-string"),
    pytest.param(("127.0.0.1",), TypeError, "pair", id="no-port"),
    pytest.param(("127.0.0.1", 0, 0), TypeError, "pair", id="three-items"),
    pytest.param(None, TypeError, "tuple", id="none"),
    pytest.param(("127.0.0.1\0", 0), TypeError, "null character", id="nul-in-host"),
    pytest.param(("192.0.2.1", 0), OSError, "'127.0.0.1'", id="not-our-ipv4-address"),
    pytest.param(("2001:db8::1", 0), OSError, "'127.0.0.1'", id="not-our-ipv6-address"),
]


@pytest.mark.parametrize("server_class", [ss.TCPServer, ss.UDPServer], ids=["tcp", "udp"])
@pytest.mark.parametrize(("address", "error_type", "words"), INVALID_IP_ADDRESSES)
def test_invalid_address_raises_a_clear_error_and_leaks_nothing(
    server_class, address, error_type, words
):
    with assert_no_descriptor_leak():
        with pytest.raises(error_type) as caught:
            server_class(address, handler_for(server_class))
    assert words in error_text(caught.value)
    ipv6_literal = isinstance(address, tuple) and ":" in str(address[0])
    family = socket.AF_INET6 if ipv6_literal else socket.AF_INET
    assert type(caught.value) is type(raw_bind_error(family, server_class.socket_type, address))
    if isinstance(caught.value, OSError):
        assert caught.value.errno == errno.EADDRNOTAVAIL
        assert repr(address) in error_text(caught.value)


# -- Unix socket paths that are taken or impossible ---------------------------------------------

UNIX_SERVERS = [
    pytest.param(ss.UnixStreamServer, id="unix-stream"),
    pytest.param(ss.UnixDatagramServer, id="unix-datagram"),
    pytest.param(ss.ThreadingUnixStreamServer, id="threading-unix-stream"),
    pytest.param(ss.ForkingUnixDatagramServer, id="forking-unix-datagram", marks=pytest.mark.fork),
]


def put_something_at(path: str, what: str) -> None:
    if what == "regular-file":
        with open(path, "w") as file:
            file.write("precious contents")
    elif what == "directory":
        os.mkdir(path)
    else:  # a stale socket: bound, then closed without removing its file
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(path)


def describe(path: str) -> tuple:
    info = os.lstat(path)
    contents = None
    if os.path.isfile(path):
        with open(path) as file:
            contents = file.read()
    return (info.st_ino, info.st_mode, contents)


@pytest.mark.unix
@pytest.mark.parametrize("what", ["regular-file", "directory", "stale-socket"])
@pytest.mark.parametrize("server_class", UNIX_SERVERS)
def test_unix_path_already_taken_raises_eaddrinuse_and_is_left_untouched(
    server_class, what, tmp_path
):
    path = str(tmp_path / "taken")
    put_something_at(path, what)
    before = describe(path)
    with assert_no_descriptor_leak():
        with pytest.raises(OSError) as caught:
            server_class(path, handler_for(server_class))
    assert type(caught.value) is type(
        raw_bind_error(socket.AF_UNIX, server_class.socket_type, path)
    )
    assert caught.value.errno == errno.EADDRINUSE
    assert path in error_text(caught.value)
    assert describe(path) == before  # a server removes only the file it created itself


@pytest.mark.unix
@pytest.mark.parametrize("server_class", UNIX_SERVERS)
def test_unix_path_of_a_live_server_is_refused_and_that_server_keeps_serving(
    server_class, tmp_path
):
    path = str(tmp_path / "live.sock")
    handler = handler_for(server_class)
    with no_new_zombies(), server_class(path, handler) as first, serving(first, 0.05):
        assert_still_serving(first, tmp_path)
        with assert_no_descriptor_leak():
            with pytest.raises(OSError) as caught:
                server_class(path, handler)
        assert caught.value.errno == errno.EADDRINUSE
        assert os.path.exists(path)  # the failed server did not remove the live one's file
        assert_still_serving(first, tmp_path)
    # As in the stdlib, closing leaves the file (remove_socket_file_on_close is off).
    assert os.path.exists(path)


@pytest.mark.unix
@pytest.mark.parametrize(
    ("make_path", "error_type", "words"),
    [
        pytest.param(
            lambda d: str(d / "missing" / "s.sock"), FileNotFoundError, "missing", id="no-dir"
        ),
        pytest.param(lambda d: str(d / ("x" * 200)), OSError, "too long", id="path-too-long"),
        pytest.param(lambda d: 42, TypeError, "int", id="not-a-path"),
    ],
)
@pytest.mark.parametrize("server_class", UNIX_SERVERS[:2])
def test_impossible_unix_path_raises_a_clear_error_and_leaks_nothing(
    server_class, make_path, error_type, words, tmp_path
):
    path = make_path(tmp_path)
    with assert_no_descriptor_leak():
        with pytest.raises(error_type) as caught:
            server_class(path, handler_for(server_class))
    assert words in error_text(caught.value)
    assert type(caught.value) is type(
        raw_bind_error(socket.AF_UNIX, server_class.socket_type, path)
    )
    assert os.listdir(tmp_path) == []  # nothing was created


# -- non-bytes written to wfile ----------------------------------------------------------------

NOT_BYTES = [
    pytest.param("text", id="str"),
    pytest.param(42, id="int"),
    pytest.param(None, id="None"),
    pytest.param([b"a", b"b"], id="list-of-bytes"),
]


class WritesBeforeAndBadly(BoundedStreamHandler):
    """Writes a good line, then the server's ``bad_value``, then a line it never reaches."""

    def handle(self) -> None:
        self.rfile.readline()
        self.wfile.write(b"before\n")
        self.wfile.write(self.server.bad_value)
        self.wfile.write(b"after\n")


class RecordsErrorMessages:
    """Server mixin: ``handle_error`` keeps (type, message) of each error in a list."""

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        self.errors.append((type(error), str(error)))


def assert_clear_type_error(errors, bad_value, wbufsize) -> None:
    assert len(errors) == 1
    error_type, message = errors[0]
    assert error_type is TypeError
    assert type(bad_value).__name__ in message
    if isinstance(bad_value, str) and wbufsize == 0:
        assert "encode" in message  # the default wfile says how to fix it
    else:
        assert "bytes" in message


@pytest.mark.parametrize("wbufsize", [0, 8192], ids=["unbuffered-wfile", "buffered-wfile"])
@pytest.mark.parametrize("base", [ss.TCPServer, ss.ThreadingTCPServer], ids=["sync", "threading"])
@pytest.mark.parametrize("bad_value", NOT_BYTES)
def test_non_bytes_written_to_wfile_is_a_clear_type_error_and_loses_nothing(
    base, bad_value, wbufsize
):
    handler = type("WritesBeforeAndBadly", (WritesBeforeAndBadly,), {"wbufsize": wbufsize})
    server_class = type(base.__name__, (RecordsErrorMessages, base), {})
    with assert_no_descriptor_leak():
        with server_class(("127.0.0.1", 0), handler) as server, serving(server, 0.05):
            server.bad_value, server.errors = bad_value, []
            for _ in range(2):  # and the server goes on serving
                with connect(server.server_address) as client:
                    client.sendall(b"go\n")
                    # What was written before the bad write arrives; nothing after it.
                    assert read_to_end(client) == b"before\n"
    assert_clear_type_error(server.errors[:1], bad_value, wbufsize)
    assert len(server.errors) == 2


class DatagramWritesBeforeAndBadly(ss.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"before\n")
        self.wfile.write(self.server.bad_value)


@pytest.mark.parametrize("bad_value", NOT_BYTES)
def test_non_bytes_written_to_a_datagram_wfile_is_a_clear_type_error(bad_value):
    server_class = type("UDPServer", (RecordsErrorMessages, ss.UDPServer), {})
    with assert_no_descriptor_leak():
        with server_class(("127.0.0.1", 0), DatagramWritesBeforeAndBadly) as server:
            server.bad_value, server.errors = bad_value, []
            with serving(server, 0.05), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(10)
                client.sendto(b"go", server.server_address)
                # finish() still sends what was written before the bad write.
                assert client.recv(100) == b"before\n"
    assert_clear_type_error(server.errors, bad_value, wbufsize=8192)


# -- a client that cannot be replied to ------------------------------------------------------


@pytest.mark.unix
def test_unix_datagram_client_without_an_address_is_reported_and_the_server_goes_on(tmp_path):
    """A client that never bound its socket cannot be replied to (the docstring says
    so); the failed reply is reported once and the next, bound, client is served."""
    server_class = type("UnixDatagramServer", (RecordsErrorMessages, ss.UnixDatagramServer), {})
    with assert_no_descriptor_leak():
        with server_class(str(tmp_path / "server.sock"), EchoDatagram) as server:
            server.errors = []
            with serving(server, 0.05):
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unbound:
                    unbound.sendto(b"reply to nowhere", server.server_address)
                assert_still_serving(server, tmp_path)
    assert len(server.errors) == 1
    assert issubclass(server.errors[0][0], Exception)
