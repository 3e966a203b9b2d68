"""Servers: the loop that turns a listening socket into a stream of handled requests.

What a server is
----------------
A network server does the same few things whatever it serves. It *binds* a socket
to an address, *activates* it (for TCP: starts listening), *waits* until a client
shows up, *gets* the request (for TCP: accepts a connection; for UDP: reads one
datagram), *verifies* that it wants to serve it, *processes* it by handing it to a
request handler, *finishes* by closing what belonged to that request, and, when it
is told to, *shuts down* its loop and *closes* its socket.

This module writes those steps down once, as methods with those names, so that a
subclass can change one step without touching the others. The classes form a small
ladder, each rung adding exactly one idea:

``BaseServer``
    The protocol-free skeleton: the serve loop, the request pipeline, shutdown.
    It knows nothing about sockets beyond "something with a ``fileno()``".
``TCPServer``
    Adds a real stream socket: bind, listen, accept, and how to close a connection.
``UDPServer``
    Swaps the stream socket for a datagram socket: a "request" is one packet.
``UnixStreamServer`` / ``UnixDatagramServer``
    The same two, on a filesystem path instead of an IP address and port.

``UnixDatagramServer`` derives from ``UDPServer``, not from ``UnixStreamServer``:
what separates an IP server from a Unix one is only the address family, while
what separates streams from datagrams is the whole way a request is obtained.

Reading order
-------------
The code below is laid out in the order a request flows through it: construct,
bind, activate, wait (``serve_forever`` / ``handle_request``), get, verify,
process, finish, shut down, close. Read it top to bottom once and you have seen
a request's entire life. Concurrency (a thread or a process per request) is not
here at all: it lives in :mod:`socketserver_lit.mixins`, which overrides just
``process_request``. The code that actually talks to the client lives in
:mod:`socketserver_lit.handlers`.

Where we differ from the standard library
-----------------------------------------
Everything documented behaves as documented, and a program that is correct with
the stdlib observes the same thing here. Where the stdlib has a known fault (a
hang, a leak, a crash), we remove it, and say so at the line that does it:

* ``shutdown()`` wakes the loop at once through a wake-up socket pair, instead of
  waiting for the next ``poll_interval`` tick (up to half a second by default).
* ``shutdown()`` called from the thread running ``serve_forever()`` raises
  ``RuntimeError`` with an explanation, instead of deadlocking forever; called when
  no loop has ever run, it waits for one to start as the stdlib does, but not
  forever (``shutdown_start_timeout``).
* ``server_close()`` while a loop is running ends that loop, instead of leaving it
  to spin on a closed socket.
* An IPv6 literal such as ``"::1"`` makes a TCP or UDP server use ``AF_INET6``
  (the stdlib fails to bind it).
* A failed bind keeps the stdlib's exception, with a note naming the address and
  what to try next.

An improvement that a correct stdlib program *could* observe is opt-in, through a
class attribute that is off by default: ``remove_socket_file_on_close`` on the Unix
servers removes the socket file on close.

Next: the notebook ``notebooks/course/03-request-lifecycle.ipynb`` traces every
method below as it is called; :mod:`socketserver_lit.handlers` is the other half
of every request.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import sys
import threading
import time
import weakref

# typing costs a dozen imported modules, and every forked child pays for the memory
# of every module: annotations are strings here (see the __future__ import), so the
# names below are needed only by type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    #: An address a server accepts: a (host, port) pair for IPv4, a 2- or 4-tuple
    #: for IPv6, a path (str or bytes) for Unix sockets.
    Address: TypeAlias = Any
    #: A connected socket for stream servers, a (data, socket) pair for datagram
    #: servers; BaseServer itself does not care which.
    Request: TypeAlias = Any
    #: What RequestHandlerClass must be: called with (request, client_address, server).
    RequestHandlerFactory: TypeAlias = Callable[[Request, Address, "BaseServer"], Any]

__all__ = [
    "BaseServer",
    "TCPServer",
    "UDPServer",
]

# poll() has no FD_SETSIZE limit, so prefer it where it exists, as the stdlib does;
# select() is the portable fallback (Windows).
if hasattr(selectors, "PollSelector"):
    _ServerSelector: type[selectors.BaseSelector] = selectors.PollSelector
else:  # pragma: no cover - only on platforms without poll()
    _ServerSelector = selectors.SelectSelector


class BaseServer:
    """The serve loop and the request pipeline, independent of any protocol.

    ``BaseServer`` owns the *order* of the steps a request goes through; subclasses
    supply the steps themselves (``get_request``, ``fileno``, closing a request).
    You rarely instantiate it: use :class:`TCPServer` or :class:`UDPServer`, or
    subclass it when your "socket" is something else that has a ``fileno()``.

    Args:
        server_address: Where to serve; stored as the ``server_address`` attribute.
        RequestHandlerClass: Called as ``RequestHandlerClass(request, client_address,
            server)`` once per request. A class is usual, but any callable works, such
            as a ``functools.partial`` that pre-fills extra arguments. Nothing checks it
            until a request arrives, as in the stdlib: ``None`` is fine for a server
            that is built only to reserve a port, and a request that does arrive then
            fails through ``handle_error()`` with a ``TypeError`` that says why.
    """

    #: Seconds ``handle_request()`` waits for a request before calling
    #: ``handle_timeout()``; ``None`` waits forever. ``serve_forever()`` ignores it.
    timeout: float | None = None
    #: Seconds ``shutdown()`` waits for a ``serve_forever()`` loop to start when no
    #: loop has run on this server yet (ours; the stdlib always waits forever). A
    #: thread started with ``target=server.serve_forever`` just before ``shutdown()``
    #: may not be in its loop yet: ``shutdown()`` waits for that loop to start and
    #: stop, as the stdlib does. If no loop starts in time, ``shutdown()`` warns
    #: (``RuntimeWarning``) and returns, leaving the shutdown pending so that a loop
    #: started later returns at once. ``None`` waits forever, as the stdlib does.
    shutdown_start_timeout: float | None = 5.0

    def __init__(self, server_address: Address, RequestHandlerClass: RequestHandlerFactory):
        self.server_address = server_address
        self.RequestHandlerClass = RequestHandlerClass
        # The condition's lock guards the fields below, which serve_forever(),
        # shutdown() and server_close() read and write from different threads;
        # shutdown() waits on it for loops to finish.
        self._serve_state = threading.Condition()
        self._shutdown_requested = False
        self._serve_loop: _ServeLoop | None = None  # the running serve_forever(), if any
        self._last_finished_loop: _ServeLoop | None = None
        self._closed = False
        # Set when accept() found no free descriptor: the loop pauses before retrying;
        # the shortage is reported once, until an accept() succeeds again.
        self._out_of_descriptors = False
        self._out_of_descriptors_reported = False
        _servers_in_this_process.add(self)  # so a forked child can forget our loop

    # -- bind and activate --------------------------------------------------------

    def server_activate(self) -> None:
        """Make the bound socket ready to receive requests. May be overridden.

        Called once by the constructor of socket-based servers. The base class has
        nothing to activate; ``TCPServer`` starts listening here.
        """

    # -- wait ---------------------------------------------------------------------

    def fileno(self) -> int:
        """Return the file descriptor the server waits on. Must be overridden.

        ``serve_forever()`` and ``handle_request()`` hand the server itself to a
        selector, which calls this. It is also what lets you watch several servers
        from one thread with ``selectors``.
        """
        raise NotImplementedError(f"{type(self).__name__} must define fileno()")

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle requests until ``shutdown()`` is called from another thread.

        The loop waits for the server socket *and* a private wake-up socket at the
        same time, so a ``shutdown()`` is noticed immediately. ``poll_interval``
        only bounds how long a quiet loop goes without calling
        ``service_actions()`` (which, for example, reaps finished child processes).
        The ``timeout`` attribute is ignored here; it belongs to ``handle_request()``.
        If ``shutdown()`` was called before this loop started, it returns at once.
        """
        self._check_before_serving()
        loop = self._enter_serve_loop(_called_as_thread_target())
        if loop is None:
            return
        try:
            self._run_serve_loop(loop, poll_interval)
        finally:
            self._leave_serve_loop(loop)

    def _check_before_serving(self) -> None:
        """Refuse settings that could only fail inside the loop; a mix-in's hook.

        Run by ``serve_forever()`` and ``handle_request()`` before they wait for a
        request, so that a bad setting raises in the caller's thread at once instead of
        ending the loop at the first request. ``ThreadPoolMixIn`` checks its pool here.
        """

    def _enter_serve_loop(self, ends_its_thread: bool) -> _ServeLoop | None:
        """Register a new loop; None if a pending shutdown() ends it before it starts."""
        with self._serve_state:
            if self._serve_loop is not None:
                # Two loops would both wake for one connection; the one that loses
                # the accept() race would block in it, where shutdown() cannot reach.
                raise RuntimeError(
                    "serve_forever() is already running in another thread; "
                    "a server can run only one serve loop at a time"
                )
            thread = threading.current_thread()
            if self._shutdown_requested:
                # shutdown() was called before this loop started (a common race when
                # the loop runs in a freshly started thread): this loop honours it by
                # not serving, and the waiting shutdown() returns.
                self._shutdown_requested = False
                self._finish(_ServeLoop(thread, ends_its_thread, running=False))
                return None
            self._serve_loop = _ServeLoop(thread, ends_its_thread, running=True)
            return self._serve_loop

    def _run_serve_loop(self, loop: _ServeLoop, poll_interval: float) -> None:
        assert loop.wakeup_reader is not None  # a running loop has its wake-up pair
        waiter = _ServeLoopWaiter(self.fileno(), loop.wakeup_reader.fileno())
        try:
            while not self._shutdown_requested:
                server_state = waiter.wait(poll_interval)
                # A shutdown that arrived while we slept wins over a request that
                # arrived at the same moment: the caller of shutdown() is waiting.
                if self._shutdown_requested or server_state is _SOCKET_CLOSED:
                    break
                if server_state is _REQUEST_WAITING:
                    self._handle_request_noblock()
                    if self._out_of_descriptors:
                        self._out_of_descriptors = False
                        waiter.wait_for_wakeup(_OUT_OF_DESCRIPTORS_PAUSE)
                self.service_actions()
        finally:
            waiter.close()

    def _leave_serve_loop(self, loop: _ServeLoop) -> None:
        """Unregister the loop, release its wake-up sockets, then tell shutdown().

        The order matters. A ``shutdown()`` waiting for this loop may return as soon
        as it is told, and its caller often checks ``thread.is_alive()`` right
        after: so the clean-up (two ``close()`` calls, which release the GIL and
        let the waiting thread run) comes first, and telling comes last.
        """
        with self._serve_state:
            self._serve_loop = None  # no shutdown() writes to its wake-up socket from now on
            self._shutdown_requested = False
        loop.close()
        with self._serve_state:
            self._finish(loop)

    def _finish(self, loop: _ServeLoop) -> None:
        """Record that a loop is over and wake every waiting shutdown(). Caller holds the lock."""
        loop.finished = True
        self._last_finished_loop = loop
        self._serve_state.notify_all()

    def _after_fork_in_child(self) -> None:
        """Forget the parent's serve loop in a forked child; run by ``os.fork()`` itself.

        The child gets a copy of this object, including the record of a loop that
        runs in the parent and not here. Without this, the child's ``serve_forever()``
        would refuse to start ("already running"; the stdlib's starts) and its
        ``shutdown()`` would wait for a loop that is not there. The lock is new too:
        another thread of the parent may have held the old one at the moment of the
        fork, and in the child nobody would ever release it.
        """
        self._serve_state = threading.Condition()
        inherited = self._serve_loop
        self._serve_loop = None
        self._shutdown_requested = False
        if inherited is not None:
            inherited.close()  # the child's copies of the parent's wake-up pair
            inherited.finished = True  # from here, as if it had ended
            self._last_finished_loop = inherited

    def service_actions(self) -> None:
        """Do periodic housekeeping; called once per turn of the ``serve_forever()`` loop.

        May be overridden. The default does nothing; ``ForkingMixIn`` reaps finished
        children here. It runs at least once every ``poll_interval`` seconds while
        the loop is idle, and after every request.
        """

    def handle_request(self) -> None:
        """Wait for one request (at most ``timeout`` seconds) and handle it.

        Use this instead of ``serve_forever()`` to drive the server from your own
        loop. The wait is bounded by the smaller of the server's ``timeout``
        attribute and the socket's own timeout; if nothing arrives in time,
        ``handle_timeout()`` is called and the method returns.
        """
        self._check_before_serving()
        timeout = self._effective_timeout()
        with _ServerSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            # select() may wake early (a signal, a spurious wake-up); keep waiting
            # until the full timeout has really passed.
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                if selector.select(timeout):
                    self._handle_request_noblock()
                    return
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        self.handle_timeout()
                        return

    def _effective_timeout(self) -> float | None:
        socket_timeout = self._socket_timeout()
        if self.timeout is None:
            return socket_timeout
        if socket_timeout is None:
            return self.timeout
        return min(self.timeout, socket_timeout)

    def _socket_timeout(self) -> float | None:
        sock = getattr(self, "socket", None)
        return sock.gettimeout() if sock is not None else None

    def handle_timeout(self) -> None:
        """React to ``handle_request()`` waiting ``timeout`` seconds in vain. May be overridden.

        The default does nothing; ``ForkingMixIn`` uses the pause to reap children.
        """

    # -- get, verify, process -----------------------------------------------------

    def _handle_request_noblock(self) -> None:
        """Run one request through get -> verify -> process, never blocking on get.

        Called only once the selector has said the socket is readable. Every
        request that was got is shut down exactly once on every path: refused,
        handled, failed with an ``Exception`` (reported through ``handle_error``),
        or escaping with ``SystemExit``/``KeyboardInterrupt`` (which propagate),
        even when ``verify_request`` or ``handle_error`` itself raises.
        """
        try:
            request, client_address = self.get_request()
        except OSError as error:
            if error.errno in _OUT_OF_DESCRIPTORS:
                self._report_out_of_descriptors(error)
            # Otherwise the client went away between "readable" and accept(), or a
            # datagram vanished: nothing to serve, and nothing to clean up.
            return
        self._out_of_descriptors_reported = False
        # process_request() takes over the request when it returns normally (it, or
        # the thread or child it starts, shuts it down). On every other path --
        # refused, failed, or a hook that itself raises -- it is shut down here.
        handed_over = False
        try:
            if self.verify_request(request, client_address):
                try:
                    self.process_request(request, client_address)
                    handed_over = True
                except Exception:
                    # handle_error() runs inside the except block on purpose: overrides
                    # can call sys.exc_info() or traceback.print_exc() to see the error.
                    self.handle_error(request, client_address)
        finally:
            if not handed_over:
                self.shutdown_request(request)

    def _report_out_of_descriptors(self, error: OSError) -> None:
        """Warn that ``accept()`` had no descriptor to give, and make the loop pause.

        The connection stays in the kernel's backlog, so the socket stays readable: a
        loop that simply tried again would spin at full speed, silently, until a
        descriptor is freed (the stdlib's does: ``tests/test_claims_core.py``). We
        warn (``RuntimeWarning``, shown once per place by Python's default filter;
        where warnings are errors, printed to standard error instead, so that the loop
        goes on as the stdlib's would) and ``serve_forever()`` waits
        ``_OUT_OF_DESCRIPTORS_PAUSE`` seconds before it tries again, still waking at
        once for ``shutdown()``.
        """
        import warnings  # only now: needed only when the process runs out

        self._out_of_descriptors = True
        if self._out_of_descriptors_reported:
            return  # once per shortage: until an accept() succeeds again
        self._out_of_descriptors_reported = True
        message = (
            f"accept() failed with {errno.errorcode.get(error.errno or 0, error.errno)} "
            f"({error.strerror}): this process has no free file descriptor, so new "
            "connections wait in the kernel's listen backlog. Close what is no longer "
            "needed (requests a handler keeps, files left open) or raise the limit "
            f"(ulimit -n); serve_forever() tries again every {_OUT_OF_DESCRIPTORS_PAUSE} s."
        )
        try:
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        except Warning:
            # The program turns warnings into errors (python -W error, pytest's
            # filterwarnings). Raising here would end the serve loop, which the stdlib's
            # would not do: say it on standard error instead, as handle_error() would.
            print(f"RuntimeWarning: {message}", file=sys.stderr)

    def get_request(self) -> tuple[Request, Address]:
        """Take the next request off the socket; return ``(request, client_address)``.

        Must be overridden: only the protocol knows what a request is.
        """
        raise NotImplementedError(f"{type(self).__name__} must define get_request()")

    def verify_request(self, request: Request, client_address: Address) -> bool:
        """Decide whether to serve this request. May be overridden.

        Return ``False`` to refuse it: the request is then closed without a handler
        ever seeing it. This is the place for an allow-list or a rate limit. The
        default accepts everyone.
        """
        return True

    def process_request(self, request: Request, client_address: Address) -> None:
        """Handle the request and then shut it down. May be overridden.

        This is the seam the concurrency mixins use: ``ThreadingMixIn`` and
        ``ForkingMixIn`` override it to run ``finish_request`` in a thread or a
        child process instead of right here.
        """
        self.finish_request(request, client_address)
        self.shutdown_request(request)

    def finish_request(self, request: Request, client_address: Address) -> None:
        """Serve the request by instantiating ``RequestHandlerClass``. May be overridden.

        The handler's constructor does all the work (setup, handle, finish).

        Raises:
            TypeError: if ``RequestHandlerClass`` is not callable (``None``, or a
                handler instance passed by mistake). It reaches ``handle_error()``
                like any handler error; the stdlib raises a bare "object is not
                callable" here, ours says what to pass instead.
        """
        make_handler = self.RequestHandlerClass
        if not callable(make_handler):
            raise TypeError(
                f"cannot handle the request from {client_address!r}: this server's "
                f"RequestHandlerClass is {make_handler!r}, which is not callable. Pass a "
                "request handler class (or another callable taking (request, "
                "client_address, server)) when you create the server."
            )
        make_handler(request, client_address, self)

    def handle_error(self, request: Request, client_address: Address) -> None:
        """Report an exception raised while processing a request. May be overridden.

        Called from inside the ``except`` block, so ``sys.exc_info()`` describes the
        error. The default prints the traceback to standard error and lets the server
        go on serving. It prints exactly the stdlib's lines (a rule of 40 dashes,
        "Exception occurred during processing of request from" and the client's
        address, the traceback, the rule again), so a program or a test that reads
        them sees no difference.

        Only ``Exception`` subclasses get here. Where a ``SystemExit`` or
        ``KeyboardInterrupt`` from a handler goes depends on where the handler runs,
        as in the stdlib: in the serving thread (a synchronous server) it propagates
        out of ``serve_forever()`` or ``handle_request()`` and stops the server; in a
        request thread (``ThreadingMixIn``) it ends only that thread, silently for
        ``SystemExit``, with a traceback from ``threading.excepthook`` for
        ``KeyboardInterrupt``; in a forked child it ends only the child.
        """
        import traceback  # only now: most servers never need it, and forks are cheaper without

        rule = "-" * 40
        print(rule, file=sys.stderr)
        # print()'s own spacing and str(), as the stdlib's: '' (an unbound Unix client)
        # leaves "from " with its trailing space.
        print(
            "Exception occurred during processing of request from", client_address, file=sys.stderr
        )
        traceback.print_exc(file=sys.stderr)
        print(rule, file=sys.stderr)

    # -- finish: release what belonged to one request ------------------------------

    def shutdown_request(self, request: Request) -> None:
        """End the conversation with one client, then close the request. May be overridden."""
        self.close_request(request)

    def close_request(self, request: Request) -> None:
        """Release the resources of one request. May be overridden; the base does nothing."""

    # -- shut down and close the server ---------------------------------------------

    def shutdown(self) -> None:
        """Stop the ``serve_forever()`` loop and wait until it has stopped.

        Call it from another thread than the one running the loop. The loop wakes
        at once (no waiting for ``poll_interval``), finishes the request it is in,
        and returns; only then does ``shutdown()`` return. When the loop is the
        whole job of its thread (``threading.Thread(target=server.serve_forever)``),
        ``shutdown()`` also waits for that thread to end, so ``thread.is_alive()``
        is false as soon as it returns, on every Python version. A thread that runs
        the loop some other way (``target=lambda: server.serve_forever()``, an
        override of ``serve_forever`` that calls ``super()``) may go on with other
        work, so ``shutdown()`` waits for it to end only briefly (10 ms; a thread
        with nothing left to do ends well within that), and never for the main
        thread.

        With no loop running, it behaves as the stdlib does, with one bound:

        * a loop ran and ended before: return at once; the shutdown stays pending,
          so the next ``serve_forever()`` returns at once;
        * no loop has run yet (typically: its thread was just started and has not
          reached ``serve_forever()``): wait for that loop to start and stop, but
          at most ``shutdown_start_timeout`` seconds (the stdlib waits forever);
        * the server is closed: return at once, no loop can serve any more.

        Raises:
            RuntimeError: if called from the serving thread itself, where waiting
                for the loop to stop could never end (the stdlib deadlocks here).
        """
        with self._serve_state:
            running = self._serve_loop
            if running is not None and running.thread is threading.current_thread():
                raise RuntimeError(
                    "shutdown() was called from the thread running serve_forever(), "
                    "so it would wait forever for itself. Call it from another thread, "
                    "e.g. threading.Thread(target=server.shutdown).start(), or use a "
                    "threading server so handlers run outside the serving thread."
                )
            self._shutdown_requested = True
            if running is not None:
                stopping = [running]
                self._wake_serve_loop()
                self._serve_state.wait_for(lambda: running.finished)
            elif self._last_finished_loop is None and not self._closed:
                stopping = self._wait_for_first_loop()
            else:
                stopping = []
        for loop in stopping:
            loop.wait_for_thread_to_end()

    def _wait_for_first_loop(self) -> list[_ServeLoop]:
        """Wait until a first loop has taken the pending shutdown. Caller holds the lock."""
        if self._serve_state.wait_for(
            lambda: self._last_finished_loop is not None or self._closed,
            self.shutdown_start_timeout,
        ):
            return [self._last_finished_loop] if self._last_finished_loop else []
        import warnings  # only now: it is needed only for this mistake

        warnings.warn(
            f"shutdown() waited {self.shutdown_start_timeout} s for serve_forever() to "
            "start on this server, and no loop started. It returns now; the shutdown "
            "stays pending, so a serve_forever() called later returns at once. (The "
            "stdlib's shutdown() would wait forever here.) Call shutdown() only for a "
            "server whose serve_forever() is running or about to, or raise "
            "shutdown_start_timeout if its thread starts slowly.",
            RuntimeWarning,
            stacklevel=3,
        )
        return []

    def _stop_serve_loop_after_close(self) -> None:
        """Ask running loops to end, without waiting (server_close() must not block)."""
        with self._serve_state:
            self._closed = True
            if self._serve_loop is not None:
                self._shutdown_requested = True
                self._wake_serve_loop()
            self._serve_state.notify_all()  # a shutdown() waiting for a first loop gives up

    def _wake_serve_loop(self) -> None:
        """Make the serving thread's wait return now. Caller holds the lock.

        Extended by a mixin whose ``get_request`` can wait too (the thread pool
        waits there for room): it must wake that wait as well.
        """
        if self._serve_loop is not None:
            self._serve_loop.wake()

    def server_close(self) -> None:
        """Release the server's resources. May be overridden; the base has none."""

    def __enter__(self) -> BaseServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server_close()


