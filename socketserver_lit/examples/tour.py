"""The tour: every documented example, run end to end, next to what the page shows.

``socketserver-lit tour`` (or ``python -m socketserver_lit.examples.tour``) is the
documentation's Examples section, executed. For each example it starts the real
programs of this package as separate processes, exactly as you would in two
terminals: the server first (on 127.0.0.1, port 0, so the system picks a free
port, which the server reports on standard error), then the client with the
documented arguments, ``hello world with TCP`` and then ``python is nice``, and
finally Ctrl-C (``SIGINT``) to the server. The threading, forking and
``ThreadingUDPServer`` examples are single programs and simply run to the end.
``--only`` takes any program's subcommand name (``tcp-server``, ``udp-client``,
...) and runs the examples that use that program.

It then prints what each program wrote, labelled and laid out as the
documentation lays out its transcripts, and checks it:

* against what the documented *code* prints. That is the pass/fail test. A
  transcript that differs by one byte, a server that does not stop cleanly on
  Ctrl-C, anything on standard error that should not be there, or a program
  still running after ``--timeout`` seconds makes the example FAIL, and the tour
  exits with status 1;
* against what the documentation *shows*. Where the two differ (the page's TCP
  server transcript is not what its 3.13 handler code prints; thread names gained
  a suffix in Python 3.10), the tour prints the page's version and explains why
  the code prints something else. Those differences are expected and do not fail.

Why processes and not threads in this process? Because the claim is that the
programs work as programs: their argument parsing, their output buffering,
their Ctrl-C handling and their exit status are part of what is checked. Every
wait is bounded, and every process the tour starts is waited for, killed first
if it must be.

Read next: the example modules it runs, starting with ``tcp_server.py``;
``tests/test_examples.py`` checks the same transcripts with its own copy of the
documentation's text.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from socketserver_lit.examples import EXAMPLE_MODULES, _program

PROGRAM = "python -m socketserver_lit.examples.tour"
SUMMARY = "run every documented example end to end and compare its transcripts with the docs"
HOST = "127.0.0.1"  # the tour talks only to the loopback interface
DEFAULT_TIMEOUT = 15.0  # seconds any one process may take before the tour gives up on it
BANNER = re.compile(r"^Serving (TCP|UDP) on \S+ port (\d+); press Ctrl-C to stop\.$")
STOPPED = "Stopped by Ctrl-C; the server is closed."

# The documentation's transcripts, as the 3.13 page prints them ("$" lines included).
DOCUMENTED_TCP_SERVER = """\
$ python TCPServer.py
127.0.0.1 wrote:
b'hello world with TCP'
127.0.0.1 wrote:
b'python is nice'
"""
DOCUMENTED_TCP_CLIENT = """\
$ python TCPClient.py hello world with TCP
Sent:     hello world with TCP
Received: HELLO WORLD WITH TCP
$ python TCPClient.py python is nice
Sent:     python is nice
Received: PYTHON IS NICE
"""
DOCUMENTED_THREADED = """\
$ python ThreadedTCPServer.py
Server loop running in thread: Thread-1
Received: Thread-2: Hello World 1
Received: Thread-3: Hello World 2
Received: Thread-4: Hello World 3
"""
CLIENT_WORDS = ("hello world with TCP", "python is nice")  # the documented client arguments


# -- What the tour records ------------------------------------------------------


@dataclass
class Run:
    """One program run as the transcript shows it: the command and its standard output."""

    command: str
    output: str


@dataclass
class Section:
    """One side of an example (server, client or program) and what its output must be.

    ``expected`` holds, per run, what the documented code prints once ``normalize``
    has been applied to the output; ``documented`` is the page's transcript for this
    side, shown (with ``why``) when the raw output is not the page's.
    """

    label: str
    runs: list[Run]
    expected: list[str]
    documented: str | None = None
    why: str = ""
    normalize: Callable[[str], str] = lambda text: text
    documented_as: str = ""  # where the page's transcript comes from, when not obvious


@dataclass
class Report:
    """Everything one example produced: its sections, problems found, and time taken."""

    key: str
    title: str
    sections: list[Section] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems and all(
            len(section.runs) == len(section.expected) for section in self.sections
        )


class ExampleFailed(Exception):
    """A step went wrong badly enough that the example cannot go on; the message says how."""


# -- Running the programs -------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """How the tour starts programs: which Python, environment and time limit."""

    timeout: float
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=lambda: child_environment())

    def command(self, module: str, *arguments: str) -> list[str]:
        return [self.python, "-m", f"socketserver_lit.examples.{module}", *arguments]


def child_environment() -> dict[str, str]:
    """The environment for example processes: unbuffered UTF-8 output, this package first."""
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def shown(module: str, *arguments: str) -> str:
    """A command as a reader would type it."""
    return " ".join(["python", "-m", f"socketserver_lit.examples.{module}", *arguments])


def restore_default_sigint() -> None:
    """Run in the child before exec: let Ctrl-C reach a server started from a background job.

    A shell without job control starts background commands with SIGINT ignored,
    children inherit that, and Python then leaves it ignored: the server could not
    be stopped the documented way. Only used when this process ignores SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_restorer() -> Callable[[], None] | None:
    """The ``preexec_fn`` that makes Ctrl-C (SIGINT) work in a child, if one is needed."""
    if os.name == "posix" and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return restore_default_sigint
    return None


