"""Shared by the site tests: where things are, and how to import a docs hook."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
HOOKS = REPOSITORY / "docs" / "hooks"


@dataclass
class SiteBuild:
    """A finished `mkdocs build --strict`: where it wrote the site, and what it printed."""

    site_dir: Path
    returncode: int
    output: str


def load_hook_module(name: str):
    """Import one of docs/hooks/*.py the way mkdocs does: with its folder on sys.path."""
    sys.path.insert(0, str(HOOKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(HOOKS))
