"""socketserver_lit.teaching: exercises start unanswered, and the student edition is generated.

The first half specifies ``require_answer`` (standard library only, so it runs on every
Python we support: 3.10 to 3.13). The second half writes the student edition of a small
course built here (a prediction, a function body and a method body to write, and the
checks of each), runs both editions in a Jupyter kernel of the Python running the tests,
and checks what the course promises: in the teacher's edition every check passes; in
the student's, each graded check fails only with "not answered yet" and every other cell
runs cleanly. Those tests need the ``teach`` and ``notebooks`` extras.

The helpers at the end (running a notebook, the rules of a student run, the course's
exercise conventions) are shared with ``tests/test_student_edition.py``, which applies
them to the real course.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from socketserver_lit import teaching
from socketserver_lit.teaching import require_answer, write_student_edition

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


# -- require_answer: values ---------------------------------------------------------------


def test_none_is_unanswered_and_the_message_says_what_to_set():
    assert message_of("Exercise 2", predicted_lost_with_one_worker=None) == (
        "Exercise 2 is not answered yet: set predicted_lost_with_one_worker "
        "in the answer cell above."
    )


def test_ellipsis_is_unanswered():
    assert message_of("Exercise 1", guess=...) == (
        "Exercise 1 is not answered yet: set guess in the answer cell above."
    )


@pytest.mark.parametrize(
    "value", [0, False, "", [], 0.0, object()], ids=["0", "False", "''", "[]", "0.0", "object"]
)
def test_falsy_and_other_values_are_answers(value):
    require_answer("Exercise 1", guess=value)  # a prediction of zero is a prediction


def test_every_unanswered_name_is_listed_in_the_order_given():
    read_exactly = define(
        'def read_exactly(sock, count):\n    """Doc."""\n    ...\n', "read_exactly"
    )
    message = message_of(
        "Exercise 3", first=None, answered=1, second=..., read_exactly=read_exactly
    )
    assert message == (
        "Exercise 3 is not answered yet: set first and second, and write the body of "
        "read_exactly() in the answer cell above."
    )


def test_three_unanswered_values_and_two_bodies_read_as_one_sentence():
    message = message_of(
        "Exercise 1", a=None, b=None, c=..., f=lambda: None, g=define("class G: ...", "G")
    )
    assert message == (
        "Exercise 1 is not answered yet: set a, b and c, and write the body of f() and "
        "class G in the answer cell above."
    )


def test_an_answer_may_be_called_exercise():
    with pytest.raises(AssertionError, match="set exercise in"):
        require_answer("Exercise 1", exercise=None)


@pytest.mark.parametrize("exercise", ["", "   ", None, 1])
def test_exercise_name_must_be_a_non_empty_string(exercise):
    with pytest.raises(TypeError, match="needs the exercise's name first"):
        require_answer(exercise, guess=1)  # type: ignore[arg-type]


def test_a_check_that_passes_no_answer_is_a_mistake_in_the_check():
    with pytest.raises(TypeError, match="was given no answer to check"):
        require_answer("Exercise 1")


# -- require_answer: functions ------------------------------------------------------------

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


@pytest.mark.parametrize("body", UNANSWERED_BODIES.values(), ids=UNANSWERED_BODIES.keys())
def test_function_with_empty_body_is_unanswered(body):
    assert message_of("Exercise 1", solve=function_with_body(body)) == (
        "Exercise 1 is not answered yet: write the body of solve() in the answer cell above."
    )


@pytest.mark.parametrize("body", ANSWERED_BODIES.values(), ids=ANSWERED_BODIES.keys())
def test_function_with_a_body_is_answered(body):
    require_answer("Exercise 1", solve=function_with_body(body))


def test_one_line_function_is_answered():
    require_answer("Exercise 1", solve=define("def solve(count): return 0\n", "solve"))


@pytest.mark.parametrize("body", ["...", "raise NotImplementedError()", '"""Doc."""'])
def test_async_function_with_empty_body_is_unanswered(body):
    with pytest.raises(AssertionError, match=NOT_ANSWERED):
        require_answer("Exercise 1", solve=function_with_body(body, keyword="async def"))


def test_async_function_with_a_body_is_answered():
    require_answer("Exercise 1", solve=function_with_body("return count", keyword="async def"))


def test_the_learners_function_is_never_called():
    calls: list[int] = []

    def records_a_call() -> None:
        calls.append(1)

    def unanswered() -> None:
        raise NotImplementedError()

    require_answer("Exercise 1", solve=records_a_call)
    with pytest.raises(AssertionError, match=NOT_ANSWERED):
        require_answer("Exercise 1", solve=unanswered)
    assert calls == []


def test_docstring_ellipsis_and_pass_compile_to_the_same_instructions():
    bodies = ['"""Doc."""', "...", "pass", '"""Doc."""\n...\npass  # comment']
    compiled = {teaching._instructions(function_with_body(body).__code__) for body in bodies}
    assert len(compiled) == 1


# -- require_answer: methods, lambdas, classes --------------------------------------------

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


@pytest.mark.parametrize(
    "method",
    [
        SERVER.increment,
        SERVER().increment,
        SERVER.parse,
        vars(SERVER)["parse"],
        SERVER.build,
        vars(SERVER)["build"],
        vars(SERVER)["count"],
    ],
    ids=["function", "bound", "static", "staticmethod", "class", "classmethod", "property"],
)
def test_method_with_empty_body_is_unanswered_and_named_by_its_class(method):
    message = message_of("Exercise 3", method=method)
    assert re.fullmatch(
        r"Exercise 3 is not answered yet: write the body of FileCounterServer\.\w+\(\) "
        r"in the answer cell above\.",
        message,
    ), message


@pytest.mark.parametrize("method", [SERVER.finish, SERVER().finish, SERVER.uses_super])
def test_method_with_a_body_is_answered(method):
    require_answer("Exercise 3", method=method)


@pytest.mark.parametrize("source", ["lambda: None", "lambda *arguments: ..."])
def test_lambda_returning_only_none_or_ellipsis_is_unanswered_and_named_by_keyword(source):
    assert message_of("Exercise 1", key=eval(source)) == (
        "Exercise 1 is not answered yet: write the body of key() in the answer cell above."
    )


def test_lambda_with_an_expression_is_answered():
    require_answer("Exercise 1", key=lambda line: line.upper())


@pytest.mark.parametrize("body", ['"""A pool big enough."""', "...", "pass"])
def test_class_whose_body_defines_nothing_is_unanswered(body):
    enough_pool = define(f"class EnoughPool(dict):\n    {body}\n", "EnoughPool")
    assert message_of("Exercise 1", EnoughPool=enough_pool) == (
        "Exercise 1 is not answered yet: write the body of class EnoughPool "
        "in the answer cell above."
    )


def test_empty_generic_class_is_unanswered():
    box = define(
        'from typing import Generic, TypeVar\nT = TypeVar("T")\nclass Box(Generic[T]):\n    ...\n',
        "Box",
    )
    assert {"__orig_bases__", "__parameters__"} <= set(vars(box))
    with pytest.raises(AssertionError, match="write the body of class Box"):
        require_answer("Exercise 1", Box=box)


def test_class_that_defines_anything_is_answered_even_an_empty_method():
    require_answer("Exercise 1", pool=define("class Pool:\n    max_workers = 3\n", "Pool"))
    require_answer("Exercise 1", pool=SERVER)  # pass methods to check their bodies


def test_builtin_callables_are_answers():
    require_answer("Exercise 1", key=len, factory=dict)


# -- The student edition: refusals (standard library only) --------------------------------


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


def test_refuses_a_destination_that_is_not_empty_and_touches_nothing(tmp_path):
    course = tmp_path / "course"
    write_course(course, sample_cells())
    destination = tmp_path / "student"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"is not empty: .* \(--overwrite\)"):
        write_student_edition(course, destination)
    assert digests(destination) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


def test_refuses_a_destination_inside_the_course(tmp_path):
    course = tmp_path / "course"
    write_course(course, sample_cells())
    for destination in (course, course / "student"):
        with pytest.raises(ValueError, match="inside the course folder"):
            write_student_edition(course, destination, overwrite=True)
    assert not (course / "student").exists()


def test_refuses_a_destination_that_is_a_file(tmp_path):
    course = tmp_path / "course"
    write_course(course, sample_cells())
    (tmp_path / "student").write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_student_edition(course, tmp_path / "student")


def test_refuses_a_missing_course_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="There is no course folder at"):
        write_student_edition(tmp_path / "nowhere", tmp_path / "student")


def test_refuses_a_course_folder_without_notebooks(tmp_path):
    (tmp_path / "course" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "course" / ".ipynb_checkpoints" / "old-checkpoint.ipynb").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"holds no notebook \(\*\.ipynb\)"):
        write_student_edition(tmp_path / "course", tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_without_nbgrader_the_error_says_what_to_install(tmp_path, monkeypatch):
    write_course(tmp_path / "course", sample_cells())
    monkeypatch.setitem(sys.modules, "nbgrader.preprocessors", None)  # import now fails
    with pytest.raises(ImportError) as failure:
        write_student_edition(tmp_path / "course", tmp_path / "student")
    assert "pip install 'socketserver-lit[teach]'" in str(failure.value)
    assert "pip install nbgrader" in str(failure.value)
    assert not (tmp_path / "student").exists()


def test_importing_the_module_loads_only_the_standard_library():
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import socketserver_lit.teaching\n"
        "loaded = {name.partition('.')[0] for name in set(sys.modules) - before}\n"
        "print(sorted(loaded - set(sys.stdlib_module_names) - {'socketserver_lit'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- The student edition: what it contains (needs nbgrader) -------------------------------


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


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample course, run as the teacher commits it, and its student edition."""
    folder = tmp_path_factory.mktemp("sample")
    teacher = write_course(folder / "course", sample_cells())
    if installed("nbclient", "ipykernel"):  # commit it executed, as the course is
        executed = run_notebook(teacher)
        teacher.write_text(json.dumps(executed, indent=1), encoding="utf-8")
    before = digests(folder / "course")
    written = write_student_edition(folder / "course", folder / "student")
    return {
        "folder": folder,
        "teacher_path": teacher,
        "teacher": load(teacher),
        "before": before,
        "written": written,
        "student_path": folder / "student" / teacher.name,
        "student": load(folder / "student" / teacher.name),
    }


