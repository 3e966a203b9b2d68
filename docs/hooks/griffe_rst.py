"""Griffe extension: let mkdocstrings read the package's reST-flavoured docstrings as Markdown.

mkdocstrings renders docstrings as Markdown, and would show ``:class:`TCPServer``` literally
and run a ``Term`` / indented-definition list together into one line. Once the whole package is
loaded (so every name can be resolved), this rewrites each docstring with the same translation
the literate pages use (`rst_markup.convert`, beside this file), resolving each role's name
in the scope of the object whose docstring it is. Configured in mkdocs.yml under the python
handler's `extensions`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import griffe

_spec = importlib.util.spec_from_file_location(
    "socketserver_lit_docs_rst_markup", Path(__file__).with_name("rst_markup.py")
)
rst_markup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rst_markup)


class ReSTDocstrings(griffe.Extension):
    """Translate every docstring of a loaded package from reST habits to Markdown.

    Also give each attribute the documentation its author wrote for it as ``#:`` comments
    right above the assignment (the Sphinx convention the package follows), which griffe does
    not read by itself: without this, ``request_queue_size`` and friends would have no text.
    """

    def __init__(self) -> None:
        super().__init__()
        self._source_lines: dict[str, list[str]] = {}

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs) -> None:
        if attr.docstring is not None or attr.lineno is None or attr.filepath is None:
            return
        lines = self._lines(str(attr.filepath))
        comment: list[str] = []
        number = attr.lineno - 1  # the line above the assignment, 1-based
        while number >= 1 and lines[number - 1].strip().startswith("#:"):
            comment.insert(0, lines[number - 1].strip()[2:].strip())
            number -= 1
        if comment:
            attr.docstring = griffe.Docstring(
                "\n".join(comment), lineno=number + 1, endlineno=attr.lineno - 1, parent=attr
            )

    def _lines(self, path: str) -> list[str]:
        if path not in self._source_lines:
            with open(path, encoding="utf-8") as source:
                self._source_lines[path] = source.read().splitlines()
        return self._source_lines[path]

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                resolve = rst_markup.resolve_with(obj.resolve)
                obj.docstring.value = rst_markup.convert(obj.docstring.value, resolve)


def _objects(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)
