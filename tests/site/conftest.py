"""Fixtures for the documentation site's tests: build it once, serve it on loopback.

The site is built with the same command a developer runs (`mkdocs build --strict`) into a
temporary folder, once per test session, and shared by the build test and the browser test.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from site_support import CHROMIUM_FLAGS, REPOSITORY, SCREENSHOTS, SiteBuild, chromium_executable

# A strict build takes a few seconds here; notebooks not yet in mkdocs-jupyter's cache add about
# a second each. Generous, so a loaded CI machine is slow rather than failing.
BUILD_TIMEOUT = 240
# Longest the site's HTTP server thread may take to stop.
JOIN_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def site_build(tmp_path_factory: pytest.TempPathFactory) -> SiteBuild:
    """Build the site once, strictly, into a temporary folder."""
    site_dir = tmp_path_factory.mktemp("site")
    environment = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="default")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPOSITORY / "mkdocs.yml"),
            "--site-dir",
            str(site_dir),
        ],
        cwd=REPOSITORY,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    return SiteBuild(site_dir, completed.returncode, completed.stdout + completed.stderr)


@pytest.fixture(scope="session")
def built_site(site_build: SiteBuild) -> Path:
    """The built site's folder; fails every test that needs it if the build failed."""
    if site_build.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{site_build.output}", pytrace=False)
    return site_build.site_dir


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site's files and keeps the test output free of access-log lines."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site, served over HTTP on 127.0.0.1 from a thread, stopped after the session."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="docs-site-server")
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        assert not thread.is_alive(), "the site's HTTP server did not stop"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Headless Chromium (Debian's, driven by playwright-python), shared by the browser tests.

    Screenshots from an earlier run would pass for this one's: the folder starts empty.
    """
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    for old_picture in SCREENSHOTS.glob("*.png"):
        old_picture.unlink()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
