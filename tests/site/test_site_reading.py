"""What a reader sees: the literate view, the diagram, the figures and the notebook cells, measured.

The pages are opened in headless Chromium at a laptop's window (1280x900) and a phone's
(390x844), and the layout is measured the way a reader would judge it:

- the literate source pages set prose beside the code it explains on the laptop and in one
  column on the phone; each divider comment of the module is a heading in the page's table of
  contents; a 100-character line (the project's line length) fits the code column;
- no code block on a literate or notebook page overflows sideways, and on the phone nothing
  overflows the window;
- the request lifecycle diagram's text is not smaller than the site's small print, and reads
  against the page in light and dark mode;
- method names in a table never break in the middle;
- the Performance figures fit the text column without being shrunk below their drawn size;
- notebook cells use the site's code font, background and colours, and their copy button never
  covers code.

Every page must also load without a JavaScript error or a request to another host. Screenshots
of each layout go to build/screenshots/.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from site_support import (
    DESKTOP,
    PHONE,
    REPOSITORY,
    SCREENSHOTS,
    STEP_TIMEOUT_MS,
    watch_for_problems,
)

if str(REPOSITORY) not in sys.path:  # bench/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPOSITORY))
from bench import report  # noqa: E402

pytestmark = pytest.mark.timeout(300)

PACKAGE = REPOSITORY / "socketserver_lit"
# A divider comment in a module: `# -- bind and activate ------` (the literate hook's convention).
DIVIDER_COMMENT = re.compile(r"^\s*#\s*-{2,}\s*[^-\s].*?-{3,}\s*$")
# WCAG's minimum contrast for normal-sized text (success criterion 1.4.3, level AA), and for
# the parts of a graphic needed to understand it, such as arrowheads (1.4.11).
MINIMUM_TEXT_CONTRAST = 4.5
MINIMUM_GRAPHIC_CONTRAST = 3.0
# A figure may be drawn a little smaller than designed (a column a few pixels narrower), not more.
SMALLEST_FIGURE_SCALE = 0.9
# Material draws mermaid diagrams in a closed shadow root; a test page opens it to measure the text.
OPEN_SHADOW_ROOTS = """
const attachShadow = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attachShadow.call(this, { ...init, mode: "open" });
};
"""


def literate_pages() -> list[str]:
    """The URL path of every module's literate page (source/servers/, source/package/, ...)."""
    paths = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if any(part.startswith("_") for part in parts if part != "__init__"):
            continue
        if parts == ["__init__"]:
            paths.append("source/package/")
        elif parts[-1] == "__init__":
            paths.append("source/" + "/".join(parts[:-1]) + "/")
        else:
            paths.append("source/" + "/".join(parts) + "/")
    return paths


