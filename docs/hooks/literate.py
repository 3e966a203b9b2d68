"""Render a Python module as a chapter: its prose and its code, interleaved, top to bottom.

This is the engine behind the site's "Literate source" pages. A module of socketserver_lit is
written to be read: it opens with an essay, every class and method says in its docstring why it
exists, and long comment blocks stand at the subtle spots. Here we turn that file into a Markdown
page a reader can follow like a chapter of a book:

- the module docstring (the essay) becomes the opening prose;
- each class and each function gets a heading, its docstring as prose, then its code without the
  docstring (the prose is already above it);
- a comment block that stands alone (a blank line after it) becomes prose between code blocks;
  a comment attached to a statement stays in the code, next to the line it explains;
- a divider comment, `# -- bind and activate ------`, becomes a heading (so an entry in the
  page's table of contents) and the definitions below it, up to the next divider, nest under it;
- every other statement (imports, constants, class attributes) is shown as code, in file order.

Each code block is titled with the file and the line it starts at, so a reader can find it in the
real file. Nothing is reordered, nothing is left out but the docstrings, which are shown as prose:
the page is the file.

The page is a run of *sections*, each the prose and the code it explains, the unit Docco and
Pycco lay out side by side: prose opens a section, code joins it, and the next prose after code
opens the next. Each section is written as `<div markdown>` blocks (md_in_html) with classes
that docs/stylesheets/extra.css sets in two columns on a wide screen and in one on a phone;
the Markdown inside is ordinary, so headings still reach the table of contents.

We chose this over mkdocstrings' `show_source` because that shows the code *beside* the reference
entry, object by object; a literate page keeps the author's order and the text between objects,
which is where the explanation lives. The API reference pages still use mkdocstrings.

The renderer is a pure function of the source text (`render_module`); `pages.py` is the mkdocs
hook that calls it for every module and adds the pages to the site.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass, field

import rst_markup  # docs/hooks/rst_markup.py, on sys.path beside this file

# Google-style docstring section headers: rendered as a bold label and a list of their items.
SECTION_HEADERS = (
    "Args",
    "Arguments",
    "Parameters",
    "Returns",
    "Return",
    "Yields",
    "Raises",
    "Attributes",
    "Example",
    "Examples",
    "Note",
    "Notes",
    "Warning",
    "Warnings",
    "See Also",
)
SECTION_HEADER_LINE = re.compile(rf"^({'|'.join(SECTION_HEADERS)}):\s*$")

# A cross-reference as mkdocstrings writes it: [title][identifier] or [identifier][].
CROSS_REFERENCE = re.compile(r"(?<!\\)\[(?P<title>[^\[\]]+)\]\[(?P<identifier>[^\[\]]*)\]")

DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)

# A divider comment: `# -- bind and activate ------`, at least two dashes before the title and
# three after. It names the group of definitions below it and becomes a heading.
DIVIDER = re.compile(r"^#\s*-{2,}\s*(?P<title>[^-\s].*?)\s*-{3,}\s*$")

# Markdown (and HTML) headings stop at h6; a definition nested deeper is shown as code.
MAX_HEADING_LEVEL = 6


@dataclass
class LiteratePage:
    """The Markdown of one module's page and the anchors it defines."""

    markdown: str
    # Full dotted path of each class/function that got a heading -> its anchor id on the page.
    anchors: dict[str, str] = field(default_factory=dict)


def anchor_id(dotted_path: str) -> str:
    """The id of the heading for `dotted_path` on a literate page.

    It must differ from the id mkdocstrings gives the same object on the reference page, or the
    two headings would claim the same cross-reference identifier.
    """
    # "__" would start bold text inside the heading's {id=...} and break it:
    # `__init__` -> `--init--`.
    return "src-" + dotted_path.replace("__", "--")


def render_module(
    source: str,
    *,
    module: str,
    display_path: str,
    known_names: dict[str, str] | None = None,
) -> LiteratePage:
    """Render the source of `module` (e.g. `socketserver_lit.servers`) as a literate page.

    `display_path` is the file name shown in code block titles (e.g. `socketserver_lit/servers.py`).
    `known_names` maps short names that docstrings may cross-reference (`TCPServer`) to their full
    dotted paths; references we cannot place become plain text rather than broken links.
    """
    renderer = _ModuleRenderer(source, module, display_path, known_names or {})
    return renderer.render()


