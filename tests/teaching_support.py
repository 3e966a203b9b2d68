"""Helpers for the teaching tests: sample notebooks, running them, the course's conventions.

Shared by ``test_teaching.py``, ``test_teaching_edition.py`` and ``test_student_edition.py``.
Importing this module needs only the standard library and pytest; the functions that
run notebooks import nbformat and nbclient when called.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from socketserver_lit.teaching import require_answer

ROOT = Path(__file__).resolve().parent.parent

NOT_ANSWERED = "not answered yet"

CHECK_IMPORT = "from socketserver_lit.teaching import require_answer"

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def define(source: str, name: str) -> Any:
    """Run ``source`` as a notebook cell would and return what it binds to ``name``."""
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), "<answer cell>", "exec"), namespace)
    return namespace[name]


def message_of(exercise: str, **answers: object) -> str:
    with pytest.raises(AssertionError) as failure:
        require_answer(exercise, **answers)
    return str(failure.value)


UNANSWERED_BODIES = {
    "docstring only": '"""Return the answer."""',
    "ellipsis": "...",
    "pass": "pass",
    "student edition stub": '"""Return the answer."""\n...  # YOUR ANSWER HERE',
    "nbgrader default stub": "# YOUR CODE HERE\nraise NotImplementedError()",
    "docstring and nbgrader stub": '"""Doc."""\n# YOUR CODE HERE\nraise NotImplementedError()',
    "raise NotImplementedError class": "raise NotImplementedError",
    "raise NotImplementedError with message": 'raise NotImplementedError("write this")',
    "bare return": "return",
    "return None": "return None",
    "return ellipsis": "return ...",
    "pass then ellipsis": "pass\n...\n# more to come",
}

ANSWERED_BODIES = {
    "return zero": "return 0",
    "return False": "return False",
    "return the argument": "return count",
    "return an empty string": 'return ""',
    "a side effect": "print(count)",
    "an assignment": "total = count",
    "raise another error": "raise ValueError(count)",
    "stub then real code": '"""Doc."""\ncount += 1\nreturn count',
    "a generator": "yield count",
    "raise NotImplementedError from an answer": "raise NotImplementedError(count)",
}


def function_with_body(body: str, keyword: str = "def") -> Any:
    source = f"{keyword} solve(count):\n" + textwrap.indent(body, "    ") + "\n"
    return define(source, "solve")


SERVER = define(
    '''
    class FileCounterServer:
        def increment(self):
            """Add one to the counter file."""
            ...  # YOUR ANSWER HERE

        def finish(self):
            return 1

        @staticmethod
        def parse(text):
            raise NotImplementedError()

        @classmethod
        def build(cls):
            """Doc."""

        @property
        def count(self):
            pass

        def uses_super(self):
            return super().__init__()
    ''',
    "FileCounterServer",
)


def notebook_json(cells: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "cells": cells,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def markdown(cell_id: str, text: str, grader: dict[str, Any] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"nbgrader": grader} if grader else {}
    return {"cell_type": "markdown", "id": cell_id, "metadata": metadata, "source": text}


def code(
    cell_id: str,
    source: str,
    grader: dict[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    hidden: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if hidden:
        metadata["jupyter"] = {"source_hidden": True}
    if grader:
        metadata["nbgrader"] = grader
    if tags:
        metadata["tags"] = list(tags)
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": metadata,
        "outputs": [],
        "source": textwrap.dedent(source).strip("\n"),
    }


def exercise_cells(stem: str, number: int, task: str, answer: str, check: str) -> list[dict]:
    """A task, an answer and a check cell, marked as the course conventions say."""
    prefix = f"{stem}-ex{number}"
    return [
        markdown(
            f"ex{number}-task",
            task,
            {
                "solution": False,
                "grade": False,
                "locked": True,
                "task": False,
                "grade_id": f"{prefix}-task",
                "schema_version": 3,
            },
        ),
        code(
            f"ex{number}-answer",
            answer,
            {
                "solution": True,
                "grade": False,
                "locked": False,
                "grade_id": f"{prefix}-answer",
                "schema_version": 3,
            },
            tags=("exercise", "solution"),
            hidden=True,
        ),
        code(
            f"ex{number}-check",
            check,
            {
                "solution": False,
                "grade": True,
                "locked": True,
                "points": number,
                "grade_id": f"{prefix}-check",
                "schema_version": 3,
            },
            tags=("exercise",),
        ),
    ]


SAMPLE_STEM = "99-sample"

PREDICTION_ANSWER = """
predicted_total = None  # your prediction: a whole number
### BEGIN SOLUTION
predicted_total = 6
### END SOLUTION
"""

FUNCTION_ANSWER = '''
def read_words(path):
    """Return the words of the text file at `path`, in order."""
    ### BEGIN SOLUTION
    with open(path, encoding="utf-8") as file:
        return file.read().split()
    ### END SOLUTION
'''

METHOD_ANSWER = '''
class Counter:
    """Counts the calls of increment."""

    def __init__(self):
        self.count = 0

    def increment(self):
        """Add one to `count` and return the new count."""
        ### BEGIN SOLUTION
        self.count += 1
        return self.count
        ### END SOLUTION
'''


def sample_cells(stem: str = SAMPLE_STEM) -> list[dict[str, Any]]:
    """A lesson with three exercises: a prediction, a function body, a method body."""
    return [
        markdown("intro", "# A sample lesson\n\nThree numbers:"),
        code("numbers", 'numbers = [1, 2, 3]\nprint("numbers:", numbers)'),
        *exercise_cells(
            stem,
            1,
            "### Exercise 1\n\nPredict their total before the next cell adds them up.",
            PREDICTION_ANSWER,
            f"""
            {CHECK_IMPORT}

            require_answer("Exercise 1", predicted_total=predicted_total)
            assert predicted_total == sum(numbers), "add the three numbers up"
            print("Exercise 1: correct.")
            """,
        ),
        code("measure", 'print("total:", sum(numbers))'),
        *exercise_cells(
            stem,
            2,
            "### Exercise 2\n\nWrite `read_words`.",
            FUNCTION_ANSWER,
            f"""
            {CHECK_IMPORT}

            require_answer("Exercise 2", read_words=read_words)
            assert read_words("data/words.txt") == ["ready", "steady", "go"]
            print("Exercise 2: correct.")
            """,
        ),
        *exercise_cells(
            stem,
            3,
            "### Exercise 3\n\nWrite `Counter.increment`.",
            METHOD_ANSWER,
            f"""
            {CHECK_IMPORT}

            require_answer("Exercise 3", increment=Counter.increment)
            counter = Counter()
            assert [counter.increment() for _ in range(3)] == [1, 2, 3]
            print("Exercise 3: correct.")
            """,
        ),
        markdown("end", "The words file, which the student edition must ship too:"),
        code(
            "words",
            'with open("data/words.txt", encoding="utf-8") as file:\n    print(file.read())',
        ),
    ]


def write_course(folder: Path, cells: list[dict[str, Any]], stem: str = SAMPLE_STEM) -> Path:
    """A course folder: one notebook and the data file it reads."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "words.txt").write_text("ready steady go\n", encoding="utf-8")
    notebook = folder / f"{stem}.ipynb"
    notebook.write_text(notebook_json(cells), encoding="utf-8")
    return notebook


def digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


needs_teach_extra = pytest.mark.skipif(
    not installed("nbgrader", "nbconvert"),
    reason="the student edition needs the teach extra: pip install -e '.[teach]'",
)

needs_kernel = pytest.mark.skipif(
    not installed("nbgrader", "nbclient", "ipykernel"),
    reason="running notebooks needs the teach and notebooks extras: "
    "pip install -e '.[teach,notebooks]'",
)


def cell(notebook: dict[str, Any], cell_id: str) -> dict[str, Any]:
    [found] = [each for each in notebook["cells"] if each["id"] == cell_id]
    return found


def nbgrader(course: Path, *arguments: str) -> None:
    """Run an nbgrader command in a course folder, as a teacher would."""
    tools = str(Path(sys.executable).parent)  # nbgrader runs alembic to set up its database
    environment = {**os.environ, "PATH": tools + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *arguments],
        cwd=course,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr[-3000:]


def load(path: Path) -> dict[str, Any]:
    """A notebook as plain JSON, every cell's source and stream text joined into one string."""
    return joined(json.loads(path.read_text(encoding="utf-8")))


def joined(notebook: dict[str, Any]) -> dict[str, Any]:
    for notebook_cell in notebook["cells"]:
        notebook_cell["source"] = source(notebook_cell)
        for output in notebook_cell.get("outputs", []):
            if isinstance(output.get("text"), list):
                output["text"] = "".join(output["text"])
    return notebook


