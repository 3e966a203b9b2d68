"""Exercises that start unanswered, and the student edition of the course.

Each course notebook ends with two or three exercises, and each exercise is three
cells. A *task* (Markdown) says what to do. An *answer cell* holds the learner's
work: a prediction bound to a name (``predicted_lost_with_one_worker = None``) or
a function whose body is still to be written. A *check cell* runs that work and
ends by printing one line such as ``Exercise 2: correct.``.

The course keeps one copy of every notebook, the teacher's, with the reference
answers in it. Two rules make that one copy serve both teachers and learners.

**The teacher's notebook speaks nbgrader.** nbgrader is the tool Jupyter
teachers already use to hand out and grade notebooks, and it marks exercises in
cell metadata, under the ``nbgrader`` key (schema version 3). An answer cell is a
*solution* cell (``"solution": true``) and its reference answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; a check cell is a *graded test*
cell (``"grade": true``, with ``points``, locked). Each cell also carries a
``grade_id`` (``<notebook stem>-ex<N>-answer`` and ``-check`` here) and the tag
``exercise``. A teacher who runs an nbgrader course drops our notebooks into its
``source`` folder unchanged, and ``nbgrader generate_assignment`` and
``nbgrader autograde`` take them from there: a graded cell earns its points when
it runs without an error. (``NBGRADER_CONFIG`` holds the lines of
``nbgrader_config.py`` that make nbgrader's student version match ours.)

**Every name a check reads exists before the answer does.** Outside the solution
region, the answer cell binds each name to an *unanswered* value: ``None`` (or
``...``) for a prediction; for code, the ``def`` line and a docstring stating the
task, the body being the region. Remove the region and what is left still runs.
The check cell then begins with ``require_answer``, which raises an
``AssertionError`` with a sentence ("Exercise 2 is not answered yet: set
predicted_lost_with_one_worker in the answer cell above.") while any of those
names still holds its unanswered value. So a learner who runs the whole notebook
before doing anything sees each check fail with a sentence telling them what to
do, never a ``NameError``, a traceback from deep inside a server, or a check
mark for work they have not done; and nbgrader scores that check 0.

How does ``require_answer`` know that a function is still empty without calling
it? It compares the function's compiled instructions with those of reference
stubs (an empty body, a docstring, ``...``, ``pass``, nbgrader's own
``raise NotImplementedError()``) compiled by the same interpreter when this
module is imported. Comments and docstrings leave no instructions behind, and
each Python version compiles the stubs its own way, so the comparison holds on
every version we support (3.10 to 3.13, ``tests/test_teaching.py``).
Calling the learner's function instead could block, open sockets, or raise for
reasons that have nothing to do with whether it was written.

**The student edition is generated, never kept by hand.**
``write_student_edition`` (the command ``python -m socketserver_lit.teaching
student-edition DEST``) writes a copy of the course in which nbgrader's own
``ClearSolutions`` has replaced each solution region with ``...  # YOUR ANSWER
HERE`` (indented like the ``### BEGIN SOLUTION`` line, so it lands inside a
function body where the region was), nbconvert's ``TagRemovePreprocessor`` has
cleared the outputs of the cells tagged ``exercise`` (every other output stays:
it is part of the lesson), and nbgrader's ``LockCells`` has made check cells
read-only, as ``nbgrader generate_assignment`` would. The teacher's notebooks
fold their answer cells (``"jupyter": {"source_hidden": true}``) so that a reader
of the course site tries before peeking; the student edition drops that flag
from exercise cells, since an empty answer cell must be in plain sight. Nothing
here rewrites notebook JSON by hand: the edition is what those preprocessors make
of the teacher's notebooks, run through an nbconvert ``NotebookExporter``. They
come with the ``teach`` extra (``pip install 'socketserver-lit[teach]'``), imported
only when an edition is written, so the package keeps its promise of no runtime
dependency outside the standard library.

``tests/test_student_edition.py`` writes the edition of the real course, runs
every notebook in it top to bottom, and checks that each graded cell fails only
with the "not answered yet" sentence while every other cell runs cleanly.

Read next: the exercises at the end of any course notebook (``notebooks/course``),
then ``convention_problems`` in ``tests/test_teaching.py``, the course's exercise
conventions written as a check.
"""

