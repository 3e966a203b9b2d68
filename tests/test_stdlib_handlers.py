"""The stdlib's own handlers (http.server, xmlrpc.server) served by our servers."""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.error
import urllib.request
import xmlrpc.client
import xmlrpc.server

import pytest

import socketserver_lit as ss


class QuietHTTPHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


def fetch(url: str) -> tuple[int, bytes]:
    # An opener without proxies: a proxy setting in the environment must not
    # send loopback traffic anywhere else.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, b""


@pytest.mark.parametrize(
    "server_class",
    [ss.TCPServer, ss.ThreadingTCPServer, ss.ThreadPoolTCPServer, ss.ForkingTCPServer],
)
def test_simple_http_request_handler_serves_files(serve, tmp_path, server_class):
    (tmp_path / "hello.txt").write_bytes(b"served by socketserver_lit\n")
    handler = functools.partial(QuietHTTPHandler, directory=str(tmp_path))
    with serve(server_class(("127.0.0.1", 0), handler)) as server:
        host, port = server.server_address
        assert fetch(f"http://{host}:{port}/hello.txt") == (200, b"served by socketserver_lit\n")
        status, listing = fetch(f"http://{host}:{port}/")
        assert status == 200 and b"hello.txt" in listing
        assert fetch(f"http://{host}:{port}/missing.txt")[0] == 404


class XMLRPCServer(xmlrpc.server.SimpleXMLRPCDispatcher, ss.ThreadingTCPServer):
    """The stdlib's XML-RPC dispatcher on our threading server."""

    allow_reuse_address = True

    def __init__(self, address):
        self.logRequests = False
        xmlrpc.server.SimpleXMLRPCDispatcher.__init__(self, allow_none=True, encoding=None)
        ss.ThreadingTCPServer.__init__(self, address, xmlrpc.server.SimpleXMLRPCRequestHandler)


def test_simple_xmlrpc_request_handler_answers_calls(serve):
    with serve(XMLRPCServer(("127.0.0.1", 0))) as server:
        server.register_function(lambda a, b: a + b, "add")
        server.register_function(lambda: threading.current_thread().name, "who")
        server.register_introspection_functions()
        host, port = server.server_address
        with xmlrpc.client.ServerProxy(f"http://{host}:{port}/") as proxy:
            assert proxy.add(2, 3) == 5
            assert "add" in proxy.system.listMethods()
            assert "process_request_thread" in proxy.who()
            with pytest.raises(xmlrpc.client.Fault):
                proxy.no_such_method()
