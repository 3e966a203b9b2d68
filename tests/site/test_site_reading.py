"""What a reader sees: the literate view, tables, figures and notebook pages, measured.

The pages are opened in headless Chromium at a laptop's window (1280x900) and a phone's
(390x844), and the layout is measured the way a reader would judge it:

- the literate source pages set prose beside the code it explains on the laptop and in one
  column on the phone, where a page's title (the module's path) breaks only after a slash; each
  divider comment of the module is a heading in the page's table of contents; a 100-character
  line (the project's line length) fits the code column;
- at 1280 px the folded contents of a literate page open when a link in them gets the keyboard
  focus; an example in a docstring wraps at spaces and never breaks a name;
- no code block on a literate or notebook page overflows sideways (a docstring example holding a
  name longer than its line scrolls in its own box); on the phone nothing on a notebook page
  overflows the window (every notebook under notebooks/, found on disk, so a notebook added
  later is checked too);
- no copy button covers code, on any page with a code block, at 1280 px and on the phone, and
  line numbers stay level with their lines;
- every table on the site fits the phone's window or scrolls sideways in Material's own box
  for it, and no word or name in a table breaks in the middle, on the laptop or the phone;
- the Performance figures and every figure a notebook draws fit the text column without being
  shrunk below their drawn size; on the phone they keep that size and scroll in their own box;
- notebook cells use the site's code font, background and colours.

Diagrams have their own file, test_site_diagrams.py.

Every page must also load without a JavaScript error or a request to another host. Screenshots
of each layout go to build/screenshots/.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest
from site_support import (
    DESKTOP,
    OVERFLOWING_THE_WINDOW,
    PHONE,
    REPOSITORY,
    SCREENSHOTS,
    browser_tab,
    built_pages,
    notebook_pages,
    open_page,
)

if str(REPOSITORY) not in sys.path:  # bench/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPOSITORY))
from bench import report  # noqa: E402

pytestmark = pytest.mark.timeout(300)

PACKAGE = REPOSITORY / "socketserver_lit"
# A divider comment in a module: `# -- bind and activate ------` (the literate hook's convention).
DIVIDER_COMMENT = re.compile(r"^\s*#\s*-{2,}\s*[^-\s].*?-{3,}\s*$")
# A figure may be drawn a little smaller than designed (a column a few pixels narrower), not more.
SMALLEST_FIGURE_SCALE = 0.9


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


@pytest.fixture(scope="module")
def desktop(chromium, site_url: str) -> Iterator[tuple[object, object]]:
    with browser_tab(chromium, site_url, viewport=DESKTOP) as tab:
        yield tab


@pytest.fixture(scope="module")
def phone(chromium, site_url: str) -> Iterator[tuple[object, object]]:
    with browser_tab(chromium, site_url, viewport=PHONE) as tab:
        yield tab


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


def test_a_literate_pages_title_is_its_module_path_and_breaks_only_after_a_slash(phone, site_url):
    """On the phone a module's path is wider than the window: its title breaks after a slash
    (`socketserver_lit/|servers.py`), never inside a name (`servers.p|y`), and shows the path
    as written (`__init__.py`, not a bold "init")."""
    found = []
    for path in literate_pages():
        page, problems = open_page(phone, site_url, path)
        title = page.evaluate(
            "() => { const h1 = document.querySelector('article h1'); return {text: "
            "h1.textContent.replace('\u00b6', '').trim(), broken: (" + BROKEN_WORDS + ")(h1),"
            " lines: Math.round(h1.getBoundingClientRect().height"
            " / parseFloat(getComputedStyle(h1).lineHeight))}; }"
        )
        module = path.removeprefix("source/").rstrip("/")
        expected = (
            "socketserver_lit/__init__.py"
            if module == "package"
            else f"socketserver_lit/{module}/__init__.py"
            if (PACKAGE / module / "__init__.py").exists()
            else f"socketserver_lit/{module}.py"
        )
        if title["text"] != expected:
            found.append(f"{path}: the title reads {title['text']!r}, not {expected!r}")
        if title["broken"]:
            found.append(f"{path}: the title breaks inside a name: {title['broken']}")
        found += [f"{path}: {line}" for line in problems.lines]
    page, _ = open_page(phone, site_url, "source/examples/tcp_server/", "literate-title-390.png")
    assert found == [], "\n".join(found)


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


# How many times the keyboard test may press Tab before focus must have reached the contents:
# the header, its search and the navigation tabs come first (about 15 stops on source/servers/).
MOST_TABS_TO_THE_CONTENTS = 40
# The folded strip, and the strip slid out over the page (12.1rem at 20 px to the rem is 242 px).
FOLDED_CONTENTS_WIDEST = 60
OPEN_CONTENTS_NARROWEST = 200
CONTENTS_STATE = """() => {
  const sidebar = document.querySelector(".md-sidebar--secondary");
  const inner = sidebar.querySelector(".md-sidebar__inner");
  const focused = document.activeElement;
  const focusedHere = sidebar.contains(focused) && focused.matches("a");
  let onTop = false;
  if (focusedHere) {
    const box = focused.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    onTop = !!hit && (hit === focused || focused.contains(hit));
  }
  const strip = sidebar.getBoundingClientRect();
  const hitInStrip = document.elementFromPoint(strip.right - 10, strip.top + 100);
  return {
    width: strip.width,
    // Seen: neither transparent nor `visibility: hidden` (the two ways to hide them folded).
    linksSeen: [...inner.querySelectorAll("a")].filter(
      link => link.checkVisibility({opacityProperty: true, visibilityProperty: true})).length,
    focused: focusedHere ? focused.textContent.trim() : null,
    onTop,
    linkUnderPointer: !!hitInStrip?.closest("a"),
  };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_folded_contents_open_when_a_link_gets_the_keyboard_focus(chromium, site_url, scheme):
    """At 1280 px the contents are a folded strip; a reader who tabs through the page reaches
    its links, and the strip slides out with the focused link in view."""
    with browser_tab(chromium, site_url, viewport=DESKTOP, dark=scheme == "dark") as tab:
        page, problems = open_page(tab, site_url, "source/servers/")
        folded = page.evaluate(CONTENTS_STATE)
        # Folded, the links are neither seen nor clicked.
        assert folded["width"] <= FOLDED_CONTENTS_WIDEST, folded
        assert folded["linksSeen"] == 0 and not folded["linkUnderPointer"], folded
        for _ in range(MOST_TABS_TO_THE_CONTENTS):
            page.keyboard.press("Tab")
            if page.evaluate(CONTENTS_STATE)["focused"] is not None:
                break
        assert page.evaluate(CONTENTS_STATE)["focused"] is not None, (
            f"{MOST_TABS_TO_THE_CONTENTS} presses of Tab never reached a link of the contents"
        )
        # The strip slides out in 0.2 s: measure it once it has stopped moving.
        page.wait_for_function(
            f"""() => {{
              const sidebar = document.querySelector(".md-sidebar--secondary");
              return sidebar.getBoundingClientRect().width >= {OPEN_CONTENTS_NARROWEST} &&
                     sidebar.getAnimations().length === 0;
            }}"""
        )
        opened = page.evaluate(CONTENTS_STATE)
        assert opened["linksSeen"] >= 10, opened
        assert opened["onTop"], f"the focused link is hidden: {opened}"
        page.screenshot(path=str(SCREENSHOTS / f"literate-contents-keyboard-{scheme}-1280.png"))
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
# One exception: an example in a docstring (the prose column) wraps at spaces, so only a single
# name longer than the column's line is wider than its box, and that block scrolls sideways in
# its own box rather than break the name.
CODE_OVERFLOWING = """() => [...document.querySelectorAll(
    "article pre, article pre > code, article .highlight-ipynb")]
  .filter(block => block.getClientRects().length && block.scrollWidth > block.clientWidth + 1)
  .filter(block => !(block.matches(".literate-prose pre > code") &&
                     getComputedStyle(block).whiteSpace === "pre-wrap" &&
                     ["auto", "scroll"].includes(getComputedStyle(block).overflowX)))
  .map(block => `${block.tagName.toLowerCase()}.${block.className}: ` +
                `${block.scrollWidth} > ${block.clientWidth}: ` +
                block.textContent.trim().split("\\n")[0].slice(0, 60))"""


@pytest.mark.parametrize("path", literate_pages() + notebook_pages())
def test_no_code_block_overflows_sideways_at_1280_px(desktop, site_url, path):
    page, problems = open_page(desktop, site_url, path)
    assert page.evaluate(CODE_OVERFLOWING) == []
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
    assert problems.lines == []


# Every place where a line of text inside an element breaks between two letters, digits or
# underscores, that is inside a word or a name. A break at a space or after a hyphen
# (`04-handle-request-|verify-errors`) or a slash is where text breaks.
BROKEN_WORDS = """(root) => {
  const range = document.createRange();
  const lineTop = (node, index) => {
    range.setStart(node, index);
    range.setEnd(node, index + 1);
    const boxes = range.getClientRects();
    return boxes.length ? boxes[0].top + boxes[0].height / 2 : null;
  };
  const broken = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent;
    let before = text.length ? lineTop(node, 0) : null;
    for (let index = 1; index < text.length; index++) {
      const after = lineTop(node, index);
      const box = range.getClientRects()[0];
      if (/\\w/.test(text[index - 1]) && /\\w/.test(text[index]) && before !== null &&
          after !== null && box && after - before > box.height / 2) {
        broken.push(`${text.slice(0, index)}|${text.slice(index)}`.trim().slice(0, 60));
      }
      before = after;
    }
  }
  return broken;
}"""
# Each place where a line of a code block in the prose column breaks inside a name
# (`predicted_lost_w|ith_one_worker`).
NAMES_BROKEN_IN_PROSE_CODE = (
    """() => [...document.querySelectorAll("article .literate-prose pre > code")]
  .filter(code => code.getClientRects().length)
  .flatMap(code => ("""
    + BROKEN_WORDS
    + """)(code))"""
)


@pytest.mark.parametrize("path", literate_pages())
def test_docstring_examples_break_no_name_at_1280_px(desktop, site_url, path):
    """An example in the prose column wraps at a space; a name longer than the line stays whole
    and its block scrolls sideways in its own box, never the page."""
    page, problems = open_page(desktop, site_url, path)
    assert page.evaluate(NAMES_BROKEN_IN_PROSE_CODE) == []
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
    assert problems.lines == []


# Every copy button (Material's in a code block, JupyterLab's in a notebook cell) that sits on
# top of a line of code text: its box meets the box of a piece of text of the block it copies.
# A cell folded away (an exercise's hidden solution) shows neither button nor code.
COPY_BUTTONS_ON_CODE = """() => {
  const covered = [];
  const range = document.createRange();
  for (const button of document.querySelectorAll(
      "article :is(.md-code__nav, .zeroclipboard-container)")) {
    if (!button.getClientRects().length) continue;
    const area = button.closest(".jp-InputArea");
    if (area && area.getBoundingClientRect().height < 1) continue;
    const cell = button.closest(".jp-InputArea-editor");
    const text = cell ? cell.querySelector("pre")
                      : button.closest("pre").querySelector(":scope > code");
    const box = button.getBoundingClientRect();
    const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
    search: for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      range.selectNodeContents(node);
      for (const line of range.getClientRects()) {
        if (line.width && line.right > box.left && line.left < box.right &&
            line.bottom > box.top && line.top < box.bottom) {
          covered.push(text.textContent.trim().split("\\n")[0].slice(0, 60));
          break search;
        }
      }
    }
  }
  return covered;
}"""


@pytest.mark.parametrize(
    ("path", "viewport"),
    [pytest.param(path, DESKTOP, id=f"{path}-1280") for path in literate_pages()]
    + [
        pytest.param(path, viewport, id=f"{path}-{viewport['width']}")
        for path in notebook_pages()
        for viewport in (DESKTOP, PHONE)
    ],
)
def test_no_copy_button_covers_code(desktop, phone, site_url, path, viewport):
    """On a literate page's code and prose columns, and in every notebook cell on a laptop and a
    phone, where a notebook's lines scroll sideways instead of wrapping."""
    tab = desktop if viewport is DESKTOP else phone
    page, problems = open_page(tab, site_url, path)
    assert page.evaluate(COPY_BUTTONS_ON_CODE) == []
    assert problems.lines == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_no_copy_button_covers_code_on_any_other_page(chromium, built_site, site_url, viewport):
    """Every other page with a code block (tutorial, concepts, API reference, the literate pages
    on a phone): Material's copy button never sits on a line of code."""
    literate_or_notebook = set(literate_pages() + notebook_pages())
    pages = [
        path
        for path in built_pages(built_site, r"<pre")
        if path not in literate_or_notebook or viewport is PHONE and path in literate_pages()
    ]
    assert len(pages) >= 10, pages
    found = []
    with browser_tab(chromium, site_url, viewport=viewport) as tab:
        for path in pages:
            page, problems = open_page(tab, site_url, path)
            found += [f"{path or 'home'}: {line!r}" for line in page.evaluate(COPY_BUTTONS_ON_CODE)]
            found += [f"{path or 'home'}: {line}" for line in problems.lines]
    assert found == [], "\n".join(found)


# Each block with line numbers (the API reference's "Source code", opened): how far its first
# and last numbers sit from the first and last lines of its code, in pixels (0 when level).
LINE_NUMBER_OFFSETS = """() => [...document.querySelectorAll("article .highlighttable")]
.map(table => {
  table.closest("details")?.setAttribute("open", "");
  const numbers = [...table.querySelectorAll(".linenos .linenodiv pre > span")];
  const code = table.querySelector(".code pre > code");
  const range = document.createRange();
  const lines = [];
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    range.selectNodeContents(node);
    for (const box of range.getClientRects()) lines.push(box);
  }
  const top = box => box.top + box.height / 2;
  return {
    first: (code.textContent.trim().split("\\n")[0] ?? "").slice(0, 50),
    numbers: numbers.length,
    firstOffset: Math.round(top(numbers[0].getBoundingClientRect()) - top(lines[0])),
    lastOffset: Math.round(top(numbers.at(-1).getBoundingClientRect()) - top(lines.at(-1))),
  };
})"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_line_numbers_stay_level_with_their_lines(chromium, built_site, site_url, viewport):
    """The copy button's strip above a block's first line is in the line numbers' column too:
    in every line-numbered block (the API reference's "Source code"), the first number is
    level with the first line and the last with the last."""
    pages = built_pages(built_site, r'class="highlighttable"')
    assert len(pages) >= 5, pages
    found, blocks = [], 0
    with browser_tab(chromium, site_url, viewport=viewport) as tab:
        for path in pages:
            page, problems = open_page(tab, site_url, path)
            for block in page.evaluate(LINE_NUMBER_OFFSETS):
                blocks += 1
                if abs(block["firstOffset"]) > 2 or abs(block["lastOffset"]) > 2:
                    found.append(f"{path}: {block}")
            found += [f"{path}: {line}" for line in problems.lines]
    assert blocks >= 50, blocks
    assert found == [], "\n".join(found[:20])


@pytest.mark.parametrize("path", notebook_pages())
def test_nothing_on_a_notebook_page_overflows_a_phone(phone, site_url, path):
    """Code and output lines stay whole and scroll in their own box; tables and figures too."""
    page, problems = open_page(phone, site_url, path)
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
    assert problems.lines == []


# --- tables ----------------------------------------------------------------------------------

# Each table of the text (Markdown's and the API reference's, not the line-number tables of code
# blocks): the box Material wraps it in to scroll sideways, and where its cells break a word.
TABLES = (
    """() => {
  const brokenWords = """
    + BROKEN_WORDS
    + """;
  return [...document.querySelectorAll("article table:not([class])")]
    .filter(table => table.getClientRects().length)
    .map(table => {
      const scroller = table.closest(".md-typeset__scrollwrap");
      return {
        first: (table.querySelector("th, td")?.textContent ?? "").trim().slice(0, 30),
        width: table.getBoundingClientRect().width,
        scroller: scroller && {overflow: getComputedStyle(scroller).overflowX,
                               right: scroller.getBoundingClientRect().right},
        broken: brokenWords(table),
      };
    });
}"""
)
# Material wraps every table in its scrolling box when the page's script runs.
TABLES_WRAPPED = """() => [...document.querySelectorAll("article table:not([class])")]
  .every(table => table.closest(".md-typeset__scrollwrap"))"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_every_table_scrolls_in_its_own_box_and_breaks_no_word(
    chromium, built_site, site_url, viewport
):
    """A table wider than the window (the teachers' plan, the Performance results on a phone)
    scrolls sideways in the box Material gives it, never the page; a word or a name in a cell
    never breaks in the middle (`server_activat|e()`)."""
    pages = built_pages(built_site, r"<table>")
    assert len(pages) >= 10, pages
    width = viewport["width"]
    found, widest = [], (0.0, "")
    with browser_tab(chromium, site_url, viewport=viewport) as tab:
        for path in pages:
            page, problems = open_page(tab, site_url, path)
            page.wait_for_function(TABLES_WRAPPED)
            for table in page.evaluate(TABLES):
                where = f"{path or 'home'}: table {table['first']!r}"
                scroller = table["scroller"]
                if scroller is None or scroller["overflow"] not in ("auto", "scroll"):
                    found.append(f"{where} is not in a box that scrolls sideways: {scroller}")
                elif scroller["right"] > width + 1:
                    found.append(f"{where}: its box ends at {scroller['right']:.0f} px")
                if table["broken"]:
                    found.append(f"{where} breaks words: {table['broken'][:5]}")
                widest = max(widest, (table["width"], path))
            found += [f"{path or 'home'}: {line}" for line in page.evaluate(OVERFLOWING_THE_WINDOW)]
            found += [f"{path or 'home'}: {line}" for line in problems.lines]
        # The page with the widest table, scrolled to it: the box a reader scrolls.
        page, _ = open_page(tab, site_url, widest[1])
        page.wait_for_function(TABLES_WRAPPED)
        page.evaluate("""() => [...document.querySelectorAll("article table:not([class])")]
          .sort((a, b) => b.offsetWidth - a.offsetWidth)[0]
          .scrollIntoView({block: "start"})""")
        page.screenshot(path=str(SCREENSHOTS / f"widest-table-{width}.png"))
    assert found == [], "\n".join(found)


# --- the Performance figures -----------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_performance_figures_are_shown_at_their_drawn_size(chromium, site_url, viewport):
    """On a laptop a figure fits the text column; on a phone, whose column is about half a
    figure's width, it keeps its drawn size (shrunk to the column its labels could not be read)
    and scrolls sideways in its own box, never the page."""
    width = viewport["width"]
    with browser_tab(chromium, site_url, viewport=viewport) as tab:
        page, problems = open_page(tab, site_url, "performance/")
        figures = page.evaluate("""() => [...document.querySelectorAll("article figure img")].map(
          image => ({src: image.getAttribute("src"), natural: image.naturalWidth,
                     shown: image.getBoundingClientRect().width,
                     column: image.closest("article").getBoundingClientRect().width}))""")
        assert len(figures) == len(report.FIGURE_SUFFIXES), figures
        for figure in figures:
            assert figure["natural"] > 0, f"{figure['src']} did not load"
            drawn = figure["natural"] / report.FIGURE_PIXEL_RATIO
            if viewport is DESKTOP:
                assert figure["shown"] <= figure["column"] + 0.5, f"wider than the column: {figure}"
            assert figure["shown"] >= SMALLEST_FIGURE_SCALE * drawn, (
                f"shrunk to {figure['shown'] / drawn:.0%} of its drawn size: {figure}"
            )
        assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
        for index in range(len(figures)):
            image = page.locator("article figure img").nth(index)
            image.scroll_into_view_if_needed()
            picture = SCREENSHOTS / f"performance-figure-{index + 1}-{width}.png"
            # On the phone, the window: the part of the figure a reader sees, and its box's edge.
            (image if viewport is DESKTOP else page).screenshot(path=str(picture))
        assert problems.lines == []


# --- figures a notebook draws ------------------------------------------------------------------


def notebook_figures() -> list[tuple[str, int]]:
    """Each notebook page that shows figures (image outputs, such as the tracer's plot()), and
    how many, read from the committed notebooks: a notebook added later is checked too."""
    found = []
    for path in notebook_pages():
        notebook = REPOSITORY / (path.rstrip("/") + ".ipynb")
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
        figures = sum(
            1
            for cell in cells
            for output in cell.get("outputs", [])
            if any(kind.startswith("image/") for kind in output.get("data", {}))
        )
        if figures:
            found.append((path, figures))
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
@pytest.mark.parametrize(("path", "count"), notebook_figures())
def test_notebook_figures_are_shown_at_their_drawn_size(
    desktop, phone, site_url, path, count, viewport
):
    """As on the Performance page: on a laptop a figure is never wider than the text column, nor
    shrunk to fit it below 90 % of the size it was drawn at (its pixels, or the width the
    notebook's output asks for), where its labels would be smaller than the page's small print.
    On a phone it keeps that size and scrolls sideways in its own box, never the page."""
    page, problems = open_page(desktop if viewport is DESKTOP else phone, site_url, path)
    images = page.locator("article .jp-OutputArea-output img")
    figures = images.evaluate_all("""images => images.map(image => ({
      natural: image.naturalWidth,
      declared: parseFloat(image.getAttribute("width")) || null,
      shown: image.getBoundingClientRect().width,
      column: image.closest("article").getBoundingClientRect().width}))""")
    assert len(figures) == count, f"{count} figures in the notebook, {len(figures)} on the page"
    name = path.strip("/").split("/")[-1]
    width = viewport["width"]
    for index in range(len(figures)):
        images.nth(index).scroll_into_view_if_needed()
        picture = SCREENSHOTS / f"notebook-{name}-figure-{index}-{width}.png"
        (images.nth(index) if viewport is DESKTOP else page).screenshot(path=str(picture))
    for index, figure in enumerate(figures, start=1):
        assert figure["natural"] > 0, f"figure {index} did not load"
        drawn = figure["declared"] or figure["natural"]
        if viewport is DESKTOP:
            assert figure["shown"] <= figure["column"] + 0.5, (
                f"figure {index} wider than the column"
            )
        assert figure["shown"] >= SMALLEST_FIGURE_SCALE * drawn, (
            f"figure {index} is drawn {drawn:.0f} px wide and shown at {figure['shown']:.0f} px "
            f"({figure['shown'] / drawn:.0%}); a figure up to "
            f"{figure['column'] / SMALLEST_FIGURE_SCALE:.0f} px wide fits the column"
        )
    assert page.evaluate(OVERFLOWING_THE_WINDOW) == []
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
