"""Shared fixtures: start a server in a thread and always stop and close it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_support import open_descriptor_count, serving


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