def cell(notebook: dict[str, Any], cell_id: str) -> dict[str, Any]:
    [found] = [each for each in notebook["cells"] if each["id"] == cell_id]
    return found


@needs_teach_extra
def test_edition_has_every_notebook_and_file_at_the_same_place(sample):
    student = sample["folder"] / "student"
    assert sample["written"] == [student / "99-sample.ipynb", student / "data" / "words.txt"]
    assert (student / "data" / "words.txt").read_text(encoding="utf-8") == "ready steady go\n"


@needs_teach_extra
def test_writing_the_edition_leaves_the_course_unchanged(sample):
    assert digests(sample["folder"] / "course") == sample["before"]


@needs_teach_extra
def test_prediction_keeps_its_unanswered_value_and_loses_the_solution(sample):
    assert source(cell(sample["student"], "ex1-answer")) == (
        "predicted_total = None  # your prediction: a whole number\n...  # YOUR ANSWER HERE"
    )


@needs_teach_extra
def test_function_body_becomes_the_stub_at_the_indentation_of_the_region(sample):
    assert source(cell(sample["student"], "ex2-answer")) == (
        "def read_words(path):\n"
        '    """Return the words of the text file at `path`, in order."""\n'
        "    ...  # YOUR ANSWER HERE"
    )


@needs_teach_extra
def test_method_body_becomes_the_stub_and_the_rest_of_the_class_stays(sample):
    answer = source(cell(sample["student"], "ex3-answer"))
    assert answer.endswith(
        '        """Add one to `count` and return the new count."""\n'
        "        ...  # YOUR ANSWER HERE"
    )
    assert "self.count = 0" in answer and "self.count += 1" not in answer
    counter = define(answer, "Counter")
    assert message_of("Exercise 3", increment=counter.increment).startswith(
        "Exercise 3 is not answered yet: write the body of Counter.increment()"
    )