def notebook_pages() -> list[str]:
    return [
        path.relative_to(REPOSITORY).with_suffix("").as_posix() + "/"
        for path in sorted((REPOSITORY / "notebooks").rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in path.parts
    ]


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


@pytest.fixture(scope="module")
def desktop(chromium, site_url: str) -> Iterator[tuple[object, object]]:
    with browser_tab(chromium, site_url, viewport=DESKTOP) as tab:
        yield tab


@pytest.fixture(scope="module")
def phone(chromium, site_url: str) -> Iterator[tuple[object, object]]:
    with browser_tab(chromium, site_url, viewport=PHONE) as tab:
        yield tab


def open_page(tab, site_url: str, path: str, screenshot: str | None = None):
    page, problems = tab
    problems.lines.clear()
    response = page.goto(site_url + path, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{path}: HTTP {response.status}"
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    return page, problems


# --- the literate source view ----------------------------------------------------------------

COLUMNS = """() => [...document.querySelectorAll(".literate-section--paired")].map(section => {
  const prose = section.querySelector(":scope > .literate-prose").getBoundingClientRect();
  const code = section.querySelector(":scope > .literate-code").getBoundingClientRect();
  return {prose: [prose.left, prose.top, prose.right, prose.bottom],
          code: [code.left, code.top, code.right, code.bottom],
          title: section.querySelector(".filename")?.textContent ?? ""};
})"""


@pytest.mark.parametrize("path", ["source/servers/", "source/tracing/"])
def test_literate_page_sets_prose_beside_its_code_on_a_laptop(desktop, site_url, path):
    name = path.strip("/").replace("/", "-")
    page, problems = open_page(desktop, site_url, path, f"literate-{name}-1280.png")
    sections = page.evaluate(COLUMNS)
    assert len(sections) >= 10, f"only {len(sections)} prose-and-code sections"
    for section in sections:
        prose_left, prose_top, prose_right, _ = section["prose"]
        code_left, code_top, _, _ = section["code"]
        assert code_left >= prose_right, f"code not beside its prose: {section}"
        assert abs(code_top - prose_top) <= 2, f"columns do not start level: {section}"
        assert prose_right - prose_left >= 300, f"prose column too narrow to read: {section}"
    assert problems.lines == []


@pytest.mark.parametrize("path", ["source/servers/", "source/tracing/"])
def test_literate_page_is_one_column_on_a_phone(phone, site_url, path):
    name = path.strip("/").replace("/", "-")
    page, problems = open_page(phone, site_url, path, f"literate-{name}-390.png")
    sections = page.evaluate(COLUMNS)
    assert sections, "no prose-and-code sections"
    for section in sections:
        assert section["code"][1] >= section["prose"][3] - 1, f"code beside prose: {section}"
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
    assert problems.lines == []


def test_a_full_length_line_fits_the_literate_code_column(desktop, site_url):
    """100 characters, the project's line length, on one line of a code block, at 1280 px."""
    page, _ = open_page(desktop, site_url, "source/servers/")
    spare = page.evaluate("""() => {
      const code = document.querySelector(".literate-code pre > code");
      const probe = document.createElement("span");
      probe.textContent = "0".repeat(100);
      code.appendChild(probe);
      const style = getComputedStyle(code);
      const room = code.clientWidth - parseFloat(style.paddingLeft)
                   - parseFloat(style.paddingRight);
      const needed = probe.getBoundingClientRect().width;
      probe.remove();
      return room - needed;
    }""")
    assert spare >= 0, f"a 100-character line is {-spare:.1f} px wider than the code column"


def divider_comments(module: Path) -> list[str]:
    """The module's divider comments between definitions (one inside a function is just code)."""
    source = module.read_text(encoding="utf-8")
    inside_functions = {
        number
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for number in range(node.body[0].lineno, node.end_lineno + 1)
    }
    lines = source.splitlines()
    return [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
        and DIVIDER_COMMENT.match(lines[token.start[0] - 1])  # alone on its line
        and token.start[0] not in inside_functions
    ]


@pytest.mark.parametrize("path", literate_pages())
def test_each_divider_comment_is_a_heading_in_the_table_of_contents(desktop, site_url, path):
    module = PACKAGE / (path.removeprefix("source/").strip("/") + ".py")
    if path == "source/package/":
        module = PACKAGE / "__init__.py"
    elif not module.is_file():
        module = PACKAGE / path.removeprefix("source/").strip("/") / "__init__.py"
    dividers = divider_comments(module)
    page, problems = open_page(desktop, site_url, path)
    headings = page.locator("article .literate-divider")
    assert headings.count() == len(dividers), f"{len(dividers)} dividers in {module.name}"
    toc = page.locator(".md-sidebar--secondary")
    for index in range(headings.count()):
        anchor = headings.nth(index).get_attribute("id")
        assert toc.locator(f'a[href="#{anchor}"]').count() == 1, f"#{anchor} not in the contents"
    if dividers:
        # Between a tablet and a wide screen the contents fold to a strip; it opens on hover.
        toc.hover()
        link = toc.locator(f'a[href="#{headings.first.get_attribute("id")}"]')
        link.wait_for(state="visible")
        page.screenshot(path=str(SCREENSHOTS / f"literate-{module.stem}-contents.png"))
    assert problems.lines == []


def test_each_public_definition_links_to_its_api_reference(desktop, site_url):
    page, _ = open_page(desktop, site_url, "source/servers/")
    unlinked = page.evaluate("""() => {
      const missing = [];
      for (const heading of document.querySelectorAll(
          "article :is(.literate-class, .literate-function, .literate-method)")) {
        const dotted = heading.id.replace(/^src-/, "").replaceAll("--", "__");
        if (dotted.split(".").some(part => part.startsWith("_"))) continue;  // private: no entry
        const link = heading.parentElement.querySelector(
          `.literate-links a[href$="reference/servers/#${dotted}"]`);
        if (!link) missing.push(dotted);
      }
      return missing;
    }""")
    assert unlinked == []
    assert page.locator("article .literate-links a[href*='reference/servers/#']").count() >= 20


# --- nothing overflows ----------------------------------------------------------------------

# Every code block whose content is wider than its box (it would scroll sideways or be cut off).
CODE_OVERFLOWING = """() => [...document.querySelectorAll(
    "article pre, article pre > code, article .highlight-ipynb")]
  .filter(block => block.getClientRects().length && block.scrollWidth > block.clientWidth + 1)
  .map(block => `${block.tagName.toLowerCase()}.${block.className}: ` +
                `${block.scrollWidth} > ${block.clientWidth}: ` +
                block.textContent.trim().split("\\n")[0].slice(0, 60))"""

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


@pytest.mark.parametrize("path", literate_pages() + notebook_pages())
def test_no_code_block_overflows_sideways_at_1280_px(desktop, site_url, path):
    page, problems = open_page(desktop, site_url, path)
    assert page.evaluate(CODE_OVERFLOWING) == []
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
    assert problems.lines == []


# --- the request lifecycle diagram -----------------------------------------------------------

# Every piece of text in the diagram: its size as drawn, its colour, and the colour behind it
# (the box it sits in, or the page). Each is scrolled into view first, so that the browser can
# say what is under it.
DIAGRAM_TEXT = """() => {
  const host = document.querySelector("article div.mermaid");
  const root = host && host.shadowRoot;
  const svg = root && root.querySelector("svg");
  if (!svg) return null;
  const behind = element => {
    const box = element.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    for (const under of root.elementsFromPoint(x, y)) {
      if (!(under instanceof SVGGraphicsElement)) break;
      if (["text", "tspan", "line", "g", "svg"].includes(under.tagName)) continue;
      const style = getComputedStyle(under);
      if (style.fill !== "none" && !style.fill.startsWith("url")) {
        return {fill: style.fill, opacity: parseFloat(style.fillOpacity)};
      }
    }
    return null;
  };
  const carriers = [...svg.querySelectorAll("text, tspan")].filter(
    element => !element.querySelector("tspan") && element.textContent.trim() &&
               element.getBoundingClientRect().width > 0);
  const markers = new Set([...svg.querySelectorAll("[marker-end], [marker-start]")]
    .flatMap(line => [line.getAttribute("marker-end"), line.getAttribute("marker-start")])
    .filter(Boolean).map(reference => reference.match(/#([^)]+)/)[1]));
  return {
    smallPrint: parseFloat(getComputedStyle(document.querySelector("article table")).fontSize),
    page: getComputedStyle(document.body).backgroundColor,
    arrowheads: [...markers].map(id => getComputedStyle(
      root.getElementById(id).querySelector("path, circle, polygon")).fill),
    texts: carriers.map(element => {
      element.scrollIntoView({block: "center", inline: "center"});
      const text = element.closest("text");
      return {
        text: element.textContent.trim(),
        size: parseFloat(getComputedStyle(element).fontSize) * text.getScreenCTM().a,
        fill: getComputedStyle(element).fill,
        behind: behind(element),
      };
    }),
  };
}"""


def _rgba(colour: str) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", colour)]
    return (*numbers[:3], numbers[3] if len(numbers) > 3 else 1.0)


def _over(colour: str, background: tuple[float, ...], opacity: float = 1.0) -> tuple[float, ...]:
    """What a (possibly translucent) colour looks like drawn over an opaque background."""
    *front, alpha = _rgba(colour)
    alpha *= opacity
    return tuple(alpha * f + (1 - alpha) * b for f, b in zip(front, background, strict=True))


def contrast(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """WCAG contrast ratio of two opaque colours."""

    def luminance(rgb) -> float:
        linear = [c / 3294.6 if c <= 10.31 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_contrast(text: dict, page_colour: str) -> float:
    page = _rgba(page_colour)[:3]
    behind = page
    if text["behind"]:
        behind = _over(text["behind"]["fill"], page, text["behind"]["opacity"])
    return contrast(_over(text["fill"], behind), behind)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_lifecycle_diagram_text_is_as_large_as_the_small_print_and_reads(
    chromium, site_url, scheme, viewport
):
    dark = scheme == "dark"
    with browser_tab(chromium, site_url, viewport=viewport, dark=dark) as tab:
        page, problems = open_page(tab, site_url, "concepts/lifecycle/")
        page.locator("article div.mermaid").first.wait_for(state="visible")
        diagram = page.evaluate(DIAGRAM_TEXT)
        assert diagram is not None, "the diagram was not drawn"
        assert len(diagram["texts"]) >= 20
        too_small = [t for t in diagram["texts"] if t["size"] < diagram["smallPrint"] - 0.05]
        assert too_small == [], f"smaller than the {diagram['smallPrint']} px small print"
        faint = [
            (t["text"], round(text_contrast(t, diagram["page"]), 2))
            for t in diagram["texts"]
            if text_contrast(t, diagram["page"]) < MINIMUM_TEXT_CONTRAST
        ]
        assert faint == [], f"text that does not stand out from what is behind it ({scheme})"
        page_colour = _rgba(diagram["page"])[:3]
        assert diagram["arrowheads"], "no arrows drawn"
        for fill in diagram["arrowheads"]:
            seen = contrast(_over(fill, page_colour), page_colour)
            assert seen >= MINIMUM_GRAPHIC_CONTRAST, f"arrowheads at {seen:.2f}:1 ({scheme})"
        host = page.locator("article div.mermaid").first
        host.evaluate("element => element.scrollIntoView({block: 'start'})")
        width = viewport["width"]
        page.screenshot(path=str(SCREENSHOTS / f"lifecycle-diagram-{scheme}-{width}.png"))
        assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
        assert problems.lines == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_method_names_in_a_table_never_break(chromium, site_url, viewport):
    with browser_tab(chromium, site_url, viewport=viewport) as tab:
        page, _ = open_page(tab, site_url, "concepts/lifecycle/")
        names = page.locator("article table code")
        assert names.count() >= 5
        broken = page.evaluate("""() => [...document.querySelectorAll("article table code")]
          .filter(code => !code.textContent.includes(" ") && code.getClientRects().length > 1)
          .map(code => code.textContent)""")
        assert broken == []


# --- the Performance figures -----------------------------------------------------------------


def test_performance_figures_fit_the_column_at_their_drawn_size(desktop, site_url):
    page, problems = open_page(desktop, site_url, "performance/")
    figures = page.evaluate("""() => [...document.querySelectorAll("article figure img")].map(
      image => ({src: image.getAttribute("src"), natural: image.naturalWidth,
                 shown: image.getBoundingClientRect().width,
                 column: image.closest("article").getBoundingClientRect().width}))""")
    assert len(figures) == len(report.FIGURE_SUFFIXES), figures
    for figure in figures:
        assert figure["natural"] > 0, f"{figure['src']} did not load"
        drawn = figure["natural"] / report.FIGURE_PIXEL_RATIO
        assert figure["shown"] <= figure["column"] + 0.5, f"wider than the column: {figure}"
        assert figure["shown"] >= SMALLEST_FIGURE_SCALE * drawn, f"shrunk: {figure}"
    for index in range(len(figures)):
        image = page.locator("article figure img").nth(index)
        image.scroll_into_view_if_needed()
        image.screenshot(path=str(SCREENSHOTS / f"performance-figure-{index + 1}.png"))
    assert problems.lines == []


# --- notebook cells ----------------------------------------------------------------------------

NOTEBOOK_CELLS = """() => {
  const article = document.querySelector("article");
  const probe = document.createElement("code");
  probe.style.color = "var(--md-code-hl-keyword-color)";
  article.appendChild(probe);
  const site = {keyword: getComputedStyle(probe).color,
                background: getComputedStyle(probe).backgroundColor,
                font: getComputedStyle(probe).fontFamily};
  probe.remove();
  const cells = [...document.querySelectorAll(".jp-CodeCell .jp-InputArea-editor")]
    .filter(cell => cell.getClientRects().length);
  const keyword = document.querySelector(".jp-CodeCell .highlight-ipynb .k");
  const covered = [];
  for (const cell of cells) {
    const button = cell.querySelector("clipboard-copy").getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(cell.querySelector("pre"));
    for (const line of range.getClientRects()) {
      if (line.width && line.right > button.left && line.left < button.right &&
          line.bottom > button.top && line.top < button.bottom) {
        covered.push(cell.textContent.trim().split("\\n")[0]);
        break;
      }
    }
  }
  return {
    site,
    keyword: keyword && getComputedStyle(keyword).color,
    backgrounds: [...new Set(cells.map(cell => getComputedStyle(cell).backgroundColor))],
    fonts: [...new Set(cells.map(cell => getComputedStyle(cell.querySelector("pre")).fontFamily))],
    prompts: [...document.querySelectorAll(".jp-InputPrompt, .jp-OutputPrompt")]
      .filter(prompt => prompt.getClientRects().length && prompt.textContent.trim()).length,
    covered,
  };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_notebook_cells_look_like_the_sites_code_blocks(chromium, site_url, scheme):
    path = "notebooks/course/03-request-lifecycle/"
    with browser_tab(chromium, site_url, viewport=DESKTOP, dark=scheme == "dark") as tab:
        page, problems = open_page(tab, site_url, path)
        cells = page.evaluate(NOTEBOOK_CELLS)
        assert cells["keyword"] == cells["site"]["keyword"], "keywords in Jupyter's colour"
        assert cells["backgrounds"] == [cells["site"]["background"]]
        assert cells["fonts"] == [cells["site"]["font"]]
        assert cells["prompts"] == 0, "In [n]: prompts shown"
        assert cells["covered"] == [], "the copy button covers code"
        page.locator(".jp-CodeCell").nth(2).scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"notebook-cells-{scheme}.png"))
        assert problems.lines == []
