"""Request handlers: the code that talks to one client.

What a handler is
-----------------
A server (see :mod:`socketserver_lit.servers`) knows how to *get* requests; it
does not know what to say to them. That is the handler's job. For every request
the server calls ``RequestHandlerClass(request, client_address, server)``, and the
new handler object does all its work inside that constructor call:

    setup()  ->  handle()  ->  finish()

``handle()`` is where your protocol goes. ``setup()`` prepares what ``handle()``
needs, and ``finish()`` tidies up afterwards; ``finish()`` runs even when
``handle()`` raises, but not when ``setup()`` raised, as in the stdlib. So a
``setup()`` that can fail after it has opened something must close it itself
before raising: ``finish()`` will not. The object is thrown away afterwards: one
handler, one request. State that
must outlive a request belongs on the server, which every handler can reach as
``self.server``.

Why the constructor does the work
---------------------------------
It makes a handler as cheap to plug in as a function: a server needs nothing but a
callable, so a ``functools.partial`` that pre-fills extra arguments works too. (The
stdlib's ``python -m http.server`` passes its extra ``directory`` argument another
way: its server overrides ``finish_request()``, the one method that makes handlers.)

Streams and datagrams
---------------------
What ``self.request`` is depends on the server: a connected socket for stream
servers (TCP, Unix stream), and a ``(data, socket)`` pair for datagram servers
(UDP, Unix datagram). :class:`StreamRequestHandler` and
:class:`DatagramRequestHandler` hide the difference behind two file objects,
``rfile`` to read the request from and ``wfile`` to write the reply to, so one
``handle()`` can often serve both kinds.

Next: notebook ``notebooks/examples/02-stream-handler.ipynb`` shows ``rfile``
reading lines that arrived in pieces.
"""

from __future__ import annotations

import io
import socket

TYPE_CHECKING = False  # typing is imported only by type checkers (see servers.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    from .servers import BaseServer

    # What wfile.write() accepts: any bytes-like object.
    BytesLike: TypeAlias = bytes | bytearray | memoryview

__all__ = [
    "BaseRequestHandler",
    "StreamRequestHandler",
    "DatagramRequestHandler",
    "SocketWriter",
]


class BaseRequestHandler:
    """One request, handled in three steps: ``setup()``, ``handle()``, ``finish()``.

    Subclass it and override ``handle()``. The attributes ``request``,
    ``client_address`` and ``server`` are set before ``setup()`` runs.
    """

    def __init__(self, request: Any, client_address: Any, server: BaseServer):
        self.request = request
        self.client_address = client_address
        self.server = server
        self.setup()
        try:
            self.handle()
        finally:
            self.finish()

    def setup(self) -> None:
        """Prepare for ``handle()``. May be overridden; the default does nothing."""

    def handle(self) -> None:
        """Serve the request. Override this: the default does nothing.

        Available here: ``self.request`` (a socket, or a ``(data, socket)`` pair
        for datagram servers), ``self.client_address`` and ``self.server``.
        """

    def finish(self) -> None:
        """Clean up after ``handle()``, even if it raised. May be overridden.

        The default does nothing.
        """


