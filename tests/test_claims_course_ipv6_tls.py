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
import ssl
import subprocess
import sys
import textwrap
import threading
import warnings

import claims_support
import pytest
from claims_support import MODULES
from server_support import error_text, open_descriptor_count, receive_all, serving

import socketserver_lit

NOTEBOOK_13 = "13-ipv6"
NOTEBOOK_14 = "14-tls"

# Seconds any socket call may take before the test fails instead of hanging.
WAIT = 5.0


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


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


# -- Notebook 14: certificates and the client's checks ---------------------------------------


def make_certificate(directory, name: str, subject_alt_name: str | None) -> tuple[str, str]:
    """A self-signed P-256 certificate for CN=localhost, as the notebook makes it."""
    cert_path, key_path = str(directory / f"{name}-cert.pem"), str(directory / f"{name}-key.pem")
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-nodes", "-days", "1", "-subj", "/CN=localhost"]
    if subject_alt_name is not None:
        command += ["-addext", f"subjectAltName={subject_alt_name}"]
    command += ["-keyout", key_path, "-out", cert_path]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """name -> (cert, key): the course's certificate, an impostor's, and CN-only variants."""
    directory = tmp_path_factory.mktemp("certificates")
    subject_alt_names = {
        "course": "DNS:localhost,IP:127.0.0.1",
        "impostor": "DNS:localhost,IP:127.0.0.1",
        "common-name-only": None,
        "ip-alternative-name-only": "IP:127.0.0.1",
        "other-dns-alternative-name": "DNS:other.example",
    }
    return {name: make_certificate(directory, name, san) for name, san in subject_alt_names.items()}


def server_context_for(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def handshake_outcome(
    certificate: tuple[str, str], client_context: ssl.SSLContext, server_hostname: str
) -> str:
    """Handshake with a one-shot server presenting ``certificate``: "accepted" or the refusal."""
    server_context = server_context_for(certificate)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(WAIT)

        def serve_one():
            connection, _ = listener.accept()
            connection.settimeout(WAIT)
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except OSError:  # the client refused the certificate, or closed: both are fine
                connection.close()

        serving_thread = threading.Thread(target=serve_one)
        serving_thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=WAIT) as raw:
                with client_context.wrap_socket(raw, server_hostname=server_hostname):
                    outcome = "accepted"
        except ssl.SSLCertVerificationError as error:
            outcome = f"refused: {error.verify_message}"
        finally:
            serving_thread.join(WAIT)
    assert not serving_thread.is_alive()
    return outcome


def test_the_default_client_context_reads_the_common_name_only_without_a_dns_alternative_name(
    certificates,
):
    """14-tls: "Python's ssl reads it [the common name] for a host name only when the
    certificate lists no DNS name among its subject alternative names
    (SSLContext.hostname_checks_common_name, true by default on Python 3.10 to 3.13), and a
    name is never matched against it once one is listed"."""

    def outcome(name: str, checks_common_name: bool | None = None) -> str:
        context = ssl.create_default_context(cafile=certificates[name][0])
        assert context.hostname_checks_common_name is True  # the default
        if checks_common_name is not None:
            context.hostname_checks_common_name = checks_common_name
        return handshake_outcome(certificates[name], context, "localhost")

    assert outcome("common-name-only") == "accepted"
    assert outcome("ip-alternative-name-only") == "accepted"  # no DNS name listed: CN is read
    assert outcome("other-dns-alternative-name").startswith("refused: Hostname mismatch")
    assert outcome("course") == "accepted"  # localhost is a DNS alternative name
    assert outcome("common-name-only", checks_common_name=False).startswith("refused")


def test_create_default_context_with_cafile_trusts_only_that_certificate(certificates):
    """14-tls: "cafile= says which certificates to trust: here, only ours (and none of the
    system's)"; the notebook prints the count, this checks which one and that the impostor
    is refused."""
    context = ssl.create_default_context(cafile=certificates["course"][0])
    trusted = context.get_ca_certs()
    assert len(trusted) == 1 and trusted[0]["subject"] == ((("commonName", "localhost"),),)
    assert handshake_outcome(certificates["course"], context, "localhost") == "accepted"
    refused = handshake_outcome(certificates["impostor"], context, "localhost")
    assert refused.startswith("refused")


def test_a_client_with_verification_off_talks_to_an_impostor(certificates):
    """14-tls: with check_hostname = False and verify_mode = CERT_NONE "the client then
    completes its handshake with any server that answers, an impostor's included"."""
    context = ssl.create_default_context(cafile=certificates["course"][0])
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert handshake_outcome(certificates["impostor"], context, "example.org") == "accepted"


# -- Notebook 14: where the handshake happens ------------------------------------------------


def test_a_failed_handshake_in_accept_is_dropped_without_a_handler_or_handle_error(
    module, certificates
):
    """14-tls: when the silent client disconnects, "the handshake fail[s], and the loop went
    on. The server drops such a failure without creating a handler or calling
    handle_error()"."""
    events = []

    class RecordingHandler(module.BaseRequestHandler):
        def handle(self):
            events.append("handler")

    class RecordingServer(module.ThreadingTCPServer):
        def handle_error(self, request, client_address):
            events.append("handle_error")

    server = RecordingServer(("127.0.0.1", 0), RecordingHandler, bind_and_activate=False)
    server.socket = server_context_for(certificates["course"]).wrap_socket(
        server.socket, server_side=True
    )
    client_context = ssl.create_default_context(cafile=certificates["course"][0])
    server.server_bind()
    server.server_activate()
    with serving(server, poll_interval=0.05):
        socket.create_connection(server.server_address, timeout=WAIT).close()  # no handshake
        with socket.create_connection(server.server_address, timeout=WAIT) as raw:
            raw.sendall(b"not TLS at all\r\n\r\n")  # a failed handshake of another kind
            try:
                while raw.recv(100):  # perhaps an alert; then the end, or a reset
                    pass
            except ConnectionResetError:
                pass
        with socket.create_connection(server.server_address, timeout=WAIT) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.recv(1) == b""  # the loop went on: served, then closed
    assert events == ["handler"]


