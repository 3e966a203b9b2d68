"""What the README says about installing and running, checked.

The Quick start is what CI runs: two commands, the second one verbatim in ``.ci/run``.
The extras table is ``pyproject.toml``'s extras; an install without nbval still starts
pytest; the documentation commands hide Material's end-of-life notice, and ``mkdocs
serve`` shows it without the variable. These tests need the ``test`` extra (they run
``mkdocs``), like the Quick start's command that runs them.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WAIT = 50.0  # seconds: the longest a step (pytest starting, a site build) may take
NOTICE = "Material for MkDocs reaches end of life"


def section(title: str) -> str:
    """The text of the README's ``## title`` section."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.M | re.S)
    assert found, f"README.md has no '## {title}' section"
    return found.group(1)


def quick_start_commands() -> list[str]:
    blocks = re.findall(r"^```(?:bash|sh|console)?\n(.*?)^```", section("Quick start"), re.M | re.S)
    return [block.strip() for block in blocks]


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands)
    assert commands[0].endswith("socketserver-lit tour")


def test_ci_runs_the_readmes_test_command_verbatim():
    test_command = quick_start_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


# -- Installing only what you need -------------------------------------------------------------


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_the_package_needs_nothing_outside_the_standard_library():
    assert PYPROJECT["project"]["dependencies"] == []


def test_the_extras_table_lists_what_each_extra_installs():
    extras = PYPROJECT["project"]["optional-dependencies"]
    rows = re.findall(r"^\| `([\w-]+)` \| (.*?) \|", section("Installing only what you need"), re.M)
    assert [name for name, _ in rows] == list(extras)
    for name, installs in rows:
        listed = set(re.findall(r"`([\w-]+)`", installs))
        required = {requirement_name(r) for r in extras[name] if not r.startswith("socketserver")}
        assert listed == required, name
    assert extras["test"][0] == "socketserver-lit[core-test,notebooks,docs,teach]"
    assert installs_of("test").startswith("all of the above")


def installs_of(extra: str) -> str:
    row = re.search(rf"^\| `{extra}` \| (.*?) \|", README, re.M)
    assert row, extra
    return row.group(1)


def test_the_docs_extra_brings_no_test_tools():
    docs = {requirement_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["docs"]}
    assert not docs & {"pytest", "pytest-timeout", "playwright", "nbval"}


def test_the_quick_start_installs_the_extra_that_has_everything():
    assert "pip install -e '.[test]'" in quick_start_commands()[1]


def test_without_nbval_pytest_still_starts_runs_the_tests_and_leaves_notebooks_out():
    # -p no:nbval: pytest as an install without the notebooks extra has it.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:nbval", "--collect-only", "-q"]
        + ["tests/test_readme.py", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_readme.py::test_quick_start_has_exactly_two_commands" in result.stdout
    assert ".ipynb" not in result.stdout
    header = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:nbval", "--co", "tests/test_readme.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    ).stdout
    assert "nbval is not installed: notebooks are not collected" in header


def test_with_nbval_python_dash_m_pytest_checks_notebooks_in_strict_mode(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("nbval")
    options = pytestconfig.option
    assert options.nbval and not options.nbval_lax and options.nbval_current_env
    assert Path(options.nbval_sanitize_with).resolve() == ROOT / "notebooks" / "sanitize.cfg"


# -- The documentation site's commands ---------------------------------------------------------


def docs_command(action: str) -> list[str]:
    """The README's ``$ ... mkdocs <action>`` line, as an argument list."""
    lines = re.findall(rf"^\$ (.*\bmkdocs {action}\b.*)$", README, re.M)
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mkdocs_serve_output(environment: dict[str, str], until: str) -> str:
    """What ``mkdocs serve`` prints up to the first line containing ``until``; then stop it."""
    command = [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{free_port()}"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + WAIT
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while until.encode() not in output and time.monotonic() < deadline:
                if selector.select(deadline - time.monotonic()):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    output += chunk
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    text = output.decode("utf-8", "replace")
    assert until in text, text
    return text


def test_both_documentation_commands_set_the_variable_that_hides_the_notice():
    for action in ("serve", "build"):
        assert docs_command(action)[0] == "NO_MKDOCS_2_WARNING=1", action


def serve_variable() -> tuple[str, str]:
    variable, value = docs_command("serve")[0].split("=", 1)
    return variable, value


def test_mkdocs_serve_as_written_prints_no_end_of_life_notice():
    variable, value = serve_variable()
    # Material prints its notice when it is imported, before the build starts.
    output = mkdocs_serve_output(dict(os.environ, **{variable: value}), "Building documentation")
    assert NOTICE not in output


@pytest.mark.timeout(3 * WAIT)  # a whole build of the site, then the server starts
def test_mkdocs_serve_without_the_variable_prints_the_notice_and_watches_pages_and_code():
    variable, _ = serve_variable()
    loud = {key: text for key, text in os.environ.items() if key != variable}
    output = mkdocs_serve_output(loud, until="Watching paths for changes")
    assert NOTICE in output
    # Live reload: a page, a notebook or a module edited makes the site rebuild.
    watching = re.search(r"Watching paths for changes: (.*)", output).group(1)
    for path in ("'docs'", "'socketserver_lit'", "'notebooks'"):
        assert path in watching, watching


def test_mkdocs_serve_listens_where_the_readme_says_to_open_it():
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    host, port = config.dev_addr
    assert f"<http://{host}:{port}/>" in README
