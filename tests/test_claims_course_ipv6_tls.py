"""What the course notebooks on IPv6 and TLS say about sockets, ssl and socketserver, run.

``notebooks/course/13-ipv6.ipynb`` and ``notebooks/course/14-tls.ipynb`` show most of
what they claim in their own outputs. Each test here backs one sentence that a notebook
states but does not show (or shows for one case only). Every test names its notebook and
quotes its sentence in the docstring. Where a sentence is about ``socketserver``, the test
runs it on the standard library's module and on ours; where it is ours only, on ours.

Platform: Linux (``IPV6_V6ONLY`` and ``/proc/sys/net/ipv6/bindv6only``), Python 3.10 to
3.13, with the ``openssl`` command-line tool for the TLS certificates. Every socket is
closed, every server shut down and closed, every wait bounded. A few tests bind the IPv6
*any* address ``::`` for a moment, as the notebook does, to show dual stack; they only
ever connect to ``127.0.0.1`` and ``::1``.
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import socket
import socketserver
import subprocess
import sys
import textwrap
import warnings

import pytest
from server_support import error_text, open_descriptor_count, serving

import socketserver_lit

MODULES = {"stdlib": socketserver, "lit": socketserver_lit}
NOTEBOOK_13 = "13-ipv6"
NOTEBOOK_14 = "14-tls"

# Seconds any socket call may take before the test fails instead of hanging.
WAIT = 5.0


@pytest.fixture(params=list(MODULES), ids=list(MODULES))
def module(request):
    """The stdlib's socketserver, then ours."""
    return MODULES[request.param]


def ipv6_subclass(module):
    """The documented recipe: a TCPServer subclass with ``address_family = AF_INET6``."""

    class IPv6TCPServer(module.TCPServer):
        address_family = socket.AF_INET6

    return IPv6TCPServer


def echo_line_handler(module):
    class EchoLineHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(1000))

    return EchoLineHandler


