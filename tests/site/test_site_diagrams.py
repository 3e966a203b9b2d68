"""Every mermaid diagram on the site, measured the way a reader would judge it.

Diagrams come from the concept pages (```mermaid blocks) and from notebook outputs (the tracer's
`mermaid()` shown as Markdown); Material draws each one into a closed shadow root, coloured by
its `--md-mermaid-*` custom properties plus the rules docs/overrides/assets/javascripts/
diagrams.js adds for what Material's stylesheet misses in mermaid 11. For every diagram on every
built page (found in the built site, so a diagram added later is checked too), in light and
dark mode, on a laptop (1280x900) and a phone (390x844):

- every piece of text is at least as large as the page's small print (the size of table text),
  and where a diagram cannot fit the column at that size it scrolls sideways in its own box,
  never the page;
- every piece of text reaches WCAG's 4.5:1 contrast against what is behind it (the page, a box,
  a note, a label's background);
- every arrowhead, or other marker at the end of a line, reaches 3:1 against the page.

A second test draws the kinds of diagram and the sequence-diagram features the site does not
use yet (numbered steps, `else` branches, one-line notes, activations, crosses; flowcharts,
class and state diagrams) the way Material does, on a page of the site, and holds them to the
same rules: the next diagram someone writes reads too. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import json
import re

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

pytestmark = pytest.mark.timeout(300)

# WCAG's minimum contrast for normal-sized text (success criterion 1.4.3, level AA), and for
# the parts of a graphic needed to understand it, such as arrowheads (1.4.11).
MINIMUM_TEXT_CONTRAST = 4.5
MINIMUM_GRAPHIC_CONTRAST = 3.0
# Text may be drawn this much under the small print (rounding of a scaled drawing), no more.
SIZE_TOLERANCE_PX = 0.05
# A built page that holds a diagram: Material's `<pre class="mermaid">` before it is drawn.
HAS_A_DIAGRAM = r'class="mermaid"'

# The page's small print: the size Material gives a table's text.
SMALL_PRINT = """() => {
  const table = document.createElement("table");
  table.innerHTML = "<tbody><tr><td>small print</td></tr></tbody>";
  document.querySelector("article").append(table);
  const size = parseFloat(getComputedStyle(table.querySelector("td")).fontSize);
  table.remove();
  return size;
}"""

# What a reader sees of one drawn diagram (the shadow host, a `div.mermaid`): each piece of text
# (SVG text, or HTML inside a foreignObject) with its size as drawn, its colour and the colour
# behind it; each marker at the end of a line with its colours; and the page's colour behind the
# diagram. Each text is scrolled into view first (in the page, and in the diagram's own box when
# it scrolls), so that the browser can say what is under it.
DIAGRAM = """host => {
  const root = host.shadowRoot;
  const svg = root && root.querySelector("svg");
  if (!svg) return null;
  const opaque = colour => colour !== "transparent" && !/^rgba\\(.*,\\s*0\\)$/.test(colour);
  let behindDiagram = host;
  while (behindDiagram && !opaque(getComputedStyle(behindDiagram).backgroundColor)) {
    behindDiagram = behindDiagram.parentElement;
  }
  const page = behindDiagram ? getComputedStyle(behindDiagram).backgroundColor
                             : "rgb(255, 255, 255)";
  const isHTML = element => !(element instanceof SVGElement);
  const behind = element => {
    const box = element.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    for (const under of root.elementsFromPoint(x, y)) {
      if (!svg.contains(under)) break;
      const style = getComputedStyle(under);
      if (isHTML(under)) {
        if (opaque(style.backgroundColor)) return {fill: style.backgroundColor, opacity: 1};
        continue;
      }
      if (["text", "tspan", "line", "g", "svg", "foreignObject"].includes(under.tagName)) continue;
      if (style.fill !== "none" && !style.fill.startsWith("url")) {
        return {fill: style.fill,
                opacity: parseFloat(style.fillOpacity) * parseFloat(style.opacity)};
      }
    }
    return null;
  };
  // A number of `autonumber` is drawn on the disc of a marker, which hit-testing does not see.
  const disc = svg.querySelector('[id$="-sequencenumber"] circle');
  const ownText = element => [...element.childNodes].some(
    node => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
  const carriers = [...svg.querySelectorAll("*")].filter(
    element => ownText(element) && !element.closest("style, title, desc") &&
               element.getClientRects().length && element.getBoundingClientRect().width > 0);
  const texts = carriers.map(element => {
    element.scrollIntoView({block: "center", inline: "center"});
    const frame = element.closest("text, foreignObject");
    const style = getComputedStyle(element);
    return {
      text: element.textContent.trim().slice(0, 40),
      size: parseFloat(style.fontSize) * frame.getScreenCTM().a,
      fill: isHTML(element) ? style.color : style.fill,
      behind: element.classList.contains("sequenceNumber") && disc
        ? {fill: getComputedStyle(disc).fill, opacity: 1} : behind(element),
    };
  });
  const ends = ["marker-start", "marker-end", "marker-mid"];
  const markerIds = new Set([...svg.querySelectorAll(ends.map(name => `[${name}]`).join(","))]
    .flatMap(line => ends.map(name => line.getAttribute(name))).filter(Boolean)
    .map(reference => reference.match(/#([^)]+)/)[1]));
  const markers = [...markerIds].map(id => ({
    id,
    colours: [...root.getElementById(id).querySelectorAll("path, circle, polygon, rect, ellipse")]
      .flatMap(shape => {
        const style = getComputedStyle(shape);
        return [style.fill, parseFloat(style.strokeWidth) > 0 ? style.stroke : "none"];
      }).filter(colour => colour !== "none" && !colour.startsWith("url")),
  }));
  return {kind: svg.getAttribute("aria-roledescription"), page, texts, markers};
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


def marker_contrast(marker: dict, page_colour: str) -> float:
    """How well a marker stands out: its body or its outline, whichever shows more."""
    page = _rgba(page_colour)[:3]
    return max((contrast(_over(c, page), page) for c in marker["colours"]), default=1.0)


def unreadable(diagram: dict, small_print: float) -> list[str]:
    """Everything in a measured diagram that breaks one of the three rules, as sentences."""
    found = []
    small = [
        f"{t['text']!r} {t['size']:.1f} px"
        for t in diagram["texts"]
        if t["size"] < small_print - SIZE_TOLERANCE_PX
    ]
    if small:
        found.append(f"text smaller than the {small_print:.1f} px small print: {small[:6]}")
    faint = [
        f"{t['text']!r} {text_contrast(t, diagram['page']):.2f}:1"
        for t in diagram["texts"]
        if text_contrast(t, diagram["page"]) < MINIMUM_TEXT_CONTRAST
    ]
    if faint:
        found.append(f"text under {MINIMUM_TEXT_CONTRAST}:1 against what is behind it: {faint[:6]}")
    pale = [
        f"{m['id']} {marker_contrast(m, diagram['page']):.2f}:1"
        for m in diagram["markers"]
        if marker_contrast(m, diagram["page"]) < MINIMUM_GRAPHIC_CONTRAST
    ]
    if pale:
        found.append(f"arrowheads under {MINIMUM_GRAPHIC_CONTRAST}:1 against the page: {pale}")
    return found


def draw_every_diagram(page) -> int:
    """Wait until Material has drawn every diagram of the page; return how many there are."""
    expected = page.locator("article div.mermaid, article pre.mermaid").count()
    page.wait_for_function(
        """expected => document.querySelectorAll("article pre.mermaid").length === 0 &&
          [...document.querySelectorAll("article div.mermaid")].filter(
            host => host.shadowRoot && host.shadowRoot.querySelector("svg")).length === expected""",
        arg=expected,
    )
    return expected


# --- where the diagrams are ----------------------------------------------------------------------


def pages_with_a_diagram_in_their_source() -> list[str]:
    """The URL path of each page whose source holds a mermaid diagram: a docs page with a
    ```mermaid block, or a notebook with one in a Markdown cell or a Markdown output (the
    tracer's `mermaid()`, displayed)."""
    docs = REPOSITORY / "docs"
    paths = []
    for source in sorted(docs.rglob("*.md")):
        relative = source.relative_to(docs)
        if relative.parts[0] in ("assets", "hooks", "overrides"):  # not pages (exclude_docs)
            continue
        if "```mermaid" in source.read_text(encoding="utf-8"):
            folder = relative.parent.as_posix()
            if relative.name == "index.md":
                paths.append("" if folder == "." else folder + "/")
            else:
                paths.append(relative.with_suffix("").as_posix() + "/")
    for path in notebook_pages():
        notebook = json.loads((REPOSITORY / (path.rstrip("/") + ".ipynb")).read_text("utf-8"))
        texts = []
        for cell in notebook.get("cells", []):
            texts.append(cell.get("source", ""))
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                texts.append(data.get("text/markdown", ""))
                if "text/vnd.mermaid" in data:
                    texts.append("```mermaid")
        if any("```mermaid" in ("".join(t) if isinstance(t, list) else t) for t in texts):
            paths.append(path)
    return paths


def test_every_page_whose_source_has_a_diagram_has_it_on_the_built_site(built_site):
    """The browser tests below find diagrams in the built site: it must hold every one."""
    expected = pages_with_a_diagram_in_their_source()
    assert any(path.startswith("notebooks/") for path in expected), "no tracer diagram found"
    assert any(path.startswith("concepts/") for path in expected), "no concept diagram found"
    built = built_pages(built_site, HAS_A_DIAGRAM)
    assert sorted(set(expected) - set(built)) == []


# --- every diagram on the site -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_every_diagram_reads_at_the_small_print_size_in_light_and_dark(
    chromium, built_site, site_url, scheme, viewport
):
    pages = built_pages(built_site, HAS_A_DIAGRAM)
    assert len(pages) >= 5, pages
    width = viewport["width"]
    found, measured_markers = [], 0
    with browser_tab(chromium, site_url, viewport=viewport, dark=scheme == "dark") as tab:
        for path in pages:
            page, problems = open_page(tab, site_url, path)
            count = draw_every_diagram(page)
            small_print = page.evaluate(SMALL_PRINT)
            hosts = page.locator("article div.mermaid")
            for index in range(count):
                diagram = hosts.nth(index).evaluate(DIAGRAM)
                where = f"{path} diagram {index + 1} ({diagram and diagram['kind']})"
                if not diagram or not diagram["texts"]:
                    found.append(f"{where}: no text drawn")
                    continue
                measured_markers += len(diagram["markers"])
                found += [f"{where}: {problem}" for problem in unreadable(diagram, small_print)]
                hosts.nth(index).evaluate(
                    "host => { host.scrollIntoView({block: 'start'}); host.scrollLeft = 0; }"
                )
                name = path.strip("/").replace("/", "-")
                hosts.nth(index).screenshot(
                    path=str(SCREENSHOTS / f"diagram-{name}-{index + 1}-{scheme}-{width}.png")
                )
            found += [f"{path}: {line}" for line in page.evaluate(OVERFLOWING_THE_WINDOW)]
            found += [f"{path}: {line}" for line in problems.lines]
    assert measured_markers > 0, "no arrowhead found in any diagram"
    assert found == [], "\n".join(found)


# What the tracer's mermaid() promises (socketserver_lit/tracing.py): an actor's name with a
# part in brackets, `thread 2 (process_request_thread)`, is drawn on two lines of its box.
ACTOR_NAME_LINES = """host => [...host.shadowRoot.querySelectorAll("text.actor")].map(
  text => [...text.querySelectorAll("tspan")].map(line => line.textContent.trim()))"""


def test_a_tracer_diagram_draws_an_actor_name_with_brackets_on_two_lines(chromium, site_url):
    """Notebook 03's threading server: its request threads' names, on two lines each, as the
    `<br/>` in mermaid()'s text asks; nbconvert's page once turned that `<br/>` into HTML,
    which Material dropped, and the names ran on one line."""
    path = "notebooks/course/03-request-lifecycle/"
    with browser_tab(chromium, site_url, viewport=DESKTOP) as tab:
        page, problems = open_page(tab, site_url, path)
        count = draw_every_diagram(page)
        names = [
            page.locator("article div.mermaid").nth(index).evaluate(ACTOR_NAME_LINES)
            for index in range(count)
        ]
    # Each actor's box is drawn twice (top and bottom), each line of a name as a tspan.
    lines = [line for diagram in names for text in diagram for line in text]
    assert lines.count("(process_request_thread)") >= 4, lines  # two threads, two boxes each
    assert lines.count("thread 2") >= 2, lines
    assert not any("process_request_thread" in line and "thread 2" in line for line in lines)
    assert problems.lines == []


# --- diagrams still to be written ----------------------------------------------------------------

# What the site's diagrams do not use yet, one diagram per kind. No colours of their own: a
# colour an author picks (`rect rgb(...)`, `box Aqua`) is the author's to check, and the test
# above will.
FUTURE_DIAGRAMS = [
    """sequenceDiagram
    autonumber
    actor U as user
    participant A as client
    participant B as server
    box a group
    participant C as worker
    end
    U->>A: solid arrow
    A-->>B: dotted arrow
    A-xB: cross
    B--xA: dotted cross
    A-)B: open arrow
    A->B: no head
    activate B
    B->>B: a message to itself
    deactivate B
    Note right of B: a one-line note
    Note over A,B: a note<br/>on two lines
    loop every poll
        A->>B: poll
    end
    alt accepted
        A->>B: yes
    else refused
        A->>B: no
    end
    opt maybe
        B->>A: maybe
    end
    par one
        A->>B: one
    and two
        A->>C: two
    end
    critical connect
        A->>B: c
    option fails
        A->>B: f
    end
    break stop
        A->>B: b
    end
    create participant D as child
    A->>D: fork
    destroy D
    A-xD: reap""",
    """flowchart TB
    subgraph loop [the serve loop]
        a[select] -->|readable| b(get_request)
        b --> c{verify_request}
    end
    c -.->|refused| d[(shutdown_request)]
    c ==> e((process))
    e --o f>finish]
    e --x g[/error/]
    e <--> h{{handle}}""",
    """classDiagram
    class BaseServer {
        +server_address
        +serve_forever(poll_interval) None
    }
    BaseServer <|-- TCPServer
    TCPServer *-- Socket : owns
    TCPServer o-- Handler : creates
    TCPServer --> Address : binds
    TCPServer ..> Selector : uses
    TCPServer ..|> Context : implements
    TCPServer "1" --> "*" Request : serves""",
    """stateDiagram-v2
    [*] --> Created
    Created --> Serving : serve_forever()
    state Serving {
        [*] --> Waiting
        Waiting --> Handling : readable
        Handling --> Waiting
    }
    Serving --> Closed : shutdown()
    note right of Closed : server_close()
    Closed --> [*]""",
]

# Draw a diagram the way Material does (mermaid.render, then a shadow root in a div.mermaid),
# at the end of the article.
DRAW_LIKE_MATERIAL = """async ([name, text]) => {
  const {svg} = await mermaid.render(name, text);
  const host = document.createElement("div");
  host.className = "mermaid";
  host.attachShadow({mode: "closed"}).innerHTML = svg;
  document.querySelector("article").append(host);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_diagram_kinds_the_site_does_not_use_yet_read_as_well(
    chromium, built_site, site_url, scheme, viewport
):
    path = built_pages(built_site, HAS_A_DIAGRAM)[0]  # Material has set mermaid up there
    found = []
    with browser_tab(chromium, site_url, viewport=viewport, dark=scheme == "dark") as tab:
        page, problems = open_page(tab, site_url, path)
        drawn = draw_every_diagram(page)
        small_print = page.evaluate(SMALL_PRINT)
        for number, text in enumerate(FUTURE_DIAGRAMS):
            page.evaluate(DRAW_LIKE_MATERIAL, [f"future_{number}", text])
        hosts = page.locator("article div.mermaid")
        assert hosts.count() == drawn + len(FUTURE_DIAGRAMS)
        for number in range(len(FUTURE_DIAGRAMS)):
            host = hosts.nth(drawn + number)
            diagram = host.evaluate(DIAGRAM)
            assert diagram and diagram["texts"] and diagram["markers"], f"diagram {number}"
            found += [f"{diagram['kind']}: {p}" for p in unreadable(diagram, small_print)]
            host.evaluate("host => { host.scrollIntoView({block: 'start'}); host.scrollLeft = 0; }")
            host.screenshot(
                path=str(SCREENSHOTS / f"diagram-future-{number}-{scheme}-{viewport['width']}.png")
            )
        found += page.evaluate(OVERFLOWING_THE_WINDOW)
        found += problems.lines
    assert found == [], "\n".join(found)