def source(notebook_cell: dict[str, Any]) -> str:
    text = notebook_cell["source"]
    return text if isinstance(text, str) else "".join(text)


def is_graded_check(notebook_cell: dict[str, Any]) -> bool:
    grader = notebook_cell.get("metadata", {}).get("nbgrader", {})
    return bool(grader.get("grade")) and "exercise" in notebook_cell["metadata"].get("tags", [])


def run_notebook(path: Path, cell_timeout: int = 60) -> dict[str, Any]:
    """Run a notebook top to bottom in a kernel of this Python, as nbval's --nbval-current-env.

    Errors do not stop the run (every cell runs, like "Run All" in Jupyter); each cell's
    outputs say how it went. The kernel's working folder is the notebook's, and a leaked
    socket prints its ResourceWarning to the cell's stderr.
    """
    import ipykernel.kernelspec
    import nbformat
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    class ThisPython(KernelSpecManager):  # type: ignore[misc]
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                resource_dir=ipykernel.kernelspec.RESOURCES,
                **ipykernel.kernelspec.get_kernel_dict(),
            )

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        km=AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisPython()),
        timeout=cell_timeout,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    environment = {**os.environ, "PYTHONWARNINGS": "default::ResourceWarning"}
    # The kernel process's own stderr (start-up notices) is not a cell's: drop it, as nbval does.
    client.execute(cleanup_kc=True, env=environment, stderr=subprocess.DEVNULL)
    return joined(json.loads(json.dumps(notebook)))


def describe(notebook_cell: dict[str, Any], index: int) -> str:
    first_line = source(notebook_cell).strip().partition("\n")[0]
    return f"cell {index} ({first_line[:60]})"


def run_problems(run: dict[str, Any], teacher: dict[str, Any], student: bool = True) -> list[str]:
    """Every way a run breaks the course's promise; an empty list if it keeps it.

    In a student run, each graded check fails with exactly one error, an
    ``AssertionError`` saying "not answered yet". Every other cell (and every cell of a
    teacher's run) raises nothing. No cell writes to stderr unless the same cell of the
    teacher's notebook did (a lesson may show a traceback a server prints on purpose).
    """
    problems = []
    assert len(run["cells"]) == len(teacher["cells"]), "the edition must keep every cell"
    for index, (ran, taught) in enumerate(zip(run["cells"], teacher["cells"], strict=True)):
        if ran["cell_type"] != "code":
            continue
        where = describe(ran, index)
        errors = [each for each in ran["outputs"] if each["output_type"] == "error"]
        found = "; ".join(f"{each['ename']}: {each['evalue']}" for each in errors) or "no error"
        if student and is_graded_check(ran):
            if not (
                len(errors) == 1
                and errors[0]["ename"] == "AssertionError"
                and NOT_ANSWERED in errors[0]["evalue"]
            ):
                problems.append(
                    f"{where}: a graded check must fail only with an AssertionError saying "
                    f"{NOT_ANSWERED!r}, and it gave {found}"
                )
        elif errors:
            problems.append(f"{where} raised {found}")
        if wrote_to_stderr(ran) and not wrote_to_stderr(taught):
            text = "".join(each["text"] for each in ran["outputs"] if each.get("name") == "stderr")
            problems.append(f"{where} wrote to stderr: {text.strip()[:300]}")
    return problems


