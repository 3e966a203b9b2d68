"""The literate source pages are the files: every line of code is shown, in order, where it says.

`docs/hooks/literate.py` turns a module into prose (essay, docstrings, standalone comments) and
code blocks. Its promise is that the page *is* the file: nothing reordered, nothing left out but
the docstrings (shown as prose), and each code block titled with the line it starts at. These
tests hold it to that promise on every module of the package, so a new construct in a module
that the renderer mishandles fails here rather than quietly vanishing from the site.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from site_support import REPOSITORY, load_hook_module

literate = load_hook_module("literate")
rst_markup = load_hook_module("rst_markup")

MODULES = sorted(
    path
    for path in (REPOSITORY / "socketserver_lit").rglob("*.py")
    if "__pycache__" not in path.parts
)
CODE_BLOCK = re.compile(
    r'^(`{3,})python title="(?P<file>[^"]+), line (?P<line>\d+)"\n(?P<code>.*?)\n\1$',
    re.DOTALL | re.MULTILINE,
)


def render(path: Path) -> str:
    module = ".".join(path.relative_to(REPOSITORY).with_suffix("").parts).removesuffix(".__init__")
    return literate.render_module(
        path.read_text(encoding="utf-8"),
        module=module,
        display_path=path.relative_to(REPOSITORY).as_posix(),
    ).markdown


def docstring_lines(source: str) -> set[int]:
    """Line numbers (1-based) taken by the docstrings of the module, classes and functions."""
    taken: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    taken.update(range(body[0].lineno, body[0].end_lineno + 1))
    return taken


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(REPOSITORY).as_posix())
def test_each_code_block_starts_at_the_line_its_title_names(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = list(CODE_BLOCK.finditer(render(path)))
    assert blocks, "no code block rendered"
    for block in blocks:
        first_code_line = block["code"].splitlines()[0]
        assert lines[int(block["line"]) - 1].strip() == first_code_line.strip()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(REPOSITORY).as_posix())
def test_every_line_of_code_is_shown_once_and_in_file_order(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    skipped = docstring_lines(source)
    expected = [
        line.strip()
        for number, line in enumerate(source.splitlines(), start=1)
        if number not in skipped and line.strip() and not line.strip().startswith("#")
    ]
    shown = [
        line.strip()
        for block in CODE_BLOCK.finditer(render(path))
        for line in block["code"].splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert shown == expected


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(REPOSITORY).as_posix())
def test_every_class_and_function_at_module_or_class_level_gets_a_heading(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    module = ".".join(path.relative_to(REPOSITORY).with_suffix("").parts).removesuffix(".__init__")
    page = literate.render_module(source, module=module, display_path=path.name)
    tree = ast.parse(source)
    expected = set()

    def visit(statements, scope):
        for node in statements:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                expected.add(f"{scope}.{node.name}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{scope}.{node.name}")
            elif isinstance(node, ast.If):
                visit(node.body + node.orelse, scope)

    visit(tree.body, module)
    assert set(page.anchors) == expected
    for anchor in page.anchors.values():
        assert f'id="{anchor}"' in page.markdown


def test_a_sphinx_role_becomes_an_optional_cross_reference() -> None:
    converted = rst_markup.convert(
        "Use :class:`TCPServer` or :meth:`~socketserver_lit.servers.BaseServer.shutdown`.",
        lambda name: {"TCPServer": "socketserver_lit.servers.TCPServer"}.get(name),
    )
    assert '<autoref optional identifier="socketserver_lit.servers.TCPServer">' in converted
    assert "<code>TCPServer</code>" in converted
    assert 'identifier="socketserver_lit.servers.BaseServer.shutdown"><code>shutdown()</code>' in (
        converted
    )


def test_a_literal_block_becomes_a_fenced_block_in_the_right_language() -> None:
    converted = rst_markup.convert("Run it::\n\n    $ python -m echo\n\nThen more.", lambda _: None)
    assert converted.splitlines()[:4] == ["Run it:", "", "```console", "$ python -m echo"]
    assert "Then more." in converted


def test_a_definition_list_keeps_each_term_apart_from_its_definition() -> None:
    converted = rst_markup.convert(
        "Intro.\n\n``BaseServer``\n    The skeleton.\n``TCPServer``\n    Adds a socket.\n",
        lambda _: None,
    )
    assert "``BaseServer``\n:   The skeleton." in converted
    assert "``TCPServer``\n:   Adds a socket." in converted


def test_google_sections_are_left_for_mkdocstrings_to_parse() -> None:
    docstring = "Summary.\n\nArgs:\n    server_address: where.\n        More.\n\nReturns:\n    x"
    assert rst_markup.convert(docstring, lambda _: None) == docstring


def test_a_simple_table_becomes_a_markdown_table_even_when_a_cell_overflows() -> None:
    docstring = (
        "=====================  =========\n"
        "class                  server\n"
        "=====================  =========\n"
        "``ThreadingTCPServer``  ``TCPServer``\n"
        "``Short``              ``UDPServer``\n"
        "=====================  =========\n"
    )
    converted = rst_markup.convert(docstring, lambda _: None).splitlines()
    assert converted[:4] == [
        "| class | server |",
        "| --- | --- |",
        "| ``ThreadingTCPServer`` | ``TCPServer`` |",
        "| ``Short`` | ``UDPServer`` |",
    ]


DIVIDED_CLASS = '''"""Essay."""


class Server:
    """A server."""

    def __init__(self):
        pass

    # -- bind and activate ------------------------------------------------------

    def server_bind(self):
        """Bind."""

    # -- wait -------------------------------------------------------------------
    # The loop waits here.
    def serve_forever(self):
        """Serve."""
'''


def test_a_divider_comment_becomes_a_heading_and_the_methods_below_nest_under_it() -> None:
    markdown = literate.render_module(DIVIDED_CLASS, module="m", display_path="m.py").markdown
    headings = [line for line in markdown.splitlines() if re.match(r"#+ .*\{ id=", line)]
    assert headings == [
        '## class `Server` { id="src-m.Server" .literate-class }',
        '### `__init__()` { id="src-m.Server.--init--" .literate-method }',
        '### bind and activate { id="src-m.Server--bind-and-activate" .literate-divider }',
        '#### `server_bind()` { id="src-m.Server.server_bind" .literate-method }',
        '### wait { id="src-m.Server--wait" .literate-divider }',
        '#### `serve_forever()` { id="src-m.Server.serve_forever" .literate-method }',
    ]


def test_a_divider_touching_a_statement_leaves_the_rest_of_its_comment_with_the_code() -> None:
    markdown = literate.render_module(DIVIDED_CLASS, module="m", display_path="m.py").markdown
    code = "\n".join(block["code"] for block in CODE_BLOCK.finditer(markdown))
    assert "# The loop waits here.\ndef serve_forever(self):" in code
    assert "-- wait --" not in markdown.replace("### wait", "")


def test_each_section_pairs_prose_with_the_code_it_explains() -> None:
    markdown = literate.render_module(DIVIDED_CLASS, module="m", display_path="m.py").markdown
    sections = re.findall(r'<div class="literate-section literate-section--([a-z-]+)"', markdown)
    assert sections[0] == "essay"
    assert sections.count("divider") == 2
    # The class (its docstring beside `class Server:`), then each method: its heading and
    # docstring beside its code.
    assert sections.count("paired") == 4
    assert set(sections) <= {"essay", "divider", "paired", "prose-only", "code-only"}