def run_program(context: Context, module: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run a program to its end, within the time limit."""
    try:
        return subprocess.run(
            context.command(module, *arguments),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=context.env,
            timeout=context.timeout,
            preexec_fn=sigint_restorer(),
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed and waited for the process already.
        raise ExampleFailed(f"{shown(module, *arguments)} still ran after {context.timeout:g} s")


@dataclass
class ServerOutput:
    """What a server process printed and how it ended."""

    stdout: str
    stderr_lines: list[str]
    returncode: int


@contextmanager
def server_process(
    context: Context, module: str
) -> Iterator[tuple[int, Callable[[], ServerOutput]]]:
    """Start a server on a free port; yield its port and a function that stops it.

    Whatever happens inside the ``with`` block, the process is stopped and waited
    for on the way out: with Ctrl-C if it was not stopped yet, killed if it
    ignores that for ``context.timeout`` seconds.
    """
    process = subprocess.Popen(
        context.command(module, "--host", HOST, "--port", "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=context.env,
        preexec_fn=sigint_restorer(),
    )
    result: list[ServerOutput] = []

    def stop() -> ServerOutput:
        if not result:
            result.append(stop_server(process, context.timeout, early_stderr))
        return result[0]

    early_stderr = b""
    try:
        port, early_stderr = read_banner(process, context.timeout, module)
        yield port, stop
    finally:
        stop()


def read_banner(process: subprocess.Popen[bytes], timeout: float, module: str) -> tuple[int, bytes]:
    """Wait for the server's "Serving ... port N" line; return N and the bytes read so far."""
    assert process.stderr is not None
    received = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExampleFailed(f"{module} did not say where it listens within {timeout:g} s")
            if not selector.select(remaining):
                continue
            # os.read, not the buffered file: whatever we do not consume stays in the
            # pipe for communicate() to collect when the server stops.
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            received += chunk
    first_line = received.decode("utf-8", "replace").partition("\n")[0]
    match = BANNER.match(first_line)
    if match is None:
        message = received.decode("utf-8", "replace").strip() or "nothing"
        raise ExampleFailed(f"{module} did not start; it said: {message}")
    return int(match.group(2)), received


def stop_server(
    process: subprocess.Popen[bytes], timeout: float, early_stderr: bytes
) -> ServerOutput:
    """Press Ctrl-C (SIGINT) for the server, wait for it, kill it if it will not stop."""
    if process.poll() is None:
        if os.name == "posix":
            process.send_signal(signal.SIGINT)
        else:  # pragma: no cover - the tour's servers are stopped this way only off POSIX
            process.terminate()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        stderr += (
            f"\n(the tour killed the server: still running {timeout:g} s after Ctrl-C)".encode()
        )
    text = (early_stderr + stderr).decode("utf-8", "replace")
    return ServerOutput(stdout.decode("utf-8", "replace"), text.splitlines(), process.returncode)


# -- Checks ---------------------------------------------------------------------


def check_server_ending(report: Report, output: ServerOutput, module: str) -> None:
    """A server must announce itself, stop on Ctrl-C with exit status 0, and say nothing else."""
    if output.returncode != 0:
        report.problems.append(f"{module} exited with status {output.returncode} after Ctrl-C")
    lines = output.stderr_lines
    if not lines or not BANNER.match(lines[0]) or lines[1:] != [STOPPED]:
        report.problems.append(
            f"{module} should write only its 'Serving ...' and '{STOPPED}' lines to standard "
            "error; it wrote:\n" + "\n".join(lines)
        )


def check_program_ending(report: Report, completed: subprocess.CompletedProcess[str]) -> None:
    """A client or self-contained program must exit 0 with nothing on standard error."""
    name = " ".join(completed.args[2:3]).removeprefix("socketserver_lit.examples.")
    if completed.returncode != 0:
        report.problems.append(f"{name} exited with status {completed.returncode}")
    if completed.stderr:
        report.problems.append(f"{name} wrote to standard error:\n{completed.stderr.rstrip()}")


def check_transcripts(report: Report) -> None:
    """Compare each run's output with what the code must print; record each difference."""
    for section in report.sections:
        for run, expected in zip(section.runs, section.expected, strict=False):
            actual = section.normalize(run.output)
            if actual != expected:
                diff = difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    actual.splitlines(keepends=True),
                    "what the code should print",
                    "what it printed",
                )
                report.problems.append(
                    f"{section.label.lower()} output of `{run.command}` is not what the code "
                    "should print:\n" + "".join(diff).rstrip()
                )


