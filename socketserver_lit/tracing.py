r"""Tracing: watch a server's hooks being called, by which thread, in which process.

Why trace
---------
The specification names the methods a request passes through: ``get_request``,
``verify_request``, ``process_request``, ``finish_request``, then the handler's
``setup``, ``handle`` and ``finish``; around them ``server_bind``, ``server_activate``,
``service_actions``, ``handle_timeout``, ``handle_error``, ``shutdown`` and
``server_close``. The standard library has two more that it does not document,
``shutdown_request`` and ``close_request``, which end every request; we have them too.
A list says nothing about *who* calls each method. In a synchronous server the thread
that runs the serve loop runs every request from ``get_request`` to ``close_request``.
A threading server runs the second half of each request, from ``finish_request`` on,
in a new thread; a forking server runs it in a new child process, and the parent
still closes its own copy of the connection with ``close_request``. Recording each
call as it happens, with the thread and the process that made it, shows all of that.
(The tests run each of these scenarios against the standard library and against us,
and compare what the tracer saw.)

How it works
------------
A ``Tracer`` makes *subclasses* of your classes: ``tracer.trace_server(cls)``
returns a class derived from ``cls`` whose hook methods write a record, call the
original through ``super()``, then write a second record saying how it ended.
Nothing in either package is patched, so the same tracer works on our servers, on
the standard library's, and on any class you write. A traced server also traces the
handler class you give it. Here is a complete program, ``traced_echo.py``::

    import socket
    import threading

    from socketserver_lit import StreamRequestHandler, ThreadingTCPServer
    from socketserver_lit.tracing import Tracer


    class EchoHandler(StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline())


    with Tracer() as tracer:
        TracedServer = tracer.trace_server(ThreadingTCPServer)
        with TracedServer(("127.0.0.1", 0), EchoHandler) as server:
            serving = threading.Thread(target=server.serve_forever)
            serving.start()
            with socket.create_connection(server.server_address, timeout=5) as client:
                client.sendall(b"hello\n")
                with client.makefile("rb") as replies:
                    print(replies.readline())
            tracer.wait_for("close_request")  # the request's thread is done with it
            server.shutdown()
            serving.join()
        print(tracer.timeline(hide=["service_actions"]))  # idle turns depend on timing

Running it prints this (a test runs the program above and compares)::

    $ python traced_echo.py
    b'hello\n'
     #  who                                call
     1  main                               server_bind
     2  main                               server_activate
     3  thread 1 (serve_forever)           get_request
     4  thread 1 (serve_forever)           verify_request -> True
     5  thread 1 (serve_forever)           process_request
     6  thread 2 (process_request_thread)  finish_request
     7  thread 2 (process_request_thread)    setup
     8  thread 2 (process_request_thread)    handle
     9  thread 2 (process_request_thread)    finish
    10  thread 2 (process_request_thread)  shutdown_request
    11  thread 2 (process_request_thread)    close_request
    12  main                               shutdown
    13  main                               server_close

Each record holds the process id, the thread name, the nesting depth within that
thread and a monotonic timestamp. A call writes a ``call`` record before the method
runs and a ``return`` (or ``raise``) record after it; a process that exits inside a
call never writes the second one.

Getting records out of forked children
--------------------------------------
A forked child cannot append to the parent's lists: ``fork()`` gives the child a copy
of the parent's memory, and what the child changes stays in its copy. So records do
not go to memory at all. Each is one line of JSON, written with one ``os.write()`` to
a temporary file that is opened with ``O_APPEND`` and removed from its directory at
once (so nothing is left behind, even if the process is killed). Every forked child
inherits the descriptor. With ``O_APPEND`` the kernel moves to the end of the file and
writes in one step, so no record overwrites another (POSIX promises this), and Linux
does not let two writes to a regular file interleave, so each record lands whole. The
file's order is therefore the order in which the writes happened, across threads
*and* processes, with no lock shared between processes. Because a call is written
before its method runs, a call that caused another (``process_request`` starting a
thread or forking a child) always comes first. The tests check this on Linux, with
threads and processes writing at once; it does not hold on NFS, where the open(2)
manual warns that ``O_APPEND`` appends can corrupt the file.

We chose a file over a pipe on purpose. A pipe holds a fixed amount (on Linux, 16
pages by default: 64 KiB with the usual 4 KiB pages) and a writer blocks while it is
full. A busy child would block on a full pipe while the parent, waiting in
``server_close()`` for that very child (a forking server waits for its children
unless ``block_on_close`` is false), was not reading it: a hang. A write to a file
waits for no reader, so tracing cannot stall the server it watches that way. The
parent reads whatever is new each time you ask for records.

Keeping timelines readable and repeatable
-----------------------------------------
``service_actions`` runs on every turn of the ``serve_forever()`` loop, idle turns
included, so how often it appears depends on timing (on ``poll_interval`` and on when
requests arrive). The renderers therefore *collapse* consecutive calls of it by the
same thread into one line marked ``+`` ("one or more"; the exact count is in
``Call.repeats``), and can *hide* any hook you list. Actors are named by first appearance (``main``,
``thread 1 (serve_forever)``, ``child 1``) rather than by raw thread names and pids,
so the same program gives the same timeline on every run wherever its order is fixed
by causality, as above. Where it is not (a forked child and its parent run at the
same time), the per-actor view (``timeline(by_actor=True)``) is still repeatable.

Used the wrong way, the tracer says so at once: a class traced by a closed tracer
refuses to run, ``trace_server()`` refuses a handler class, ``wait_for()`` refuses a
hook name that does not exist, and ``plot()`` names the package to install.

Next: ``notebooks/course/03-request-lifecycle.ipynb`` traces a synchronous, a
threading and a forking server with this module and draws what it saw.
"""