class _ServeLoop:
    """One ``serve_forever()`` call: the thread running it and its wake-up socket pair.

    ``shutdown()`` writes a byte to ``wakeup_writer``; the loop waits on
    ``wakeup_reader`` beside the server socket, so it wakes at once.
    """

    def __init__(self, thread: threading.Thread, ends_its_thread: bool, *, running: bool):
        self.thread = thread
        # True when serve_forever() is the thread's target, so the thread ends with it.
        self.ends_its_thread = ends_its_thread
        self.finished = False
        self.wakeup_reader: socket.socket | None = None
        self.wakeup_writer: socket.socket | None = None
        if running:
            self.wakeup_reader, self.wakeup_writer = socket.socketpair()
            # Non-blocking, so shutdown() can never block on a full wake-up buffer.
            self.wakeup_writer.setblocking(False)

    def wake(self) -> None:
        if self.wakeup_writer is None:
            return
        try:
            self.wakeup_writer.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the buffer is full of earlier wake-ups: the loop will wake anyway

    def close(self) -> None:
        for wakeup_socket in (self.wakeup_reader, self.wakeup_writer):
            if wakeup_socket is not None:
                wakeup_socket.close()

    def wait_for_thread_to_end(self) -> None:
        """Join the loop's thread if it ends with the loop (bounded; see shutdown()).

        Telling ``shutdown()`` that the loop is over is the loop thread's last act,
        but the thread still has to unwind and exit, and the waiting thread may run
        first (the stdlib's own ``shutdown()`` can then leave ``thread.is_alive()``
        true, ``tests/test_claims_core.py``), so we wait for the exit itself, which
        is all that thread has left to do.

        When the loop is not its thread's whole job (``Thread(target=lambda:
        server.serve_forever())``, a loop called from other code), the thread may go on
        with other work, so we cannot wait for it to end; but it usually has nothing
        left either, so we give it a moment (``_THREAD_EXIT_GRACE``) and return as soon
        as it has ended.
        """
        if self.thread is threading.current_thread():
            return
        if self.ends_its_thread:
            self.thread.join(_THREAD_EXIT_TIMEOUT)
        elif self.thread is not threading.main_thread():
            self.thread.join(_THREAD_EXIT_GRACE)


