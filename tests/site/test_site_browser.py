"""The built site, opened in a real browser: the pages a reader lands on show their real content.

Headless Chromium (Debian's `chromium`, driven by playwright-python; no browser is downloaded)
opens the site served on 127.0.0.1 and checks what a person would look for: the home page and
its search box, an API reference page with its classes and signatures, a notebook page with a
code cell and the output committed in the notebook, a literate source page, and a mermaid
diagram drawn without any network. Every page must load without a JavaScript error, a console
error, a failed request or a request to another host. Screenshots go to build/screenshots/ for
humans to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from site_support import (
    DESKTOP,
    REPOSITORY,
    SCREENSHOTS,
    STEP_TIMEOUT_MS,
    PageProblems,
    watch_for_problems,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def browser_page(chromium, site_url: str) -> Iterator[tuple[object, PageProblems]]:
    """One Chromium page for the module's tests, recording errors and off-site requests."""
    context = chromium.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        yield page, watch_for_problems(page, site_url)
    finally:
        context.close()


def visit(browser_page, site_url: str, path: str, screenshot: str):
    """Open `path`, wait until the page is quiet, save a screenshot; return the page."""
    page, problems = browser_page
    problems.lines.clear()
    response = page.goto(site_url + path, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{path}: HTTP {response.status}"
    page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=False)
    return page, problems


def first_notebook() -> Path:
    """The notebook the test opens: the first documented example, else the first course one."""
    for folder in ("examples", "course"):
        found = sorted((REPOSITORY / "notebooks" / folder).glob("*.ipynb"))
        if found:
            return found[0]
    pytest.fail("no notebook under notebooks/ to check", pytrace=False)