from __future__ import annotations

import bisect
import difflib
import json
import os
import re
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "SERVER_HOOKS",
    "HANDLER_HOOKS",
    "ALL_HOOKS",
    "TraceRecord",
    "Call",
    "Tracer",
]

#: The server methods a traced server records: the two its constructor calls, a request's
#: in the order it calls them, three that run when something happens (a turn of the serve
#: loop, a timeout, an error), and the two that end a server.
SERVER_HOOKS: tuple[str, ...] = (
    "server_bind",
    "server_activate",
    "get_request",
    "verify_request",
    "process_request",
    "finish_request",
    "shutdown_request",
    "close_request",
    "service_actions",
    "handle_timeout",
    "handle_error",
    "shutdown",
    "server_close",
)
#: The request handler methods a traced handler records.
HANDLER_HOOKS: tuple[str, ...] = ("setup", "handle", "finish")
#: Every hook a ``Tracer`` knows.
ALL_HOOKS: tuple[str, ...] = SERVER_HOOKS + HANDLER_HOOKS

#: Hooks collapsed by default: they fire on every loop turn, a timing-dependent number of times.
DEFAULT_COLLAPSE: tuple[str, ...] = ("service_actions",)

# Hooks that release something (a connection, the handler's files, the serve loop, the
# listening socket). Called after the tracer was closed, they still run before the error
# is raised, so a tracer closed too early does not also leave a socket open or a loop
# running.
_RELEASING_HOOKS: frozenset[str] = frozenset(
    {"finish", "shutdown_request", "close_request", "shutdown", "server_close"}
)

# The longest detail text stored in a record (an exception's type name, a returned bool).
_MAX_DETAIL = 200
# How much of the trace file one pread() asks for.
_READ_CHUNK = 1 << 16
# How often wait_for() looks for new records.
_WAIT_POLL_SECONDS = 0.005

ClassT = TypeVar("ClassT", bound=type)


@dataclass(frozen=True)
class TraceRecord:
    """One event as written by a traced method: a call, a return, or a raise.

    ``pid`` and ``thread`` say who recorded it; ``depth`` is how many traced calls that
    thread was already inside; ``time_ns`` comes from ``time.monotonic_ns()``, which on
    Linux reads ``CLOCK_MONOTONIC``, one clock for every process on the machine, so a
    forked child's times compare with its parent's. ``detail`` is the exception type
    for a ``raise``, the value for a ``return`` of a bool (``verify_request``), and for
    a call of ``handle_error`` the type of the exception being handled (both packages
    call ``handle_error`` while that exception is being handled). ``owner`` is the name
    of the class you traced. ``seq`` is the record's position in the trace.
    """

    seq: int
    hook: str
    event: str
    pid: int
    thread: str
    depth: int
    time_ns: int
    detail: str
    owner: str

    @property
    def actor(self) -> tuple[int, str]:
        """The (pid, thread name) pair that identifies who made the call."""
        return (self.pid, self.thread)


@dataclass(frozen=True)
class Call:
    """One traced call as the renderers show it: who, what, how deep, how it ended.

    ``actor`` is a readable, run-independent name (``main``, ``thread 2
    (process_request_thread)``, ``child 1``). ``outcome`` is ``"-> True"``/``"-> False"``
    for a returned bool, ``"raised ValueError"`` for an exception, and empty otherwise
    (also while the call is still running). ``repeats`` counts consecutive calls merged
    into this one by collapsing. ``start_seq``/``end_seq`` are the positions of the call
    and of its return in the trace; the ``end_`` fields are ``None`` if no return was
    recorded (the call is still running, or its process exited inside it).
    """

    index: int
    hook: str
    actor: str
    depth: int
    detail: str
    outcome: str
    repeats: int
    start_ns: int
    end_ns: int | None
    start_seq: int
    end_seq: int | None
    collapsed: bool = False

    @property
    def text(self) -> str:
        """The call as a short phrase: ``handle_error (ValueError)``, ``handle raised KeyError``."""
        words = self.hook + ("+" if self.collapsed else "")
        if self.detail and self.hook == "handle_error":
            words += f" ({self.detail})"
        if self.outcome:
            words += f" {self.outcome}"
        return words


