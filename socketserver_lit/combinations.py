"""Ready-made combinations: a concurrency mixin plus a server class, named.

Each class here is exactly ``class <Name>(<MixIn>, <Server>): pass``. They exist so
that the common choices have a name you can import; write your own combination the
same way whenever you need one that is not listed (the mixin always comes first, so
its ``process_request`` wins).

=============================  ==================  ======================
class                          how requests run    server
=============================  ==================  ======================
``ThreadingTCPServer``         thread per request  ``TCPServer``
``ThreadingUDPServer``         thread per request  ``UDPServer``
``ThreadPoolTCPServer``        pool of threads     ``TCPServer``
``ThreadPoolUDPServer``        pool of threads     ``UDPServer``
``ForkingTCPServer``           process per request ``TCPServer``
``ForkingUDPServer``           process per request ``UDPServer``
``ThreadingUnixStreamServer``  thread per request  ``UnixStreamServer``
``ThreadingUnixDatagramServer`` thread per request ``UnixDatagramServer``
``ForkingUnixStreamServer``    process per request ``UnixStreamServer``
``ForkingUnixDatagramServer``  process per request ``UnixDatagramServer``
=============================  ==================  ======================

The Forking classes exist only where ``os.fork`` does, the Unix ones only where
``socket.AF_UNIX`` does, so ``hasattr(socketserver_lit, "ForkingTCPServer")``
tells you what this platform offers.
"""

from __future__ import annotations

import os
import socket

from .mixins import ThreadingMixIn, ThreadPoolMixIn
from .servers import TCPServer, UDPServer

__all__ = [
    "ThreadingTCPServer",
    "ThreadingUDPServer",
    "ThreadPoolTCPServer",
    "ThreadPoolUDPServer",
]


class ThreadingTCPServer(ThreadingMixIn, TCPServer):
    """A TCP server that handles each connection in its own thread."""


class ThreadingUDPServer(ThreadingMixIn, UDPServer):
    """A UDP server that handles each datagram in its own thread."""


class ThreadPoolTCPServer(ThreadPoolMixIn, TCPServer):
    """A TCP server whose connections are handled by a fixed pool of threads."""


class ThreadPoolUDPServer(ThreadPoolMixIn, UDPServer):
    """A UDP server whose datagrams are handled by a fixed pool of threads."""


if hasattr(os, "fork"):
    from .mixins import ForkingMixIn

    class ForkingTCPServer(ForkingMixIn, TCPServer):
        """A TCP server that handles each connection in a child process."""

    class ForkingUDPServer(ForkingMixIn, UDPServer):
        """A UDP server that handles each datagram in a child process."""

    __all__ += ["ForkingTCPServer", "ForkingUDPServer"]


if hasattr(socket, "AF_UNIX"):
    from .servers import UnixDatagramServer, UnixStreamServer

    class ThreadingUnixStreamServer(ThreadingMixIn, UnixStreamServer):
        """A Unix stream server that handles each connection in its own thread."""

    class ThreadingUnixDatagramServer(ThreadingMixIn, UnixDatagramServer):
        """A Unix datagram server that handles each datagram in its own thread."""

    __all__ += ["ThreadingUnixStreamServer", "ThreadingUnixDatagramServer"]

    if hasattr(os, "fork"):

        class ForkingUnixStreamServer(ForkingMixIn, UnixStreamServer):
            """A Unix stream server that handles each connection in a child process."""

        class ForkingUnixDatagramServer(ForkingMixIn, UnixDatagramServer):
            """A Unix datagram server that handles each datagram in a child process."""

        __all__ += ["ForkingUnixStreamServer", "ForkingUnixDatagramServer"]
