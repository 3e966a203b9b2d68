"""mkdocs hook: add the pages that are built from the repository, and fill in the navigation.

The site must not drift from the code, so three families of pages are never written by hand:

- **Notebooks.** Every `notebooks/**/*.ipynb` becomes a page at the same path (`notebooks/...`),
  rendered by mkdocs-jupyter from its committed outputs (the ones nbval checks), with the
  `.ipynb` copied beside it for the download button (see `docs/overrides/main.html`).
- **API reference.** Every public module of the package gets `reference/<module>.md`, a page
  that asks mkdocstrings for that module (`::: socketserver_lit.servers`).
- **Literate source.** Every module gets `source/<module>.md`, rendered by `literate.py`: the
  module read top to bottom, essay and docstrings as prose, code in between.

A nav entry in `mkdocs.yml` that ends in `*` (say `notebooks/course/*`) is replaced by the pages
under that folder, in reading order, each titled from the page itself (a notebook's first `#`
heading, a module's name). So a new notebook or module shows up on the site with no edit here or
in `mkdocs.yml`. A section left with no pages (no course notebooks yet) is dropped.

The hook also links the two views of each object: every class and function heading of the
reference gets a "Read it in the literate source" link, and the literate page links back.
Both links are optional autorefs, so a missing target is plain text, never a broken link.

Hand-written pages show real code the same way. A line

    <!-- include-code: socketserver_lit/examples/tcp_server.py MyTCPHandler serve -->

is replaced by a code block holding those top-level definitions, copied from the file at build
time and titled with its path and lines. A missing file or name stops the build with an error
that says which page asked for it: a page cannot quietly show code that no longer exists.
Likewise `<!-- notebook-list: notebooks/course -->` becomes a table of that folder's notebooks,
each with its title and first paragraph.
"""

from __future__ import annotations

import ast
import html as html_module
import json
import posixpath
import re
from pathlib import Path

import literate  # docs/hooks/literate.py: mkdocs puts a hook's folder on sys.path while loading it
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

PACKAGE = "socketserver_lit"

# The order a reader should take through the package (the lead's modules, in the order a request
# flows); any other module follows, alphabetically.
READING_ORDER = [
    "socketserver_lit",
    "socketserver_lit.servers",
    "socketserver_lit.mixins",
    "socketserver_lit.combinations",
    "socketserver_lit.handlers",
]

# Per-build state, filled by on_files and read by on_page_content.
_titles: dict[str, str] = {}
_literate_anchors: dict[str, str] = {}
# A module's file (socketserver_lit/servers.py) -> its literate page (source/servers.md).
_module_pages: dict[str, str] = {}


# --- discovering what to publish ---------------------------------------------------------------


def public_modules(repo: Path) -> list[tuple[str, Path]]:
    """(dotted name, file) of every public module of the package, in reading order."""
    package_dir = repo / PACKAGE
    found = []
    for path in package_dir.rglob("*.py"):
        relative = path.relative_to(repo).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or "__pycache__" in path.parts:
            continue
        found.append((".".join(parts), path))
    return sorted(found, key=lambda item: _reading_position(item[0]))


def _reading_position(module: str) -> tuple[int, str]:
    if module in READING_ORDER:
        return (READING_ORDER.index(module), "")
    return (len(READING_ORDER), module)


def page_stem(module: str, path: Path) -> str:
    """reference/<stem>.md and source/<stem>.md: `servers`, `package`, `examples/index`."""
    if module == PACKAGE:
        return "package"
    stem = module.removeprefix(PACKAGE + ".").replace(".", "/")
    return f"{stem}/index" if path.name == "__init__.py" else stem