class Tracer:
    """Record every hook call of the servers and handlers it traces, from every thread and child.

    Create one tracer per experiment, trace your classes with ``trace_server``
    (and, for handlers used elsewhere, ``trace_handler``), run the server, then
    render with ``timeline``, ``mermaid`` or ``plot``. Close the tracer
    (or use it in a ``with`` block) when done, after ``server_close()``: it holds one
    file descriptor. Once it is closed, the classes it traced refuse to run.

    Args:
        hooks: The hook names to record; by default all of ``ALL_HOOKS``. Leave a
            hook out to not record it at all (hiding it when rendering is usually enough).

    Raises:
        ValueError: a name in ``hooks`` is not a hook.
    """

    def __init__(self, *, hooks: Iterable[str] = ALL_HOOKS):
        self.hooks: frozenset[str] = frozenset(_hook_names(hooks, "hooks"))
        self._home_pid = os.getpid()
        self._fd = _open_append_only_temporary_file()
        self._closer = weakref.finalize(self, os.close, self._fd)
        self._closed = False
        # Guards the descriptor and the cache. A forked child gets a fresh one (see
        # _give_forked_children_fresh_locks): its copy may have been taken, at the moment
        # of the fork, by a parent thread that does not exist in the child.
        self._lock = threading.Lock()
        _LIVE_TRACERS.add(self)
        self._depth = threading.local()
        self._records: list[TraceRecord] = []
        self._read_offset = 0
        self._traced_classes: dict[type, type] = {}

    # -- making traced classes ----------------------------------------------------

    def trace_server(self, server_class: ClassT) -> ClassT:
        """Return a subclass of ``server_class`` whose server hooks are recorded.

        The subclass also traces the handler: after the constructor, a handler *class*
        in ``RequestHandlerClass`` is replaced by its traced subclass (a handler
        factory that is not a class, such as a ``functools.partial``, is left as is).
        Calling this twice with the same class returns the same subclass.

        Raises:
            TypeError: ``server_class`` is not a class, or is a request handler class.
            RuntimeError: the tracer is closed.
        """
        self._check_traceable(server_class, "trace_server", SERVER_HOOKS)
        return self._traced_subclass(server_class, SERVER_HOOKS, traces_its_handler=True)

    def trace_handler(self, handler_class: ClassT) -> ClassT:
        """Return a subclass of ``handler_class`` that records ``setup``, ``handle``, ``finish``.

        Raises:
            TypeError: ``handler_class`` is not a class, or is a server class.
            RuntimeError: the tracer is closed.
        """
        self._check_traceable(handler_class, "trace_handler", HANDLER_HOOKS)
        return self._traced_subclass(handler_class, HANDLER_HOOKS, traces_its_handler=False)

    def _check_traceable(self, cls: object, method: str, hooks: tuple[str, ...]) -> None:
        if not isinstance(cls, type):
            raise TypeError(
                f"{method}() takes a class, not {cls!r}: trace the class before you "
                f"create the object, e.g. tracer.{method}(TCPServer)"
            )
        if self._closed:
            raise RuntimeError(
                f"this Tracer is closed, so {method}({cls.__name__}) could record nothing: "
                "create a new Tracer() for a new experiment"
            )
        if _has_hooks(cls, hooks):
            return
        if method == "trace_server" and _has_hooks(cls, HANDLER_HOOKS):
            raise TypeError(
                f"trace_server() takes a server class, but {cls.__name__} is a request "
                "handler class: pass the server class (a traced server traces the handler "
                "it is given), or use trace_handler() to trace a handler alone"
            )
        if method == "trace_handler" and _has_hooks(cls, SERVER_HOOKS):
            raise TypeError(
                f"trace_handler() takes a request handler class, but {cls.__name__} is a "
                "server class: use trace_server(), which traces its handler too"
            )
        raise TypeError(
            f"{method}() found none of the hooks {', '.join(hooks)} on {cls.__name__}, "
            "so there would be nothing to record: pass a "
            + ("server class such as TCPServer" if hooks is SERVER_HOOKS else "handler class")
        )

    def _traced_subclass(
        self, cls: ClassT, hooks: tuple[str, ...], *, traces_its_handler: bool
    ) -> ClassT:
        if getattr(cls, "_socketserver_lit_tracer", None) is self:
            return cls  # already traced by this tracer (or derived from a class it traced)
        # A class traced by another tracer: trace what it was made from, so the other
        # tracer (perhaps closed by now) is left out of the new class entirely.
        cls = cls.__dict__.get("_socketserver_lit_untraced", cls)
        if cls in self._traced_classes:
            return self._traced_classes[cls]  # type: ignore[return-value]
        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__doc__": f"{cls.__name__}, with its hook calls recorded by a Tracer.",
            "_socketserver_lit_tracer": self,
            "_socketserver_lit_untraced": cls,
        }
        traced = type(cls)(f"Traced{cls.__name__}", (cls,), namespace)
        for hook in hooks:
            if hook in self.hooks and callable(getattr(cls, hook, None)):
                setattr(traced, hook, _traced_method(self, traced, hook, cls.__name__))
        if traces_its_handler:
            setattr(traced, "__init__", _traced_server_init(self, traced))  # noqa: B010
        self._traced_classes[cls] = traced
        return traced

    # -- recording (runs inside the traced server, in any thread or process) --------

    def _call(
        self,
        hook: str,
        owner: str,
        method: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if self._closed:
            if hook in _RELEASING_HOOKS:
                method(*args, **kwargs)  # release first: the mistake must not leak a socket
            raise self._closed_error(f"{owner}.{hook}() was called")
        depth = getattr(self._depth, "value", 0)
        call_detail = _handled_exception_name() if hook == "handle_error" else ""
        self._record(hook, "call", depth, call_detail, owner)
        self._depth.value = depth + 1
        try:
            result = method(*args, **kwargs)
        except BaseException as error:
            self._depth.value = depth
            self._record(hook, "raise", depth, type(error).__name__, owner)
            raise
        self._depth.value = depth
        self._record(hook, "return", depth, repr(result) if isinstance(result, bool) else "", owner)
        return result

    def _record(self, hook: str, event: str, depth: int, detail: str, owner: str) -> None:
        line = (
            json.dumps(
                [
                    hook,
                    event,
                    os.getpid(),
                    threading.current_thread().name,
                    depth,
                    time.monotonic_ns(),
                    detail[:_MAX_DETAIL],
                    owner,
                ]
            ).encode("utf-8")
            + b"\n"
        )
        with self._lock:
            # Checked again under the lock: close() may have run since _call looked.
            if not self._closed:
                _write_all(self._fd, line)

    def _closed_error(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{what} after its Tracer was closed, so nothing can be recorded: close the "
            "tracer only after server_close(), or trace the class again with a new Tracer()"
        )

    # -- reading --------------------------------------------------------------------

    def records(self) -> list[TraceRecord]:
        """Return every record so far, in the order they were written."""
        with self._lock:
            self._read_new_records()
            return list(self._records)

    def _read_new_records(self) -> None:
        """Parse the complete lines appended since the last read. Caller holds the lock."""
        if self._closed:
            return
        chunks: list[bytes] = []
        offset = self._read_offset
        while chunk := os.pread(self._fd, _READ_CHUNK, offset):
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
        # Only whole lines: a record that is still being written is never parsed in part.
        complete = data[: data.rfind(b"\n") + 1]
        self._read_offset += len(complete)
        for line in complete.splitlines():
            hook, event, pid, thread, depth, time_ns, detail, owner = json.loads(line)
            self._records.append(
                TraceRecord(
                    len(self._records), hook, event, pid, thread, depth, time_ns, detail, owner
                )
            )

    def clear(self) -> None:
        """Forget every record so far; later calls start a fresh trace."""
        with self._lock:
            self._read_new_records()
            self._records.clear()

    def wait_for(
        self, hook: str, count: int = 1, *, event: str = "return", timeout: float = 5.0
    ) -> None:
        """Wait until ``hook`` has been recorded ``count`` times in total, then return.

        By default it counts *returns*, i.e. finished calls: ``wait_for("close_request",
        2)`` returns once two requests have been closed, whichever thread or child
        closed them. Use it before ``shutdown()`` so the trace is complete and its
        order does not depend on timing.

        Raises:
            ValueError: ``hook`` is not a hook, or this tracer does not record it;
                ``event`` is not ``"call"``, ``"return"`` or ``"raise"``; ``count`` is
                less than 1 or ``timeout`` is negative or NaN.
            TypeError: ``count`` is not a whole number or ``timeout`` not a number.
            RuntimeError: the tracer is closed and has fewer records than asked for.
            TimeoutError: after ``timeout`` seconds, saying how many were seen.
        """
        _check_hook_name(hook, "wait_for()")
        if hook not in self.hooks:
            raise ValueError(
                f"wait_for({hook!r}) would wait in vain: this tracer does not record "
                f"{hook!r}; add it to Tracer(hooks=...)"
            )
        if event not in ("call", "return", "raise"):
            raise ValueError(f"event must be 'call', 'return' or 'raise', not {event!r}")
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"count is how many records to wait for, a whole number, not {count!r}")
        if count < 1:
            raise ValueError(
                f"wait_for({hook!r}, count={count!r}) would return at once: count is how many "
                "records to wait for, 1 or more"
            )
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise TypeError(f"timeout is a number of seconds, not {timeout!r}")
        if not timeout >= 0:  # also refuses NaN, which would never time out
            raise ValueError(f"timeout is in seconds and cannot be negative, not {timeout!r}")
        deadline = time.monotonic() + timeout
        while True:
            seen = sum(1 for r in self.records() if r.hook == hook and r.event == event)
            if seen >= count:
                return
            if self._closed:
                raise RuntimeError(
                    f"wait_for({hook!r}) would wait in vain: the tracer is closed, so no "
                    f"new records can arrive ({seen} of {count} seen); wait before close()"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"waited {timeout} s for {count} {event} record(s) of {hook!r} but saw "
                    f"{seen}: did the client really connect, and is the server's class "
                    "traced by this tracer?"
                )
            time.sleep(_WAIT_POLL_SECONDS)

    # -- from records to calls --------------------------------------------------------

    def calls(
        self, *, hide: Iterable[str] = (), collapse: Iterable[str] = DEFAULT_COLLAPSE
    ) -> list[Call]:
        """Return the traced calls in order, paired with how each ended.

        Args:
            hide: Hook names to leave out.
            collapse: Hook names whose consecutive calls by one actor become a single
                ``Call`` (its ``repeats`` says how many); default ``service_actions``.

        Raises:
            ValueError: a name in ``hide`` or ``collapse`` is not a hook.
            TypeError: ``hide`` or ``collapse`` is a single string, not a list of names.
        """
        hidden = set(_hook_names(hide, "hide"))
        collapsed = set(_hook_names(collapse, "collapse"))
        return _build_calls(self.records(), self._home_pid, hidden, collapsed)

    def hooks_by_actor(
        self, *, hide: Iterable[str] = (), collapse: Iterable[str] = DEFAULT_COLLAPSE
    ) -> dict[str, list[str]]:
        """Map each actor to the hooks it called, in order: handy for checks and asserts."""
        grouped: dict[str, list[str]] = {}
        for call in self.calls(hide=hide, collapse=collapse):
            grouped.setdefault(call.actor, []).append(call.hook)
        return grouped

    # -- rendering ------------------------------------------------------------------------

    def timeline(
        self,
        *,
        hide: Iterable[str] = (),
        collapse: Iterable[str] = DEFAULT_COLLAPSE,
        by_actor: bool = False,
    ) -> str:
        """Render the calls as text, nested calls indented under their caller.

        With ``by_actor`` each actor gets its own block, which stays the same from run
        to run even where threads or processes interleave differently.
        """
        calls = self.calls(hide=hide, collapse=collapse)
        if by_actor:
            return _render_by_actor(calls)
        return _render_in_order(calls)

    def mermaid(
        self, *, hide: Iterable[str] = (), collapse: Iterable[str] = DEFAULT_COLLAPSE
    ) -> str:
        """Render the calls as a mermaid ``sequenceDiagram``: one lifeline per actor.

        A call that made nested calls gets an activation bar, which ends where the call
        returned; a call whose return was never recorded keeps its bar until that actor's
        next call at the same depth or above. The second line is an ``init`` directive
        that tightens mermaid's spacing, and a name with a part in brackets is drawn on two
        lines, so that four lifelines fit the width of a page with their text at full size.
        """
        return _render_mermaid(self.calls(hide=hide, collapse=collapse))

    def plot(
        self,
        *,
        hide: Iterable[str] = (),
        collapse: Iterable[str] = DEFAULT_COLLAPSE,
        clock: str = "order",
        ax: Axes | None = None,
        title: str | None = None,
    ) -> Axes:
        """Draw the calls as a timeline with matplotlib: one lane per actor, one bar per call.

        Args:
            clock: ``"order"`` spaces events evenly in the order they were recorded
                (readable, and the same every run where the order is); ``"time"``
                uses real elapsed milliseconds.
            ax: The axes to draw on; a new figure is made if omitted.
            title: A title for the axes.

        Raises:
            ValueError: ``clock`` is neither ``"order"`` nor ``"time"``.
            ModuleNotFoundError: matplotlib is not installed (the message says how to
                install it); ``timeline`` and ``mermaid`` need nothing beyond the stdlib.
        """
        if clock not in ("order", "time"):
            raise ValueError(f"clock must be 'order' or 'time', not {clock!r}")
        _require_matplotlib()
        calls = self.calls(hide=hide, collapse=collapse)
        return _plot_calls(calls, clock=clock, ax=ax, title=title)

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once ``close`` has run; records read so far stay available."""
        return self._closed

    def close(self) -> None:
        """Read the last records, then release the trace file. Safe to call twice.

        From then on the classes this tracer made refuse to run (``RuntimeError``): a
        hook that releases something (``shutdown_request``, ``close_request``,
        ``finish``, ``shutdown``, ``server_close``) still runs first.
        """
        with self._lock:
            if self._closed:
                return
            self._read_new_records()
            self._closed = True
            self._closer()
        _LIVE_TRACERS.discard(self)

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            self._read_new_records()
            count = len(self._records)
        return f"<Tracer {'closed' if self._closed else 'open'}, {count} records>"


# Every open tracer in this process, so a forked child can give each a fresh lock.
_LIVE_TRACERS: weakref.WeakSet[Tracer] = weakref.WeakSet()


def _give_forked_children_fresh_locks() -> None:
    """Run in a forked child: replace each tracer's lock with a new, unlocked one.

    ``fork()`` copies only the thread that called it, but it copies every lock as it
    was: a lock some other thread of the parent held at that moment stays held in the
    child, by a thread the child does not have, and the child's first record would
    wait for it forever.
    """
    for tracer in list(_LIVE_TRACERS):
        tracer._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; where fork() does not exist, neither do children
    os.register_at_fork(after_in_child=_give_forked_children_fresh_locks)


def _hook_names(names: Iterable[str], argument: str) -> list[str]:
    """Return ``names`` as a list after checking each is a hook; explain any mistake."""
    if isinstance(names, str):
        raise TypeError(
            f"{argument} takes a list of hook names, not a single string: "
            f"write {argument}=[{names!r}]"
        )
    checked = list(names)
    for name in checked:
        _check_hook_name(name, argument)
    return checked


def _check_hook_name(name: str, where: str) -> None:
    if name in ALL_HOOKS:
        return
    guesses = difflib.get_close_matches(str(name), ALL_HOOKS, n=1)
    guess = f"; did you mean {guesses[0]!r}?" if guesses else "."
    raise ValueError(
        f"{where}: {name!r} is not a hook{guess} The hooks are {', '.join(ALL_HOOKS)}."
    )


def _has_hooks(cls: type, hooks: Iterable[str]) -> bool:
    return any(callable(getattr(cls, hook, None)) for hook in hooks)


# -- building traced classes -------------------------------------------------------------


def _traced_method(tracer: Tracer, traced_class: type, hook: str, owner: str) -> Callable[..., Any]:
    """Make the method that records ``hook`` and then runs the inherited one."""

    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        inherited = getattr(super(traced_class, self), hook)
        return tracer._call(hook, owner, inherited, args, kwargs)

    traced.__name__ = traced.__qualname__ = hook
    traced.__doc__ = f"Record this call, then run the inherited {hook}()."
    return traced


def _traced_server_init(tracer: Tracer, traced_class: type) -> Callable[..., None]:
    """The constructor of a traced server: construct as usual, then trace the handler class.

    With the tracer closed it refuses before the server binds, so nothing is left open.
    """

    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if tracer.closed:
            raise tracer._closed_error(f"{traced_class.__name__}(...) was created")
        parent = super(traced_class, self)
        parent.__init__(*args, **kwargs)  # type: ignore[misc]  # the server's own __init__
        handler = getattr(self, "RequestHandlerClass", None)
        # Only a class with handler hooks: anything else is a factory we cannot subclass.
        if isinstance(handler, type) and _has_hooks(handler, HANDLER_HOOKS):
            self.RequestHandlerClass = tracer._traced_subclass(
                handler, HANDLER_HOOKS, traces_its_handler=False
            )

    traced_init.__name__ = "__init__"
    traced_init.__qualname__ = f"{traced_class.__qualname__}.__init__"
    return traced_init


def _handled_exception_name() -> str:
    error = sys.exc_info()[1]
    return type(error).__name__ if error is not None else ""


def _require_matplotlib() -> None:
    """Raise a ModuleNotFoundError that says what to install if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as missing:
        if missing.name != "matplotlib":
            raise  # matplotlib is there but broken: its own error says more than we could
        raise ModuleNotFoundError(
            "Tracer.plot() draws with matplotlib, which is not installed: run "
            "`pip install matplotlib` (the `notebooks` extra of socketserver-lit includes "
            "it), or use timeline() or mermaid(), which need only the standard library",
            name="matplotlib",
        ) from None


