"""Concurrency mixins: handle each request in a thread, a process, or a pool.

The problem
-----------
The servers in :mod:`socketserver_lit.servers` are synchronous: ``serve_forever()``
gets a request, handles it to the end, and only then looks for the next one. While
one slow client is being served, everyone else waits in the kernel's listen queue:
the server is "deaf".

The shape of the fix
--------------------
The request pipeline has one seam made for this: ``process_request(request,
client_address)``. Everything before it (waiting, getting, verifying) stays in the
serving thread; everything after it (``finish_request`` and ``shutdown_request``)
can run somewhere else. Each mixin below overrides ``process_request`` to move that
work elsewhere, and ``server_close`` to wait for it to end. Nothing else changes,
which is why a mixin can be combined with any server class::

    class ThreadingUDPServer(ThreadingMixIn, UDPServer):
        pass

The mixin must come *first* in the bases, so that its ``process_request`` is found
before the server's.

The three answers
-----------------
``ThreadingMixIn``
    A new thread per request. Cheap to start, shares memory with the server (so
    shared state needs locks), and scales until the number of threads hurts.
``ForkingMixIn``
    A new child process per request (POSIX only). Full isolation: a crash or a
    memory leak dies with the child, but nothing the child changes reaches the
    parent, and a fork costs far more than a thread (the Performance page measured
    about 2,000 µs of server CPU time per request for ``ForkingTCPServer`` against
    about 270 µs for ``ThreadingTCPServer``, CPython 3.11 on Linux).
``ThreadPoolMixIn`` (ours, not in the stdlib)
    At most ``max_workers`` threads fed from a queue of at most
    ``max_queued_requests`` accepted requests; when both are full the server stops
    accepting, so a flood waits in the kernel's backlog instead of in this process
    (backpressure). No thread start-up cost per request.

All three report a handler's ``Exception`` through ``handle_error`` and always shut
the request down, exactly as the synchronous server does.

Next: ``notebooks/course/05-deaf-server.ipynb`` measures what each one buys;
``notebooks/course/09-slow-clients-backpressure.ipynb`` floods each one and shows
what the pool's bound keeps out.
"""

from __future__ import annotations

import collections
import itertools
import os
import select
import sys
import threading

TYPE_CHECKING = False  # typing is imported only by type checkers (see servers.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ThreadingMixIn", "ThreadPoolMixIn"]

# concurrent.futures.ThreadPoolExecutor's default pool size: the CPUs this process may
# use + 4, at most 32 (3.13 counts the CPUs with os.process_cpu_count()).
_DEFAULT_MAX_WORKERS = min(32, (getattr(os, "process_cpu_count", os.cpu_count)() or 1) + 4)

# The longest one wait for a thread (or for room in the pool) lasts before the waiting
# thread runs Python code again. Python runs a signal handler (Ctrl-C's included) only
# in the main thread, between bytecodes. A signal that the kernel delivers to another
# thread does not interrupt the main thread's wait, so its handler would run only once
# the wait ends: for a request thread held by a client that stays connected, never.
# Waiting in slices of this many seconds means the handler runs within one slice.
# (Tests: test_claims_docs.py, the stdlib beside us; test_claims_core.py, the pool.)
_SIGNAL_CHECK_INTERVAL = 0.1


def _wait_for_thread(thread: threading.Thread) -> None:
    """``thread.join()``, in slices, so that a Ctrl-C meanwhile is never held up."""
    # The first join() raises what join() raises (RuntimeError for a thread that never
    # started, or for the current thread), as the stdlib's server_close() does.
    thread.join(_SIGNAL_CHECK_INTERVAL)
    while thread.is_alive():
        thread.join(_SIGNAL_CHECK_INTERVAL)


def _run_to_the_end(server: Any, request: Any, client_address: Any) -> None:
    """Handle one request outside the serving thread, exactly as the serve loop would.

    An ``Exception`` goes to ``handle_error``; the request is shut down on every path.
    """
    try:
        server.finish_request(request, client_address)
    except Exception:
        server.handle_error(request, client_address)
    finally:
        server.shutdown_request(request)