from __future__ import annotations

import argparse
import dis
import importlib
import inspect
import logging
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

__all__ = [
    "COURSE",
    "NBGRADER_CONFIG",
    "UNANSWERED_CODE_STUB",
    "require_answer",
    "write_student_edition",
    "build_parser",
    "run",
    "main",
]

PROGRAM = "python -m socketserver_lit.teaching"
SUMMARY = "write the student edition of the course: solutions cleared, exercise outputs removed"

# The course notebooks, in a source checkout or an editable install. A wheel does not
# ship them (the sdist does): pass the folder explicitly then.
COURSE = Path(__file__).resolve().parent.parent / "notebooks" / "course"

# What ClearSolutions puts where a solution region was. A bare `...` is a statement
# that does nothing, so a prediction keeps the None bound above it and a function
# body becomes empty, which `require_answer` recognises (nbgrader's default stub,
# `raise NotImplementedError()`, would be recognised too, but reads as an error).
UNANSWERED_CODE_STUB = "...  # YOUR ANSWER HERE"

# The tag the course puts on every exercise cell (answer and check): their outputs
# belong to the teacher's run and are cleared in the student edition.
EXERCISE_TAG = "exercise"

INSTALL_HINT = "pip install 'socketserver-lit[teach]' (or: pip install nbgrader)"

# The cell metadata that goes with an exercise cell's outputs: Jupyter's own view flags,
# the teacher's run timestamps, and `jupyter.source_hidden`, which folds answer cells.
EXERCISE_METADATA_REMOVED = ("collapsed", "scrolled", "jupyter", "execution")

# For a teacher who runs an nbgrader course: these lines in its nbgrader_config.py make
# `nbgrader generate_assignment` write the answer cells exactly as the student edition
# does (same stub, unfolded). Without them nbgrader's default stub is
# `raise NotImplementedError()`, which in a prediction cell or a class body raises as
# soon as the answer cell runs. (nbgrader also clears every output, not only the
# exercises'.) tests/test_teaching.py grades a sample course with these lines.
NBGRADER_CONFIG = (
    f'c.ClearSolutions.code_stub = {{"python": "{UNANSWERED_CODE_STUB}"}}\n'
    'c.GenerateAssignment.preprocessors.append("nbconvert.preprocessors.TagRemovePreprocessor")\n'
    "c.TagRemovePreprocessor.enabled = True\n"
    f'c.TagRemovePreprocessor.remove_all_outputs_tags = {{"{EXERCISE_TAG}"}}\n'
    "c.TagRemovePreprocessor.remove_metadata_fields = {"
    + ", ".join(f'"{field}"' for field in EXERCISE_METADATA_REMOVED)
    + "}\n"
)

logger = logging.getLogger(__name__)


# -- Has the learner answered? ------------------------------------------------------------