def documented_outputs(transcript: str) -> list[str]:
    """Split a documented transcript into the outputs of its "$" commands."""
    outputs: list[str] = []
    for line in transcript.splitlines(keepends=True):
        if line.startswith("$ "):
            outputs.append("")
        elif outputs:
            outputs[-1] += line
    return outputs


def matches_documentation(section: Section) -> bool:
    """True if the raw outputs are the page's, byte for byte."""
    if section.documented is None:
        return False
    return [run.output for run in section.runs] == documented_outputs(section.documented)


# -- The examples ---------------------------------------------------------------

TCP_SERVER_WHY = (
    "The page's server transcript shows the stripped line as a bytes object (b'...'), as a "
    "handler that strips and prints bytes would (the UDP example's does). The 3.13 handler "
    'code on the same page, reproduced here, prints "Received from 127.0.0.1:" and the '
    "decoded text, and keeps the newline it read: print() adds a second one, hence the "
    "blank line after each request."
)
TCP_CLIENT_WHY = (
    "The 3.13 handler sends back the line with its newline (upper-cased), and print() adds "
    "another, so a blank line follows each reply; the page's transcript shows none."
)
STREAM_SERVER_WHY = (
    "The page's server transcript shows the bytes object, b'...'; this handler, as "
    "documented for 3.13, decodes the data before printing it."
)
THREAD_NAMES_WHY = (
    'Since Python 3.10 a thread created without a name is called "Thread-N (target)", '
    "after the function it runs; the page's transcript shows the older form. Compared with the "
    "suffix removed, the transcript is the page's, thread numbers included."
)


def without_thread_targets(text: str) -> str:
    """``Thread-2 (process_request_thread)`` -> ``Thread-2``: the pre-3.10 thread name."""
    return re.sub(r"\b(Thread-\d+) \(\w+\)", r"\1", text)