class ThreadingMixIn:
    """Handle each request in a new thread.

    ``daemon_threads`` decides whether those threads may be abandoned when the
    program exits; ``block_on_close`` decides whether ``server_close()`` waits for
    them. Finished threads are forgotten as new ones start, so a long-running server
    does not accumulate one entry per request it ever served.
    """

    #: Make request threads daemons: the interpreter will not wait for them at exit,
    #: and ``server_close()`` does not join them. Decide this explicitly.
    daemon_threads: bool = False
    #: Make ``server_close()`` wait for every non-daemon request thread to finish.
    block_on_close: bool = True
    # Per-instance list of threads server_close() must join; created on first use.
    _request_threads: list[threading.Thread] | None = None

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Run one request to its end; this is the body of each request thread."""
        _run_to_the_end(self, request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread to handle the request, and return at once."""
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address)
        )
        thread.daemon = self.daemon_threads
        if self.block_on_close and not thread.daemon:
            self._remember_thread(thread)
        thread.start()

    def _remember_thread(self, thread: threading.Thread) -> None:
        threads = self._request_threads
        if threads is None:
            threads = self._request_threads = []
        # Forget finished threads as we go, so memory stays flat however many
        # requests the server has served.
        threads[:] = [t for t in threads if t.is_alive()]
        threads.append(thread)

    def server_close(self) -> None:
        """Close the server, then wait for running request threads (see ``block_on_close``).

        The wait is in slices of 0.1 s, where the stdlib's is in one piece, so a Ctrl-C
        meanwhile raises ``KeyboardInterrupt`` within 0.1 s, whichever thread the kernel
        delivered the signal to (see ``_SIGNAL_CHECK_INTERVAL``).
        """
        super().server_close()  # type: ignore[misc]
        threads, self._request_threads = self._request_threads or [], None
        for thread in threads:
            _wait_for_thread(thread)