def first_printed_line(notebook: Path) -> tuple[str, str]:
    """(the first code cell that printed something, the first line it printed), as committed."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output["text"]
                text = "".join(text) if isinstance(text, list) else text
                source = cell["source"]
                source = "".join(source) if isinstance(source, list) else source
                printed = [line for line in text.splitlines() if line.strip()]
                if printed:
                    return source, printed[0].strip()
    pytest.fail(f"{notebook.name} has no printed output to look for", pytrace=False)


def test_home_page_shows_the_project_and_its_quick_start(browser_page, site_url):
    page, problems = visit(browser_page, site_url, "", "home.png")
    assert "socketserver_lit" in page.title()
    assert page.locator("h1").first.inner_text().strip() != ""
    assert page.locator("#quick-start").count() == 1
    tabs = page.locator(".md-tabs__link").all_inner_texts()
    for tab in ("Tutorial", "Concepts", "Notebooks", "Reference", "Literate source"):
        assert tab in [text.strip() for text in tabs]
    assert problems.lines == []


def test_search_box_finds_a_class_by_name(browser_page, site_url):
    page, problems = visit(browser_page, site_url, "", "home.png")
    page.locator("input.md-search__input").click()
    page.keyboard.type("ThreadingMixIn", delay=20)  # keystrokes, as a reader types
    results = page.locator(".md-search-result__item")
    results.first.wait_for(state="visible")
    assert "ThreadingMixIn" in " ".join(results.all_inner_texts())
    page.screenshot(path=str(SCREENSHOTS / "search.png"))
    assert problems.lines == []


def test_reference_page_documents_the_server_classes(browser_page, site_url):
    page, problems = visit(browser_page, site_url, "reference/servers/", "reference-servers.png")
    for name in ("BaseServer", "TCPServer", "UDPServer"):
        heading = page.locator(f'[id="socketserver_lit.servers.{name}"]')
        assert heading.count() == 1, f"no heading for {name}"
        assert name in heading.inner_text()
    serve_forever = page.locator('[id="socketserver_lit.servers.BaseServer.serve_forever"]')
    assert serve_forever.count() == 1
    signatures = page.locator(".doc-signature").all_inner_texts()
    assert any("serve_forever(" in text and "poll_interval" in text for text in signatures)
    assert page.locator("details.mkdocstrings-source summary").count() > 0, (
        "no source code sections"
    )
    assert page.locator("a.autorefs-internal").count() > 0, "no cross-references"
    assert page.locator('.literate-links a[href*="source/servers/"]').count() > 0
    assert problems.lines == []


def test_notebook_page_shows_a_code_cell_with_its_committed_output(browser_page, site_url):
    notebook = first_notebook()
    path = notebook.relative_to(REPOSITORY).with_suffix("").as_posix() + "/"
    page, problems = visit(browser_page, site_url, path, f"notebook-{notebook.stem}.png")
    source, printed = first_printed_line(notebook)
    inputs = page.locator(".jp-CodeCell .jp-InputArea").all_inner_texts()
    first_source_line = source.strip().splitlines()[0].strip()
    assert any(first_source_line in text for text in inputs), f"cell {first_source_line!r} missing"
    outputs = " ".join(page.locator(".jp-CodeCell .jp-OutputArea").all_inner_texts())
    assert printed in outputs, f"committed output {printed!r} not shown"
    output = page.locator(".jp-CodeCell .jp-OutputArea", has_text=printed).first
    # Centred, so the cell that printed it is in the picture too.
    output.evaluate("element => element.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SCREENSHOTS / f"notebook-{notebook.stem}-output.png"))
    download = page.locator(".notebook-actions a[download]")
    assert download.count() == 1
    answer = page.request.get(site_url + path + download.get_attribute("href"))
    assert answer.ok and answer.body() == notebook.read_bytes()
    assert problems.lines == []


def test_literate_page_reads_servers_py_top_to_bottom(browser_page, site_url):
    page, problems = visit(browser_page, site_url, "source/servers/", "literate-servers.png")
    assert page.locator('[id="src-socketserver_lit.servers.BaseServer"]').count() == 1
    titles = page.locator(".highlight .filename").all_inner_texts()
    assert titles and all(t.startswith("socketserver_lit/servers.py, line ") for t in titles)
    assert "class TCPServer(" in page.locator(".md-content").inner_text()
    assert problems.lines == []


def test_mermaid_diagram_is_drawn_without_the_network(browser_page, site_url):
    """Material swaps each `<pre class="mermaid">` for a `<div class="mermaid">` holding the
    drawing (in a closed shadow root, so we judge it by its size, not its SVG)."""
    page, problems = visit(browser_page, site_url, "concepts/server-types/", "concepts-types.png")
    diagram = page.locator("div.mermaid").first
    diagram.wait_for(state="visible")
    assert page.locator("pre.mermaid").count() == 0, "a diagram was left as text"
    diagram.scroll_into_view_if_needed()
    box = diagram.bounding_box()
    assert box is not None and box["height"] > 100, f"diagram not drawn: {box}"
    page.screenshot(path=str(SCREENSHOTS / "concepts-types.png"))
    assert problems.lines == []


def test_every_diagram_on_the_site_is_drawn_without_an_error(browser_page, built_site, site_url):
    """A mermaid syntax error shows up as a JavaScript error or a diagram left as text."""
    paths = sorted(
        page.parent.relative_to(built_site).as_posix() + "/"
        for page in built_site.rglob("index.html")
        if 'class="mermaid"' in page.read_text(encoding="utf-8")
    )
    assert len(paths) >= 5, paths
    for path in paths:
        page, problems = browser_page
        problems.lines.clear()
        page.goto(site_url + path.removeprefix("./"), wait_until="networkidle")
        expected = page.locator("div.mermaid, pre.mermaid").count()
        page.locator("div.mermaid").nth(expected - 1).wait_for(state="attached")
        assert page.locator("pre.mermaid").count() == 0, f"{path}: a diagram was left as text"
        heights = [page.locator("div.mermaid").nth(i).bounding_box() for i in range(expected)]
        assert all(box and box["height"] > 40 for box in heights), f"{path}: {heights}"
        assert problems.lines == [], f"{path}: {problems.lines}"


def test_dark_palette_can_be_switched_on(browser_page, site_url):
    page, problems = visit(browser_page, site_url, "", "home.png")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    scheme = page.locator("body").get_attribute("data-md-color-scheme")
    assert scheme == "slate"
    page.screenshot(path=str(SCREENSHOTS / "home-dark.png"))
    page.locator("form[data-md-component=palette] label:visible").first.click()
    assert problems.lines == []


def test_exercise_solutions_stay_folded_until_the_reader_asks(browser_page, site_url):
    """A cell tagged "solution" shows a label, not its code, until hovered."""
    page, problems = visit(
        browser_page, site_url, "notebooks/course/06-use-your-head/", "course-06.png"
    )
    solution = page.locator('.jp-Cell.celltag_solution[id^="cell-id"]').first
    solution.scroll_into_view_if_needed()
    code = solution.locator(".jp-InputArea")
    folded = code.bounding_box()
    assert folded is not None and folded["height"] < 2, f"solution visible: {folded}"
    solution.hover()
    page.wait_for_timeout(100)
    opened = code.bounding_box()
    assert opened is not None and opened["height"] > 20, f"solution did not open: {opened}"
    page.screenshot(path=str(SCREENSHOTS / "course-06-solution-open.png"))
    assert problems.lines == []