@needs_teach_extra
def test_no_solution_text_is_left_in_the_edition(sample):
    assert solution_leaks(sample["teacher"], sample["student"]) == []
    assert solution_leaks(sample["teacher"], sample["teacher"]) != []  # the check can fail


@needs_teach_extra
def test_answer_cells_are_visible_deletable_never_and_editable(sample):
    for cell_id in ("ex1-answer", "ex2-answer", "ex3-answer"):
        teacher_metadata = cell(sample["teacher"], cell_id)["metadata"]
        metadata = cell(sample["student"], cell_id)["metadata"]
        assert teacher_metadata["jupyter"] == {"source_hidden": True}
        assert "jupyter" not in metadata
        assert metadata.get("editable", True) is True
        assert metadata["deletable"] is False


@needs_teach_extra
def test_check_and_task_cells_are_locked(sample):
    for cell_id in ("ex1-check", "ex2-check", "ex3-check", "ex1-task"):
        metadata = cell(sample["student"], cell_id)["metadata"]
        assert (metadata["editable"], metadata["deletable"]) == (False, False)


@needs_teach_extra
def test_nbgrader_metadata_and_tags_are_kept(sample):
    teacher_cells, student_cells = sample["teacher"]["cells"], sample["student"]["cells"]
    assert [c["id"] for c in student_cells] == [c["id"] for c in teacher_cells]
    for teacher_cell, student_cell in zip(teacher_cells, student_cells, strict=True):
        assert student_cell["metadata"].get("nbgrader") == teacher_cell["metadata"].get("nbgrader")
        assert student_cell["metadata"].get("tags") == teacher_cell["metadata"].get("tags")


