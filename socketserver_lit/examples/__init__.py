"""Every example of the socketserver documentation, as a program you can run.

The socketserver page of the Python 3.13 documentation ends with examples: a TCP
server and client, the same server written with a stream handler, a UDP server
and client, a threading server that answers three clients from three threads,
the remark that the forking mix-in "is used in the same way", and the one-line
definition of ``ThreadingUDPServer``. Each one is here as a module, typed afresh
against ``socketserver_lit`` (the classes, behaviour and output are the
documented ones), and each runs from a terminal::

    python -m socketserver_lit.examples.tcp_server        # then, elsewhere:
    python -m socketserver_lit.examples.tcp_client hello world with TCP

=====================  =====================================================
module                 the documented program
=====================  =====================================================
``tcp_server``         TCP server: ``MyTCPHandler`` with a ``recv()`` loop
``stream_server``      the alternative ``MyTCPHandler`` on StreamRequestHandler
``tcp_client``         TCP client: sends ``" ".join(sys.argv[1:])`` and a newline
``udp_server``         UDP server: ``MyUDPHandler`` answers with ``sendto()``
``udp_client``         UDP client: one datagram out, one back
``threaded_server``    ThreadingMixIn: server loop in a thread, three clients
``forking_server``     ForkingMixIn "used in the same way": a process per request
``threading_udp``      ``class ThreadingUDPServer(ThreadingMixIn, UDPServer)``
=====================  =====================================================

Servers default to ``localhost`` port 9999 as documented (the self-contained
threading and forking programs to port 0, as in the documented threading
example), take ``--host`` and ``--port``, and stop cleanly on Ctrl-C. Standard
output carries exactly what the documented code prints; what the program says
about itself (where a server listens, how it stopped) goes to standard error.
Where a documented transcript disagrees with the documented code, the module's
docstring says what the code really prints and why.

``tour.py`` runs all of them end to end, each program in its own process, and
prints their transcripts next to the documentation's (``socketserver-lit tour``).
Every module has ``main(argv)`` for ``python -m``, and the ``build_parser`` and
``run`` that the ``socketserver-lit`` command uses for its subcommand.

Read next: ``tcp_server.py``.
"""

from __future__ import annotations

# The order of the documentation page; the command-line names are these with "-".
EXAMPLE_MODULES = (
    "tcp_server",
    "stream_server",
    "tcp_client",
    "udp_server",
    "udp_client",
    "threaded_server",
    "forking_server",
    "threading_udp",
)
