"""Shared by the site tests: where things are, how to import a docs hook, how to open a page."""

from __future__ import annotations

import importlib
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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


# --- the browser --------------------------------------------------------------------------------

SCREENSHOTS = REPOSITORY / "build" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# How long the browser may take for one step (load a page, show search results), in ms.
STEP_TIMEOUT_MS = 20_000
# The window sizes the layout is checked at: a laptop, and a phone held upright.
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    pytest.fail(
        "Chromium is not installed, so the site cannot be checked in a browser. "
        "Install Debian's package: apt-get install -y chromium",
        pytrace=False,
    )


@dataclass
class PageProblems:
    """Everything that went wrong while pages loaded, as readable lines."""

    lines: list[str] = field(default_factory=list)


def watch_for_problems(page, site_url: str) -> PageProblems:
    """Record JavaScript errors, console errors, failed requests and requests to other hosts."""
    problems = PageProblems()
    site_host = urlsplit(site_url).hostname
    page.on("pageerror", lambda error: problems.lines.append(f"JS error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.lines.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    # A request the browser itself cancels when the next page opens (the favicon, fetched late)
    # fails with ERR_ABORTED: that is the test moving on, not the site.
    page.on(
        "requestfailed",
        lambda request: (
            problems.lines.append(f"request failed: {request.url} ({request.failure})")
            if request.failure != "net::ERR_ABORTED"
            else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            problems.lines.append(f"request to another host: {request.url}")
            if urlsplit(request.url).scheme in ("http", "https")
            and urlsplit(request.url).hostname != site_host
            else None
        ),
    )
    return problems