def label_pids(text: str) -> str:
    """Replace process ids by roles: the first one seen is the server, each new one a child."""
    labels: dict[str, str] = {}

    def label(match: re.Match[str]) -> str:
        pid = match.group(1)
        if pid not in labels:
            labels[pid] = "SERVER" if not labels else f"CHILD-{len(labels)}"
        return f"pid {labels[pid]}"

    return re.sub(r"\bpid (\d+)\b", label, text)


def client_server_example(
    context: Context,
    report: Report,
    server: str,
    client: str,
    server_expected: str,
    client_expected: Sequence[str],
    server_why: str = "",
    client_why: str = "",
    documented_as: str = "",
) -> None:
    """Start ``server``, run ``client`` with each documented argument list, stop the server."""
    client_runs: list[Run] = []
    with server_process(context, server) as (port, stop):
        for words in CLIENT_WORDS:
            address = ("--host", HOST, "--port", str(port))
            completed = run_program(context, client, *address, *words.split())
            check_program_ending(report, completed)
            client_runs.append(Run(shown(client, *address, words), completed.stdout))
        output = stop()
    check_server_ending(report, output, server)
    report.sections = [
        Section(
            "Server",
            [Run(shown(server, "--host", HOST, "--port", "0"), output.stdout)],
            [server_expected],
            DOCUMENTED_TCP_SERVER,
            server_why,
            documented_as=documented_as,
        ),
        Section(
            "Client",
            client_runs,
            list(client_expected),
            DOCUMENTED_TCP_CLIENT,
            client_why,
            documented_as=documented_as,
        ),
    ]


def tour_tcp_server(context: Context, report: Report) -> None:
    client_server_example(
        context,
        report,
        "tcp_server",
        "tcp_client",
        server_expected=(
            "Received from 127.0.0.1:\nhello world with TCP\n\n"
            "Received from 127.0.0.1:\npython is nice\n\n"
        ),
        client_expected=[
            "Sent:     hello world with TCP\nReceived: HELLO WORLD WITH TCP\n\n",
            "Sent:     python is nice\nReceived: PYTHON IS NICE\n\n",
        ],
        server_why=TCP_SERVER_WHY,
        client_why=TCP_CLIENT_WHY,
    )


def tour_stream_server(context: Context, report: Report) -> None:
    client_server_example(
        context,
        report,
        "stream_server",
        "tcp_client",
        server_expected=(
            "127.0.0.1 wrote:\nhello world with TCP\n127.0.0.1 wrote:\npython is nice\n"
        ),
        client_expected=documented_outputs(DOCUMENTED_TCP_CLIENT),
        server_why=STREAM_SERVER_WHY,
        documented_as="one for both TCP handlers",
    )


def tour_udp(context: Context, report: Report) -> None:
    client_server_example(
        context,
        report,
        "udp_server",
        "udp_client",
        server_expected=documented_outputs(DOCUMENTED_TCP_SERVER)[0],
        client_expected=documented_outputs(DOCUMENTED_TCP_CLIENT),
        documented_as="the TCP example's, which UDP's should look exactly like",
    )


def program_example(
    context: Context, report: Report, module: str, section: Section, *arguments: str
) -> None:
    """Run a self-contained example program once and record its transcript."""
    completed = run_program(context, module, "--host", HOST, *arguments)
    check_program_ending(report, completed)
    section.runs = [Run(shown(module, "--host", HOST, *arguments), completed.stdout)]
    report.sections = [section]


def tour_threaded(context: Context, report: Report) -> None:
    expected = documented_outputs(DOCUMENTED_THREADED)
    section = Section(
        "Program", [], expected, DOCUMENTED_THREADED, THREAD_NAMES_WHY, without_thread_targets
    )
    program_example(context, report, "threaded_server", section)