def docstring_to_markdown(docstring: str) -> str:
    """Turn a cleaned docstring into Markdown that reads as prose.

    `rst_markup.convert` has already translated the reST habits (roles, `::` blocks,
    definition lists, doctests); what is left are Google-style sections such as `Args:`, whose
    indented items would otherwise run together into one paragraph: each becomes a bold label
    and a list.
    """
    lines = docstring.splitlines()
    output: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if SECTION_HEADER_LINE.match(line) and _indented_block_follows(lines, index):
            index = _take_section(lines, index, output)
        else:
            output.append(line)
            index += 1
    return "\n".join(output).strip() + "\n"


def _indented_block_follows(lines: list[str], index: int) -> bool:
    return index + 1 < len(lines) and lines[index + 1].startswith((" ", "\t"))


def _take_section(lines: list[str], index: int, output: list[str]) -> int:
    """Render a Google-style section (`Args:` and its indented items) as a labelled list."""
    header = SECTION_HEADER_LINE.match(lines[index]).group(1)
    index += 1
    body: list[str] = []
    while index < len(lines) and (lines[index].startswith((" ", "\t")) or not lines[index].strip()):
        if not lines[index].strip() and not (
            index + 1 < len(lines) and lines[index + 1].startswith((" ", "\t"))
        ):
            break
        body.append(lines[index])
        index += 1
    items = _section_items(textwrap.dedent("\n".join(body)).splitlines())
    output += ["", f"**{header}:**", ""]
    output += [f"- {item}" for item in items]
    output.append("")
    return index


def _section_items(lines: list[str]) -> list[str]:
    """Join each item's continuation lines (indented deeper) onto the item's first line."""
    items: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith((" ", "\t")) and items:
            items[-1] += " " + line.strip()
        else:
            name, colon, text = line.partition(":")
            looks_like_name = colon and re.fullmatch(r"[\w.*]+(\s*\([^)]*\))?", name.strip())
            items.append(f"`{name.strip()}`:{text}" if looks_like_name else line.strip())
    return items


