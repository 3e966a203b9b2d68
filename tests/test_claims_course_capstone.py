"""What the capstone notebook says about http.server on socketserver and on ours, run.

``notebooks/course/17-capstone-http-server.ipynb`` runs the standard library's
``http.server`` on ``socketserver_lit`` and shows most of what it claims in its own
outputs, on Python 3.11 and 3.13. Each test here backs one sentence of it on every Python
we support (3.10 to 3.13): the sentences it states without showing, and the comparisons it
shows, run again on the standard library's ``socketserver`` and on ours wherever they
compare. Every test names its sentence in its docstring.

The two programs the notebook writes (``http_drop_in.py`` and ``run_http_server.py``) are
read from the notebook itself, so the tests run exactly the code the notebook runs.

Platform: Linux (``/proc/net/tcp``, ``SO_LINGER`` resets, ``IPV6_V6ONLY`` errors, dual-stack
sockets). Every server is shut down and closed, every client closed, every process killed
if it still runs at the end of its test, every wait bounded.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import http.server
import inspect
import io
import json
import os
import re
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import claims_support
import pytest
from claims_support import MODULES
from server_support import serving as serving_with

import socketserver_lit

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "course" / "17-capstone-http-server.ipynb"
HELLO = b"Hello from a folder served by http.server.\n"

# Seconds any single wait (a line printed, a socket call, a process exit) may take before
# the test fails instead of hanging.
WAIT = 10.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


@pytest.fixture(autouse=True)
def children_get_the_default_sigint() -> Iterator[None]:
    """Let the server programs started here turn SIGINT into KeyboardInterrupt.

    A shell that starts a command in the background (``pytest ... &``) sets SIGINT to
    "ignore" for it, children inherit an ignored signal across ``exec()``, and a Python that
    starts with SIGINT ignored leaves it ignored: ``stop()``'s SIGINT would then do nothing.
    A handler of our own is reset to the default in every child, so install one for the test.
    """
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- What the notebook builds -----------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The notebook's QuietHandler: log messages kept in a list, not printed on stderr."""

    log: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        self.log.append(format % args)


class LitHTTPServer(socketserver_lit.ThreadingMixIn, socketserver_lit.TCPServer):
    """The notebook's http.server.ThreadingHTTPServer, rebuilt on socketserver_lit."""

    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self) -> None:
        super().server_bind()
        host, port = self.server_address[:2]
        self.server_name = socket.getfqdn(host)
        self.server_port = port


def http_server_class(module: Any) -> Any:
    """http.server's ThreadingHTTPServer for the stdlib, the notebook's LitHTTPServer for us."""
    return http.server.ThreadingHTTPServer if module is socketserver else LitHTTPServer


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The notebook's folder: a text file, a folder with a note, a large file."""
    folder = tmp_path / "site"
    (folder / "docs").mkdir(parents=True)
    (folder / "hello.txt").write_bytes(HELLO)
    (folder / "docs" / "notes.txt").write_text("Notes.\n")
    (folder / "big.bin").write_bytes(bytes(8 * 1024 * 1024))
    return folder


def serving(server: Any) -> contextlib.AbstractContextManager[Any]:
    """The notebook's serving(): the loop in a thread for the block (it polls every 0.05 s),
    then stop and close (server_support.serving)."""
    return serving_with(server, poll_interval=0.05)


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("(process_request_thread)")]


@pytest.fixture(autouse=True)
def request_threads_end() -> Iterator[None]:
    """Daemon request threads end once their client has gone: wait for them after a test."""
    yield
    for thread in request_threads():
        thread.join(WAIT)
    assert not request_threads(), "a request thread was still running after the test"