def require_answer(exercise: str, /, **answers: object) -> None:
    """Raise ``AssertionError`` if any answer still holds its unanswered value.

    Call it first in an exercise's check cell, naming every value the check reads::

        require_answer("Exercise 2", predicted_lost_with_one_worker=predicted_lost_with_one_worker)
        require_answer("Exercise 3", increment=FileCounterServer.increment)

    An answer is *unanswered* when it is:

    * ``None`` or ``...`` (``Ellipsis``), the values answer cells start with;
    * a function, method (bound or not), ``staticmethod``, ``classmethod``, property
      getter or lambda whose body does nothing: only a docstring, comments, ``...``,
      ``pass``, ``return``/``return None``/``return ...``, or ``raise
      NotImplementedError`` (with or without parentheses or a message: nbgrader's
      default stub). ``async def`` functions count the same way;
    * a class whose body defines nothing (only a docstring or ``...``). A class with
      anything in it counts as answered, even a method left empty: for an exercise
      that asks for a method, pass the method (``increment=Server.increment``).

    Anything else is answered, including ``0``, ``False``, ``""`` and ``[]``: a
    prediction of zero is a prediction. The learner's function is never called: its
    compiled instructions are compared with those of reference stubs compiled by the
    same interpreter (see the module docstring).

    An exercise whose right answer *is* an empty body (a hook silenced with ``pass``)
    cannot be told apart from an unanswered one: ask for a value instead.

    Raises ``AssertionError`` (what nbgrader expects from a failing graded cell) with
    one sentence that names the exercise and every unanswered name, e.g. "Exercise 2
    is not answered yet: set predicted_lost_with_one_worker in the answer cell
    above." Functions and classes are named by their qualified name: "Exercise 3 is
    not answered yet: set first and second, and write the body of
    FileCounterServer.increment() in the answer cell above." Raises ``TypeError`` if
    ``exercise`` is not a non-empty string or no answer is given: those are mistakes
    in the check cell.
    """
    if not isinstance(exercise, str) or not exercise.strip():
        raise TypeError(
            f"require_answer needs the exercise's name first, such as 'Exercise 1', "
            f"not {exercise!r}."
        )
    if not answers:
        raise TypeError(
            f"require_answer({exercise!r}) was given no answer to check: pass each value "
            f"the check reads by name, e.g. require_answer({exercise!r}, guess=guess)."
        )
    to_set = [name for name, value in answers.items() if value is None or value is Ellipsis]
    to_write = [body for name, value in answers.items() if (body := _empty_body(name, value))]
    if to_set or to_write:
        steps = [f"set {_join(to_set)}"] if to_set else []
        steps += [f"write the body of {_join(to_write)}"] if to_write else []
        raise AssertionError(
            f"{exercise} is not answered yet: {', and '.join(steps)} in the answer cell above."
        )


def _empty_body(name: str, value: object) -> str | None:
    """``f()`` or ``class C`` if ``value`` is a function or class still empty, else None."""
    function = _function_behind(value)
    if function is not None:
        return f"{_label(function, name)}()" if _body_is_empty(function.__code__) else None
    if inspect.isclass(value) and _class_is_empty(value):
        return f"class {_label(value, name)}"
    return None