# -- the trace file ------------------------------------------------------------------------


def _open_append_only_temporary_file() -> int:
    """Open a fresh temporary file for appending and remove its name at once.

    From then on the file has no name in the temporary directory, so nothing of it is
    left there, even if the process is killed: it is reached only through the
    descriptor, which forked children inherit.
    """
    descriptor, path = tempfile.mkstemp(prefix="socketserver-lit-trace-")
    try:
        appender = os.open(path, os.O_RDWR | os.O_APPEND)
    finally:
        os.close(descriptor)
        os.unlink(path)
    return appender


def _write_all(fd: int, data: bytes) -> None:
    # One record, one write(). os.write() may write less than asked (at a file-size
    # limit, or on a full disk: see write(2)); then the rest follows in a second write,
    # and another writer's record may come in between.
    while data:
        written = os.write(fd, data)
        data = data[written:]


# -- from records to calls -------------------------------------------------------------------


def _build_calls(
    records: list[TraceRecord], home_pid: int, hide: set[str], collapse: set[str]
) -> list[Call]:
    # Named while walking the calls in order, so numbering follows first appearance.
    names = _ActorNamer(home_pid)
    open_calls: dict[tuple[int, str], list[int]] = {}
    drafts: list[dict[str, Any]] = []
    for record in records:
        if record.hook in hide:
            continue
        stack = open_calls.setdefault(record.actor, [])
        if record.event == "call":
            stack.append(len(drafts))
            drafts.append(
                {
                    "hook": record.hook,
                    "actor": names(record.pid, record.thread),
                    "depth": record.depth,
                    "detail": record.detail,
                    "outcome": "",
                    "start_ns": record.time_ns,
                    "end_ns": None,
                    "start_seq": record.seq,
                    "end_seq": None,
                }
            )
        else:
            _close_call(drafts, stack, record)
    return _collapse(drafts, collapse)


