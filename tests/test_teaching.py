"""socketserver_lit.teaching: exercises start unanswered, and refusals say why.

Specifies ``require_answer``, and the student-edition writer's refusals that come
before nbgrader is needed. Standard library only, so it runs on every Python we
support: 3.10 to 3.13, with only the ``core-test`` extra.

The student edition itself, which needs the ``teach`` and ``notebooks`` extras, is
tested in ``test_teaching_edition.py``; the helpers both use are in ``teaching_support.py``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest
from teaching_support import (  # noqa: E402
    ANSWERED_BODIES,
    NOT_ANSWERED,
    ROOT,
    SERVER,
    UNANSWERED_BODIES,
    define,
    digests,
    function_with_body,
    message_of,
    sample_cells,
    write_course,
)

from socketserver_lit import teaching
from socketserver_lit.teaching import require_answer, write_student_edition


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