class SocketWriter(io.BufferedIOBase):
    """A write-only file object that sends every ``write()`` at once, completely.

    ``sock.makefile("wb", 0)`` would give a raw file whose ``write()`` may send only
    part of the data and return a short count, a classic source of truncated
    replies. This writer uses ``sendall()``, which loops until every byte is sent
    (and, since Python 3.5, resumes by itself after a signal interrupts it), so
    ``write()`` always returns the full length. There is no buffer, hence nothing
    to flush and nothing that waits: the client sees each write immediately.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        # write() calls this without checking anything first; close() swaps it for a
        # function that refuses, so the common path pays for no check at all.
        self._send: Callable[[BytesLike], object] = sock.sendall

    def writable(self) -> bool:
        return True

    def write(self, data: BytesLike) -> int:  # type: ignore[override]
        """Send all of ``data`` (any bytes-like object); return its length in bytes."""
        try:
            self._send(data)
        except TypeError:
            if isinstance(data, str):  # sendall() refused it before sending anything
                raise TypeError(
                    "wfile.write() takes bytes, not str: encode the text first, "
                    "e.g. self.wfile.write(text.encode('utf-8'))"
                ) from None
            raise
        with memoryview(data) as view:
            return view.nbytes

    def close(self) -> None:
        self._send = _refuse_write_to_closed_file
        super().close()

    def fileno(self) -> int:
        return self._sock.fileno()


def _refuse_write_to_closed_file(data: object) -> None:
    raise ValueError("I/O operation on closed file.")


class StreamRequestHandler(BaseRequestHandler):
    """A handler for stream sockets that reads from ``rfile`` and writes to ``wfile``.

    ``rfile`` is a buffered reader over the connection, so ``readline()`` gathers
    a whole line however many packets it arrived in. ``wfile`` is, by default, a
    :class:`SocketWriter` that sends each write immediately.
    """

    #: Buffer size for ``rfile``; -1 selects the default (``io.DEFAULT_BUFFER_SIZE``).
    rbufsize: int = -1
    #: Buffer size for ``wfile``; 0 (the default) means unbuffered: every write is sent at once.
    wbufsize: int = 0
    #: If not ``None``, a socket timeout in seconds for every read and write, so a
    #: silent client raises ``TimeoutError`` instead of holding the handler forever.
    timeout: float | None = None
    #: Set ``TCP_NODELAY`` so small replies are not held back by Nagle's algorithm.
    disable_nagle_algorithm: bool = False

    def setup(self) -> None:
        self.connection = self.request
        if self.timeout is not None:
            self.connection.settimeout(self.timeout)
        if self.disable_nagle_algorithm:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        if self.wbufsize == 0:
            self.wfile: io.BufferedIOBase = SocketWriter(self.connection)
        else:
            self.wfile = self.connection.makefile("wb", self.wbufsize)

    def finish(self) -> None:
        """Send what is still buffered in ``wfile``, then close both file objects.

        If the client has gone (reset, closed early, stopped reading until a
        ``timeout``), the rest of the reply has no one to go to: the error is
        dropped here, as the stdlib drops it from the flush. Unlike the stdlib, we
        also drop it from ``close()``: a buffered ``wfile`` (``wbufsize`` -1) that
        failed to flush tries again when closed, and in the stdlib that second
        failure reaches ``handle_error()`` with a traceback and leaves ``rfile``
        open (``tests/test_vanishing_clients.py`` runs both). Errors that
        ``handle()`` itself meets still reach ``handle_error()``.
        """
        try:
            if not self.wfile.closed:
                _ignore_client_gone(self.wfile.flush)
        finally:
            try:
                _ignore_client_gone(self.wfile.close)  # the file is closed even when this fails
            finally:
                self.rfile.close()


class DatagramRequestHandler(BaseRequestHandler):
    """A handler for datagram servers with the same ``rfile``/``wfile`` interface.

    ``rfile`` reads the received packet; whatever ``handle()`` writes to ``wfile``
    is collected and sent back to the client as a single datagram by ``finish()``.
    """

    def setup(self) -> None:
        self.packet, self.socket = self.request
        self.rfile = io.BytesIO(self.packet)
        self.wfile = io.BytesIO()

    def finish(self) -> None:
        """Send what ``handle()`` wrote to ``wfile`` back to the client, as one datagram.

        A Unix datagram client that has gone (its socket closed, its file removed)
        cannot be sent to: ``sendto()`` fails with ``FileNotFoundError`` or
        ``ConnectionRefusedError``, and the reply is dropped, as a stream reply is
        when its client has gone (the stdlib reports it through ``handle_error()``).
        Any other failure, such as a reply too long for one datagram, is reported.
        """
        if self.client_address is None:
            # An unbound Unix datagram client has no address to reply to.
            raise TypeError(
                "cannot reply: the client's socket has no address. A Unix datagram "
                "client must bind its socket to a path of its own to receive replies"
            )
        try:
            self.socket.sendto(self.wfile.getvalue(), self.client_address)
        except (ConnectionRefusedError, FileNotFoundError):
            if self.socket.family != getattr(socket, "AF_UNIX", None):
                raise  # not a Unix client that went away: report it


def _ignore_client_gone(operation: Callable[[], object]) -> None:
    """Run a final flush or close; a client that has gone makes it fail, harmlessly.

    ``OSError`` covers every way a vanished client shows up on the send side: a
    reset (``ConnectionResetError``), a closed connection (``BrokenPipeError``) and a
    client that stopped reading until the handler's ``timeout`` (``TimeoutError``).
    """
    try:
        operation()
    except OSError:
        pass  # no one is left to send the rest of the reply to
