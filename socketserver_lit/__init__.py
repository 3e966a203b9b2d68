"""socketserver_lit: a network server framework written to be read, and run.

This package re-implements the standard library's ``socketserver`` from scratch,
as a set of short chapters you can read in order:

1. :mod:`socketserver_lit.servers`: how a server binds, waits, gets, verifies,
   processes and closes requests (``BaseServer``, ``TCPServer``, ``UDPServer``, and
   the Unix-socket servers).
2. :mod:`socketserver_lit.handlers`: how a request handler talks to one client
   (``BaseRequestHandler``, ``StreamRequestHandler``, ``DatagramRequestHandler``).
3. :mod:`socketserver_lit.mixins`: how to serve many clients at once, with a
   thread per request, a process per request, or a pool of threads.
4. :mod:`socketserver_lit.combinations`: the ready-made, named combinations.

It is a drop-in replacement: code written for the stdlib module runs unchanged
after ``import socketserver_lit as socketserver``. Where the stdlib has known
faults that hang, spin, leak or crash a program (``shutdown()`` that waits out the
poll interval or deadlocks, IPv6 addresses that need a subclass, clean-up that fails
when a client has gone) this package removes them; an improvement a correct program
could notice in what it relies on (removing Unix socket files on close) is opt-in.
What a program can still tell apart (an error message in other words, a note added
to a bind error) is listed, with the tests that show it, on the documentation's
migration page. Beyond the stdlib the package adds :mod:`socketserver_lit.tracing`,
to watch the hooks run, and :mod:`socketserver_lit.teaching`, the course's
exercise checks.
"""

from __future__ import annotations

import os
import socket

from .combinations import (
    ThreadingTCPServer,
    ThreadingUDPServer,
    ThreadPoolTCPServer,
    ThreadPoolUDPServer,
)
from .handlers import BaseRequestHandler, DatagramRequestHandler, StreamRequestHandler
from .mixins import ThreadingMixIn, ThreadPoolMixIn
from .servers import BaseServer, TCPServer, UDPServer

__version__ = "0.1.0"

__all__ = [
    "BaseServer",
    "TCPServer",
    "UDPServer",
    "BaseRequestHandler",
    "StreamRequestHandler",
    "DatagramRequestHandler",
    "ThreadingMixIn",
    "ThreadPoolMixIn",
    "ThreadingTCPServer",
    "ThreadingUDPServer",
    "ThreadPoolTCPServer",
    "ThreadPoolUDPServer",
]

if hasattr(os, "fork"):
    from .combinations import ForkingTCPServer, ForkingUDPServer
    from .mixins import ForkingMixIn

    __all__ += ["ForkingMixIn", "ForkingTCPServer", "ForkingUDPServer"]

if hasattr(socket, "AF_UNIX"):
    from .combinations import ThreadingUnixDatagramServer, ThreadingUnixStreamServer
    from .servers import UnixDatagramServer, UnixStreamServer

    __all__ += [
        "UnixStreamServer",
        "UnixDatagramServer",
        "ThreadingUnixStreamServer",
        "ThreadingUnixDatagramServer",
    ]

    if hasattr(os, "fork"):
        from .combinations import ForkingUnixDatagramServer, ForkingUnixStreamServer

        __all__ += ["ForkingUnixStreamServer", "ForkingUnixDatagramServer"]