def _function_behind(value: object) -> FunctionType | None:
    """The plain function whose body decides, for functions and their wrappers."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    if inspect.ismethod(value):
        value = value.__func__
    return value if isinstance(value, FunctionType) else None


def _label(definition: FunctionType | type, keyword: str) -> str:
    """``Server.increment`` for a method; the keyword for a lambda or a nested function."""
    qualified_name = definition.__qualname__
    return keyword if "<" in qualified_name else qualified_name


def _join(steps: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return steps[0] if len(steps) == 1 else ", ".join(steps[:-1]) + " and " + steps[-1]


# The reference stubs. Each is a body a learner has not written yet; the interpreter
# that imports this module compiles them, so their instructions are exactly what it
# makes of an unanswered cell, however its version compiles one. A docstring compiles
# to a constant that no instruction uses, and `...` and `pass` compile to nothing, so
# the first stub covers every mix of them.

_ANY_MESSAGE = "any message"  # a stub's text that stands for whatever message was given


def _stub_empty() -> None:
    """Only a docstring: `...`, `pass` and comments leave the same instructions."""


def _stub_returns_ellipsis() -> object:
    return ...  # what `lambda: ...` compiles to


def _stub_not_implemented() -> None:
    raise NotImplementedError()


def _stub_not_implemented_class() -> None:
    raise NotImplementedError


def _stub_not_implemented_message() -> None:
    raise NotImplementedError("any message")


async def _stub_empty_coroutine() -> None:
    """Only a docstring, in an async def."""


async def _stub_not_implemented_coroutine() -> None:
    raise NotImplementedError()


# Instructions that set a function up rather than do its work: the start of every code
# object on 3.11+ (RESUME), line-number placeholders (NOP), inline caches, and the cell
# set-up of closures, whose captured variables would show up in the body anyway.
_SET_UP = frozenset({"RESUME", "NOP", "CACHE", "EXTENDED_ARG", "COPY_FREE_VARS", "MAKE_CELL"})


def _instructions(code: CodeType) -> tuple[tuple[str, Any], ...]:
    """The operations of a code object with their arguments, set-up left out."""
    return tuple(
        (instruction.opname, instruction.argval)
        for instruction in dis.get_instructions(code)
        if instruction.opname not in _SET_UP
    )


_EMPTY_BODIES = tuple(
    _instructions(stub.__code__)
    for stub in (
        _stub_empty,
        _stub_returns_ellipsis,
        _stub_not_implemented,
        _stub_not_implemented_class,
        _stub_not_implemented_message,
        _stub_empty_coroutine,
        _stub_not_implemented_coroutine,
    )
)


def _body_is_empty(code: CodeType) -> bool:
    """True if the code does what an unanswered stub does, and nothing else."""
    body = _instructions(code)
    return any(_same_instructions(body, stub) for stub in _EMPTY_BODIES)


def _same_instructions(
    body: tuple[tuple[str, Any], ...], stub: tuple[tuple[str, Any], ...]
) -> bool:
    if len(body) != len(stub):
        return False
    for (operation, argument), (stub_operation, stub_argument) in zip(body, stub, strict=True):
        if operation != stub_operation:
            return False
        if stub_argument == _ANY_MESSAGE and isinstance(argument, str):
            continue  # raise NotImplementedError("whatever the stub said")
        if type(argument) is not type(stub_argument) or argument != stub_argument:
            return False  # 1 == True in Python: a different type is a different argument
    return True


class _EmptyClass:
    """A class body with nothing but this docstring."""


# The names Python itself puts in a class's namespace (3.13 adds __firstlineno__ and
# __static_attributes__); typing.Generic adds the last two to its subclasses.
_IMPLICIT_CLASS_NAMES = frozenset(vars(_EmptyClass)) | {"__orig_bases__", "__parameters__"}


def _class_is_empty(cls: type) -> bool:
    return set(vars(cls)) <= _IMPLICIT_CLASS_NAMES


# -- The student edition ------------------------------------------------------------------


@dataclass(frozen=True)
class _Tools:
    """The classes the edition needs, from nbgrader and nbconvert (the `teach` extra)."""

    read_notebook: Callable[..., Any]
    Exporter: type
    TagRemovePreprocessor: type
    ClearSolutions: type
    LockCells: type
    MetadataValidator: type
    invalid_metadata: tuple[type[BaseException], ...]


def _import_tools() -> _Tools:
    """Import nbgrader and nbconvert now, or say how to install them."""
    try:
        nbformat = importlib.import_module("nbformat")
        exporters = importlib.import_module("nbconvert.exporters")
        preprocessors = importlib.import_module("nbconvert.preprocessors")
        nbgrader_preprocessors = importlib.import_module("nbgrader.preprocessors")
        nbgrader_format = importlib.import_module("nbgrader.nbgraderformat")
        nbgrader_format_common = importlib.import_module("nbgrader.nbgraderformat.common")
    except ImportError as error:
        missing = (error.name or "one of them").partition(".")[0]
        raise ImportError(
            f"Writing the student edition needs nbgrader and nbconvert, and {missing} "
            f"cannot be imported: {INSTALL_HINT}."
        ) from error
    return _Tools(
        read_notebook=nbformat.read,
        Exporter=exporters.NotebookExporter,
        TagRemovePreprocessor=preprocessors.TagRemovePreprocessor,
        ClearSolutions=nbgrader_preprocessors.ClearSolutions,
        LockCells=nbgrader_preprocessors.LockCells,
        MetadataValidator=nbgrader_format.MetadataValidator,
        invalid_metadata=(
            nbgrader_format.ValidationError,
            nbgrader_format_common.SchemaMismatchError,
        ),
    )


def _exporter(tools: _Tools) -> Any:
    """A NotebookExporter that turns a teacher's notebook into the student's."""
    exporter = tools.Exporter()
    # nbgrader's own student version: answer cells cannot be deleted, checks cannot be
    # edited or deleted (what `nbgrader generate_assignment` does with LockCells).
    exporter.register_preprocessor(tools.LockCells(log=logger), enabled=True)
    exporter.register_preprocessor(
        tools.ClearSolutions(code_stub={"python": UNANSWERED_CODE_STUB}, log=logger),
        enabled=True,
    )
    # Exercise cells lose their outputs (the teacher's run would give the answers away)
    # and, with them, the `jupyter` metadata that folds answer cells on the site.
    exporter.register_preprocessor(
        tools.TagRemovePreprocessor(
            remove_all_outputs_tags={EXERCISE_TAG},
            remove_metadata_fields=set(EXERCISE_METADATA_REMOVED),
        ),
        enabled=True,
    )
    return exporter


def _course_files(folder: Path) -> Iterator[Path]:
    """Every file of the course, relative to it; hidden folders and caches left out."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue  # .ipynb_checkpoints, .DS_Store, byte code
        if path.is_file():
            yield relative


