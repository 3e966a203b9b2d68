"""The documentation site builds strictly, and every page built from the repository is there.

`mkdocs build --strict` turns every warning (a broken link, an unresolved cross-reference, a
page missing from the nav, a docstring mkdocstrings cannot parse) into a failure; we also fail on
any WARNING line it prints, in case a plugin logs one that strict mode lets through.
"""

from __future__ import annotations

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from site_support import REPOSITORY, SiteBuild

pytestmark = pytest.mark.timeout(300)

PACKAGE = REPOSITORY / "socketserver_lit"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def public_module_pages() -> list[str]:
    """The page stem each public module of the package should get (`servers`, `package`)."""
    stems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if any(part.startswith("_") for part in parts if part != "__init__"):
            continue
        if parts == ["__init__"]:
            stems.append("package")
        elif parts[-1] == "__init__":
            stems.append("/".join(parts[:-1]) + "/index")
        else:
            stems.append("/".join(parts))
    return stems


def page_file(site: Path, stem: str) -> Path:
    """Where `use_directory_urls` puts the page for `stem` (`servers` -> servers/index.html)."""
    if stem.endswith("/index"):
        return site / stem.removesuffix("/index") / "index.html"
    return site / stem / "index.html"


def test_strict_build_succeeds_without_a_single_warning(site_build: SiteBuild) -> None:
    assert site_build.returncode == 0, site_build.output
    warnings = [line for line in site_build.output.splitlines() if re.match(r"\s*WARNING", line)]
    assert warnings == [], "\n".join(warnings)


def test_every_public_module_has_a_reference_page_and_a_literate_page(built_site: Path) -> None:
    stems = public_module_pages()
    assert "servers" in stems and "package" in stems
    missing = [
        f"{kind}/{stem}"
        for stem in stems
        for kind in ("reference", "source")
        if not page_file(built_site / kind, stem).is_file()
    ]
    assert missing == []


def test_every_notebook_is_a_page_with_its_download_beside_it(built_site: Path) -> None:
    notebooks = sorted((REPOSITORY / "notebooks").rglob("*.ipynb"))
    notebooks = [n for n in notebooks if ".ipynb_checkpoints" not in n.parts]
    for notebook in notebooks:
        relative = notebook.relative_to(REPOSITORY).with_suffix("")
        page = built_site / relative / "index.html"
        assert page.is_file(), f"no page for {notebook}"
        assert (built_site / relative / notebook.name).read_bytes() == notebook.read_bytes()
        assert 'class="notebook-actions"' in page.read_text(encoding="utf-8")


def test_notebook_pages_show_the_committed_outputs_not_new_ones(built_site: Path) -> None:
    """The site must agree with the notebooks nbval checks: no re-execution at build time."""
    checked = 0
    for notebook in sorted((REPOSITORY / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        page = built_site / notebook.relative_to(REPOSITORY).with_suffix("") / "index.html"
        shown = page_text(page.read_text(encoding="utf-8"))
        for text in committed_stream_lines(notebook)[:5]:
            assert text in shown, f"{notebook.name}: output {text!r} not on its page"
            checked += 1
    if any((REPOSITORY / "notebooks").rglob("*.ipynb")):
        assert checked > 0, "no notebook has a printed output to compare"


def committed_stream_lines(notebook: Path) -> list[str]:
    """Non-blank lines the notebook's cells printed, as committed."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = output["text"]
                text = "".join(text) if isinstance(text, list) else text
                text = ANSI_ESCAPE.sub("", text)  # colours become HTML spans on the page
                lines += [line.strip() for line in text.splitlines() if line.strip()]
    return lines


def page_text(page_html: str) -> str:
    """What a reader sees of a page: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


def test_the_site_fetches_nothing_from_other_hosts(built_site: Path) -> None:
    """Fonts, scripts and styles are all local, so the site reads offline and tracks nobody."""
    external = re.compile(
        r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//|import\(\s*["\'](https?:)?//',
        re.IGNORECASE,
    )
    offenders = []
    for page in built_site.rglob("*.html"):
        for match in external.finditer(page.read_text(encoding="utf-8")):
            offenders.append(f"{page.relative_to(built_site)}: {match[0]}")
    assert offenders == []


class _LinksAndIds(HTMLParser):
    """Collects every href and every id of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            elif name == "href" and value and tag in ("a", "link"):
                self.links.append(value)


def test_every_internal_link_of_the_built_site_reaches_a_page_and_its_anchor(
    built_site: Path,
) -> None:
    """Also the links no Markdown checker sees: templates, hooks, mkdocstrings, notebooks."""
    pages: dict[Path, _LinksAndIds] = {}
    for page in built_site.rglob("*.html"):
        parser = _LinksAndIds()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page] = parser
    broken = []
    for page, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            if parts.path.startswith("/"):  # 404.html links from the site's root
                target = built_site / unquote(parts.path).lstrip("/")
            elif parts.path:
                target = (page.parent / unquote(parts.path)).resolve()
            else:
                target = page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)}: {link} (no such file)")
            elif parts.fragment and target in pages:
                if unquote(parts.fragment) not in pages[target].ids:
                    broken.append(f"{page.relative_to(built_site)}: {link} (no such anchor)")
    assert broken == [], "\n".join(sorted(set(broken))[:50])


def documented_attributes(path: Path) -> list[tuple[str, str]]:
    """(attribute, its first `#:` comment line) for class attributes documented that way."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        match = re.match(r"\s+([a-z_]\w*)\s*(?::[^=]+)?=", line)
        if not match or match[1].startswith("_"):
            continue
        comment = []
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#:"):
            comment.insert(0, lines[above].strip()[2:].strip())
            above -= 1
        if comment:
            found.append((match[1], comment[0]))
    return found


def _readable(text: str) -> str:
    """Docstring markup as a reader sees it: roles and backticks gone, spaces collapsed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("`", "")
    return " ".join(text.split())


def test_attributes_documented_with_comments_show_their_text_in_the_reference(
    built_site: Path,
) -> None:
    checked = 0
    for stem in public_module_pages():
        path = PACKAGE / (stem.removesuffix("/index") + ".py")
        if stem == "package" or not path.is_file():
            continue
        shown = _readable(page_text(page_file(built_site / "reference", stem).read_text("utf-8")))
        for attribute, first_line in documented_attributes(path):
            assert _readable(first_line) in shown, f"{stem}.{attribute}: {first_line!r} missing"
            checked += 1
    assert checked > 0


def test_the_performance_page_shows_the_figures_the_benchmark_drew(built_site: Path) -> None:
    """bench/report.py draws each figure next to results.json; the page shows copies of them."""
    if str(REPOSITORY) not in sys.path:  # bench/ is a folder of the checkout
        sys.path.insert(0, str(REPOSITORY))
    from bench import report

    drawn = report.figure_paths(REPOSITORY / "bench" / "results" / "results.png")
    page = (built_site / "performance" / "index.html").read_text(encoding="utf-8")
    for name, figure in drawn.items():
        shown = REPOSITORY / "docs" / "assets" / f"performance{report.FIGURE_SUFFIXES[name]}.png"
        assert shown.read_bytes() == figure.read_bytes(), f"{shown.name} is not {figure.name}"
        assert f'src="../assets/{shown.name}"' in page, f"{shown.name} not on the page"