# Every server object alive in this process, so that a forked child can reset each
# one's loop state (BaseServer._after_fork_in_child). Weak: it keeps no server alive.
_servers_in_this_process: weakref.WeakSet[BaseServer] = weakref.WeakSet()


def _forget_parent_loops() -> None:
    for server in list(_servers_in_this_process):
        server._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_loops)

# Seconds the serve loop waits before calling accept() again after it failed for want of
# a descriptor: long enough not to spin, short enough that service resumes promptly.
_OUT_OF_DESCRIPTORS_PAUSE = 0.1
# accept() errors that mean "this process (or the system) has no descriptor to give".
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE}

# Longest shutdown() waits for a loop's thread to exit after the loop has ended: it
# has nothing left to run but its own exit, so this bound is only a safety net.
_THREAD_EXIT_TIMEOUT = 1.0
# How long shutdown() gives a loop's thread to end when the loop may not be all that
# thread does: the thread's unwinding takes microseconds, so this is only spent, in full,
# when the thread goes on with other work. Short next to the stdlib's shutdown() (a
# quarter of a second on average, its poll_interval's half).
_THREAD_EXIT_GRACE = 0.01


def _called_as_thread_target() -> bool:
    """True when our caller's caller is ``threading.Thread.run``: the loop is the thread's job.

    Only then does ``shutdown()`` wait for the thread itself to end. Called any other way
    (an override of ``serve_forever`` that calls ``super()``, a ``lambda``), the loop may
    be followed by other work in the same thread, which ``shutdown()`` must not wait for.
    """
    get_frame = getattr(sys, "_getframe", None)
    if get_frame is None:  # pragma: no cover - Pythons without frame introspection
        return False
    caller = get_frame(2)  # 0: this function, 1: serve_forever, 2: whoever called it
    return caller is not None and caller.f_code is threading.Thread.run.__code__