def _check_folders(source: Path, destination: Path, overwrite: bool) -> None:
    """Refuse, with a sentence, anything that would lose work or change the course."""
    if not source.is_dir():
        raise FileNotFoundError(
            f"There is no course folder at {source}: pass the folder that holds the "
            f"course notebooks (notebooks/course in the repository)."
        )
    if destination.exists() and not destination.is_dir():
        raise NotADirectoryError(
            f"{destination} is a file: give the student edition a folder of its own."
        )
    resolved_source, resolved_destination = source.resolve(), destination.resolve()
    if resolved_destination == resolved_source or resolved_source in resolved_destination.parents:
        raise ValueError(
            f"{destination} is inside the course folder {source}: write the student "
            f"edition somewhere else, so that the teacher's notebooks stay as they are."
        )
    if destination.is_dir() and any(destination.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{destination} is not empty: choose an empty or new folder, or pass "
            f"overwrite=True (--overwrite) to replace the files of an earlier edition there."
        )


def write_student_edition(
    source: Path, destination: Path, *, overwrite: bool = False
) -> list[Path]:
    """Write the student edition of every notebook under ``source`` into ``destination``.

    Each notebook (``**/*.ipynb``, checkpoints left out) goes to the same relative
    path under ``destination`` after three preprocessors, through an nbconvert
    ``NotebookExporter``: nbgrader's ``LockCells`` and ``ClearSolutions`` (code stub
    ``UNANSWERED_CODE_STUB``, indented like each ``### BEGIN SOLUTION`` line), then
    nbconvert's ``TagRemovePreprocessor`` clearing outputs, execution counts and the
    ``jupyter`` folding metadata of the cells tagged ``exercise``. Every other file in
    ``source`` (data a notebook reads, pictures) is copied as it is. The notebooks in
    ``source`` are only read.

    Every notebook is converted before anything is written, so a bad notebook leaves
    ``destination`` untouched. Returns the paths written, under ``destination``,
    sorted.

    Raises ``FileNotFoundError`` if ``source`` is not a folder or holds no notebook;
    ``NotADirectoryError`` if ``destination`` is a file; ``ValueError`` if
    ``destination`` is ``source`` or inside it, or a notebook's nbgrader metadata or
    solution regions are malformed (the message names the notebook);
    ``FileExistsError`` if ``destination`` holds anything and ``overwrite`` is false
    (with ``overwrite``, files of the same name are replaced and other files are left
    alone); ``ImportError`` naming ``pip install 'socketserver-lit[teach]'`` if
    nbgrader or nbconvert is missing.
    """
    source, destination = Path(source), Path(destination)
    _check_folders(source, destination, overwrite)
    files = list(_course_files(source))
    notebooks = [path for path in files if path.suffix == ".ipynb"]
    if not notebooks:
        raise FileNotFoundError(
            f"{source} holds no notebook (*.ipynb): pass the folder that holds the course "
            f"notebooks (notebooks/course in the repository)."
        )
    tools = _import_tools()
    exporter = _exporter(tools)
    converted = {path: _student_version(source / path, tools, exporter) for path in notebooks}

    written = []
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative in converted:
            target.write_text(converted[relative], encoding="utf-8")
        else:
            shutil.copyfile(source / relative, target)
        written.append(target)
    return written


