"""The public API is typed: the core modules pass ``mypy --strict``, so IDE users get real hints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "__init__.py",
    "servers.py",
    "handlers.py",
    "mixins.py",
    "combinations.py",
    "tracing.py",
    "teaching.py",
]


@pytest.mark.timeout(180)
def test_core_modules_pass_mypy_strict():
    files = [str(ROOT / "socketserver_lit" / name) for name in CORE]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_ships_its_type_marker():
    assert (ROOT / "socketserver_lit" / "py.typed").is_file()