def wrote_to_stderr(notebook_cell: dict[str, Any]) -> bool:
    return any(each.get("name") == "stderr" for each in notebook_cell.get("outputs", []))


def solution_regions(text: str) -> list[str]:
    """The lines between each ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    return re.findall(r"### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", text, re.S | re.M)


def solution_leaks(teacher: dict[str, Any], student: dict[str, Any]) -> list[str]:
    """Solution markers or reference-answer lines found in the student edition."""
    leaks = []
    for index, (taught, given) in enumerate(zip(teacher["cells"], student["cells"], strict=True)):
        given_text = source(given)
        for marker in SOLUTION_MARKERS:
            if marker in given_text:
                leaks.append(f"{describe(given, index)} still has {marker!r}")
        taught_text = source(taught)
        outside = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", taught_text, flags=re.S)
        kept = {line.strip() for line in outside.splitlines()}
        for region in solution_regions(taught_text):
            for line in region.splitlines():
                if line.strip() and line.strip() not in kept and line in given_text:
                    leaks.append(f"{describe(given, index)} shows the solution line {line!r}")
    return leaks


GRADE_ID = re.compile(r"(?P<stem>.+)-ex(?P<number>[1-9]\d*)-(?P<role>answer|check|task)")

EXPECTED_MARKS: dict[str, dict[str, object]] = {
    "answer": {"solution": True, "grade": False, "locked": False, "schema_version": 3},
    "check": {"solution": False, "grade": True, "locked": True, "schema_version": 3},
    "task": {"solution": False, "grade": False, "locked": True, "schema_version": 3},
}

EXPECTED_CELL_TYPE = {"answer": "code", "check": "code", "task": "markdown"}

EXPECTED_TAGS = {"answer": {"exercise", "solution"}, "check": {"exercise"}, "task": set()}


def convention_problems(path: Path) -> list[str]:
    """Where a course notebook's exercises depart from /work/notes/COURSE_CONVENTIONS.md.

    Each exercise N has an answer cell and then a check cell (a task cell before them is
    optional), with nbgrader marks of schema 3, grade ids ``<stem>-ex<N>-answer`` /
    ``-check`` / ``-task`` (unique), 1-3 points on the check, the tags ``exercise`` (and
    ``solution`` on the answer, folded with ``jupyter.source_hidden``), one solution
    region in each answer cell and none elsewhere, and a check that starts with
    ``require_answer("Exercise N", ...)``. A notebook has 2 or 3 exercises, numbered from 1.
    """
    notebook = load(path)
    problems: list[str] = []
    found: dict[int, dict[str, int]] = {}
    for index, notebook_cell in enumerate(notebook["cells"]):
        problems += [
            f"{describe(notebook_cell, index)}: {problem}"
            for problem in cell_convention_problems(notebook_cell, path.stem, index, found)
        ]
    numbers = sorted(found)
    if not 2 <= len(numbers) <= 3:
        problems.append(f"has {len(numbers)} exercises in nbgrader form; the course wants 2 or 3")
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"exercises are numbered {numbers}; number them 1, 2, 3 in order")
    for number in numbers:
        roles = found[number]
        for role in ("answer", "check"):
            if role not in roles:
                problems.append(f"exercise {number} has no {role} cell")
        order = [roles[role] for role in ("task", "answer", "check") if role in roles]
        if order != sorted(order):
            problems.append(f"exercise {number}'s cells are out of order (task, answer, check)")
    return problems


def cell_convention_problems(
    notebook_cell: dict[str, Any], stem: str, index: int, found: dict[int, dict[str, int]]
) -> list[str]:
    metadata = notebook_cell.get("metadata", {})
    tags = set(metadata.get("tags", []))
    grader = metadata.get("nbgrader")
    text = source(notebook_cell)
    markers = [marker for marker in SOLUTION_MARKERS if marker in text]
    if grader is None:
        problems = []
        if tags & {"exercise", "solution"}:
            problems.append(
                f"tagged {sorted(tags & {'exercise', 'solution'})} but has no nbgrader marks"
            )
        if markers:
            problems.append("has a solution region but is not an answer cell")
        return problems
    match = GRADE_ID.fullmatch(str(grader.get("grade_id", "")))
    if match is None or match["stem"] != stem:
        return [f"grade_id {grader.get('grade_id')!r} is not {stem}-ex<N>-answer/-check/-task"]
    number, role = int(match["number"]), match["role"]
    problems = []
    if role in found.setdefault(number, {}):
        problems.append(f"a second {role} cell for exercise {number} (grade_id must be unique)")
    found[number][role] = index
    marks = {key: grader.get(key) for key in EXPECTED_MARKS[role]}
    if marks != EXPECTED_MARKS[role]:
        problems.append(f"nbgrader marks {marks} should be {EXPECTED_MARKS[role]}")
    if notebook_cell["cell_type"] != EXPECTED_CELL_TYPE[role]:
        problems.append(f"a {role} cell must be a {EXPECTED_CELL_TYPE[role]} cell")
    if not EXPECTED_TAGS[role] <= tags:
        problems.append(f"a {role} cell needs the tags {sorted(EXPECTED_TAGS[role])}")
    if role == "answer":
        if text.count(SOLUTION_MARKERS[0]) != 1 or len(solution_regions(text)) != 1:
            problems.append("an answer cell needs exactly one ### BEGIN/END SOLUTION region")
        if metadata.get("jupyter", {}).get("source_hidden") is not True:
            problems.append('an answer cell keeps "jupyter": {"source_hidden": true}')
    elif markers:
        problems.append(f"a {role} cell must not hold a solution region")
    if role == "check":
        points = grader.get("points")
        if not (isinstance(points, int) and 1 <= points <= 3):
            problems.append(f"points {points!r} should be a whole number from 1 to 3")
        call = re.compile(rf'^require_answer\(\s*"Exercise {number}"\s*,', re.M)
        if CHECK_IMPORT not in text or not call.search(text):
            problems.append(
                f'a check starts with "{CHECK_IMPORT}" and '
                f'require_answer("Exercise {number}", <each name it reads>=...)'
            )
    return problems


def convention_problems_of_cells(
    tmp_path: Path, cells: list[dict[str, Any]], stem: str = SAMPLE_STEM
) -> list[str]:
    path = tmp_path / f"{stem}.ipynb"
    path.write_text(notebook_json(cells), encoding="utf-8")
    return convention_problems(path)


BREAKAGES: dict[str, tuple[Callable[[list[dict[str, Any]]], object], str]] = {
    "grade id": (
        lambda cells: cell({"cells": cells}, "ex2-answer")["metadata"]["nbgrader"].update(
            grade_id="answer-two"
        ),
        "grade_id 'answer-two' is not 99-sample-ex<N>-answer",
    ),
    "points": (
        lambda cells: cell({"cells": cells}, "ex1-check")["metadata"]["nbgrader"].update(points=5),
        "points 5 should be a whole number from 1 to 3",
    ),
    "tags": (
        lambda cells: cell({"cells": cells}, "ex1-answer")["metadata"].update(tags=["exercise"]),
        "needs the tags ['exercise', 'solution']",
    ),
    "require_answer": (
        lambda cells: cell({"cells": cells}, "ex3-check").update(source="assert True"),
        'require_answer("Exercise 3"',
    ),
    "order": (
        lambda cells: cells.insert(2, cells.pop(cells.index(cell({"cells": cells}, "ex1-check")))),
        "exercise 1's cells are out of order",
    ),
    "no region": (
        lambda cells: cell({"cells": cells}, "ex1-answer").update(source="predicted_total = 6"),
        "exactly one ### BEGIN/END SOLUTION region",
    ),
    "duplicate": (
        lambda cells: cells.append(copy.deepcopy(cell({"cells": cells}, "ex1-check"))),
        "a second check cell for exercise 1",
    ),
    "too few": (
        lambda cells: cells.__delitem__(slice(5, 12)),
        "has 1 exercises in nbgrader form",
    ),
}