def fetch_raw(address: Any, data: bytes) -> bytes:
    """The notebook's fetch_raw(): send `data`, return what the server sends until it closes."""
    with socket.create_connection(address[:2], timeout=WAIT) as client:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.sendall(data)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := client.recv(65536):
                reply += chunk
        return reply


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def url(server: Any, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy


def cut_off_download(address: Any) -> None:
    """The notebook's cut_off_download(): ask for /big.bin, read a little, reset."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(WAIT)
    client.connect(address)
    client.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
    client.recv(100)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


# -- The notebook itself ----------------------------------------------------------------------


def notebook_cells() -> list[dict[str, Any]]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        cell["source"] = "".join(cell["source"])
    return cells


def stdout_of(cell: dict[str, Any]) -> str:
    return "".join(
        "".join(output["text"])
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )


def program(name: str) -> str:
    """The source of a program the notebook writes with %%writefile, and then adds to with
    %%writefile -a (a long program is written in parts, each after the text that explains it).
    Each part is written as a cell magic's body is: with a newline at its end."""
    parts = []
    for cell in notebook_cells():
        first_line, _, rest = cell["source"].partition("\n")
        if cell["cell_type"] != "code":
            continue
        if first_line == f"%%writefile {name}":
            parts = [rest]
        elif first_line == f"%%writefile -a {name}" and parts:
            parts.append(rest)
    if not parts:
        raise LookupError(f"the notebook writes no {name}")
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def write_programs(folder: Path) -> None:
    for name in ("http_drop_in.py", "run_http_server.py"):
        (folder / name).write_text(program(name), encoding="utf-8")


# -- Running `python -m http.server` (through run_http_server.py) ----------------------------


class Command:
    """A server program in a child process: its first line, its port, and how it ended."""

    def __init__(self, arguments: list[str], cwd: Path, unbuffered: bool = True):
        environment = {**os.environ, "PYTHON_COLORS": "0"}
        environment.pop("PYTHONUNBUFFERED", None)  # -u, or not, decides alone
        self.process = subprocess.Popen(
            [sys.executable, *(["-u"] if unbuffered else []), *arguments],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )

    def wait_for_first_line(self) -> tuple[str, str, int]:
        printed, deadline = b"", time.monotonic() + WAIT
        while b"\n" not in printed and time.monotonic() < deadline:
            if select.select([self.process.stdout], [], [], 0.1)[0]:
                printed += os.read(self.process.stdout.fileno(), 1000) or b"\n"
        match = re.match(rb"Serving HTTP on (\S+) port (\d+)", printed)
        assert match, f"the server did not start: {printed!r}"
        return printed.decode().strip(), match[1].decode(), int(match[2])

    def stop(self) -> tuple[int, str, str]:
        """SIGINT; then the exit status and the rest of stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            out, err = self.process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=WAIT)
        return self.process.returncode, out.decode(), err.decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=WAIT)


@contextlib.contextmanager
def command(arguments: list[str], cwd: Path, unbuffered: bool = True) -> Iterator[Command]:
    running = Command(arguments, cwd, unbuffered)
    try:
        yield running
    finally:
        running.kill()


def ask(client_host: str, port: int, path: str = "/hello.txt") -> int | str:
    """The notebook's ask(): GET `path` from `client_host`; the status or what went wrong."""
    host = f"[{client_host}]" if ":" in client_host else client_host
    try:
        with OPENER.open(f"http://{host}:{port}{path}", timeout=WAIT) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except urllib.error.URLError as error:
        return type(error.reason).__name__


def command_story(module_name: str, bind: str, folder: Path) -> list[str]:
    """The notebook's run_command(): serve, ask from both loopbacks, SIGINT with an idle client."""
    arguments = ["run_http_server.py", module_name, "--bind", bind, "--directory", "site", "0"]
    with command(arguments, folder) as running:
        first_line, host, port = running.wait_for_first_line()
        story = [first_line.replace(str(port), "N")]
        story += [f"client on {client}: {ask(client, port)}" for client in ("127.0.0.1", "::1")]
        with socket.create_connection((host, port), timeout=WAIT):  # says nothing
            sent = time.monotonic()
            status, out, err = running.stop()
            story.append(f"exit status {status}, within 2 s: {time.monotonic() - sent < 2}")
    story.append(" ".join(out.split()))
    story += [line.split("] ", 1)[1] for line in err.splitlines()]
    return story


# -- Introduction and section 1 ---------------------------------------------------------------


def test_the_http_server_source_this_notebook_shows_is_this_pythons():
    """Introduction: "The parts of `http.server` read here have the same source on Python 3.10
    to 3.13". Every piece of source the notebook printed (on 3.11 and 3.13) is, verbatim, in
    the http.server of the Python running this test."""
    source = inspect.getsource(http.server)
    shown = [
        stdout_of(cell)
        for cell in notebook_cells()
        if cell["cell_type"] == "code" and "inspect.getsource(" in cell["source"]
    ]
    pieces = [piece for text in shown for piece in text.split("\n\n") if piece.strip()]
    assert len(pieces) >= 6, f"expected the notebook's printed source, found {pieces!r}"
    for piece in pieces:
        assert piece.strip("\n") in source, f"not in this Python's http.server:\n{piece}"


def test_only_the_cgi_handler_reads_server_name_and_server_port(site):
    """Section 1: "Only the CGI handler reads those two [server_name, server_port], to put them
    into its scripts' environment." Of http.server's classes, only HTTPServer (which sets them)
    and CGIHTTPRequestHandler mention them; the file handler serves from a server that has
    neither, on both modules."""
    mentioning = {
        name
        for name, cls in vars(http.server).items()
        if inspect.isclass(cls)
        and cls.__module__ == "http.server"
        and re.search(r"\.server_(name|port)\b", inspect.getsource(cls))
    }
    assert mentioning == {"HTTPServer", "CGIHTTPRequestHandler"}
    cgi_source = inspect.getsource(http.server.CGIHTTPRequestHandler)
    assert "env['SERVER_NAME'] = self.server.server_name" in cgi_source
    assert "env['SERVER_PORT'] = str(self.server.server_port)" in cgi_source
    handler = functools.partial(QuietHandler, directory=site)
    for module in MODULES.values():
        with serving(module.ThreadingTCPServer(("127.0.0.1", 0), handler)) as server:
            assert not hasattr(server, "server_name")
            with OPENER.open(url(server, "/hello.txt"), timeout=WAIT) as response:
                assert response.read() == HELLO


# -- Section 2 ------------------------------------------------------------------------------


def test_simple_http_request_handler_logs_each_request_on_stderr(module, site):
    """Section 2: "`SimpleHTTPRequestHandler` ... logs every request on standard error"."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=site)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
            for path in ("/hello.txt", "/missing.txt"):
                with contextlib.suppress(urllib.error.HTTPError):
                    OPENER.open(url(server, path), timeout=WAIT).close()
    lines = captured.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        '"GET /hello.txt HTTP/1.1" 200 -',
        "code 404, message File not found",
        '"GET /missing.txt HTTP/1.1" 404 -',
    ]
    assert all(line.startswith("127.0.0.1 - - [") for line in lines)


def test_the_stdlib_http_server_cannot_bind_an_ipv6_literal_by_itself(site):
    """Section 2: "The stdlib's `HTTPServer` given `("::1", 0)` fails with `gaierror`", while
    the notebook's LitHTTPServer (our IPv6 literal detection) serves ::1."""
    handler = functools.partial(QuietHandler, directory=site)
    for server_class in (http.server.HTTPServer, http.server.ThreadingHTTPServer):
        with pytest.raises(socket.gaierror):
            server_class(("::1", 0), handler)
    with serving(LitHTTPServer(("::1", 0), handler)) as server:
        assert server.socket.family == socket.AF_INET6
        connection = http.client.HTTPConnection("::1", server.server_port, timeout=WAIT)
        try:
            connection.request("GET", "/hello.txt")
            assert connection.getresponse().read() == HELLO
        finally:
            connection.close()


def test_replies_go_out_as_http_1_0_and_http_client_opens_a_connection_per_request(module, site):
    """Section 2: "every reply went out as `HTTP/1.0`, which means "this connection ends after
    the reply": `http.client` opened a new connection for each request"."""
    opened = []

    class Counting(QuietHandler):
        def setup(self) -> None:
            opened.append(self.client_address)
            super().setup()

    handler = functools.partial(Counting, directory=site)
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        connection = http.client.HTTPConnection(*server.server_address, timeout=WAIT)
        try:
            for _ in range(4):
                connection.request("GET", "/hello.txt")
                response = connection.getresponse()
                assert (response.version, response.read()) == (10, HELLO)
        finally:
            connection.close()
    assert len(opened) == 4


# -- Section 3 ------------------------------------------------------------------------------


def test_the_drop_in_program_gets_the_same_replies_on_both_modules(site):
    """Section 3: "The same `http.server`, not a line of it changed, built its classes on our
    `TCPServer`, `ThreadingMixIn` and `StreamRequestHandler` in one process and on the standard
    library's in the other, and every client got the same reply from both" (including the
    download cut off, section 8: "its report was the same")."""
    write_programs(site.parent)
    runs = {
        name: subprocess.run(
            [sys.executable, "http_drop_in.py", name],
            cwd=site.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for name in ("socketserver_lit", "socketserver")
    }
    for name, run in runs.items():
        assert (run.returncode, run.stderr) == (0, ""), f"{name}: {run.stderr}"
    ours, stdlib = (runs[name].stdout.splitlines() for name in ("socketserver_lit", "socketserver"))
    assert ours[:3] == [
        "HTTPServer(socketserver_lit.servers.TCPServer)",
        "ThreadingHTTPServer(socketserver_lit.mixins.ThreadingMixIn, http.server.HTTPServer)",
        "BaseHTTPRequestHandler(socketserver_lit.handlers.StreamRequestHandler)",
    ]
    assert stdlib[:3] == [
        "HTTPServer(socketserver.TCPServer)",
        "ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer)",
        "BaseHTTPRequestHandler(socketserver.StreamRequestHandler)",
    ]
    assert ours[3:] == stdlib[3:]
    replies = "\n".join(ours[3:])
    for expected in (
        "GET /hello.txt -> 200",
        "links: big.bin, docs/, hello.txt",
        "Location: /docs/",
        "GET /missing.txt -> 404",
        "POST /hello.txt -> 501",
        "65,537 bytes -> 414",
        "HTTP/1.0 replies -> 3 connection(s)",
        "HTTP/1.1 replies -> 1 connection(s)",
        "a download cut off -> handle_error() got: ['ConnectionResetError']",
    ):
        assert expected in replies


# -- Section 4 ------------------------------------------------------------------------------


def time_wait_connections(port: int) -> int:
    count = 0
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "06":
                count += 1
    return count


@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "no-reuse"])
def test_an_http_server_restarts_on_its_port_only_with_allow_reuse_address(module, reuse, site):
    """Section 4: "An HTTP/1.0 server closes every connection after its reply, so each
    connection it served holds its port [in TIME_WAIT]"; "With the setting, the new server
    bound the port at once; without it, `bind()` failed with `EADDRINUSE`"."""
    server_class = type("Server", (http_server_class(module),), {"allow_reuse_address": reuse})
    handler = functools.partial(QuietHandler, directory=site)
    with serving(server_class(("127.0.0.1", 0), handler)) as server:
        reply = fetch_raw(server.server_address, b"GET /hello.txt HTTP/1.0\r\n\r\n")
        address = server.server_address
    assert reply.endswith(HELLO)
    deadline = time.monotonic() + WAIT
    while not time_wait_connections(address[1]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert time_wait_connections(address[1]) >= 1
    if reuse:
        with server_class(address, handler):
            pass
    else:
        with pytest.raises(OSError) as failure:
            server_class(address, handler)
        assert failure.value.errno == errno.EADDRINUSE


# -- Section 5 ------------------------------------------------------------------------------


def test_ipv6_v6only_cannot_be_set_on_an_ipv4_socket():
    """Section 5: "On an IPv4 socket that option does not exist and `setsockopt()` fails;
    `contextlib.suppress(Exception)` ignores that" (the command's IPv4 servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError) as failure:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    assert failure.value.errno == errno.ENOPROTOOPT


def test_the_command_defines_dual_stack_server_and_calls_test_with_it():
    """Section 5: "After reading its options, it defines a server class and calls `test()`",
    and `test()` sets the family on the server *class*."""
    source = inspect.getsource(http.server)
    main = source[source.index("if __name__ == '__main__':") :]
    assert main.index("class DualStackServer(ThreadingHTTPServer):") < main.index("    test(\n")
    assert "ServerClass=DualStackServer," in main
    assert "ServerClass.address_family, addr = _get_best_family(bind, port)" in inspect.getsource(
        http.server.test
    )


def test_run_http_server_py_serves_as_python_m_http_server_does(site):
    """Section 5: "`run_http_server.py` does what `python -m http.server` does (it runs the
    module's `__main__` part with `runpy`)": the same first line, replies, log, goodbye and
    exit status as the real command, on the stdlib."""
    write_programs(site.parent)
    stories = []
    for arguments in (
        ["-m", "http.server", "--bind", "127.0.0.1", "--directory", "site", "0"],
        ["run_http_server.py", "socketserver", "--bind", "127.0.0.1", "--directory", "site", "0"],
    ):
        with command(arguments, site.parent) as running:
            first_line, host, port = running.wait_for_first_line()
            replies = [ask(host, port), ask(host, port, "/missing.txt")]
            status, out, err = running.stop()
        log = [line.split("] ", 1)[1] for line in err.splitlines()]
        stories.append([first_line.replace(str(port), "N"), replies, status, out.split(), log])
    assert stories[0] == stories[1]
    assert stories[0][1:3] == [[200, 404], 0]


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1"])
def test_python_m_http_server_tells_the_same_story_on_both_modules(bind, site):
    """Section 5: bound to 127.0.0.1 it serves the IPv4 client only, bound to ::1 the IPv6
    client only; at SIGINT with an idle client connected it exits with status 0 at once;
    "on socketserver, the same story: True"."""
    write_programs(site.parent)
    ours = command_story("socketserver_lit", bind, site.parent)
    stdlib = command_story("socketserver", bind, site.parent)
    assert ours == stdlib
    served = {"127.0.0.1": "client on 127.0.0.1: 200", "::1": "client on ::1: 200"}
    refused = {
        "127.0.0.1": "client on ::1: ConnectionRefusedError",
        "::1": "client on 127.0.0.1: ConnectionRefusedError",
    }
    assert served[bind] in ours and refused[bind] in ours
    assert "exit status 0, within 2 s: True" in ours
    assert "Keyboard interrupt received, exiting." in ours


def test_python_m_http_server_bind_any_ipv6_serves_both_loopbacks(module, tmp_path):
    """Exercise 3's answer: `python -m http.server --bind ::` listens on an AF_INET6 socket and
    serves clients on 127.0.0.1 and on ::1 (DualStackServer switched IPV6_V6ONLY off). Run
    with run_http_server.py, whose verify_request() serves only this machine."""
    write_programs(tmp_path)
    (tmp_path / "empty").mkdir()
    arguments = ["run_http_server.py", module.__name__, "--bind", "::", "--directory", "empty", "0"]
    with command(arguments, tmp_path) as running:
        _, host, port = running.wait_for_first_line()
        statuses = [ask(client, port, "/") for client in ("127.0.0.1", "::1")]
        status, _, _ = running.stop()
    assert host == "::"
    assert statuses == [200, 200]
    assert status == 0


def test_without_minus_u_the_serving_line_waits_in_a_buffer(tmp_path):
    """Section 5: "with `python -u`, so that what it prints is not held in a buffer": without
    it, the serving line is not readable while the server already serves, and arrives only
    when the process exits."""
    with socket.socket() as finder:  # a free port, given back at once
        finder.bind(("127.0.0.1", 0))
        port = finder.getsockname()[1]
    arguments = [
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(tmp_path),
        str(port),
    ]
    with command(arguments, tmp_path, unbuffered=False) as running:
        deadline = time.monotonic() + WAIT
        while ask("127.0.0.1", port, "/") != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ask("127.0.0.1", port, "/") == 200, "the server never served"
        assert not select.select([running.process.stdout], [], [], 0.5)[0]
        status, out, _ = running.stop()
    assert out.startswith("Serving HTTP on 127.0.0.1 port")
    assert "Keyboard interrupt received, exiting." in out


# -- Section 6 ------------------------------------------------------------------------------


def test_the_reason_phrase_of_414_changed_in_python_3_13():
    """Section 6: "Its reason phrase is "URI Too Long" on Python 3.13 and "Request-URI Too
    Long" before"."""
    expected = "URI Too Long" if sys.version_info >= (3, 13) else "Request-URI Too Long"
    assert http.HTTPStatus.REQUEST_URI_TOO_LONG.phrase == expected


def request_line(length: int) -> bytes:
    return b"GET /" + b"a" * (length - 16) + b" HTTP/1.0\r\n"


def test_a_request_line_longer_than_65536_bytes_gets_414(module, site):
    """Section 6: "a line longer than 65,536 bytes, its line end included, is refused with
    status 414" (the notebook shows it for our server on 3.11 and 3.13)."""
    handler = functools.partial(QuietHandler, directory=site)
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        statuses = [
            status_of(fetch_raw(server.server_address, request_line(length) + b"\r\n"))
            for length in (65536, 65537)
        ]
    assert statuses == [404, 414]


def test_a_header_line_longer_than_65536_bytes_gets_431(module, site):
    """Section 6: "The header lines have the same limit: `parse_request()` reads them with
    `http.client`'s header parser, which refuses a line longer than 65,536 bytes, and the
    handler answers 431"."""
    assert "http.client.parse_headers(" in inspect.getsource(
        http.server.BaseHTTPRequestHandler.parse_request
    )
    handler = functools.partial(QuietHandler, directory=site)
    statuses = []
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        for length in (65536, 65537):  # the header line, its line end included
            header = b"X-Long: " + b"x" * (length - 10) + b"\r\n"
            assert len(header) == length
            request = b"GET /hello.txt HTTP/1.0\r\n" + header + b"\r\n"
            statuses.append(status_of(fetch_raw(server.server_address, request)))
    assert statuses == [200, 431]


def test_http_server_refuses_a_request_with_a_hundred_header_lines(module, site):
    """Section 6: "`http.server` has the first [bytes per line], and a limit on how many header
    lines a request may have": 99 header lines are served, 100 get 431."""
    handler = functools.partial(QuietHandler, directory=site)
    statuses = []
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        for count in (99, 100):
            headers = b"".join(b"X-%d: 1\r\n" % number for number in range(count))
            request = b"GET /hello.txt HTTP/1.0\r\n" + headers + b"\r\n"
            statuses.append(status_of(fetch_raw(server.server_address, request)))
    assert statuses == [200, 431]


@pytest.mark.parametrize("left_out", ["requestline", "request_version", "command"])
def test_send_error_reads_requestline_request_version_and_command(module, site, left_out):
    """Exercise 2: `handle_one_request()` "sets three attributes that `send_error()` reads,
    then calls `send_error()`": with all three set, the client gets 414; leave one out and
    the handler raises (AttributeError, reported through handle_error)."""
    errors = []

    class Refusing(QuietHandler):
        set_all = True

        def parse_request(self) -> bool:
            for name in ("requestline", "request_version", "command"):
                if name != left_out or self.set_all:
                    setattr(self, name, "")
            self.send_error(http.HTTPStatus.REQUEST_URI_TOO_LONG)
            return False

    class Noting(http_server_class(module)):  # type: ignore[misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            errors.append(type(sys.exc_info()[1]))

    for all_set in (True, False):
        errors.clear()
        Refusing.set_all = all_set
        handler = functools.partial(Refusing, directory=site)
        with serving(Noting(("127.0.0.1", 0), handler)) as server:
            reply = fetch_raw(server.server_address, b"GET / HTTP/1.0\r\n\r\n")
        if all_set:
            assert (status_of(reply), errors) == (414, [])
        else:
            assert errors == [AttributeError]


# -- Section 7 ------------------------------------------------------------------------------


def test_the_handler_calls_do_command_and_answers_501_without_one(module, site):
    """Section 7: "`handle_one_request()` calls the method named after the command, `do_GET()`
    or `do_HEAD()`, and answers 501 when there is none"."""

    class Brewing(QuietHandler):
        def do_BREW(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"brewed")

    handler = functools.partial(Brewing, directory=site)
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        brewed = fetch_raw(server.server_address, b"BREW /pot HTTP/1.0\r\n\r\n")
        posted = fetch_raw(server.server_address, b"POST /hello.txt HTTP/1.0\r\n\r\n")
    assert status_of(brewed) == 200 and brewed.endswith(b"brewed")
    assert status_of(posted) == 501


def test_an_http_1_1_handler_ends_the_connection_when_the_client_says_connection_close(
    module, site
):
    """Section 7: "With `"HTTP/1.1"`, the connection is kept alive unless the client asks
    otherwise (a `Connection: close` header)"."""

    class KeepAlive(QuietHandler):
        protocol_version = "HTTP/1.1"

    handler = functools.partial(KeepAlive, directory=site)
    request = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n"
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        closing = fetch_raw(server.server_address, request + b"Connection: close\r\n\r\n")
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(request + b"\r\n")
            reply = b""
            while not reply.endswith(HELLO):
                reply += client.recv(65536)
            client.settimeout(0.5)
            with pytest.raises(TimeoutError):
                client.recv(100)  # no end of stream: the connection stays open
    assert closing.startswith(b"HTTP/1.1 200") and closing.endswith(HELLO)


def test_a_handler_timeout_ends_an_idle_keep_alive_connection(module, site):
    """Section 7: "Set `timeout` on the handler and `setup()` gives the connection that socket
    timeout; `handle_one_request()` catches the `TimeoutError`, logs it, and ends the
    connection" (both modules' servers)."""

    class Patient(QuietHandler):
        protocol_version = "HTTP/1.1"
        timeout = 0.3
        log: list[str] = []

    handler = functools.partial(Patient, directory=site)
    with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
        connection = http.client.HTTPConnection(*server.server_address, timeout=WAIT)
        try:
            connection.request("GET", "/hello.txt")
            assert connection.getresponse().read() == HELLO
            assert connection.sock.recv(100) == b""  # the server ended it
        finally:
            connection.close()
    assert Patient.log[-1] == "Request timed out: TimeoutError('timed out')"


# -- Section 8 ------------------------------------------------------------------------------


def test_a_cut_off_download_reaches_handle_error_once_from_the_handlers_copyfile(module, site):
    """Section 8: "The handler's own `wfile.write()` (in `copyfile()` ...) met the reset and
    raised `ConnectionResetError` ... it reached `handle_error()`, once, on each server"."""
    reports = []

    class Noting(http_server_class(module)):  # type: ignore[misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            error = sys.exc_info()[1]
            names = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
            reports.append((type(error), "copyfile" in names))

    handler = functools.partial(QuietHandler, directory=site)
    with serving(Noting(("127.0.0.1", 0), handler)) as server:
        cut_off_download(server.server_address)
        deadline = time.monotonic() + WAIT
        while not reports and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
    assert reports == [(ConnectionResetError, True)]


def test_a_cut_off_download_prints_a_traceback_on_stderr_on_both_modules(module, site):
    """Section 8: "The default `handle_error()` prints a traceback on standard error, so every
    download cut off leaves a traceback on the server's terminal, on the standard library and
    on ours alike"."""
    handler = functools.partial(QuietHandler, directory=site)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        with serving(http_server_class(module)(("127.0.0.1", 0), handler)) as server:
            cut_off_download(server.server_address)
            deadline = time.monotonic() + WAIT
            while "ConnectionResetError" not in captured.getvalue() and time.monotonic() < deadline:
                time.sleep(0.01)
    text = captured.getvalue()
    assert "Traceback (most recent call last):" in text
    assert "ConnectionResetError" in text
    assert "copyfile" in text


# -- Section 9 ------------------------------------------------------------------------------


@pytest.mark.parametrize("daemon_threads", [True, False], ids=["daemon", "not-daemon"])
def test_server_close_waits_for_an_idle_keep_alive_client_unless_daemon_threads(
    module, daemon_threads, site
):
    """Section 9: "With daemon threads, `server_close()` does not wait for the request
    threads ... Without them, `server_close()` waited for the idle client"."""

    class KeepAlive(QuietHandler):
        protocol_version = "HTTP/1.1"

    server_class = type("Server", (http_server_class(module),), {"daemon_threads": daemon_threads})
    server = server_class(("127.0.0.1", 0), functools.partial(KeepAlive, directory=site))
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    closer = threading.Thread(target=server.server_close)
    loop.start()
    client = http.client.HTTPConnection(*server.server_address, timeout=WAIT)
    try:
        client.request("GET", "/hello.txt")
        assert client.getresponse().read() == HELLO
        server.shutdown()
        closer.start()
        closer.join(0.5)
        returned = not closer.is_alive()
    finally:
        client.close()
        loop.join(WAIT)
        if closer.ident is not None:
            closer.join(WAIT)
        server.server_close()
    assert returned is daemon_threads
    assert not closer.is_alive()


# -- Section 10 -----------------------------------------------------------------------------


def test_http_server_has_no_tls_on_python_3_10_to_3_13():
    """Section 10: "encryption: none" (Python 3.14 adds an HTTPS server; we support 3.10 to
    3.13)."""
    source = inspect.getsource(http.server)
    assert "ssl" not in source and "wrap_socket" not in source
    assert not hasattr(http.server, "HTTPSServer")