def tour_forking(context: Context, report: Report) -> None:
    expected = (
        "Server loop running in thread: Thread-1\n"
        "Server process: pid SERVER\n"
        "Received: pid CHILD-1: Hello World 1\n"
        "Received: pid CHILD-2: Hello World 2\n"
        "Received: pid CHILD-3: Hello World 3\n"
    )
    why = (
        'The page has no transcript for the forking server, only "used in the same way". '
        "Checked: each reply names a different process, none of them the server's."
    )

    def normalize(text: str) -> str:
        return label_pids(without_thread_targets(text))

    section = Section("Program", [], [expected], None, why, normalize)
    if not hasattr(os, "fork"):  # pragma: no cover - POSIX only
        report.problems.append("os.fork is not available on this platform")
        return
    program_example(context, report, "forking_server", section)


def tour_threading_udp(context: Context, report: Report) -> None:
    expected = (
        "MRO: ThreadingUDPServer -> ThreadingMixIn -> UDPServer -> TCPServer -> BaseServer"
        " -> object\n"
        "Same bases as socketserver_lit.ThreadingUDPServer: True\n"
    ) + documented_outputs(DOCUMENTED_THREADED)[0]
    why = (
        "The page gives only the class definition. Checked: the class's MRO puts the "
        "mix-in first, matches the predefined class, and serves datagrams from new "
        "threads like the TCP example (thread-name suffixes removed)."
    )
    section = Section("Program", [], [expected], None, why, without_thread_targets)
    program_example(context, report, "threading_udp", section)


@dataclass(frozen=True)
class Example:
    """One entry of the tour: a title, the function that runs it, and the programs it runs.

    ``programs`` are subcommand names (``tcp-server``, ``tcp-client``, ...): ``--only``
    takes any of them, and the first one names the example in the tour's output.
    """

    programs: tuple[str, ...]
    title: str
    run: Callable[[Context, Report], None]

    @property
    def key(self) -> str:
        return self.programs[0]


EXAMPLES = (
    Example(
        ("tcp-server", "tcp-client"),
        "socketserver.TCPServer example: MyTCPHandler with a recv() loop",
        tour_tcp_server,
    ),
    Example(
        ("stream-server", "tcp-client"),
        "the alternative MyTCPHandler on StreamRequestHandler, readline(10000)",
        tour_stream_server,
    ),
    Example(
        ("udp-server", "udp-client"),
        "socketserver.UDPServer example: MyUDPHandler and sendto()",
        tour_udp,
    ),
    Example(("threaded-server",), "ThreadingMixIn: a thread for each request", tour_threaded),
    Example(
        ("forking-server",), "ForkingMixIn, used in the same way: a process each", tour_forking
    ),
    Example(
        ("threading-udp",),
        "class ThreadingUDPServer(ThreadingMixIn, UDPServer): pass",
        tour_threading_udp,
    ),
)
# Every program the examples run, in the order the documentation shows them.
PROGRAM_NAMES = tuple(name.replace("_", "-") for name in EXAMPLE_MODULES)


def run_example(example: Example, context: Context) -> Report:
    """Run one example, turning any failure into a problem on its report."""
    report = Report(example.key, example.title)
    started = time.monotonic()
    try:
        example.run(context, report)
        check_transcripts(report)
    except ExampleFailed as failure:
        report.problems.append(str(failure))
    except OSError as error:
        report.problems.append(f"could not run the example: {error}")
    report.seconds = time.monotonic() - started
    return report


# -- Printing -------------------------------------------------------------------

GUTTER = "    | "


def transcript_lines(command: str, output: str) -> Iterator[str]:
    """A run as a terminal shows it, in a gutter that keeps blank lines visible."""
    yield f"{GUTTER}$ {command}"
    for line in output.splitlines():
        yield (GUTTER + line).rstrip()


def wrap(text: str, indent: str, width: int = 92) -> Iterator[str]:
    """Break prose into lines of at most ``width`` characters."""
    line = indent
    for word in text.split():
        if len(line) + len(word) + 1 > width and line.strip():
            yield line.rstrip()
            line = indent
        line += word + " "
    if line.strip():
        yield line.rstrip()