def notebooks(repo: Path) -> list[Path]:
    folder = repo / "notebooks"
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*.ipynb")
        if not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def notebook_title(path: Path) -> str:
    """The notebook's first `# ` heading, as mkdocs-jupyter will title the page."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return path.stem
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def known_names(modules: list[tuple[str, Path]]) -> dict[str, str]:
    """Short name -> full dotted path of every top-level class and function in the package."""
    known: dict[str, str] = {}
    for module, path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                known.setdefault(node.name, f"{module}.{node.name}")
    return known


def exported_names(init_file: Path) -> list[str]:
    """The package's `__all__`, if it is a literal list of strings."""
    tree = ast.parse(init_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            try:
                return [str(name) for name in ast.literal_eval(node.value)]
            except ValueError:
                return []
    return []


# --- writing the generated pages -------------------------------------------------------------


def reference_markdown(module: str, stem: str, path: Path, known: dict[str, str]) -> str:
    source_link = posixpath.relpath(f"source/{stem}.md", posixpath.dirname(f"reference/{stem}"))
    lines = [
        # The title carries the module's own identifier, so [servers][socketserver_lit.servers]
        # in a docstring lands here (mkdocstrings shows no heading of its own for the module).
        f'# `{module}` {{ id="{module}" }}',
        "",
        f"Prefer reading it as a chapter? The same module as [literate source]({source_link}),"
        " top to bottom.",
        "{ .literate-links }",
        "",
    ]
    if module == PACKAGE:
        lines += [f"::: {module}", "    options:", "      members: false", ""]
        names = exported_names(path)
        if names:
            lines += ["## Public names", "", "| Name | Defined in |", "| --- | --- |"]
            for name in names:
                target = known.get(name)
                if target:
                    home = target.rsplit(".", 1)[0]
                    lines.append(f"| [`{name}`][{target}] | `{home}` |")
                else:
                    lines.append(f"| `{name}` | |")
            lines.append("")
    else:
        lines += [f"::: {module}", "    options:", "      show_root_heading: false", ""]
    return "\n".join(lines)


def markdown_escaped(text: str) -> str:
    """``text`` with Markdown's emphasis characters escaped, so that it shows as written."""
    return re.sub(r"([\\`*_])", r"\\\1", text)


def source_markdown(module: str, stem: str, path: Path, repo: Path, known: dict[str, str]):
    display = path.relative_to(repo).as_posix()
    page = literate.render_module(
        path.read_text(encoding="utf-8"), module=module, display_path=display, known_names=known
    )
    reference_link = posixpath.relpath(f"reference/{stem}.md", posixpath.dirname(f"source/{stem}"))
    header = [
        # Material's own switch: no site navigation beside the page on a wide screen (it stays in
        # the menu), so the prose and code columns get the width. The table of contents stays.
        "---",
        "hide:",
        "  - navigation",
        "---",
        "",
        f"# {markdown_escaped(display)}",  # `__init__.py` is a name, not bold "init"
        "",
        "The module itself, top to bottom: prose is its essay and docstrings, code blocks are"
        " the file, each titled with the line it starts at. Signatures and members in one"
        f" place: the [API reference]({reference_link}).",
        "{ .literate-links }",
        "",
    ]
    return "\n".join(header) + "\n" + page.markdown, page.anchors


@event_priority(100)  # before mkdocs-jupyter, which must see the notebooks we add
def on_files(files: Files, config) -> Files:
    repo = Path(config.config_file_path).parent
    _titles.clear()
    _literate_anchors.clear()
    _module_pages.clear()

    for path in notebooks(repo):
        src_uri = path.relative_to(repo).as_posix()
        if files.get_file_from_path(src_uri) is None:
            # A File rooted at the repository, not File.generated: mkdocs-jupyter's wrapper
            # recomputes abs_src_path from src_dir, which a generated file does not have.
            files.append(
                File(
                    src_uri,
                    src_dir=str(repo),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
        _titles[src_uri] = notebook_title(path)

    modules = public_modules(repo)
    known = known_names(modules)
    for module, path in modules:
        stem = page_stem(module, path)
        short = module.removeprefix(PACKAGE + ".") if module != PACKAGE else PACKAGE
        reference_uri, source_uri = f"reference/{stem}.md", f"source/{stem}.md"
        files.append(
            File.generated(
                config, reference_uri, content=reference_markdown(module, stem, path, known)
            )
        )
        markdown, anchors = source_markdown(module, stem, path, repo, known)
        files.append(File.generated(config, source_uri, content=markdown))
        _literate_anchors.update(anchors)
        _module_pages[path.relative_to(repo).as_posix()] = source_uri
        # Inside a sub-package's section the section already says "examples": titles stay short.
        _titles[reference_uri] = short if "/" not in stem else short.rsplit(".", 1)[-1]
        _titles[source_uri] = (
            path.name if "/" in stem else path.relative_to(repo / PACKAGE).as_posix()
        )

    config.nav = expand_nav(config.nav, files)
    return files


# --- navigation ------------------------------------------------------------------------------


def expand_nav(nav, files: Files):
    """Replace each `folder/*` entry by the pages under `folder/` not listed elsewhere."""
    if nav is None:
        return None
    listed = set(_explicit_entries(nav))
    # Notebooks count as pages only once mkdocs-jupyter has wrapped them, which is later.
    pages = [f.src_uri for f in files if f.src_uri.endswith((".md", ".ipynb"))]
    return _expand(nav, pages, listed)


def _explicit_entries(nav):
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            yield from _explicit_entries(value)
        elif isinstance(value, str) and not value.endswith("*"):
            yield value


def _expand(items, pages, listed):
    expanded = []
    for item in items:
        if isinstance(item, str) and item.endswith("*"):
            expanded += _folder_entries(item[:-1], pages, listed)
        elif isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                children = _expand(value, pages, listed)
                if _has_page(children):
                    expanded.append({title: children})
            elif isinstance(value, str) and value.endswith("*"):
                children = _folder_entries(value[:-1], pages, listed)
                if children:
                    expanded.append({title: children})
            else:
                expanded.append(item)
        else:
            expanded.append(item)
    return expanded


def _has_page(children) -> bool:
    """A section is worth showing if it holds more than its own index page."""
    return any(not (isinstance(c, str) and c.endswith("index.md")) for c in children)


def _folder_entries(folder: str, pages: list[str], listed: set[str]):
    """Entries for the pages under `folder`, sub-folders as sections, in reading order."""
    inside = [p for p in pages if p.startswith(folder) and p not in listed]
    inside.sort(key=lambda uri: _page_order(uri))
    entries: list = []
    sections: dict[str, list[str]] = {}
    for uri in inside:
        rest = uri[len(folder) :]
        if "/" in rest:
            sections.setdefault(rest.split("/", 1)[0], []).append(uri)
        else:
            entries.append({_titles.get(uri, _fallback_title(uri)): uri})
    for name, uris in sections.items():
        children = [
            uri if uri.endswith("/index.md") else {_titles.get(uri, _fallback_title(uri)): uri}
            for uri in uris
        ]
        entries.append({name: children})
    return entries


def _page_order(uri: str):
    if uri.startswith(("reference/", "source/")):
        stem = uri.split("/", 1)[1].removesuffix(".md")
        module = PACKAGE if stem == "package" else PACKAGE + "." + stem.removesuffix("/index")
        module = module.replace("/", ".")
        return (_reading_position(module), stem.endswith("index") is False, uri)
    return ((0, ""), True, uri)


def _fallback_title(uri: str) -> str:
    return posixpath.splitext(posixpath.basename(uri))[0]


# --- real code on hand-written pages -----------------------------------------------------------

_INCLUDE_CODE = re.compile(r"^<!-- include-code: (?P<path>\S+)(?P<names>(?: [\w.]+)*) -->$", re.M)


_NOTEBOOK_LIST = re.compile(r"^<!-- notebook-list: (?P<folder>\S+) -->$", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    repo = Path(config.config_file_path).parent
    markdown = _INCLUDE_CODE.sub(
        lambda match: included_code(repo, match["path"], match["names"].split(), page), markdown
    )
    return _NOTEBOOK_LIST.sub(lambda match: notebook_list(repo, match["folder"], page), markdown)


def notebook_list(repo: Path, folder: str, page) -> str:
    """A table of the notebooks in `folder`: title (linked) and what each one is about."""
    found = [path for path in notebooks(repo) if path.parent == repo / folder]
    if not found:
        return "*None yet.*"
    rows = ["| Notebook | What it shows |", "| --- | --- |"]
    page_folder = posixpath.dirname(page.file.src_uri)
    for path in found:
        link = posixpath.relpath(path.relative_to(repo).as_posix(), page_folder)
        summary = notebook_summary(path).replace("|", "\\|")
        rows.append(f"| [{notebook_title(path)}]({link}) | {summary} |")
    return "\n".join(rows)


def notebook_summary(path: Path) -> str:
    """The first paragraph of prose after the notebook's title, on one line."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return ""
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        for paragraph in paragraphs:
            if not paragraph.startswith(("#", "```", "|", "<", "!")):
                # Links are relative to the notebook, not to the page listing it: keep the text.
                paragraph = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", paragraph)
                return " ".join(paragraph.split())
    return ""


def included_code(repo: Path, relative: str, names: list[str], page) -> str:
    """The named top-level definitions of a file (or all of it), as one titled code block."""
    path = repo / relative
    if not path.is_file():
        raise PluginError(f"{page.file.src_uri}: include-code names {relative}, which is missing")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not names:
        first, last = 1, len(lines)
        code = "\n".join(lines)
    else:
        tree = ast.parse("\n".join(lines))
        found = {
            node.name: node
            for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        }
        missing = [name for name in names if name not in found]
        if missing:
            raise PluginError(
                f"{page.file.src_uri}: include-code asks {relative} for {', '.join(missing)}, "
                "which it does not define (renamed?)"
            )
        nodes = sorted((found[name] for name in names), key=lambda node: node.lineno)
        spans = [(literate.first_line(node), node.end_lineno) for node in nodes]
        first, last = spans[0][0], spans[-1][1]
        code = "\n\n\n".join("\n".join(lines[a - 1 : b]) for a, b in spans)
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    return f'```python title="{relative}, {where}"\n{code}\n```'


# --- notebook pages: their table of contents and their links -----------------------------------

_HEADING = re.compile(r'<h([1-6])[^>]*\sid="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
_RELATIVE_LINK = re.compile(r'href="(?![a-z]+:|#|/)([^"#]+)(#[^"]*)?"')


def fix_notebook_page(html: str, page, files: Files) -> str:
    """Make a notebook page's TOC and links work as on any other page.

    mkdocs-jupyter takes the TOC from a Markdown conversion of the notebook, whose heading ids
    drop inline code (`handle_error`), while the page's headings, rendered by nbconvert, keep it:
    such TOC entries led nowhere and lost words. We take ids and titles from the rendered
    headings (the two lists are the same headings in the same order). Links between notebooks
    (`02-stream-handler.ipynb`) and to the package's modules are relative to the notebook's
    folder; we point them at the pages those files became.
    """
    headings = [(anchor, _heading_text(inner)) for _, anchor, inner in _HEADING.findall(html)]
    entries = list(_flatten(page.toc.items))
    if len(entries) == len(headings):
        for entry, (anchor, title) in zip(entries, headings, strict=True):
            entry.id, entry.title = anchor, title
    folder = posixpath.dirname(page.file.src_uri)

    def relink(match: re.Match) -> str:
        target_uri = posixpath.normpath(posixpath.join(folder, match[1]))
        target_uri = _module_pages.get(target_uri, target_uri)
        target = files.get_file_from_path(target_uri)
        if target is None or not target.is_documentation_page():
            return match[0]
        return f'href="{target.url_relative_to(page.file)}{match[2] or ""}"'

    html = _RELATIVE_LINK.sub(relink, html)
    return _draw_mermaid_with_material(html)


# nbconvert wraps a notebook's mermaid output in a container it hides until its own script, which
# imports mermaid from a CDN, has drawn it. We hand the diagrams to Material instead, which draws
# them with the copy of mermaid the site ships, and drop the script, so the page fetches nothing.
_NBCONVERT_MERMAID = re.compile(
    r'<div class="jp-Mermaid">\s*<pre class="mermaid">(.*?)</pre>\s*</div>', re.DOTALL
)
_NBCONVERT_MERMAID_SCRIPT = re.compile(
    r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{'
    r'\s*const diagrams = document\.querySelectorAll\("\.jp-Mermaid.*?</script>',
    re.DOTALL,
)


def _draw_mermaid_with_material(html: str) -> str:
    # nbconvert writes the diagram's text as it is, so a `<br/>` in it (the tracer's two-line
    # actor names) became an HTML element, and Material, which reads the text of the block,
    # never saw it. Escaped, it reaches mermaid as text, which mermaid draws as a line break.
    def as_code(match: re.Match[str]) -> str:
        text = html_module.escape(html_module.unescape(match[1]), quote=False)
        return f'<pre class="mermaid"><code>{text}</code></pre>'

    html = _NBCONVERT_MERMAID.sub(as_code, html)
    return _NBCONVERT_MERMAID_SCRIPT.sub("", html)


def _flatten(items):
    for item in items:
        yield item
        yield from _flatten(item.children)


def _heading_text(inner_html: str) -> str:
    text = re.sub(r"<[^>]+>", "", inner_html).replace("¶", "")
    return html_module.unescape(" ".join(text.split()))


# --- linking the reference and the literate source --------------------------------------------

_REFERENCE_HEADING = re.compile(
    r'(<h(?P<level>[2-6]) id="(?P<identifier>' + PACKAGE + r'\.[^"]+)"[^>]*>.*?</h(?P=level)>)',
    re.DOTALL,
)


# A literate page's title is the module's path (`socketserver_lit/examples/tcp_server.py`): one
# long word to the browser, which on a phone breaks it wherever the line ends (`servers.p|y`).
# A <wbr> after each slash lets it break there instead. Only the title's text is touched.
_LITERATE_TITLE = re.compile(r"(<h1[^>]*>)([^<]*)")


def _title_breaking_after_slashes(match: re.Match) -> str:
    return match[1] + match[2].replace("/", "/<wbr>")


@event_priority(100)  # before autorefs registers the page's anchors from its TOC
def on_page_content(html: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return fix_notebook_page(html, page, files)
    if page.file.src_uri in _module_pages.values():
        return _LITERATE_TITLE.sub(_title_breaking_after_slashes, html, count=1)
    if not page.file.src_uri.startswith("reference/"):
        return html

    def add_link(match: re.Match) -> str:
        anchor = _literate_anchors.get(match["identifier"])
        if anchor is None:
            return match[0]
        return (
            f'{match[0]}<p class="literate-links"><autoref optional identifier="{anchor}">'
            "Read it in the literate source</autoref></p>"
        )

    return _REFERENCE_HEADING.sub(add_link, html)
