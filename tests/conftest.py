"""Shared fixtures (start a server in a thread and always stop and close it), and nbval's flags.

pyproject.toml's ``addopts`` turn on nbval in strict mode, so that ``python -m pytest``
checks the notebooks with no extra flags. An install with only some of the extras (say
``core-test``) has no nbval, and pytest would refuse its flags before running a single
test. So when nbval is missing, and only then, this file declares those flags itself:
they are accepted and do nothing, the notebooks are not collected, and the report
header says why. With nbval installed, nbval owns the flags and nothing here changes.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_support import open_descriptor_count, serving

# A shell starts a background command (`pytest ... &`, some CI runners) with Ctrl-C
# ignored, and "ignored" survives exec: every Python the tests start would then ignore
# the SIGINT a test sends it, and the tests of Ctrl-C would fail for a reason of the
# runner's. A handler does not survive exec, so installing Python's own here gives
# every child the default action again, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The nbval flags pyproject.toml's addopts pass, with how each one takes its value.
NBVAL_FLAGS = {
    "--nbval": "store_true",
    "--nbval-current-env": "store_true",
    "--nbval-sanitize-with": "store",
    "--nbval-cell-timeout": "store",
}
WITHOUT_NBVAL = (
    "nbval is not installed: notebooks are not collected (pip install -e '.[notebooks]')"
)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if pluginmanager.has_plugin("nbval"):
        return
    group = parser.getgroup("nbval (not installed)")
    for flag, action in NBVAL_FLAGS.items():
        group.addoption(flag, action=action, help=f"ignored: {WITHOUT_NBVAL}")


def pytest_report_header(config: pytest.Config) -> str | None:
    return None if config.pluginmanager.has_plugin("nbval") else WITHOUT_NBVAL


@pytest.fixture
def serve() -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """The ``serving`` context manager, as a fixture."""
    return serving


@pytest.fixture
def no_leaked_descriptors() -> Iterator[None]:
    """Fail the test if it ends with more open descriptors than it started with."""
    before = open_descriptor_count()
    yield
    after = open_descriptor_count()
    assert after <= before, f"descriptors leaked: {before} open before the test, {after} after"
