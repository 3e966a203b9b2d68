"""Shared fixtures: start a server in a thread and always stop and close it."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Longest a test waits for a server thread to stop before calling it a hang.
JOIN_TIMEOUT = 10.0


@contextlib.contextmanager
def serving(server: Any, poll_interval: float = 0.5) -> Iterator[Any]:
    """Run ``server.serve_forever`` in a thread for the ``with`` block, then stop and close it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        assert not thread.is_alive(), "serve_forever() did not return after shutdown()"


@pytest.fixture
def serve() -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """The ``serving`` context manager, as a fixture."""
    return serving


def open_descriptor_count() -> int:
    """How many file descriptors this process has open (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaked_descriptors() -> Iterator[None]:
    """Fail the test if it ends with more open descriptors than it started with."""
    before = open_descriptor_count()
    yield
    after = open_descriptor_count()
    assert after <= before, f"descriptors leaked: {before} open before the test, {after} after"