@needs_kernel
@pytest.mark.timeout(120)
def test_exercise_outputs_are_cleared_and_other_outputs_kept(sample):
    for cell_id in ("numbers", "measure", "words"):
        assert (
            cell(sample["student"], cell_id)["outputs"]
            == cell(sample["teacher"], cell_id)["outputs"]
        )
        assert cell(sample["teacher"], cell_id)["outputs"] != []
    for cell_id in ("ex1-check", "ex2-check", "ex3-check"):
        assert cell(sample["teacher"], cell_id)["outputs"] != []
        assert cell(sample["student"], cell_id)["outputs"] == []
        assert cell(sample["student"], cell_id)["execution_count"] is None


@needs_kernel
@pytest.mark.timeout(120)
def test_teacher_edition_passes_every_check(sample):
    printed = {
        each["id"]: "".join(output.get("text", "") for output in each["outputs"])
        for each in sample["teacher"]["cells"]
        if each["cell_type"] == "code"
    }
    assert run_problems(sample["teacher"], sample["teacher"], student=False) == []
    assert [printed[f"ex{n}-check"] for n in (1, 2, 3)] == [
        f"Exercise {n}: correct.\n" for n in (1, 2, 3)
    ]


@needs_kernel
@pytest.mark.timeout(120)
def test_student_edition_fails_each_check_only_with_not_answered_yet(sample):
    student_run = run_notebook(sample["student_path"])
    assert run_problems(student_run, sample["teacher"]) == []
    failures = [
        output["evalue"]
        for each in student_run["cells"]
        for output in each.get("outputs", [])
        if output["output_type"] == "error"
    ]
    assert failures == [
        "Exercise 1 is not answered yet: set predicted_total in the answer cell above.",
        "Exercise 2 is not answered yet: write the body of read_words() in the answer cell above.",
        "Exercise 3 is not answered yet: write the body of Counter.increment() "
        "in the answer cell above.",
    ]


@needs_kernel
@pytest.mark.timeout(120)
def test_a_check_that_fails_for_another_reason_is_reported(tmp_path):
    cells = sample_cells()
    # No require_answer: the empty function's None goes on to len().
    cell({"cells": cells}, "ex2-check")["source"] = (
        'assert len(read_words("data/words.txt")) == 3\nprint("Exercise 2: correct.")'
    )
    write_course(tmp_path / "course", cells)
    write_student_edition(tmp_path / "course", tmp_path / "student")
    student_run = run_notebook(tmp_path / "student" / f"{SAMPLE_STEM}.ipynb")
    assert run_problems(student_run, {"cells": cells}) == [
        'cell 8 (assert len(read_words("data/words.txt")) == 3): a graded check must fail '
        "only with an AssertionError saying 'not answered yet', and it gave TypeError: "
        "object of type 'NoneType' has no len()"
    ]


@needs_teach_extra
def test_a_solution_region_outside_an_answer_cell_is_refused_and_nothing_written(tmp_path):
    cells = sample_cells()
    cells.insert(1, code("stray", "x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"))
    write_course(tmp_path / "course", cells)
    with pytest.raises(ValueError, match=r"99-sample\.ipynb: Solution region detected"):
        write_student_edition(tmp_path / "course", tmp_path / "student")
    assert not (tmp_path / "student").exists()


@needs_teach_extra
def test_duplicate_grade_ids_are_refused_naming_the_notebook(tmp_path):
    cells = sample_cells()
    cell({"cells": cells}, "ex2-check")["metadata"]["nbgrader"]["grade_id"] = "99-sample-ex1-check"
    write_course(tmp_path / "course", cells)
    with pytest.raises(ValueError, match=r"99-sample\.ipynb: .*Duplicate grade id"):
        write_student_edition(tmp_path / "course", tmp_path / "student")


