"""Shared by the site tests: where things are, how to import a docs hook, how to open a page."""

from __future__ import annotations

import importlib
import re
import shutil
import sys
from contextlib import contextmanager
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


def notebook_pages() -> list[str]:
    """The URL path of every notebook's page, found on disk: a notebook added later is in it."""
    return [
        path.relative_to(REPOSITORY).with_suffix("").as_posix() + "/"
        for path in sorted((REPOSITORY / "notebooks").rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in path.parts
    ]


def built_pages(site_dir: Path, pattern: str) -> list[str]:
    """The URL path ("" for the home page) of every built page whose HTML matches `pattern`."""
    found = []
    for page in sorted(site_dir.rglob("index.html")):
        if re.search(pattern, page.read_text(encoding="utf-8")):
            path = page.parent.relative_to(site_dir).as_posix()
            found.append("" if path == "." else path + "/")
    return found


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


# Material draws mermaid diagrams in a closed shadow root; a test page opens it to measure them.
OPEN_SHADOW_ROOTS = """
const attachShadow = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attachShadow.call(this, { ...init, mode: "open" });
};
"""


@contextmanager
def browser_tab(chromium, site_url: str, *, viewport: dict, dark: bool = False):
    """A fresh page in its own context: a window size, a colour scheme, nothing remembered."""
    context = chromium.new_context(viewport=viewport, color_scheme="dark" if dark else "light")
    context.add_init_script(OPEN_SHADOW_ROOTS)
    try:
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        yield page, watch_for_problems(page, site_url)
    finally:
        context.close()


def open_page(tab, site_url: str, path: str, screenshot: str | None = None):
    """Open `path` in a tab from `browser_tab`, forgetting the problems of the page before."""
    page, problems = tab
    problems.lines.clear()
    response = page.goto(site_url + path, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{path}: HTTP {response.status}"
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    return page, problems


# Elements that reach past the window's right edge, unless a box of theirs that scrolls sideways
# (a code block, a table, a wide diagram) keeps them inside the window.
OVERFLOWING_THE_WINDOW = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`page is ${document.documentElement.scrollWidth} px wide`);
  }
  for (const element of document.querySelectorAll("article *")) {
    if (element.getBoundingClientRect().right <= width + 1) continue;
    const keepsInside = box => ["auto", "scroll", "hidden"].includes(
      getComputedStyle(box).overflowX) && box.getBoundingClientRect().right <= width + 1;
    let scroller = element.parentElement;
    while (scroller && !keepsInside(scroller)) scroller = scroller.parentElement;
    if (!scroller) found.push(`${element.tagName.toLowerCase()}.${element.className}`);
  }
  return found.slice(0, 10);
}"""