def _close_call(drafts: list[dict[str, Any]], stack: list[int], record: TraceRecord) -> None:
    """Attach a return/raise record to the innermost open call of the same hook."""
    for position in range(len(stack) - 1, -1, -1):
        draft = drafts[stack[position]]
        if draft["hook"] == record.hook:
            del stack[position:]
            draft["end_ns"] = record.time_ns
            draft["end_seq"] = record.seq
            if record.event == "raise":
                draft["outcome"] = f"raised {record.detail}"
            elif record.detail:
                draft["outcome"] = f"-> {record.detail}"
            return


def _collapse(drafts: list[dict[str, Any]], collapse: set[str]) -> list[Call]:
    calls: list[Call] = []
    last_by_actor: dict[str, int] = {}
    for draft in drafts:
        actor = draft["actor"]
        previous = last_by_actor.get(actor)
        if (
            draft["hook"] in collapse
            and previous is not None
            and calls[previous].hook == draft["hook"]
            and calls[previous].depth == draft["depth"]
        ):
            merged = calls[previous]
            calls[previous] = _replace(
                merged, repeats=merged.repeats + 1, end_ns=draft["end_ns"], end_seq=draft["end_seq"]
            )
            continue
        last_by_actor[actor] = len(calls)
        calls.append(
            Call(index=len(calls) + 1, repeats=1, collapsed=draft["hook"] in collapse, **draft)
        )
    return calls