# What _ServeLoopWaiter.wait() reports about the server socket.
_IDLE = "idle"
_REQUEST_WAITING = "request waiting"
_SOCKET_CLOSED = "socket closed"


class _ServeLoopWaiter:
    """Wait until the server socket or the wake-up socket is ready, or a timeout passes.

    Where ``select.poll`` exists this calls it directly: the loop waits once per
    request, and the ``selectors`` wrapper adds its own Python-level bookkeeping to
    every wait (the Performance page lists it among the costs profiling removed).
    Elsewhere it falls back
    to ``selectors``. ``wait()`` tells the loop one of three things: nothing
    happened (``_IDLE``), a request is waiting, or the server socket was closed
    under the loop (poll reports that as ``POLLNVAL``; the loop must stop rather
    than spin on a dead descriptor, as the stdlib's does).
    """

    def __init__(self, server_fd: int, wakeup_fd: int):
        self._server_fd = server_fd
        self._poller: select.poll | None = None
        self._selector: selectors.BaseSelector | None = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(server_fd, select.POLLIN)
            self._poller.register(wakeup_fd, select.POLLIN)
        else:  # pragma: no cover - only on platforms without poll()
            self._selector = _ServerSelector()
            self._selector.register(server_fd, selectors.EVENT_READ)
            self._selector.register(wakeup_fd, selectors.EVENT_READ)

    def wait(self, timeout: float | None) -> str:
        if self._poller is None:  # pragma: no cover - only on platforms without poll()
            return self._wait_with_selector(timeout)
        events = self._poller.poll(None if timeout is None else timeout * 1000)
        for fd, mask in events:
            if fd == self._server_fd:
                return _SOCKET_CLOSED if mask & select.POLLNVAL else _REQUEST_WAITING
        return _IDLE

    def wait_for_wakeup(self, timeout: float) -> None:
        """Wait ``timeout`` seconds for the wake-up socket alone, ignoring the server's."""
        if self._poller is None:  # pragma: no cover - only on platforms without poll()
            time.sleep(timeout)
            return
        self._poller.modify(self._server_fd, 0)  # POLLIN off for a while
        try:
            self._poller.poll(timeout * 1000)
        finally:
            self._poller.modify(self._server_fd, select.POLLIN)

    def _wait_with_selector(self, timeout: float | None) -> str:  # pragma: no cover
        assert self._selector is not None
        for key, _events in self._selector.select(timeout):
            if key.fd == self._server_fd:
                return _REQUEST_WAITING
        return _IDLE

    def close(self) -> None:
        if self._selector is not None:  # pragma: no cover
            self._selector.close()


