"""Read the package's reStructuredText-flavoured docstrings as Markdown.

The modules' docstrings are written the way Python programmers have written them for twenty
years: ``double backticks``, ``:class:`TCPServer``` roles, ``Term`` lines followed by an
indented definition, and ``::`` before an indented example. The site is Markdown. Most of it
carries over unchanged (double backticks are a Markdown code span too, and an underlined title
is a Markdown heading), but four things would render wrong, so we translate them:

1. **Roles** (``:class:`X```, ``:meth:`~X.y```, ``:mod:`a.b```) become cross-references. We
   emit them as *optional* autorefs: a link when the target is documented on the site, plain
   code when it is not (a private method, an object of the standard library), and never a
   build warning.
2. **Literal blocks** (a paragraph ending in ``::`` and an indented block) become fenced code
   with highlighting: ``console`` if it starts with ``$``, ``pycon`` for ``>>>``, else Python.
3. **Definition lists** (a term line, its definition indented under it) become Markdown
   definition lists (the ``def_list`` extension), instead of running together as one line.
4. **Doctest blocks** (``>>>`` lines) become ``pycon`` fences instead of nested quotes.
5. **Simple tables** (columns framed by ``=====  =====`` borders) become Markdown tables.

Google-style sections (``Args:`` and its indented items) are left alone: mkdocstrings parses
them itself. ``convert`` is used by the literate pages (``literate.py``) and, through
``griffe_rst.py``, by the API reference, so both read the same text the same way.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

ROLE = re.compile(
    r":(?:py:)?(?P<role>mod|class|meth|func|attr|exc|data|obj|const|term|ref)"
    r":`(?P<text>[^`]+)`"
)

GOOGLE_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns|Return|Yields|Yield|Receives|Raises|Exceptions|Warns|Warnings|Warning|"
    r"Attributes|Functions|Methods|Classes|Modules|Examples|Example|Note|Notes|"
    r"See Also|Todo|Deprecated|Type Aliases):\s*$"
)
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")
# The border of a reST "simple table": runs of "=" separated by spaces, one run per column.
TABLE_BORDER = re.compile(r"^=+( +=+)+\s*$")

# Turns a name as written in a docstring into the full dotted path it means, or None.
Resolver = Callable[[str], "str | None"]


def convert(text: str, resolve: Resolver) -> str:
    """Translate one cleaned (dedented) docstring from reST habits to Markdown."""
    lines = text.splitlines()
    output: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if GOOGLE_SECTION.match(line):
            index = _copy_indented_block(lines, index, output)
        elif TABLE_BORDER.match(line):
            index = _simple_table(lines, index, output, resolve)
        elif line.rstrip().endswith("::") and _literal_block_follows(lines, index):
            index = _literal_block(lines, index, output)
        elif line.lstrip().startswith(">>>"):
            index = _doctest_block(lines, index, output)
        elif _is_definition_term(lines, index):
            index = _definition(lines, index, output, resolve)
        else:
            output.append(_roles(line, resolve))
            index += 1
    return "\n".join(output)


# --- roles -------------------------------------------------------------------------------------


def _roles(line: str, resolve: Resolver) -> str:
    return ROLE.sub(lambda match: _role_to_reference(match, resolve), line)


def _role_to_reference(match: re.Match, resolve: Resolver) -> str:
    text = match["text"].strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", text)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = text.lstrip("~").removesuffix("()")
        title = text.lstrip("~")
        if text.startswith("~"):
            title = title.rsplit(".", 1)[-1]
    if match["role"] in ("meth", "func") and not title.endswith("()"):
        title += "()"
    identifier = resolve(target.lstrip(".")) or target
    return f'<autoref optional identifier="{identifier}"><code>{title}</code></autoref>'


def resolve_with(lookup: Callable[[str], str]) -> Resolver:
    """Make a Resolver from a lookup that resolves a first name and raises if it cannot."""

    def resolve(dotted: str) -> str | None:
        head, _, tail = dotted.partition(".")
        try:
            found = lookup(head)
        except Exception:  # an unknown name: the reference becomes plain code
            return None
        return f"{found}.{tail}" if tail else found

    return resolve


# --- blocks ------------------------------------------------------------------------------------


def _copy_indented_block(lines: list[str], index: int, output: list[str]) -> int:
    """Copy a Google-style section untouched; mkdocstrings has its own parser for it."""
    output.append(lines[index])
    index += 1
    while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
        if not lines[index].strip() and not _next_is_indented(lines, index):
            break
        output.append(lines[index])
        index += 1
    return index


def _next_is_indented(lines: list[str], index: int) -> bool:
    following = index + 1
    while following < len(lines) and not lines[following].strip():
        following += 1
    return following < len(lines) and lines[following][:1].isspace()


def _literal_block_follows(lines: list[str], index: int) -> bool:
    following = index + 1
    while following < len(lines) and not lines[following].strip():
        following += 1
    return following < len(lines) and lines[following][:1].isspace()


def _literal_block(lines: list[str], index: int, output: list[str]) -> int:
    """``Text::`` + indented block -> ``Text:`` + a fenced, highlighted code block."""
    intro = lines[index].rstrip()
    if intro.strip() == "::":
        intro = ""
    elif intro.endswith(" ::"):
        intro = intro[:-3]
    else:
        intro = intro[:-1]
    if intro:
        output.append(intro)
    index += 1
    block: list[str] = []
    while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
        block.append(lines[index])
        index += 1
    code = textwrap.dedent("\n".join(block)).strip("\n")
    first = code.lstrip()
    if first.startswith("$"):
        language = "console"
    elif first.startswith(">>>"):
        language = "pycon"
    else:
        language = "python"
    output += ["", f"```{language}", code, "```", ""]
    return index


def _doctest_block(lines: list[str], index: int, output: list[str]) -> int:
    indent = len(lines[index]) - len(lines[index].lstrip())
    output += ["", "```pycon"]
    while index < len(lines) and lines[index].strip():
        output.append(lines[index][indent:])
        index += 1
    output += ["```", ""]
    return index


def _is_definition_term(lines: list[str], index: int) -> bool:
    """A reST definition: a term at the margin, its definition indented on the next line."""
    line = lines[index]
    if not line.strip() or line[:1].isspace() or LIST_ITEM.match(line):
        return False
    if index + 1 >= len(lines) or not lines[index + 1].strip():
        return False
    if not lines[index + 1][:1].isspace():
        return False
    previous = lines[index - 1] if index else ""
    # A term starts a block: a blank line or the end of the previous definition comes first.
    return not previous.strip() or previous[:1].isspace()


def _definition(lines: list[str], index: int, output: list[str], resolve: Resolver) -> int:
    term = _roles(lines[index], resolve)
    index += 1
    body: list[str] = []
    while index < len(lines) and lines[index][:1].isspace() and lines[index].strip():
        body.append(lines[index])
        index += 1
    definition = " ".join(part.strip() for part in body)
    if output and output[-1].strip():
        output.append("")
    output += [term, f":   {_roles(definition, resolve)}", ""]
    return index


def _simple_table(lines: list[str], index: int, output: list[str], resolve: Resolver) -> int:
    """A reST simple table (top border, header, border, rows, bottom border) -> Markdown."""
    border = lines[index]
    starts = [match.start() for match in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    borders_seen = 1
    index += 1
    while index < len(lines) and borders_seen < 3:
        line = lines[index]
        index += 1
        if TABLE_BORDER.match(line):
            borders_seen += 1
            continue
        if not line.strip():
            if borders_seen >= 2 and rows:
                break
            continue
        rows.append([_roles(cell, resolve) for cell in _table_cells(line, starts)])
    if not rows:
        return index
    header, body = rows[0], rows[1:]
    if output and output[-1].strip():
        output.append("")
    output.append("| " + " | ".join(header) + " |")
    output.append("|" + "|".join(" --- " for _ in header) + "|")
    output += ["| " + " | ".join(row) + " |" for row in body]
    output.append("")
    return index


def _table_cells(line: str, starts: list[int]) -> list[str]:
    """Cut a row at the column starts; a cell whose text runs past its column pushes the cut on."""
    cuts = []
    for start in starts:
        position = start
        # Text from the previous cell overflows into this column: cut after it instead.
        while 0 < position < len(line) and line[position - 1] != " ":
            position += 1
        cuts.append(min(position, len(line)))
    cuts[0] = 0
    cells = [line[a:b].strip() for a, b in zip(cuts, cuts[1:] + [len(line)], strict=True)]
    return [cell.replace("|", "\\|") for cell in cells]