def _replace(call: Call, **changes: Any) -> Call:
    fields = dict(call.__dict__)
    fields.update(changes)
    return Call(**fields)


_NUMBERED_THREAD = re.compile(r"^Thread-\d+(?: \((?P<target>.*)\))?$")


class _ActorNamer:
    """Name actors by order of first appearance, so names depend on neither pids nor counters.

    In the tracing process: ``main`` for the main thread, ``thread 1 (serve_forever)``
    and so on for the others (the part in brackets is the thread's target, or its
    name if you gave it one). Any other process got the trace file by being forked
    from it, directly or not: ``child 1``, ``child 2``; a second thread inside one
    child is ``child 1 thread 2``.
    """

    def __init__(self, home_pid: int):
        self.home_pid = home_pid
        self.names: dict[tuple[int, str], str] = {}
        self.thread_count = 0
        self.child_numbers: dict[int, int] = {}
        self.threads_per_child: dict[int, int] = {}

    def __call__(self, pid: int, thread: str) -> str:
        key = (pid, thread)
        if key not in self.names:
            self.names[key] = self._new_name(pid, thread)
        return self.names[key]

    def _new_name(self, pid: int, thread: str) -> str:
        if pid == self.home_pid:
            if thread == "MainThread":
                return "main"
            self.thread_count += 1
            match = _NUMBERED_THREAD.match(thread)
            if match is None:
                return f"thread {self.thread_count} ({thread})"
            target = match.group("target")
            return (
                f"thread {self.thread_count} ({target})"
                if target
                else f"thread {self.thread_count}"
            )
        child = self.child_numbers.setdefault(pid, len(self.child_numbers) + 1)
        index = self.threads_per_child[pid] = self.threads_per_child.get(pid, 0) + 1
        return f"child {child}" if index == 1 else f"child {child} thread {index}"