class _ModuleRenderer:
    """Walks one module's syntax tree in file order and writes the page."""

    def __init__(self, source: str, module: str, display_path: str, known: dict[str, str]):
        self.lines = source.splitlines()
        self.tree = ast.parse(source)
        self.module = module
        self.display_path = display_path
        self.known = dict(known)
        for node in self.tree.body:
            if isinstance(node, DEFINITIONS):
                self.known.setdefault(node.name, f"{module}.{node.name}")
        self.sections: list[_Section] = []
        self.anchors: dict[str, str] = {}
        self.divider_ids: set[str] = set()
        # Line ranges (1-based, inclusive) of plain code not yet written out.
        self.pending: list[tuple[int, int]] = []

    def render(self) -> LiteratePage:
        body = list(self.tree.body)
        essay = ast.get_docstring(self.tree, clean=True)
        position = 1
        if essay is not None:
            self._prose(essay, scope=self.module)
            self.sections[-1].role = "essay"
            position = body[0].end_lineno + 1
            body = body[1:]
        self._statements(body, position, level=2, scope=self.module, public=True)
        self._flush_code()
        markdown = "\n".join(section.markdown() for section in self.sections)
        return LiteratePage(markdown.rstrip() + "\n", self.anchors)

    # --- walking -----------------------------------------------------------------------------

    def _statements(
        self, statements: list[ast.stmt], position: int, *, level: int, scope: str, public: bool
    ) -> int:
        """Write `statements`, starting at line `position`; return the line after the last one.

        Definitions get headings at `level`, or one level deeper once a divider comment has
        opened a group of them in this scope (a divider's heading is at `level`).
        """
        definition_level = level
        for statement in statements:
            start = first_line(statement)
            start, divided = self._gap(position, start, level=level, scope=scope)
            if divided:
                definition_level = level + 1
            if isinstance(statement, DEFINITIONS) and definition_level <= MAX_HEADING_LEVEL:
                self._definition(
                    statement, start, level=definition_level, scope=scope, public=public
                )
            elif isinstance(statement, ast.If) and _defines_something(statement):
                self._conditional(
                    statement, start, level=definition_level, scope=scope, public=public
                )
            else:
                self.pending.append((start, statement.end_lineno))
            position = statement.end_lineno + 1
        return position

    def _gap(self, position: int, start: int, *, level: int, scope: str) -> tuple[int, bool]:
        """Handle the blank and comment lines between two statements.

        Comment paragraphs that stand alone become prose, and a divider comment
        (`# -- bind and activate ----`) becomes a heading at `level`. The last paragraph, if it
        touches the statement (no blank line between), is the statement's own comment: it stays
        in the code, except for a divider at its top. Returns the line where the statement's
        code now starts, and whether a divider was found.
        """
        gap = list(range(position, start))
        paragraphs: list[list[int]] = [[]]
        for number in gap:
            if self.lines[number - 1].strip():
                paragraphs[-1].append(number)
            elif paragraphs[-1]:
                paragraphs.append([])
        paragraphs = [p for p in paragraphs if p]
        attached: list[int] = []
        if paragraphs and paragraphs[-1][-1] == start - 1:
            attached = paragraphs.pop()
            last_divider = max(
                (i for i, n in enumerate(attached) if DIVIDER.match(self.lines[n - 1].strip())),
                default=None,
            )
            if last_divider is not None and self._is_comment(attached):
                # Everything down to the divider opens the group; the rest stays with the code.
                paragraphs.append(attached[: last_divider + 1])
                attached = attached[last_divider + 1 :]
            if attached:
                start = attached[0]
        divided = False
        for paragraph in paragraphs:
            if not self._is_comment(paragraph):
                # Not a comment (a stray line of a multi-line construct): keep it as code.
                self.pending.append((paragraph[0], paragraph[-1]))
                continue
            prose: list[str] = []
            for number in paragraph + [0]:  # 0: a sentinel that ends the last run of prose
                text = self.lines[number - 1].strip() if number else ""
                divider = DIVIDER.match(text)
                if (divider or not number) and prose:
                    self._flush_code()
                    self._write("\n".join(prose))
                    prose = []
                if divider:
                    self._flush_code()
                    self._divider(divider["title"], level=level, scope=scope)
                    divided = True
                elif number:
                    prose.append(re.sub(r"^#+ ?", "", text))
        return start, divided

    def _is_comment(self, paragraph: list[int]) -> bool:
        return all(self.lines[n - 1].strip().startswith("#") for n in paragraph)

    def _definition(self, node, start: int, *, level: int, scope: str, public: bool) -> None:
        self._flush_code()
        dotted = f"{scope}.{node.name}"
        is_public = public and not node.name.startswith("_")
        self._heading(node, dotted, level, is_public)
        docstring_node = _docstring_node(node)
        if docstring_node is not None:
            self._prose(inspect.cleandoc(docstring_node.value.value), scope=dotted)
            header = (start, docstring_node.lineno - 1)
            after_docstring = docstring_node.end_lineno + 1
            rest = node.body[1:]
        else:
            header = (start, node.body[0].lineno - 1)
            after_docstring = node.body[0].lineno
            rest = node.body
        if isinstance(node, ast.ClassDef):
            self.pending.append(header)
            self._statements(rest, after_docstring, level=level + 1, scope=dotted, public=is_public)
            self._flush_code()
        else:
            self.pending.append(header)
            if rest:
                self.pending.append((after_docstring, node.end_lineno))
            self._flush_code()

    def _conditional(self, node: ast.If, start: int, *, level: int, scope: str, public: bool):
        """An `if` at module level that defines classes: show its test, then walk its branches."""
        self.pending.append((start, node.body[0].lineno - 1))
        position = self._statements(
            node.body, node.body[0].lineno, level=level, scope=scope, public=public
        )
        if node.orelse:
            else_start = first_line(node.orelse[0])
            self.pending.append((position, else_start - 1))
            self._statements(node.orelse, else_start, level=level, scope=scope, public=public)

    # --- writing -----------------------------------------------------------------------------

    def _divider(self, title: str, *, level: int, scope: str) -> None:
        """A heading for a divider comment: it names the group of definitions that follows."""
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        anchor = f"{anchor_id(scope)}--{slug}"
        suffix = 1
        while anchor in self.divider_ids:  # the same title twice in one scope
            suffix += 1
            anchor = f"{anchor_id(scope)}--{slug}-{suffix}"
        self.divider_ids.add(anchor)
        self._write(f'{"#" * level} {title} {{ id="{anchor}" .literate-divider }}', role="divider")

    def _heading(self, node, dotted: str, level: int, is_public: bool) -> None:
        anchor = anchor_id(dotted)
        self.anchors[dotted] = anchor
        # Names go in code spans: `__init__` must not turn into bold "init".
        if isinstance(node, ast.ClassDef):
            label, kind = f"class `{node.name}`", "class"
        elif "." in dotted.removeprefix(self.module + "."):
            label, kind = f"`{node.name}()`", "method"
        else:
            label, kind = f"def `{node.name}()`", "function"
        # The class sets the look, so a method reads the same whatever its heading level.
        self._write(f'{"#" * level} {label} {{ id="{anchor}" .literate-{kind} }}')
        if is_public:
            self._write(
                '<p class="literate-links">'
                f'<autoref optional identifier="{dotted}">API reference for '
                f"<code>{node.name}</code></autoref></p>"
            )

    def _prose(self, text: str, *, scope: str) -> None:
        markdown = rst_markup.convert(text, lambda name: self._lookup(name, scope))
        markdown = docstring_to_markdown(markdown)
        self._write(self._resolve_cross_references(markdown, scope))

    def _resolve_cross_references(self, markdown: str, scope: str) -> str:
        """Point each `[title][identifier]` at a full dotted path, or drop the link if unknown.

        A docstring may write `[TCPServer][]`, meaning "the TCPServer in scope"; on this page
        there is no scope, so we look the name up ourselves and emit an optional reference:
        a link if the reference pages define it, plain text otherwise, never a build warning.
        """

        def replace(match: re.Match) -> str:
            title = match["title"]
            identifier = match["identifier"] or title.strip("`")
            target = self._lookup(identifier.strip(), scope)
            shown = _inline_code_to_html(title)
            return f'<autoref optional identifier="{target}">{shown}</autoref>'

        return _outside_code(markdown, lambda text: CROSS_REFERENCE.sub(replace, text))

    def _lookup(self, identifier: str, scope: str) -> str:
        """The full dotted path `identifier` most likely means, seen from `scope`."""
        if identifier.startswith(self.module.split(".")[0] + "."):
            return identifier
        head, _, tail = identifier.partition(".")
        if head in self.known:
            return self.known[head] + (f".{tail}" if tail else "")
        # A lower-case name inside a class means one of its members: [serve_forever][].
        owner = scope if _looks_like_class(scope) else scope.rsplit(".", 1)[0]
        if owner != self.module and not head[:1].isupper():
            return f"{owner}.{identifier}"
        return identifier

    def _flush_code(self) -> None:
        ranges = [(a, b) for a, b in self.pending if b >= a]
        self.pending = []
        if not ranges:
            return
        kept: list[str] = []
        previous_end = None
        for start, end in ranges:
            if previous_end is not None:
                gap = self.lines[previous_end : start - 1]
                # Blank lines between statements are the author's layout: keep them. A gap with
                # text in it is a docstring we showed as prose above: leave it out.
                if all(not line.strip() for line in gap):
                    kept += gap
            kept += self.lines[start - 1 : end]
            previous_end = end
        code = "\n".join(kept)
        code = textwrap.dedent(code).strip("\n")
        if not code.strip():
            return
        first = ranges[0][0]
        while not self.lines[first - 1].strip():
            first += 1
        title = f"{self.display_path}, line {first}"
        fence = "````" if "```" in code else "```"
        self._write(f'{fence}python title="{title}"\n{code}\n{fence}', code=True)

    def _write(self, block: str, *, code: bool = False, role: str = "") -> None:
        """Add a block to the page: prose (headings too) opens a new section after code.

        A block with a `role` (the essay, a divider) is a section of its own.
        """
        last = self.sections[-1] if self.sections else None
        if last is None or last.role or role or (not code and last.code):
            self.sections.append(_Section(role=role))
        (self.sections[-1].code if code else self.sections[-1].prose).append(block.rstrip())