def who_am_i_handler(module):
    """The notebook's WhoAmIHandler: replies with the client's host."""

    class WhoAmIHandler(module.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            self.wfile.write(f"{self.client_address[0]}\n".encode())

    return WhoAmIHandler


def receive_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def ask(host: str, port: int, line: bytes = b"hello\n") -> bytes:
    """Connect to (host, port), send ``line``, return everything until the server closes."""
    with socket.create_connection((host, port), timeout=WAIT) as client:
        client.sendall(line)
        return receive_all(client)


def connect_outcome(host: str, port: int) -> str:
    """Return "connected" or "refused": what a client's connect() to (host, port) gives."""
    try:
        socket.create_connection((host, port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return "refused"
    return "connected"


# -- Notebook 13: the stdlib and ::1 ---------------------------------------------------------


def test_stdlib_closes_its_socket_when_an_ipv4_server_is_given_an_ipv6_literal():
    """13-ipv6: "The stdlib closes the socket it created before the error reaches us, so
    nothing leaks"."""
    before = open_descriptor_count()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for server_class in (socketserver.TCPServer, socketserver.UDPServer):
            with pytest.raises(socket.gaierror):
                server_class(("::1", 0), socketserver.BaseRequestHandler)
        gc.collect()  # an unclosed socket would warn here, and the warning is an error
    assert open_descriptor_count() == before


def test_gaierror_for_an_ipv6_literal_is_the_address_lookup_error():
    """13-ipv6: "gaierror is the exception of address lookup (getaddrinfo()): the IPv4 socket
    asked for an IPv4 address of "::1", and there is none"."""
    with pytest.raises(socket.gaierror) as lookup:
        socket.getaddrinfo("::1", 0, socket.AF_INET)
    with pytest.raises(socket.gaierror) as server:
        socketserver.TCPServer(("::1", 0), socketserver.BaseRequestHandler)
    assert server.value.errno == lookup.value.errno == socket.EAI_ADDRFAMILY


def test_the_stdlib_always_creates_the_family_of_its_class_attribute():
    """13-ipv6: "A server creates its socket from the class attribute address_family, which
    is AF_INET for TCPServer and UDPServer, and only then binds it"; literal detection is
    ours: the stdlib keeps AF_INET for "::1"."""
    for server_class in (socketserver.TCPServer, socketserver.UDPServer):
        assert server_class.address_family == socket.AF_INET
        server = server_class(("::1", 0), None, bind_and_activate=False)
        try:
            assert server.socket.family == server.address_family == socket.AF_INET
        finally:
            server.server_close()


# -- Notebook 13: the documented subclass ----------------------------------------------------


def test_the_documented_ipv6_subclass_serves_ipv6_on_the_stdlib_and_ours(module):
    """13-ipv6: "Setting the class attribute makes every instance create an IPv6 socket. It
    works the same with the standard library and with our package"."""
    server = ipv6_subclass(module)(("::1", 0), echo_line_handler(module))
    with serving(server):
        assert server.socket.family == socket.AF_INET6
        assert len(server.server_address) == 4
        assert ask("::1", server.server_address[1], b"over IPv6\n") == b"over IPv6\n"


def test_an_ipv6_subclass_looks_a_host_name_up_for_ipv6_addresses_only(module):
    """13-ipv6, the table: with the subclass, a host name such as "localhost" is "looked up
    for IPv6 addresses only; a name with none fails to bind" (whether localhost has an IPv6
    address depends on the machine's /etc/hosts: both cases are checked against it)."""
    try:
        found = socket.getaddrinfo("localhost", 0, socket.AF_INET6, socket.SOCK_STREAM)
    except socket.gaierror:
        found = []
    server_class = ipv6_subclass(module)
    if not found:
        with pytest.raises(socket.gaierror):
            server_class(("localhost", 0), None)
        return
    with server_class(("localhost", 0), None) as server:
        assert server.server_address[0] == found[0][4][0]
        assert ipaddress.ip_address(server.server_address[0]).version == 6


def test_python_prints_exception_notes_under_the_traceback_from_3_11():
    """13-ipv6: "Python 3.11 and later print such notes under the traceback" (3.10 keeps
    __notes__ but does not print it); our bind error is the stdlib's exception plus a note.

    Run in a fresh interpreter: on 3.10, pytest's exceptiongroup backport teaches
    ``traceback`` to print notes, which a plain 3.10 program does not do.
    """
    program = textwrap.dedent(
        """
        import socket, socketserver_lit
        class IPv6TCPServer(socketserver_lit.TCPServer):
            address_family = socket.AF_INET6
        try:
            IPv6TCPServer(("127.0.0.1", 0), None)
        except socket.gaierror as error:
            print(len(error.__notes__), error.__notes__[0])
            raise
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    count, note = result.stdout.rstrip("\n").split(" ", 1)
    assert count == "1" and "('127.0.0.1', 0)" in note
    assert result.returncode == 1 and "socket.gaierror" in result.stderr
    assert (note in result.stderr) == (sys.version_info >= (3, 11))


def test_the_stdlib_bind_error_for_a_wrong_family_has_no_note_and_ours_the_same_type():
    """13-ipv6: "Both libraries raise the same gaierror; ours adds a note (ours: not in the
    stdlib) that names the address and says what to do"."""
    errors = {}
    for name, module in MODULES.items():
        with pytest.raises(OSError) as caught:
            ipv6_subclass(module)(("127.0.0.1", 0), None)
        errors[name] = caught.value
    assert type(errors["stdlib"]) is type(errors["lit"]) is socket.gaierror
    assert errors["stdlib"].args == errors["lit"].args
    assert not hasattr(errors["stdlib"], "__notes__")
    note = error_text(errors["lit"]).splitlines()[-1]
    assert "('127.0.0.1', 0)" in note and "use an address of that family" in note


# -- Notebook 13: literal detection (ours) ---------------------------------------------------


def test_an_empty_host_binds_every_ipv4_interface(module):
    """13-ipv6: '"" means "every IPv4 interface", 0.0.0.0, as in the stdlib' (bound but
    never listening, so nothing can connect to it)."""
    server = module.TCPServer(("", 0), None, bind_and_activate=False)
    try:
        assert server.address_family == socket.AF_INET
        server.server_bind()
        assert server.server_address[0] == "0.0.0.0"
    finally:
        server.server_close()


def test_literal_detection_never_changes_an_explicit_family():
    """13-ipv6: "detection only ever changes a server whose family is AF_INET, so an explicit
    subclass always wins"."""
    server_class = ipv6_subclass(socketserver_lit)
    for host in ("::1", "127.0.0.1", "localhost"):
        server = server_class((host, 0), None, bind_and_activate=False)
        try:
            assert server.address_family == socket.AF_INET6, host
        finally:
            server.server_close()
    assert socketserver_lit.TCPServer.address_family == socket.AF_INET


# -- Notebook 13: dual stack (Linux) --------------------------------------------------------


def test_ipv6_v6only_cannot_be_changed_once_the_socket_is_bound_on_linux():
    """13-ipv6: "The option must be set after the socket is created and before it is bound
    (on Linux, setting it on a bound socket fails with EINVAL)"."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # before bind(): fine
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::1", 0))
        with pytest.raises(OSError) as caught:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    assert caught.value.errno == errno.EINVAL


def test_ipv6_v6only_defaults_to_the_systems_bindv6only_on_linux():
    """13-ipv6: "Its default is the system's: on Linux, the setting net.ipv6.bindv6only"."""
    with open("/proc/sys/net/ipv6/bindv6only") as setting:
        system_default = int(setting.read())
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == system_default


def dual_stack_server_class(module):
    """The notebook's DualStackServer: IPV6_V6ONLY off, loopback clients only."""

    class DualStackServer(module.ThreadingTCPServer):
        address_family = socket.AF_INET6

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

        def verify_request(self, request, client_address):
            address = ipaddress.ip_address(client_address[0])
            return (getattr(address, "ipv4_mapped", None) or address).is_loopback

    return DualStackServer


def test_a_dual_stack_server_on_the_any_address_serves_ipv4_clients_as_mapped_addresses(
    module,
):
    """13-ipv6: "An IPv6 socket with the option IPV6_V6ONLY switched off also accepts IPv4
    connections. They arrive as IPv4-mapped IPv6 addresses" (the notebook shows ours)."""
    server = dual_stack_server_class(module)(("::", 0), who_am_i_handler(module))
    with serving(server):
        port = server.server_address[1]
        assert ask("127.0.0.1", port) == b"::ffff:127.0.0.1\n"
        assert ask("::1", port) == b"::1\n"


def test_an_ipv4_client_cannot_reach_a_server_bound_to_ipv6_loopback_even_with_dual_stack(
    module,
):
    """13-ipv6: "Dual stack makes sense on the any address ::" (and exercise 1): a server
    bound to ::1 refuses an IPv4 client, with IPV6_V6ONLY off or as the system has it."""
    for server_class in (ipv6_subclass(module), dual_stack_server_class(module)):
        with server_class(("::1", 0), None) as server:
            assert connect_outcome("127.0.0.1", server.server_address[1]) == "refused"
            assert connect_outcome("::1", server.server_address[1]) == "connected"


def test_is_loopback_of_an_ipv4_mapped_address_looks_inside_only_from_3_13():
    """13-ipv6: "Python 3.13's is_loopback looks inside the mapped form by itself, but on
    3.10 to 3.12 ipaddress.ip_address("::ffff:127.0.0.1") is not loopback"."""
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    assert mapped.ipv4_mapped == ipaddress.ip_address("127.0.0.1")
    assert mapped.ipv4_mapped.is_loopback
    assert mapped.is_loopback == (sys.version_info >= (3, 13))


def test_create_server_with_dualstack_ipv6_accepts_both_families():
    """13-ipv6: "socket.create_server(address, family=socket.AF_INET6, dualstack_ipv6=True)
    returns a listening socket that takes both families"."""
    assert socket.has_dualstack_ipv6()
    with socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True) as server:
        server.settimeout(WAIT)
        port = server.getsockname()[1]
        seen = []
        for host in ("127.0.0.1", "::1"):
            with socket.create_connection((host, port), timeout=WAIT):
                connection, client_address = server.accept()
                connection.close()
                seen.append(client_address[0])
    assert seen == ["::ffff:127.0.0.1", "::1"]
