"""The student edition of the real course keeps the course's promise, notebook by notebook.

For each notebook in ``notebooks/course`` (whatever is there when the tests run), two
specifications, each its own test so that a failure names the notebook:

* its exercises follow the course conventions (nbgrader marks, grade ids, points, tags,
  one solution region per answer cell, checks that start with ``require_answer``), so
  whoever converts a notebook gets the list of what is left to do;
* its student edition, written by ``write_student_edition`` and run top to bottom in a
  kernel of the Python running the tests, fails each graded check only with an
  ``AssertionError`` saying "not answered yet", while every other cell runs cleanly; the
  edition shows no solution text, keeps the nbgrader marks, and the teacher's notebook is
  not changed.

The teacher's edition is checked by nbval in strict mode (``python -m pytest notebooks``).
These tests need the ``teach`` and ``notebooks`` extras.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="the student edition needs the teach extra")
pytest.importorskip("nbclient", reason="running notebooks needs the notebooks extra")
pytest.importorskip("ipykernel", reason="running notebooks needs the notebooks extra")

from teaching_support import (  # noqa: E402  (after the extras are known to be there)
    convention_problems,
    is_graded_check,
    load,
    run_notebook,
    run_problems,
    solution_leaks,
)

from socketserver_lit.teaching import COURSE, write_student_edition  # noqa: E402

NOTEBOOKS = sorted(
    path for path in COURSE.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts
)
# Whole notebooks run in these tests: the course aims at under 20 s each under pytest,
# and a student run stops early in each check, but a slow machine gets room.
NOTEBOOK_TIMEOUT = 300


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def course_with_only(notebook: Path, folder: Path) -> Path:
    """A copy of the course folder with one notebook and every file that is not a notebook.

    Each notebook is written and run on its own, so one notebook that cannot be
    converted does not hide what the others do.
    """
    course = folder / "course"
    for path in sorted(COURSE.rglob("*")):
        relative = path.relative_to(COURSE)
        if path.is_file() and (path.suffix != ".ipynb" or path == notebook):
            (course / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, course / relative)
    return course


def test_the_course_has_notebooks():
    assert NOTEBOOKS, f"no notebook found under {COURSE}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_exercises_follow_the_course_conventions(notebook):
    problems = convention_problems(notebook)
    assert not problems, f"{notebook.name}:\n  " + "\n  ".join(problems)


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_student_edition_runs_with_every_check_saying_not_answered_yet(notebook, tmp_path):
    teacher_digest = digest(notebook)
    course = course_with_only(notebook, tmp_path)
    write_student_edition(course, tmp_path / "student")
    relative = notebook.relative_to(COURSE)
    teacher, student = load(notebook), load(tmp_path / "student" / relative)

    checks = [index for index, cell in enumerate(teacher["cells"]) if is_graded_check(cell)]
    assert checks, (
        f"{notebook.name} has no graded check cell (nbgrader grade=true, tagged exercise): "
        f"its exercises are not in the course's nbgrader form yet"
    )
    assert solution_leaks(teacher, student) == []
    assert [cell["metadata"].get("nbgrader") for cell in student["cells"]] == [
        cell["metadata"].get("nbgrader") for cell in teacher["cells"]
    ]

    problems = run_problems(run_notebook(tmp_path / "student" / relative), teacher)
    assert not problems, f"{notebook.name}, student edition:\n  " + "\n  ".join(problems)
    assert digest(notebook) == teacher_digest, "the teacher's notebook must not change"


@pytest.mark.timeout(120)
def test_whole_course_edition_has_every_file_and_leaves_the_course_unchanged(tmp_path):
    before = {path: digest(path) for path in COURSE.rglob("*") if path.is_file()}
    written = write_student_edition(COURSE, tmp_path / "student")
    expected = sorted(
        tmp_path / "student" / path.relative_to(COURSE)
        for path in before
        if not any(part.startswith(".") for part in path.relative_to(COURSE).parts)
    )
    assert written == expected
    assert {path: digest(path) for path in COURSE.rglob("*") if path.is_file()} == before