@needs_teach_extra
def test_overwrite_replaces_the_editions_files_and_keeps_others(tmp_path):
    write_course(tmp_path / "course", sample_cells())
    student = tmp_path / "student"
    student.mkdir()
    (student / "99-sample.ipynb").write_text("stale", encoding="utf-8")
    (student / "notes.txt").write_text("mine", encoding="utf-8")
    write_student_edition(tmp_path / "course", student, overwrite=True)
    assert "YOUR ANSWER HERE" in (student / "99-sample.ipynb").read_text(encoding="utf-8")
    assert (student / "notes.txt").read_text(encoding="utf-8") == "mine"


@needs_teach_extra
def test_command_writes_the_edition_and_lists_the_files(tmp_path, capsys):
    write_course(tmp_path / "course", sample_cells())
    status = teaching.main(
        ["student-edition", str(tmp_path / "student"), "--course", str(tmp_path / "course")]
    )
    assert status == 0
    assert capsys.readouterr().out == (
        f"Wrote the student edition of 1 notebook to {tmp_path / 'student'} "
        "(solutions cleared, outputs of exercise cells removed):\n"
        "  99-sample.ipynb\n"
        "  data/words.txt\n"
    )


def test_command_reports_a_refusal_in_one_line(tmp_path, capsys):
    write_course(tmp_path / "course", sample_cells())
    status = teaching.main(
        ["student-edition", str(tmp_path / "course"), "--course", str(tmp_path / "course")]
    )
    assert status == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("python -m socketserver_lit.teaching student-edition: error: ")
    assert "inside the course folder" in captured.err and captured.err.count("\n") == 1


def test_module_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "socketserver_lit.teaching", "student-edition", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "DEST" in result.stdout and "--course" in result.stdout and "--overwrite" in result.stdout
    )


@needs_kernel
@pytest.mark.timeout(300)
def test_nbgrader_grades_the_sample_course_as_it_is(tmp_path, sample):
    """The teacher's notebook in an nbgrader course, with teaching.NBGRADER_CONFIG."""
    course = tmp_path / "nbgrader-course"
    (course / "source" / "lesson").mkdir(parents=True)
    shutil.copytree(sample["folder"] / "course", course / "source" / "lesson", dirs_exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "sample"\n' + teaching.NBGRADER_CONFIG
    )
    nbgrader(course, "generate_assignment", "lesson", "--create")
    release = load(course / "release" / "lesson" / f"{SAMPLE_STEM}.ipynb")
    for student_cell, released in zip(sample["student"]["cells"], release["cells"], strict=True):
        assert source(released) == source(student_cell)  # the same stubs as our edition
        assert "jupyter" not in released["metadata"]  # answer cells unfolded
        assert released.get("outputs", []) == []  # nbgrader clears every output

    submissions = {"unanswered": course / "release", "answered": course / "source"}
    for student, folder in submissions.items():
        shutil.copytree(folder / "lesson", course / "submitted" / student / "lesson")
    nbgrader(course, "autograde", "lesson")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            student: [
                gradebook.find_grade(
                    f"{SAMPLE_STEM}-ex{n}-check", SAMPLE_STEM, "lesson", student
                ).score
                for n in (1, 2, 3)
            ]
            for student in submissions
        }
    assert scores == {"unanswered": [0, 0, 0], "answered": [1, 2, 3]}


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


@needs_teach_extra
@pytest.mark.parametrize(
    "answer",
    [
        PREDICTION_ANSWER,
        "class EnoughPool:\n    ### BEGIN SOLUTION\n    workers = 3\n    ### END SOLUTION",
    ],
    ids=["prediction", "class body"],
)
def test_nbgrader_default_stub_raises_as_soon_as_the_answer_cell_runs(answer):
    from nbformat.v4 import new_code_cell, new_notebook
    from nbgrader.preprocessors import ClearSolutions

    cells = [new_code_cell(answer, metadata={"nbgrader": {"solution": True, "grade": False}})]
    notebook, _ = ClearSolutions().preprocess(new_notebook(cells=cells), {})
    with pytest.raises(NotImplementedError):
        exec(compile(notebook.cells[0].source, "<answer cell>", "exec"), {})


# -- Helpers shared with tests/test_student_edition.py ------------------------------------


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


# -- The convention checker itself --------------------------------------------------------


def test_sample_course_follows_the_conventions(tmp_path):
    assert convention_problems_of_cells(tmp_path, sample_cells()) == []


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


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_convention_checker_reports_each_departure(tmp_path, breakage):
    break_cells, expected = breakage
    cells = sample_cells()
    break_cells(cells)
    problems = convention_problems_of_cells(tmp_path, cells)
    assert any(expected in problem for problem in problems), problems