class TCPServer(BaseServer):
    """A server on a stream socket: one request is one accepted connection.

    The constructor creates the socket and, unless ``bind_and_activate`` is false,
    binds and activates it; if either step fails the socket is closed before the
    error reaches you, so a busy port never leaks a descriptor. Pass
    ``bind_and_activate=False`` to set socket options in between, then call
    ``server_bind()`` and ``server_activate()`` yourself.

    An IPv6 literal host such as ``"::1"`` selects ``AF_INET6`` for this instance
    (the class attribute stays ``AF_INET``), so ``TCPServer(("::1", 0), H)`` works.
    """

    #: The socket family; ``AF_INET6`` or ``AF_UNIX`` in subclasses.
    address_family: int = socket.AF_INET
    #: The socket type: a stream.
    socket_type: int = socket.SOCK_STREAM
    #: The ``listen()`` backlog: connections the kernel queues while we are busy.
    #: 5 is the stdlib's value.
    request_queue_size: int = 5
    #: Set ``SO_REUSEADDR`` before binding, to rebind a port still in TIME_WAIT.
    allow_reuse_address: bool = False
    #: Set ``SO_REUSEPORT`` before binding, to share a port between processes.
    allow_reuse_port: bool = False

    def __init__(
        self,
        server_address: Address,
        RequestHandlerClass: RequestHandlerFactory,
        bind_and_activate: bool = True,
    ):
        super().__init__(server_address, RequestHandlerClass)
        if _is_ipv6_literal_address(server_address) and self.address_family == socket.AF_INET:
            self.address_family = socket.AF_INET6
        self.socket = socket.socket(self.address_family, self.socket_type)
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except BaseException:
                self.server_close()
                raise

    def server_bind(self) -> None:
        """Apply the reuse options and bind the socket to ``server_address``. May be overridden.

        Afterwards ``server_address`` holds the address really bound, so a port of 0
        ("any free port") is replaced by the port the kernel chose.
        """
        if self.allow_reuse_address and hasattr(socket, "SO_REUSEADDR"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.allow_reuse_port and hasattr(socket, "SO_REUSEPORT"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            self.socket.bind(self.server_address)
        except OSError as error:
            _add_note(error, _bind_error_note(error, self.server_address, self.socket))
            raise
        except (OverflowError, TypeError, ValueError) as error:
            # A malformed address: a port out of range, a port given as text, ...
            _add_note(error, f"cannot bind to {self.server_address!r}: check the address")
            raise
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        """Start listening, with a backlog of ``request_queue_size``. May be overridden."""
        self.socket.listen(self.request_queue_size)

    def fileno(self) -> int:
        """Return the listening socket's file descriptor, for use with ``selectors``."""
        return self.socket.fileno()

    def get_request(self) -> tuple[socket.socket, Address]:
        """Accept one connection: the new socket is the request."""
        return self.socket.accept()

    def shutdown_request(self, request: socket.socket) -> None:
        """Say "no more data" to the client, then close the connection.

        ``shutdown(SHUT_WR)`` sends the FIN explicitly so the client sees a clean
        end of stream even if a child process still holds a copy of the socket.
        """
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client is already gone; closing is all that is left
        self.close_request(request)

    def close_request(self, request: socket.socket) -> None:
        """Close the connection's socket."""
        request.close()

    def server_close(self) -> None:
        """Close the listening socket. Safe to call more than once.

        If a ``serve_forever()`` loop is still running, it is told to stop: it could
        serve nothing more, and would otherwise wait on a dead descriptor.
        """
        self.socket.close()
        self._stop_serve_loop_after_close()


class UDPServer(TCPServer):
    """A server on a datagram socket: one request is one packet.

    There are no connections, so there is nothing to listen on, accept or close
    per request. The request handed to the handler is the pair ``(data, socket)``;
    the reply goes back with ``socket.sendto(reply, client_address)``. A datagram
    longer than ``max_packet_size`` is truncated to that size by the kernel.
    """

    socket_type: int = socket.SOCK_DGRAM
    allow_reuse_address: bool = False
    #: The largest datagram read in one request. 8192 is the stdlib's value; the
    #: rest of a longer datagram is discarded by the kernel.
    max_packet_size: int = 8192

    def server_activate(self) -> None:
        """Do nothing: a datagram socket receives as soon as it is bound."""

    # The request type differs from TCPServer's: UDPServer inherits TCPServer's
    # socket set-up, not its notion of a request (the stdlib's hierarchy, kept for
    # drop-in compatibility), hence the type-checker overrides below.
    def get_request(self) -> tuple[tuple[bytes, socket.socket], Address]:  # type: ignore[override]
        """Read one datagram; the request is ``(data, server_socket)``."""
        data, client_address = self.socket.recvfrom(self.max_packet_size)
        return (data, self.socket), client_address

    def shutdown_request(self, request: tuple[bytes, socket.socket]) -> None:  # type: ignore[override]
        """Nothing to shut down: the socket is shared by all clients."""
        self.close_request(request)

    def close_request(self, request: tuple[bytes, socket.socket]) -> None:  # type: ignore[override]
        """Nothing to close: the socket is shared by all clients."""


if hasattr(socket, "AF_UNIX"):

    class _SocketFileOwner(TCPServer):
        """Remember the socket file this server created, to remove it on close if asked.

        Binding an ``AF_UNIX`` socket creates a file, and the stdlib leaves it behind
        when the server closes: the next bind to that path fails with "Address
        already in use" until someone deletes it. Programs written for the stdlib
        delete it themselves after ``server_close()``, so removing it for them by
        default would make their own ``os.unlink()`` fail. It is therefore opt-in:
        set ``remove_socket_file_on_close = True``.

        Even then, only the file this server created is removed (same device and
        inode, never one someone else has put at the path since), and only by the
        process that bound it: a forked child (a pre-fork worker, a daemonizing
        parent) that closes its inherited copy of the server leaves the file to the
        process still serving on it.
        """

        remove_socket_file_on_close: bool  # set, and documented, by the public classes

        # (device, inode) of the file server_bind() created, and the pid that bound it.
        _socket_file_identity: tuple[int, int] | None = None
        _socket_file_bound_by_pid: int | None = None

        def server_bind(self) -> None:
            super().server_bind()
            path = self.server_address
            if _is_filesystem_path(path):
                info = os.stat(path)
                self._socket_file_identity = (info.st_dev, info.st_ino)
                self._socket_file_bound_by_pid = os.getpid()

        def server_close(self) -> None:
            super().server_close()
            if self.remove_socket_file_on_close and self._socket_file_bound_by_pid == os.getpid():
                self._remove_socket_file()

        def _remove_socket_file(self) -> None:
            identity, self._socket_file_identity = self._socket_file_identity, None
            if identity is None:
                return  # nothing created, or already removed by an earlier close
            try:
                info = os.stat(self.server_address)
                if (info.st_dev, info.st_ino) == identity:
                    os.unlink(self.server_address)
            except OSError:
                pass  # already removed, or the directory is gone: nothing to clean

    class UnixStreamServer(_SocketFileOwner, TCPServer):
        """A stream server on a Unix domain socket (a filesystem path)."""

        address_family: int = socket.AF_UNIX
        #: Remove the socket file in ``server_close()`` (ours; the stdlib never does).
        #: Off by default, so that a stdlib program that removes the file itself keeps
        #: working. Only the file this server's ``server_bind()`` created, and only in
        #: the process that called it, is ever removed.
        remove_socket_file_on_close: bool = False

    class UnixDatagramServer(_SocketFileOwner, UDPServer):
        """A datagram server on a Unix domain socket.

        A client must bind its own socket to a path of its own before sending:
        otherwise it has no address the reply could be sent to.
        """

        address_family: int = socket.AF_UNIX
        #: Remove the socket file in ``server_close()`` (ours; the stdlib never does).
        #: Off by default, so that a stdlib program that removes the file itself keeps
        #: working. Only the file this server's ``server_bind()`` created, and only in
        #: the process that called it, is ever removed.
        remove_socket_file_on_close: bool = False

    __all__ += ["UnixStreamServer", "UnixDatagramServer"]


def _is_ipv6_literal_address(address: Address) -> bool:
    """True for ``("::1", port)`` and other tuples whose host is an IPv6 literal."""
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return False
    host = address[0].split("%", 1)[0]  # drop a zone index such as "fe80::1%eth0"
    if ":" not in host:
        return False
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except (OSError, ValueError):
        return False
    return True


def _is_filesystem_path(address: Address) -> bool:
    """True for a Unix socket path on disk (not the Linux abstract namespace)."""
    if isinstance(address, bytes):
        return bool(address) and not address.startswith(b"\0")
    return isinstance(address, str) and bool(address) and not address.startswith("\0")


def _add_note(error: BaseException, note: str) -> None:
    """Attach ``note`` to ``error`` the PEP 678 way, leaving the error itself untouched.

    The exception keeps its type, ``errno``, ``strerror`` and ``args``, exactly what
    the stdlib raises, so code that inspects them sees no difference; tracebacks
    print the note under the error's own line (Python 3.11+; on 3.10 the note is
    only in ``error.__notes__``, which 3.10's tracebacks do not show).
    """
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10: no add_note() yet, but the attribute is the same
        notes = getattr(error, "__notes__", None)
        if notes is None:
            notes = []
            error.__notes__ = notes  # type: ignore[attr-defined, unused-ignore]  # 3.10 stubs
        notes.append(note)


def _bind_error_note(error: OSError, address: Address, sock: socket.socket) -> str:
    """Which address could not be bound, and what the reader should try next."""
    return f"cannot bind to {address!r}: {_bind_error_hint(error, address, sock)}"


def _bind_error_hint(error: OSError, address: Address, sock: socket.socket) -> str:
    """What to try next, for the errors a bind commonly meets."""
    if isinstance(error, socket.gaierror):
        if error.errno in _ADDRESS_FAMILY_MISMATCH:
            family_name = socket.AddressFamily(sock.family).name
            return (
                f"the host is not an address of the server's family ({family_name}); "
                "use an address of that family, or a server class with another address_family"
            )
        host = address[0] if isinstance(address, tuple) and address else None
        if isinstance(host, str) and host.startswith("[") and host.endswith("]"):
            return (
                "drop the square brackets: they wrap an IPv6 address in a URL, not in a "
                f"(host, port) tuple; write {host[1:-1]!r}"
            )
        return "the host name could not be resolved; check its spelling, or use '127.0.0.1'"
    if error.errno == errno.EADDRINUSE and isinstance(address, (str, bytes)):
        return (
            "a file already exists at that path; if no server is listening there it is a "
            "stale socket file: remove it and try again, or choose another path"
        )
    if error.errno == errno.EADDRINUSE and sock.type == socket.SOCK_STREAM:
        # Linux keeps the connections a server closed first in TIME_WAIT for 60 s,
        # and they hold the port unless the old server *and* the new one set
        # SO_REUSEADDR (tests/test_claims_core.py shows all four combinations).
        return (
            "another socket holds this port: a server that is still running, or the "
            "closed connections of one that stopped in the last minute (TCP's TIME_WAIT). "
            "Stop the other server, pick another port, or use port 0 for any free port; "
            "to restart on the same port at once, set allow_reuse_address = True on the "
            "server class (the server that stopped must have set it too)"
        )
    if error.errno == errno.EADDRINUSE:
        return (
            "another socket is bound to this port (datagram ports have no TIME_WAIT: one is "
            "free again as soon as the socket holding it closes). Close that socket or stop "
            "its program, pick another port, or use port 0 for any free port"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            "that address does not belong to this machine; use '127.0.0.1' or "
            "'localhost' to serve locally"
        )
    if error.errno == errno.EACCES:
        return (
            "permission denied; binding a port below 1024 needs privileges (on Linux, by "
            "default), so try a port above 1024"
        )
    return "check the address and try again"


# getaddrinfo()'s answers for "this host is not of the socket's address family".
_ADDRESS_FAMILY_MISMATCH = {
    code
    for code in (getattr(socket, "EAI_ADDRFAMILY", None), getattr(socket, "EAI_FAMILY", None))
    if code is not None
}
