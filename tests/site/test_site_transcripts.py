"""The terminal transcripts on the site are what the programs really print.

The home page and the tutorial show `console` blocks: a `$ python -m ...` command and the output
under it. Code on the site is included from the files at build time, but a transcript is text,
so here we run each one and compare, line for line. A program whose output changes makes this
fail until the page is updated: the pages cannot drift from the programs.

Self-contained programs (they start their own server and clients, then stop) are run as shown.
The tutorial's server/client pair is run as a reader would, in two processes, with the server
on a port the system picks instead of 9999 so the test never collides with anything.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from site_support import REPOSITORY

DOCS = REPOSITORY / "docs"
EXAMPLE_COMMAND = re.compile(r"^python -m socketserver_lit\.examples\.(?P<module>\w+)(?P<args>.*)$")
# Programs that run a server and its clients themselves and then exit.
SELF_CONTAINED = {"threaded_server", "threading_udp"}
# Seconds any one program may take; they finish in well under one.
PROGRAM_TIMEOUT = 30


def console_blocks(markdown: str) -> list[list[tuple[str, list[str]]]]:
    """Each ```console block as a list of (command, the output lines printed under it)."""
    blocks = []
    for match in re.finditer(r"^( *)```console\n(.*?)^\1```", markdown, re.DOTALL | re.MULTILINE):
        body = textwrap.dedent(match[2])
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:].strip(), []))
            elif steps:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def example_runs() -> list[tuple[str, str, list[str]]]:
    """(page, command, expected output) for every self-contained example shown on a page."""
    runs = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in console_blocks(page.read_text(encoding="utf-8")):
            for command, output in block:
                match = EXAMPLE_COMMAND.match(command)
                if match and match["module"] in SELF_CONTAINED:
                    runs.append((page.relative_to(DOCS).as_posix(), command, output))
    return runs


def program_environment() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="default")


def run_python(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=REPOSITORY,
        env=program_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT,
        check=False,
    )


def test_the_home_page_and_tutorial_show_a_runnable_transcript() -> None:
    pages = {page for page, _command, _output in example_runs()}
    assert {"index.md", "tutorial.md"} <= pages


@pytest.mark.parametrize(
    ("page", "command", "expected"),
    example_runs(),
    ids=[f"{page}:{command.split()[2]}" for page, command, _ in example_runs()],
)
def test_a_self_contained_example_prints_what_the_page_shows(page, command, expected) -> None:
    completed = run_python(command.split()[1:])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == expected, f"{page} shows a different transcript"


def tutorial_block(command_start: str) -> tuple[str, list[str]]:
    for block in console_blocks((DOCS / "tutorial.md").read_text(encoding="utf-8")):
        for command, output in block:
            if command.startswith(command_start):
                return command, output
    pytest.fail(f"the tutorial has no transcript of {command_start!r}", pytrace=False)


def test_the_tutorials_tcp_server_and_client_print_what_the_page_shows() -> None:
    server_command, server_expected = tutorial_block("python -m socketserver_lit.examples.tcp_s")
    client_command, client_expected = tutorial_block("python -m socketserver_lit.examples.tcp_c")
    server = subprocess.Popen(
        [sys.executable, *server_command.split()[1:], "--port", "0"],
        cwd=REPOSITORY,
        env=program_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _wait_for_port(server)
        words = client_command.split()[3:]
        client = run_python([*client_command.split()[1:3], "--port", str(port), *words])
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == client_expected
    finally:
        server.send_signal(signal.SIGINT)  # the reader's Ctrl-C
        server_output, server_errors = server.communicate(timeout=PROGRAM_TIMEOUT)
    assert server.returncode == 0, server_errors
    assert server_output.splitlines() == server_expected


def _wait_for_port(server: subprocess.Popen) -> int:
    """Read the server's standard error until it says which port it listens on."""
    found: list[int] = []

    def read() -> None:
        for line in server.stderr:
            match = re.search(r"port (\d+)", line)
            if match:
                found.append(int(match[1]))
                return

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(PROGRAM_TIMEOUT)
    if not found:
        server.kill()
        server.communicate(timeout=PROGRAM_TIMEOUT)
        pytest.fail("the tutorial's server never said which port it listens on", pytrace=False)
    return found[0]
