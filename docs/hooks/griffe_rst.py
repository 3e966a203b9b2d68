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
    """Translate every docstring of a loaded package from reST habits to Markdown."""

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