def render_section(section: Section) -> Iterator[str]:
    yield f"  {section.label}:"
    for run in section.runs:
        yield from transcript_lines(run.command, run.output)
    source = f" ({section.documented_as})" if section.documented_as else ""
    if matches_documentation(section):
        yield f"    = the documented transcript{source}, byte for byte."
    elif section.documented is not None:
        yield f"    The documentation shows{source}:"
        for line in section.documented.splitlines():
            yield (GUTTER + line).rstrip()
    if section.why and not matches_documentation(section):
        yield from wrap(section.why, "    ")


def status_line(report: Report) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    if report.passed:
        differing = sum(
            1
            for section in report.sections
            if section.documented and not matches_documentation(section)
        )
        detail = "prints what the documented code prints"
        if differing:
            detail += f"; {plural(differing, 'transcript')} not the page's, as explained"
    else:
        detail = f"{plural(len(report.problems), 'problem')}, listed above"
    return f"  {verdict}  {report.key} ({report.seconds:.1f} s): {detail}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def render_report(report: Report, number: int, count: int) -> Iterator[str]:
    yield f"[{number}/{count}] {report.title}"
    for section in report.sections:
        yield from render_section(section)
    for problem in report.problems:
        first, *rest = problem.splitlines()
        yield f"  Problem: {first}"
        for line in rest:
            yield f"    {line}"
    yield status_line(report)
    yield ""


def run_tour(examples: Sequence[Example], context: Context, out: TextIO) -> int:
    """Run the examples in order, printing each report as it finishes; return the exit status."""
    started = time.monotonic()
    print(
        f"socketserver-lit tour: {plural(len(examples), 'documented example')}, each program "
        f"in its own process on {HOST}\n",
        file=out,
        flush=True,
    )
    reports = []
    for number, example in enumerate(examples, 1):
        report = run_example(example, context)
        reports.append(report)
        print("\n".join(render_report(report, number, len(examples))), file=out, flush=True)
    failed = [report.key for report in reports if not report.passed]
    elapsed = time.monotonic() - started
    if failed:
        print(
            f"{len(failed)} of {plural(len(reports), 'example')} misbehaved: "
            f"{', '.join(failed)} ({elapsed:.1f} s).",
            file=out,
        )
        return _program.EXIT_ERROR
    print(
        f"All {plural(len(reports), 'example')} behaved as documented ({elapsed:.1f} s).", file=out
    )
    return _program.EXIT_OK


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: which examples, and how long any one program may take."""
    parser = _program.build_parser(
        prog or PROGRAM,
        SUMMARY + ". Servers listen on 127.0.0.1 on ports the system picks. "
        "Exits with status 1 if any example misbehaves.",
        add_help,
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PROGRAM_NAMES,
        metavar="PROGRAM",
        help="run only the examples that run this program (repeatable): "
        + ", ".join(PROGRAM_NAMES),
    )
    parser.add_argument(
        "--timeout",
        type=_program.positive_seconds,
        default=DEFAULT_TIMEOUT,
        help="seconds any one program may take before it counts as hung (default: %(default)s)",
    )
    return parser


def chosen_examples(only: Sequence[str] | None) -> list[Example]:
    """The examples that run any of the programs in ``only``; all of them if it is empty."""
    return [example for example in EXAMPLES if not only or set(only) & set(example.programs)]


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Run the selected examples; return 0 if all behaved, 1 otherwise.

    Ctrl-C stops the tour: on its way out, each ``with`` block and ``subprocess.run``
    has stopped (or killed) and waited for the program it started, so the line
    printed then is true; the tour then ends as an unhandled Ctrl-C would.
    """
    try:
        return run_tour(chosen_examples(args.only), Context(timeout=args.timeout), sys.stdout)
    except KeyboardInterrupt:
        print("Stopped by Ctrl-C; every program the tour started has ended.", file=sys.stderr)
        _program.end_by_sigint()
        raise  # not reached where SIGINT ends the process (POSIX)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the tour."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())