# -- text renderers ----------------------------------------------------------------------


def _render_in_order(calls: list[Call]) -> str:
    if not calls:
        return "(no calls recorded)"
    width = max(len(call.actor) for call in calls)
    number_width = len(str(len(calls)))
    lines = [f"{'#':>{number_width}}  {'who':<{width}}  call"]
    for call in calls:
        indent = "  " * call.depth
        lines.append(f"{call.index:>{number_width}}  {call.actor:<{width}}  {indent}{call.text}")
    return "\n".join(lines)


def _render_by_actor(calls: list[Call]) -> str:
    if not calls:
        return "(no calls recorded)"
    blocks: dict[str, list[str]] = {}
    for call in calls:
        blocks.setdefault(call.actor, []).append("  " + "  " * call.depth + call.text)
    return "\n".join(f"{actor}:\n" + "\n".join(lines) for actor, lines in blocks.items())


# Mermaid gives "#" (an entity code such as "#9829;", per its sequence diagram syntax page)
# and ";" (a statement separator) meanings of their own: keep labels to plain characters.
_MERMAID_UNSAFE = re.compile(r"[^\w .,()+\-<>=/]")

# A tighter layout than mermaid's defaults, so that a diagram of four lifelines (a threading
# or forking server that served two requests) fits a page's text column with its text at full
# size. Mermaid's sequence diagram leaves 50 units of margin on each side of the drawing
# (diagramMarginX), 50 between two lifelines' boxes (actorMargin), and makes every box at
# least 150 wide (width). Boxes still grow to fit their name, and lifelines still move apart to
# make room for the labels of their calls, so only blank space goes. On the docs site (mermaid
# 11), the threading server's diagram in course 03 went from 1124 units wide to 742; at the
# site's small print, its text column holds 860 at 1280 px.
_MERMAID_LAYOUT = {"diagramMarginX": 8, "actorMargin": 24, "width": 120}
# The layout goes in an `init` directive, on the line under the diagram's type. Mermaid 10.5
# and later prefer a YAML front matter block for it, but that block has to come before the
# type, and the text of mermaid() has always begun with `sequenceDiagram`; mermaid 11 reads the
# directive where it stands.
_MERMAID_LAYOUT_DIRECTIVE = "%%{init: " + json.dumps({"sequence": _MERMAID_LAYOUT}) + "}%%"


def _render_mermaid(calls: list[Call]) -> str:
    """One lifeline per actor, one self-message per call, a bar over a call's nested calls.

    A bar opens at a call that has nested calls and closes where that call returned:
    before the first later call that started after the return.
    """
    ids: dict[str, str] = {}
    lines = ["sequenceDiagram", f"    {_MERMAID_LAYOUT_DIRECTIVE}"]
    for call in calls:
        if call.actor not in ids:
            ids[call.actor] = f"A{len(ids) + 1}"
            lines.append(f"    participant {ids[call.actor]} as {_mermaid_actor(call.actor)}")
    opens_bar = _calls_with_nested_calls(calls)
    open_bars: list[Call] = []
    for call in calls:
        for finished in _bars_to_close(open_bars, call):
            open_bars.remove(finished)
            lines.append(f"    deactivate {ids[finished.actor]}")
        node = ids[call.actor]
        arrow = "->>+" if call.index in opens_bar else "->>"
        lines.append(f"    {node}{arrow}{node}: {_mermaid_text(call.text)}")
        if call.index in opens_bar:
            open_bars.append(call)
    for finished in reversed(open_bars):
        lines.append(f"    deactivate {ids[finished.actor]}")
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    return _MERMAID_UNSAFE.sub("_", text)