def test_wrapping_with_do_handshake_on_connect_false_does_no_io(certificates):
    """14-tls: "do_handshake_on_connect=False so that wrapping sends and receives nothing";
    with True, the server-side wrap waits for the client's first message."""
    context = server_context_for(certificates["course"])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(2)
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            connection, _ = listener.accept()
            connection.settimeout(0.3)
            with context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False):
                client.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    client.recv(1)  # nothing was sent to the client
        with socket.create_connection(listener.getsockname(), timeout=WAIT):
            connection, _ = listener.accept()
            connection.settimeout(0.3)
            with pytest.raises(TimeoutError):
                context.wrap_socket(connection, server_side=True)  # waits for a ClientHello
            connection.close()


def test_wrap_socket_detaches_the_original_and_the_servers_shutdown_request_leaves_tls_open(
    module, certificates
):
    """14-tls: "wrap_socket() takes over the connection's file descriptor. The original socket
    object, which the server still holds, is left detached, and the server's own
    shutdown_request() of it then touches nothing"."""
    context = server_context_for(certificates["course"])
    client_context = ssl.create_default_context(cafile=certificates["course"][0])
    replies = []

    def client(address):
        with socket.create_connection(address, timeout=WAIT) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"still open\n")
                replies.append(receive_all(tls))

    with module.TCPServer(("127.0.0.1", 0), None) as server:
        client_thread = threading.Thread(target=client, args=(server.server_address,))
        client_thread.start()
        try:
            request, _ = server.get_request()
            tls = context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            with tls:
                assert request.fileno() == -1 and tls.fileno() >= 0
                server.shutdown_request(request)  # what the server does after the handler
                assert tls.fileno() >= 0
                tls.settimeout(WAIT)
                tls.do_handshake()
                tls.sendall(tls.recv(100).upper())
        finally:
            client_thread.join(WAIT)
    assert replies == [b"STILL OPEN\n"]


def test_finish_does_not_run_when_setup_raises(module):
    """14-tls: "finish() does not run when setup() raised" (handle() neither; the error goes
    to handle_error())."""
    calls = []

    class FailingSetupHandler(module.BaseRequestHandler):
        def setup(self):
            calls.append("setup")
            raise ValueError("the handshake failed")

        def handle(self):
            calls.append("handle")

        def finish(self):
            calls.append("finish")

    class RecordingServer(module.TCPServer):
        def handle_error(self, request, client_address):
            calls.append("handle_error")

    with RecordingServer(("127.0.0.1", 0), FailingSetupHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT):
            server.handle_request()
    assert calls == ["setup", "handle_error"]


def test_a_client_that_refuses_the_certificate_never_sends_its_request(module, certificates):
    """14-tls: "Both checks happen inside the handshake, in wrap_socket(), so the request is
    never sent": the server's handle() never runs, its handshake fails with the client's
    alert."""
    context = server_context_for(certificates["course"])
    handled, errors = [], []

    class TLSLineHandler(module.StreamRequestHandler):
        def setup(self):
            self.request = context.wrap_socket(self.request, server_side=True)
            super().setup()

        def handle(self):
            handled.append(self.rfile.readline(1000))

        def finish(self):
            try:
                super().finish()
            finally:
                self.request.close()

    class RecordingServer(module.ThreadingTCPServer):
        def handle_error(self, request, client_address):
            errors.append(sys.exc_info()[0])

    refusing_clients = [
        (ssl.create_default_context(), "localhost"),  # trusts only the system's authorities
        (ssl.create_default_context(cafile=certificates["course"][0]), "example.org"),
    ]
    server = RecordingServer(("127.0.0.1", 0), TLSLineHandler)
    with serving(server, poll_interval=0.05):
        for client_context, name in refusing_clients:
            with socket.create_connection(server.server_address, timeout=WAIT) as raw:
                with pytest.raises(ssl.SSLCertVerificationError):
                    client_context.wrap_socket(raw, server_hostname=name)
    assert handled == []
    assert errors == [ssl.SSLError, ssl.SSLError]


def test_server_close_of_a_threading_server_waits_for_its_request_threads(module):
    """14-tls: "server_close(), at the end of the with block, waited for the request threads
    (block_on_close is true for threading servers, in the stdlib as in ours)"."""
    assert module.ThreadingTCPServer.block_on_close is True
    finished = []

    class SlowHandler(module.BaseRequestHandler):
        def handle(self):
            threading.Event().wait(0.3)
            finished.append(threading.current_thread().name)

    with module.ThreadingTCPServer(("127.0.0.1", 0), SlowHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT):
            server.handle_request()  # starts the request thread and returns at once
            assert finished == []
    # the with block's server_close() has returned
    assert len(finished) == 1


def test_stream_request_handler_reads_have_no_timeout_by_default(module):
    """14-tls, exercise 2: "StreamRequestHandler.timeout is None, so readline() would wait for
    as long as the client stays" (the waiting itself: test_claims_course_basics,
    test_a_silent_client_holds_a_handler_without_a_timeout)."""
    assert module.StreamRequestHandler.timeout is None
