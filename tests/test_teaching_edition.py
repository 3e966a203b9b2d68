"""The student edition of a small course built here, written and run in a kernel.

A sample course (a prediction, a function body and a method body to write, and the
checks of each) is written here, its student edition made by
``socketserver_lit.teaching``, and both editions run in a Jupyter kernel of the Python
running the tests. What the course promises is checked: in the teacher's edition every
check passes; in the student's, each graded check fails only with "not answered yet"
and every other cell runs cleanly; nbgrader itself grades the sample as it is.

These tests need the ``teach`` and ``notebooks`` extras (nbgrader, nbclient,
ipykernel); without them the module is skipped, and CI's core jobs, which install only
``core-test``, leave it out. The helpers are in ``teaching_support.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from socketserver_lit import teaching
from socketserver_lit.teaching import write_student_edition

pytest.importorskip("nbgrader", reason="the student edition needs the teach extra")
pytest.importorskip("nbclient", reason="running notebooks needs the notebooks extra")
pytest.importorskip("ipykernel", reason="running notebooks needs the notebooks extra")

from teaching_support import (  # noqa: E402
    BREAKAGES,
    PREDICTION_ANSWER,
    ROOT,
    SAMPLE_STEM,
    cell,
    code,
    convention_problems_of_cells,
    define,
    digests,
    installed,
    load,
    message_of,
    nbgrader,
    needs_kernel,
    needs_teach_extra,
    run_notebook,
    run_problems,
    sample_cells,
    solution_leaks,
    source,
    write_course,
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


def test_sample_course_follows_the_conventions(tmp_path):
    assert convention_problems_of_cells(tmp_path, sample_cells()) == []


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_convention_checker_reports_each_departure(tmp_path, breakage):
    break_cells, expected = breakage
    cells = sample_cells()
    break_cells(cells)
    problems = convention_problems_of_cells(tmp_path, cells)
    assert any(expected in problem for problem in problems), problems