def _mermaid_actor(actor: str) -> str:
    """An actor's name for the box of its lifeline, with the part in brackets on a second line.

    On one line, ``thread 2 (process_request_thread)`` makes its box far wider than the
    others, and a diagram with two of them wider than the page. On two lines the box is
    narrower, and the name is still the one the timeline shows.
    """
    name, bracket, rest = actor.partition(" (")
    if not bracket:
        return _mermaid_text(actor)
    return f"{_mermaid_text(name)}<br/>{_mermaid_text('(' + rest)}"


def _calls_with_nested_calls(calls: list[Call]) -> set[int]:
    """The indexes of calls directly followed, on their own actor, by a deeper call."""
    last_on_actor: dict[str, Call] = {}
    parents: set[int] = set()
    for call in calls:
        previous = last_on_actor.get(call.actor)
        if previous is not None and call.depth > previous.depth:
            parents.add(previous.index)
        last_on_actor[call.actor] = call
    return parents


def _bars_to_close(open_bars: list[Call], upcoming: Call) -> list[Call]:
    """Bars whose call returned before ``upcoming`` started, innermost first.

    A bar whose return was never recorded closes when its actor makes a call at
    the same depth or above, which proves the call is over.
    """
    finished = [
        bar
        for bar in open_bars
        if (bar.end_seq is not None and bar.end_seq < upcoming.start_seq)
        or (bar.actor == upcoming.actor and bar.depth >= upcoming.depth)
    ]
    return sorted(finished, key=lambda bar: (-bar.depth, -bar.index))


# -- the matplotlib timeline -------------------------------------------------------------------

# Bar colours: server hooks, handler hooks, and calls that raised or report an error.
_SERVER_COLOUR = "#3f51b5"
_HANDLER_COLOUR = "#ff8f00"
_ERROR_COLOUR = "#d32f2f"
# Horizontal step between nesting depths inside one actor's column, in column widths.
_DEPTH_STEP = 0.07


def _plot_calls(calls: list[Call], *, clock: str, ax: Axes | None, title: str | None) -> Axes:
    """Draw one column per actor, time flowing downwards, one bar per call."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

    actors = list(dict.fromkeys(call.actor for call in calls))
    if ax is None:
        width = max(6.0, 2.6 * len(actors))
        height = max(2.5, 0.26 * len(calls) + 1.4)
        _figure, ax = plt.subplots(figsize=(width, height), layout="constrained")
    spans = _vertical_spans(calls, clock)
    lowest = max((bottom for _top, bottom in spans), default=1.0)
    # In real time, calls can start too close together for their labels to fit: label
    # only those with room.
    label_gap = 0.0 if clock == "order" else lowest * 0.015
    last_label: dict[tuple[str, int], float] = {}
    for call, (top, bottom) in zip(calls, spans, strict=True):
        x = actors.index(call.actor) + call.depth * _DEPTH_STEP
        bar = Rectangle((x, top), _DEPTH_STEP * 0.8, bottom - top, color=_colour(call), alpha=0.9)
        ax.add_patch(bar)
        slot = (call.actor, call.depth)
        if top - last_label.get(slot, -lowest) >= label_gap:
            ax.text(x + _DEPTH_STEP, top, call.text, va="top", ha="left", fontsize=8)
            last_label[slot] = top
    ax.set_xlim(-0.05, max(len(actors), 1))
    ax.set_ylim(lowest * 1.02 + 0.2, 0)
    ax.set_xticks(
        [index + 0.3 for index in range(len(actors))],
        [actor.replace(" (", "\n(") for actor in actors],
        fontsize=9,
    )
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", length=0)
    if clock == "order":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("order of calls")
    else:
        ax.set_ylabel("milliseconds since the first call")
    for side in ("right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.legend(
        handles=[
            Patch(color=_SERVER_COLOUR, label="server hook"),
            Patch(color=_HANDLER_COLOUR, label="handler hook"),
            Patch(color=_ERROR_COLOUR, label="raised, or handle_error"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=3,
        frameon=False,
        fontsize=8,
    )
    if title:
        ax.set_title(title, pad=28)
    return ax


def _vertical_spans(calls: list[Call], clock: str) -> list[tuple[float, float]]:
    """Return (top, bottom) of each call's bar: rows of the call order, or milliseconds."""
    if clock == "order":
        starts = [call.start_seq for call in calls]
        spans = []
        for row, call in enumerate(calls):
            # The bar lasts until the last call that started before this one returned.
            end_row = (
                len(calls) if call.end_seq is None else bisect.bisect_left(starts, call.end_seq)
            )
            spans.append((float(row), max(float(end_row), row + 1.0) - 0.15))
        return spans
    origin = min((call.start_ns for call in calls), default=0)
    finish = max((call.end_ns or call.start_ns for call in calls), default=origin)
    shortest = max((finish - origin) / 1e6 * 0.004, 1e-3)  # keep instant calls visible
    return [
        (
            (call.start_ns - origin) / 1e6,
            max(
                ((call.end_ns or finish) - origin) / 1e6, (call.start_ns - origin) / 1e6 + shortest
            ),
        )
        for call in calls
    ]


def _colour(call: Call) -> str:
    if call.outcome.startswith("raised") or call.hook == "handle_error":
        return _ERROR_COLOUR
    return _HANDLER_COLOUR if call.hook in HANDLER_HOOKS else _SERVER_COLOUR
