"""The ``socketserver-lit`` command and its tour: help everywhere, the examples, the checks.

The command is run as a process, the way a user runs it (the console script when
it is installed, ``python -m socketserver_lit`` otherwise). The tour's ability to
fail is tested in-process, by giving it examples that misbehave on purpose.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_examples import (
    DOCUMENTED_CLIENT,
    DOCUMENTED_THREADED,
    assert_stopped_cleanly,
    documented_output,
    documented_runs,
    run,
    without_thread_targets,
)
from test_examples import (
    ServerProcess as ExampleServer,
)

from socketserver_lit.examples import tour

SUBCOMMANDS = [
    "tcp-server",
    "stream-server",
    "tcp-client",
    "udp-server",
    "udp-client",
    "threaded-server",
    "forking-server",
    "threading-udp",
    "tour",
    "student-edition",
]
TOUR_EXAMPLES = [
    "tcp-server",
    "stream-server",
    "udp-server",
    "threaded-server",
    "forking-server",
    "threading-udp",
]


def command() -> list[str]:
    """The installed console script if there is one next to this Python, else ``-m``."""
    script = shutil.which("socketserver-lit", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "socketserver_lit"]


# -- Help and usage -------------------------------------------------------------------------


def test_help_lists_every_subcommand():
    result = run([sys.executable, "-m", "socketserver_lit", "--help"])
    assert result.returncode == 0, result
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in result.stdout or f"\n    {name}\n" in result.stdout, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_its_own_help(name):
    result = run([*command(), name, "--help"])
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"usage: socketserver-lit {name} [-h]")
    if name in ("tcp-client", "udp-client", "tour"):
        assert "--timeout TIMEOUT" in result.stdout


@pytest.mark.parametrize(
    ("name", "protocol", "port"),
    [("tcp-server", "TCP", 9999), ("stream-server", "TCP", 9999), ("udp-server", "UDP", 9999),
     ("tcp-client", "TCP", 9999), ("udp-client", "UDP", 9999), ("threaded-server", "TCP", 0),
     ("forking-server", "TCP", 0), ("threading-udp", "UDP", 0)],
)  # fmt: skip
def test_examples_default_to_localhost_and_the_documented_port_of_their_protocol(
    name, protocol, port
):
    result = run([*command(), name, "--help"])
    text = " ".join(result.stdout.split())  # argparse wraps lines where it likes
    assert "--host HOST host name or address " in text and "(default: localhost" in text
    assert f"--port PORT {protocol} port " in text and f"(default: {port}" in text
    other = {"TCP": "UDP", "UDP": "TCP"}[protocol]
    assert f"{other} port" not in text and "TCP or UDP" not in text


def test_every_example_module_has_its_subcommand():
    from socketserver_lit.cli import COMMANDS
    from socketserver_lit.examples import EXAMPLE_MODULES

    examples = [name.replace("_", "-") for name in EXAMPLE_MODULES]
    assert list(COMMANDS) == [*examples, "tour", "student-edition"]
    assert list(COMMANDS) == SUBCOMMANDS


def every_parser(columns: int) -> Iterator[tuple[str, str]]:
    """``(name, help text)`` for the command and each subcommand, laid out for ``columns``."""
    from socketserver_lit.cli import COMMANDS, build_parser

    yield "socketserver-lit", build_parser().format_help()
    for name, module in COMMANDS.items():
        yield name, module.build_parser(prog=f"socketserver-lit {name}").format_help()


BROKEN_NAME = re.compile(r"\w-\n\s*\w")  # "stream-" at a line's end, "server" on the next


@pytest.mark.parametrize("columns", [50, 64, 80, 100, 120])
def test_help_never_breaks_a_hyphenated_name_across_lines(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))  # argparse lays help out for the terminal
    for name, text in every_parser(columns):
        assert not BROKEN_NAME.search(text), f"{name} at {columns} columns:\n{text}"
        assert max(map(len, text.splitlines())) <= max(columns, 80), name


def test_argparse_alone_would_break_names_in_the_tour_help(monkeypatch):
    # The case the formatter exists for: the --only list, with argparse's own layout.
    monkeypatch.setenv("COLUMNS", "80")
    stock = tour.build_parser()
    stock.formatter_class = argparse.HelpFormatter
    assert BROKEN_NAME.search(stock.format_help())


def test_the_subcommands_have_the_options_and_help_of_their_modules(capsys):
    from socketserver_lit.cli import COMMANDS, build_parser

    for name, module in COMMANDS.items():
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"])
        through_the_command = capsys.readouterr().out
        assert through_the_command == module.build_parser(f"socketserver-lit {name}").format_help()


def test_python_dash_m_is_the_same_command_as_the_console_script():
    for arguments in (["--help"], ["--version"], ["tcp-client", "--help"]):
        by_module = run([sys.executable, "-m", "socketserver_lit", *arguments])
        assert (
            by_module.returncode == 0 and by_module.stdout == run([*command(), *arguments]).stdout
        )


@pytest.mark.parametrize("name", ["tcp-client", "udp-client"])
def test_a_client_with_no_words_is_a_usage_error_and_sends_nothing(name):
    kind = socket.SOCK_STREAM if name == "tcp-client" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as listener:
        listener.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            listener.listen()
        port = listener.getsockname()[1]
        result = run([*command(), name, "--host", "127.0.0.1", "--port", str(port)])
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection waiting, no datagram queued
            listener.accept() if kind == socket.SOCK_STREAM else listener.recv(100)
    assert result.returncode == 2 and result.stdout == ""
    usage, _, error = result.stderr.rpartition(f"socketserver-lit {name}: error: ")
    assert usage.startswith(f"usage: socketserver-lit {name} ") and "WORD [WORD ...]" in usage
    assert error == "the following arguments are required: WORD\n"


@pytest.mark.parametrize("name", ["tcp-client", "udp-client"])
@pytest.mark.parametrize("words", [[""], [" ", ""]], ids=["empty", "blank"])
def test_a_client_given_only_blank_words_is_a_usage_error_and_sends_nothing(name, words):
    kind = socket.SOCK_STREAM if name == "tcp-client" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as listener:
        listener.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            listener.listen()
        port = listener.getsockname()[1]
        result = run([*command(), name, "--host", "127.0.0.1", "--port", str(port), *words])
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection waiting, no datagram queued
            listener.accept() if kind == socket.SOCK_STREAM else listener.recv(100)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"socketserver-lit {name}: error: the words to send are blank: give at least one word "
        "with text"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["tcp-server", "--host", "[::1]", "--port", "0"],
            "drop the brackets, which belong in URLs only: --host ::1",
        ),
        (
            ["udp-server", "--host", "[::1]", "--port", "0"],
            "drop the brackets, which belong in URLs only: --host ::1",
        ),
        (
            ["tcp-client", "--host", "[::1]", "--port", "9", "hi"],
            "'[::1]' is an IPv6 address written as in a URL, and this program speaks IPv4; "
            "pass --host with an IPv4 address or name, e.g. 127.0.0.1",
        ),
        (
            ["tcp-client", "--host", "[127.0.0.1]", "--port", "9", "hi"],
            "cannot resolve host '[127.0.0.1]' (Name or service not known); drop the brackets, "
            "which belong in URLs only: --host 127.0.0.1",
        ),
        (
            ["udp-client", "--host", "[::1]", "--port", "9", "hi"],
            "'[::1]' is an IPv6 address written as in a URL, and this program speaks IPv4; "
            "pass --host with an IPv4 address or name, e.g. 127.0.0.1",
        ),
    ],
)
def test_an_ipv6_address_in_url_brackets_gets_one_line_that_fits_the_program(arguments, message):
    result = run([*command(), *arguments])
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.rstrip().endswith(message)


def test_a_server_told_to_drop_the_brackets_listens_on_the_ipv6_address():
    from test_examples import ServerProcess, example

    process = ServerProcess(example("tcp_server") + ["--host", "::1", "--port", "0"])
    try:
        banner = re.fullmatch(
            r"Serving TCP on \[::1\] port (\d+); press Ctrl-C to stop\.", process.banner
        )
        assert banner, process.banner
        with socket.create_connection(("::1", int(banner[1])), timeout=10) as client:
            client.sendall(b"hi\n")
            assert client.recv(100) == b"HI\n"
    finally:
        assert process.stop().returncode == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["tcp-server", "--port", "ninety"], "'ninety' is not a port number"),
        (["tcp-server", "--port", "70000"], "port 70000 is outside 0..65535"),
        (["udp-client", "--timeout", "soon", "hi"], "'soon' is not a number of seconds"),
        (["udp-client", "--timeout", "0", "hi"], "the timeout must be greater than 0 seconds"),
        (["tour", "--timeout", "-1"], "the timeout must be greater than 0 seconds"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_that_says_why(arguments, message, capsys):
    from socketserver_lit.cli import build_parser

    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(arguments)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message)


def test_no_subcommand_is_a_usage_error():
    result = run([*command()])
    assert result.returncode == 2
    assert "the following arguments are required: COMMAND" in result.stderr


def test_version_is_the_package_version():
    import socketserver_lit

    result = run([*command(), "--version"])
    assert result.stdout == f"socketserver-lit {socketserver_lit.__version__}\n"


# -- The examples through the command ------------------------------------------------------


def test_server_and_client_subcommands_reproduce_the_documented_session():
    server = ExampleServer([*command(), "stream-server", "--port", "0"])
    try:
        assert server.port is not None, server.banner
        outputs = []
        for arguments, _ in documented_runs(DOCUMENTED_CLIENT):
            result = run([*command(), "tcp-client", "--port", str(server.port), *arguments])
            assert result.returncode == 0 and result.stderr == "", result
            outputs.append(result.stdout)
    finally:
        stopped = server.stop()
    assert "".join(outputs) == documented_output(DOCUMENTED_CLIENT)
    assert_stopped_cleanly(stopped)


def test_threaded_subcommand_runs_the_documented_program():
    result = run([*command(), "threaded-server"])
    assert result.returncode == 0, result
    assert without_thread_targets(result.stdout) == documented_output(DOCUMENTED_THREADED)


def test_errors_name_the_subcommand():
    result = run([*command(), "udp-client", "--port", "9", "--timeout", "0.2", "hi"])
    assert result.returncode == 1
    assert result.stderr.startswith("socketserver-lit udp-client: error: no reply from localhost")


def test_bad_port_is_a_usage_error_that_says_why():
    result = run([*command(), "tcp-server", "--port", "70000"])
    assert result.returncode == 2
    assert "port 70000 is outside 0..65535" in result.stderr


# -- The tour -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tour_result():
    return run([*command(), "tour"], timeout=50)


def test_tour_passes_every_example_and_exits_0(tour_result):
    assert tour_result.returncode == 0, tour_result.stdout + tour_result.stderr
    assert tour_result.stderr == ""
    for key in TOUR_EXAMPLES:
        assert f"\n  PASS  {key} (" in tour_result.stdout, key
    assert tour_result.stdout.splitlines()[-1].startswith("All 6 examples behaved as documented (")


def test_tour_prints_the_documented_transcripts_labelled(tour_result):
    text = tour_result.stdout
    for number, title_word in enumerate(["TCPServer", "Stream", "UDPServer", "Threading"], 1):
        assert f"\n[{number}/6] " in text and title_word in text
    for label in ("  Server:\n", "  Client:\n", "  Program:\n"):
        assert label in text
    # The client transcripts as the documentation shows them, in the tour's gutter.
    for line in documented_output(DOCUMENTED_CLIENT).splitlines():
        assert f"    | {line}\n" in text
    assert "    | Server loop running in thread: Thread-1 (serve_forever)\n" in text
    assert "    | Received: Thread-2 (process_request_thread): Hello World 1\n" in text
    assert "    = the documented transcript" in text  # UDP and the stream client match


def test_tour_explains_where_the_page_and_its_code_disagree(tour_result):
    text = tour_result.stdout
    assert "    | Received from 127.0.0.1:\n" in text
    assert "    | b'hello world with TCP'\n" in text  # the page's version, shown next to it
    prose = " ".join(text.split())  # the explanations are wrapped to the terminal
    assert "as a handler that strips and prints bytes would" in prose
    assert "Thread-N (target)" in prose


def test_tour_only_runs_the_chosen_example():
    result = run([*command(), "tour", "--only", "udp-server"])
    assert result.returncode == 0, result.stdout
    assert "[1/1] socketserver.UDPServer example" in result.stdout
    assert "tcp-server" not in result.stdout


def test_tour_only_takes_the_subcommand_names():
    result = run([*command(), "tour", "--only", "threaded-server"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/1] ThreadingMixIn" in result.stdout
    assert "\n  PASS  threaded-server (" in result.stdout


@pytest.mark.parametrize(
    "name", [name for name in SUBCOMMANDS if name not in {"tour", "student-edition"}]
)
def test_tour_only_accepts_every_program_and_picks_the_examples_that_run_it(name):
    args = tour.build_parser().parse_args(["--only", name])
    chosen = tour.chosen_examples(args.only)
    assert chosen and all(name in example.programs for example in chosen)
    assert [e for e in tour.EXAMPLES if name in e.programs] == chosen


def test_tour_only_refuses_an_unknown_name_and_lists_the_valid_ones():
    result = run([*command(), "tour", "--only", "threaded"])
    assert result.returncode == 2 and result.stdout == ""
    assert "invalid choice: 'threaded'" in result.stderr
    assert "'threaded-server'" in result.stderr


def misbehaving_tour(example: tour.Example) -> tuple[int, str]:
    out = io.StringIO()
    status = tour.run_tour([example], tour.Context(timeout=5.0), out)
    return status, out.getvalue()


def test_tour_fails_when_a_transcript_is_not_what_the_code_prints():
    def wrong_expectation(context, report):
        tour.client_server_example(
            context,
            report,
            "udp_server",
            "udp_client",
            server_expected="127.0.0.1 wrote:\nsomething else\n",
            client_expected=[output for _, output in documented_runs(DOCUMENTED_CLIENT)],
        )

    status, text = misbehaving_tour(
        tour.Example(("wrong",), "expects the wrong text", wrong_expectation)
    )
    assert status == 1
    assert "  FAIL  wrong (" in text
    assert "+b'hello world with TCP'" in text and "-something else" in text
    assert text.splitlines()[-1].startswith("1 of 1 example misbehaved: wrong (")


def test_tour_fails_when_a_server_does_not_start():
    def no_such_server(context, report):
        tour.client_server_example(
            context, report, "no_such_server", "udp_client", server_expected="", client_expected=[]
        )

    status, text = misbehaving_tour(tour.Example(("missing",), "no server", no_such_server))
    assert status == 1
    assert "  Problem: no_such_server did not start; it said:" in text
    assert "  FAIL  missing (" in text


def test_tour_fails_when_a_program_runs_past_its_timeout():
    def never_ends(context, report):
        section = tour.Section("Program", [], ["anything"])
        # A server never ends on its own: the tour must give up on it, kill it and say so.
        tour.program_example(context, report, "udp_server", section, "--port", "0")

    out = io.StringIO()
    status = tour.run_tour([tour.Example(("hung",), "hangs", never_ends)], tour.Context(0.5), out)
    assert status == 1
    assert "still ran after 0.5 s" in out.getvalue()