def _student_version(notebook: Path, tools: _Tools, exporter: Any) -> str:
    """The student edition of one notebook, as the text of an .ipynb file."""
    with notebook.open(encoding="utf-8") as file:
        teacher_notebook = tools.read_notebook(file, as_version=4)
    try:
        tools.MetadataValidator().validate_nb(teacher_notebook)
        body, _ = exporter.from_notebook_node(teacher_notebook)
    except tools.invalid_metadata as error:
        raise ValueError(
            f"{notebook}: its nbgrader metadata is not valid ({_first_line(error)}); "
            f"fix the exercise cells as the course conventions describe."
        ) from error
    except RuntimeError as error:  # what ClearSolutions raises for a bad solution region
        raise ValueError(
            f"{notebook}: {_first_line(error)} Every ### BEGIN SOLUTION needs an "
            f"### END SOLUTION, in a cell marked as a solution cell."
        ) from error
    return str(body)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


# -- The command line ---------------------------------------------------------------------


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The ``student-edition`` command's options: ``DEST``, ``--course``, ``--overwrite``."""
    from socketserver_lit.examples._program import HelpFormatter  # the command's help layout

    parser = argparse.ArgumentParser(
        prog=prog or f"{PROGRAM} student-edition",
        description=SUMMARY + ". Needs nbgrader: " + INSTALL_HINT + ".",
        add_help=add_help,
        formatter_class=HelpFormatter,  # never breaks 'socketserver-lit[teach]' at its hyphen
    )
    parser.add_argument(
        "destination",
        metavar="DEST",
        type=Path,
        help="folder to write the student edition into (new or empty)",
    )
    parser.add_argument(
        "--course",
        metavar="DIR",
        type=Path,
        default=COURSE,
        help="folder of the teacher's notebooks (default: the repository's notebooks/course)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a folder that is not empty, replacing files of the same name",
    )
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Write the edition ``args`` asks for; print what was written; return the exit status."""
    program = prog or f"{PROGRAM} student-edition"
    try:
        written = write_student_edition(args.course, args.destination, overwrite=args.overwrite)
    except (OSError, ValueError, ImportError) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    notebooks = [path for path in written if path.suffix == ".ipynb"]
    print(
        f"Wrote the student edition of {len(notebooks)} notebook"
        f"{'' if len(notebooks) == 1 else 's'} to {args.destination} "
        f"(solutions cleared, outputs of exercise cells removed):"
    )
    for path in written:
        print(f"  {path.relative_to(args.destination)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m socketserver_lit.teaching student-edition DEST [--course DIR] [--overwrite]``."""
    parser = argparse.ArgumentParser(prog=PROGRAM, description="Tools for teachers of the course.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "student-edition",
        parents=[build_parser(add_help=False)],
        help=SUMMARY,
        description=build_parser().description,
    )
    args = parser.parse_args(argv)
    return run(args, prog=f"{PROGRAM} {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())