@dataclass
class _Section:
    """One step of the page: prose (headings, docstrings, comments) and the code it explains.

    Written as two `<div markdown>` blocks (md_in_html) that the stylesheet sets side by side
    on a wide screen, prose first. A section without code (the module's essay, a divider
    heading) takes the whole width; code without prose stays in the code column.
    """

    prose: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    role: str = ""  # "essay" or "divider": a section of its own, never paired with code

    def markdown(self) -> str:
        kind = self.role or ("paired" if self.prose and self.code else "")
        kind = kind or ("prose-only" if self.prose else "code-only")
        lines = [f'<div class="literate-section literate-section--{kind}" markdown>', ""]
        for name, blocks in (("prose", self.prose), ("code", self.code)):
            if blocks:
                lines += [f'<div class="literate-{name}" markdown>', ""]
                lines += [line for block in blocks for line in (block, "")]
                lines += ["</div>", ""]
        return "\n".join(lines + ["</div>", ""])


def _looks_like_class(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1][:1].isupper()


def first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _docstring_node(node) -> ast.Expr | None:
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _defines_something(node: ast.If) -> bool:
    return any(isinstance(child, DEFINITIONS) for child in node.body + node.orelse)


def _inline_code_to_html(title: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", title)


def _outside_code(markdown: str, transform) -> str:
    """Apply `transform` to the Markdown outside fenced blocks and inline code spans."""
    pieces = re.split(r"(```.*?```|`[^`\n]+`(?!\]))", markdown, flags=re.DOTALL)
    return "".join(piece if index % 2 else transform(piece) for index, piece in enumerate(pieces))
