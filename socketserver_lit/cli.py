"""The ``socketserver-lit`` command: the documented examples and the tour, one command away.

Installing the package gives you a ``socketserver-lit`` command (``python -m
socketserver_lit`` is the same thing). It does no work of its own: each
subcommand is one of the example programs in ``socketserver_lit.examples`` (or,
for ``student-edition``, :mod:`socketserver_lit.teaching`), with
the same options, defaults and output as ``python -m
socketserver_lit.examples.<name>`` (except the program name its messages begin
with)::

    socketserver-lit tcp-server                     # localhost port 9999, Ctrl-C stops it
    socketserver-lit tcp-client hello world with TCP
    socketserver-lit tour                           # every example, end to end, checked
    socketserver-lit student-edition course-student # the course without its solutions

The servers listen on ``localhost`` port 9999 (the self-contained threading and
forking programs on a port the system picks) unless told otherwise (``--host``,
``--port``); they listen on all interfaces only when you ask for it with
``--host 0.0.0.0``. ``--help`` works on the command and on every subcommand, and
never breaks a name such as ``stream-server`` across two lines.

Why subcommands that only delegate? So that there is exactly one implementation
of each program: the module a reader studies is the program the command runs,
and the tour (which starts the modules with ``python -m``) checks that same code.

Read next: ``examples/tour.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

import socketserver_lit
from socketserver_lit import teaching
from socketserver_lit.examples import (
    _program,
    forking_server,
    stream_server,
    tcp_client,
    tcp_server,
    threaded_server,
    threading_udp,
    tour,
    udp_client,
    udp_server,
)

PROGRAM = "socketserver-lit"

# Subcommand name -> the module that implements it, in the order of the documentation.
COMMANDS: dict[str, ModuleType] = {
    "tcp-server": tcp_server,
    "stream-server": stream_server,
    "tcp-client": tcp_client,
    "udp-server": udp_server,
    "udp-client": udp_client,
    "threaded-server": threaded_server,
    "forking-server": forking_server,
    "threading-udp": threading_udp,
    "tour": tour,
    "student-edition": teaching,
}


def build_parser() -> argparse.ArgumentParser:
    """The command with one subcommand per example program, each with its own ``--help``."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Run the socketserver documentation's examples, re-implemented on "
        "socketserver_lit. Start with 'socketserver-lit tour'.",
        epilog="Try: socketserver-lit tcp-server, then in another terminal "
        "socketserver-lit tcp-client hello world with TCP.",
        formatter_class=_program.HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {socketserver_lit.__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )
    for name, module in COMMANDS.items():
        # The module's own parser, without its -h, lends its options to the subcommand.
        options = module.build_parser(add_help=False)
        commands.add_parser(
            name,
            parents=[options],
            help=module.SUMMARY,
            description=options.description,
            formatter_class=_program.HelpFormatter,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand and return its exit status (the console script's entry point)."""
    args = build_parser().parse_args(argv)
    module = COMMANDS[args.command]
    status: int = module.run(args, prog=f"{PROGRAM} {args.command}")
    return status