class ThreadPoolMixIn:
    """Handle requests in a fixed pool of threads, and stop taking requests when it is full.

    Accepted requests wait in a queue until one of at most ``max_workers`` workers is
    free, so a burst of clients costs queue entries rather than threads. The queue is
    bounded too: the pool holds at most ``max_workers + max_queued_requests`` accepted
    requests, running or waiting. When it is full, the serving thread stops taking
    requests (no ``accept()``, no ``recvfrom()``) until a worker finishes one, and the
    rest wait where they wait for a synchronous server: a connection in the kernel's
    listen backlog (``request_queue_size``; once that is full, Linux drops new
    connection requests, and those clients retry and then time out); a datagram in the
    socket's receive buffer, where the kernel drops new datagrams once it is full.
    That is *backpressure*: a flood costs the kernel's queues, not this process's
    descriptors, threads and memory.

    Workers start on demand, up to ``max_workers``, and stay for the life of the
    server. ``shutdown()`` and ``server_close()`` work while the serving thread waits
    for room; nothing accepted is dropped: ``server_close()`` lets the workers finish
    every accepted request, then (with ``block_on_close``) waits for them. Errors
    behave as in :class:`ThreadingMixIn`.

    While the pool is full, ``handle_request()`` waits for room after its
    ``timeout`` has found a request ready, as a synchronous server would be busy.
    """

    #: The most threads the pool will run. Default: the same rule as
    #: ``concurrent.futures.ThreadPoolExecutor`` (CPU count + 4, at most 32).
    max_workers: int = _DEFAULT_MAX_WORKERS
    #: The most accepted requests that may wait for a worker; beyond
    #: ``max_workers`` running and this many waiting, the server stops accepting.
    #: Default: as many as the default ``max_workers``, so that under load every
    #: worker that finishes finds its next request already accepted. Set 0 to keep
    #: every waiting client in the kernel's backlog; ``None`` for no bound (the pool
    #: then bounds only its threads, and a flood piles up accepted sockets).
    max_queued_requests: int | None = _DEFAULT_MAX_WORKERS
    #: Make workers daemon threads, so the interpreter does not wait for them at exit.
    daemon_threads: bool = False
    #: Make ``server_close()`` wait until the workers have finished every accepted request.
    block_on_close: bool = True

    # The pool's state, created on first use, all guarded by _pool_lock.
    _pool_lock: threading.Lock
    _pool_work: threading.Condition  # workers wait here for a queued request
    _pool_room: threading.Condition  # the serving thread waits here for room
    _pool_queue: collections.deque[tuple[Any, Any]]
    _pool_workers: list[threading.Thread]
    _pool_idle_workers: int  # waiting for work, and not yet claimed by a queued request
    _pool_in_flight: int  # accepted and not yet finished: queued or running
    _pool_closing: bool
    _pool_worker_numbers: itertools.count[int]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Run one request to its end, in a worker; the same body as ThreadingMixIn's."""
        _run_to_the_end(self, request, client_address)

    # -- the pool's settings, checked before any request is taken ----------------------

    def server_activate(self) -> None:
        """Check the pool's settings, then activate as the server class does.

        Raises:
            ValueError, TypeError: ``max_workers`` or ``max_queued_requests`` is
                not a usable number, at construction rather than at the first request.
        """
        _check_pool_settings(self)
        super().server_activate()  # type: ignore[misc]

    def _check_before_serving(self) -> None:
        # Run by serve_forever() and handle_request() before they wait for a request:
        # the settings may have changed since the server was built.
        _check_pool_settings(self)

    def _after_fork_in_child(self) -> None:
        """In a forked child, start the pool afresh: the parent's workers do not run here."""
        super()._after_fork_in_child()  # type: ignore[misc]
        for name in [name for name in vars(self) if name.startswith("_pool_")]:
            delattr(self, name)  # _ensure_pool() builds a new pool on first use

    # -- the serving thread's side ---------------------------------------------------

    def get_request(self) -> Any:
        """Wait until the pool has room, then take the next request (backpressure).

        Raises ``InterruptedError`` (an ``OSError``, which the serve loop treats as
        "nothing to serve") when the server is shut down or closed during the wait:
        the request stays in the kernel's queue, untouched.
        """
        self._ensure_pool()
        if self._wait_for_room():
            # We waited: the client may have given up meanwhile, and accept() on a
            # blocking socket with nothing ready would block where shutdown() can't
            # reach. Take a request only if one is still there.
            if not _ready_to_read(self.fileno()):  # type: ignore[attr-defined]
                raise InterruptedError("the request that was waiting has gone")
        return super().get_request()  # type: ignore[misc]

    def _wait_for_room(self) -> bool:
        """Block until the pool can take one more request; True if it had to wait."""
        waited = False
        with self._pool_lock:
            while not self._pool_has_room():
                if self._pool_stopping():
                    raise InterruptedError("the server is stopping; the request stays queued")
                waited = True
                self._pool_room.wait(_SIGNAL_CHECK_INTERVAL)
        return waited

    def _pool_has_room(self) -> bool:
        if self.max_queued_requests is None:
            return True
        return self._pool_in_flight < self.max_workers + self.max_queued_requests

    def _pool_stopping(self) -> bool:
        # The serve loop's stop flag and closed flag belong to BaseServer (servers.py).
        return self._pool_closing or self._shutdown_requested or self._closed  # type: ignore[attr-defined]

    def _wake_serve_loop(self) -> None:
        """Wake the serve loop, and a serving thread waiting for room (see servers.py)."""
        super()._wake_serve_loop()  # type: ignore[misc]
        if "_pool_lock" in vars(self):
            with self._pool_lock:
                self._pool_room.notify_all()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the request and make sure a worker will take it.

        Each queued request *claims* one idle worker; when none is idle, a new
        worker is started for it (up to ``max_workers``); otherwise the next worker
        to finish takes it. Counting claims rather than looking at who is waiting
        means two requests that arrive together never share one worker while the
        pool still has room for another.
        """
        self._ensure_pool()
        with self._pool_lock:
            self._pool_queue.append((request, client_address))
            self._pool_in_flight += 1
            if self._pool_idle_workers > 0:
                self._pool_idle_workers -= 1
                self._pool_work.notify()
            elif len(self._pool_workers) < self.max_workers:
                self._start_worker()

    def _ensure_pool(self) -> None:
        if "_pool_lock" in vars(self):
            return
        _check_pool_settings(self)
        self._pool_lock = threading.Lock()
        self._pool_work = threading.Condition(self._pool_lock)
        self._pool_room = threading.Condition(self._pool_lock)
        self._pool_queue = collections.deque()
        self._pool_workers = []
        self._pool_idle_workers = 0
        self._pool_in_flight = 0
        self._pool_closing = False
        self._pool_worker_numbers = itertools.count(1)

    # -- the workers' side -------------------------------------------------------------

    def _start_worker(self) -> None:
        """Start one more worker. Caller holds the lock."""
        worker = threading.Thread(
            target=self._worker_loop,
            name=f"{type(self).__name__}-worker-{next(self._pool_worker_numbers)}",
            daemon=self.daemon_threads,
        )
        self._pool_workers.append(worker)
        worker.start()

    def _worker_loop(self) -> None:
        try:
            while True:
                with self._pool_lock:
                    while not self._pool_queue:
                        if self._pool_closing:
                            return  # every accepted request is done or taken
                        self._pool_idle_workers += 1
                        # Whoever wakes us has already taken us off the idle count.
                        self._pool_work.wait()
                    request, client_address = self._pool_queue.popleft()
                try:
                    self.process_request_thread(request, client_address)
                finally:
                    with self._pool_lock:
                        self._pool_in_flight -= 1
                        self._pool_room.notify()  # a serving thread may wait for this slot
        finally:
            self._leave_pool()

    def _leave_pool(self) -> None:
        """Forget this worker; if it leaves requests behind with no one to run them, replace it.

        A worker leaves when the pool closes, or when an exception that is not an
        ``Exception`` (``SystemExit``, ``KeyboardInterrupt``) escapes a handler
        (``_run_to_the_end`` passes only ``Exception`` to ``handle_error``).
        """
        with self._pool_lock:
            self._pool_workers.remove(threading.current_thread())
            if self._pool_queue and self._pool_idle_workers == 0:
                self._start_worker()  # nothing accepted is left without a worker

    def server_close(self) -> None:
        """Close the server; the workers finish every accepted request; join them if blocking."""
        super().server_close()  # type: ignore[misc]
        if "_pool_lock" not in vars(self):
            return
        with self._pool_lock:
            self._pool_closing = True
            self._pool_idle_workers = 0
            self._pool_work.notify_all()  # idle workers leave; busy ones drain the queue first
            self._pool_room.notify_all()  # a serving thread waiting for room gives up
        if not self.block_on_close:
            return
        while True:  # a worker that left early may have started a replacement
            with self._pool_lock:
                workers = list(self._pool_workers)
            if not workers:
                return
            for worker in workers:
                _wait_for_thread(worker)


if hasattr(os, "fork"):

    class ForkingMixIn:
        """Handle each request in a new child process (POSIX only).

        The parent closes its copy of the request and goes straight back to
        serving. Finished children are *reaped* (their exit status collected, so
        they do not linger as zombies) on every turn of ``serve_forever()``, on a
        ``handle_request()`` timeout, and whenever ``max_children`` is reached.
        """

        #: Seconds ``handle_request()`` waits before ``handle_timeout()`` reaps children.
        timeout: float | None = 300
        #: The set of child pids still running, or ``None`` before the first fork.
        active_children: set[int] | None = None
        #: At most this many children run at once; the server waits for one to end
        #: before forking another. 40 is the stdlib's value.
        max_children: int = 40
        #: Make ``server_close()`` wait for every child to exit.
        block_on_close: bool = True

        def collect_children(self, *, blocking: bool = False) -> None:
            """Reap finished children; with ``blocking``, wait for all of them to end."""
            if self.active_children is None:
                return
            # Over the limit: wait for any child at all to end before going on.
            while len(self.active_children) >= self.max_children:
                if not self._reap_one(-1, 0):
                    break
            for pid in list(self.active_children):
                self._reap_one(pid, 0 if blocking else os.WNOHANG)

        def _reap_one(self, pid: int, flags: int) -> bool:
            """Call waitpid() once and forget the child if it ended.

            Returns False when there is no child left to wait for.
            """
            assert self.active_children is not None
            try:
                ended_pid, _status = os.waitpid(pid, flags)
            except ChildProcessError:
                # Someone else reaped it (or it was never ours): stop tracking it.
                if pid == -1:
                    self.active_children.clear()
                else:
                    self.active_children.discard(pid)
                return False
            if ended_pid == 0:  # WNOHANG and still running
                return True
            self.active_children.discard(ended_pid)
            return True

        def handle_timeout(self) -> None:
            """Use an idle ``handle_request()`` timeout to reap children."""
            self.collect_children()

        def service_actions(self) -> None:
            """Reap children on every turn of the ``serve_forever()`` loop."""
            self.collect_children()

        def process_request(self, request: Any, client_address: Any) -> None:
            """Fork; the child handles the request and exits, the parent moves on."""
            # Empty our print buffers first: the child gets a copy of them, and
            # would otherwise print the parent's pending output a second time.
            _flush_standard_streams()
            # Make room first, so the limit holds even for servers driven by
            # handle_request(), where no service_actions() runs between requests.
            if self.active_children and len(self.active_children) >= self.max_children:
                self.collect_children()
            pid = os.fork()
            if pid:
                if self.active_children is None:
                    self.active_children = set()
                self.active_children.add(pid)
                # The child has its own copy of the connection. The parent's copy
                # is of no use to it, and keeping it would leak one descriptor per
                # request. (The client sees the end of the stream either way: the
                # child's shutdown(SHUT_WR) ends it for every holder of the socket.)
                self.close_request(request)  # type: ignore[attr-defined]
                return
            self._serve_in_child(request, client_address)

        def _serve_in_child(self, request: Any, client_address: Any) -> None:
            exit_status = 1
            try:
                self.finish_request(request, client_address)  # type: ignore[attr-defined]
                exit_status = 0
            except Exception:
                self.handle_error(request, client_address)  # type: ignore[attr-defined]
            finally:
                try:
                    self.shutdown_request(request)  # type: ignore[attr-defined]
                finally:
                    _flush_standard_streams()  # what the handler printed must not be lost
                    # os._exit, not sys.exit: the child must never return into the
                    # parent's serve loop, run its atexit handlers or flush its
                    # copies of the parent's buffers.
                    os._exit(exit_status)

        def server_close(self) -> None:
            """Close the server, then reap children (waiting for them if ``block_on_close``)."""
            super().server_close()  # type: ignore[misc]
            self.collect_children(blocking=self.block_on_close)

    __all__ += ["ForkingMixIn"]


def _check_pool_settings(server: ThreadPoolMixIn) -> None:
    """Refuse pool settings that could only fail later, inside the serve loop."""
    workers, queued = server.max_workers, server.max_queued_requests
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise TypeError(f"max_workers must be a whole number of threads, not {workers!r}")
    if workers < 1:
        raise ValueError(f"max_workers must be at least 1, not {workers!r}")
    if queued is not None and (not isinstance(queued, int) or isinstance(queued, bool)):
        raise TypeError(
            "max_queued_requests must be a whole number of requests, or None for no bound, "
            f"not {queued!r}"
        )
    if queued is not None and queued < 0:
        raise ValueError(
            f"max_queued_requests must be 0 or more, or None for no bound, not {queued!r}"
        )


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: there is nothing we could save


def _ready_to_read(fd: int) -> bool:
    """True if ``fd`` has something to read right now (a connection, a datagram)."""
    if hasattr(select, "poll"):  # no FD_SETSIZE limit, as in the serve loop
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - no poll()
    return bool(readable)
