"""The teachers' guide (docs/teachers.md) lists the course as it is.

Its table of notebooks is written by hand (what each teaches, what it builds on, how long it
takes in class are editorial), so these tests hold the parts that could drift: every course
notebook is in the table and nothing else is, in course order; the exercise counts are the
notebooks' graded check cells; the paths name notebooks that exist; the nbgrader lines are the
ones ``socketserver_lit.teaching`` exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from socketserver_lit import teaching

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "teachers.md").read_text(encoding="utf-8")
COURSE = sorted((ROOT / "notebooks" / "course").glob("*.ipynb"))
ROW = re.compile(r"^\| `(?P<stem>\d\d-[a-z0-9-]+)` \|.*\| (?P<exercises>\d+) \|$", re.M)


def graded_checks(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade")) for cell in cells)


def test_the_table_lists_every_course_notebook_in_order():
    assert [match["stem"] for match in ROW.finditer(GUIDE)] == [path.stem for path in COURSE]


def test_the_exercise_counts_are_the_notebooks_graded_checks():
    listed = {match["stem"]: int(match["exercises"]) for match in ROW.finditer(GUIDE)}
    assert listed == {path.stem: graded_checks(path) for path in COURSE}


def test_the_paths_and_prerequisites_name_only_notebooks_that_exist():
    numbers = {path.stem[:2] for path in COURSE}
    paths = GUIDE.split("## Paths through the course", 1)[1].split("## The notebooks", 1)[0]
    path_cells = [row.split("|")[2] for row in paths.splitlines() if row.startswith("| A ")]
    prerequisite_cells = [match.group(0).split("|")[3] for match in ROW.finditer(GUIDE)]
    named = set(re.findall(r"\b(\d\d)\b", " ".join(path_cells + prerequisite_cells)))
    assert named and named <= numbers


def test_the_guide_says_how_many_notebooks_there_are():
    words = {17: "seventeen"}
    assert f"is {words[len(COURSE)]} Jupyter notebooks" in GUIDE


def test_the_nbgrader_lines_are_the_ones_the_package_exports():
    block = GUIDE.split("```python\n", 1)[1].split("```", 1)[0]
    assert block.strip() == teaching.NBGRADER_CONFIG.strip()


def notebooks_named(cell: str) -> list[str]:
    """'01–02; 05, 07' -> ['01', '02', '05', '07']: ranges written with an en dash expanded."""
    named = []
    for first, last in re.findall(r"\b(\d\d)(?:–(\d\d))?\b", cell):
        named += [f"{number:02d}" for number in range(int(first), int(last or first) + 1)]
    return named


def table_of_notebooks() -> dict[str, tuple[list[str], int]]:
    """Each notebook's number -> (the numbers it builds on, its class time in minutes)."""
    table = {}
    for match in ROW.finditer(GUIDE):
        cells = match.group(0).split("|")
        minutes = re.fullmatch(r" (\d+) min ", cells[4])
        assert minutes, cells[4]
        table[match["stem"][:2]] = (notebooks_named(cells[3]), int(minutes[1]))
    return table


def paths() -> dict[str, tuple[str, str]]:
    section = GUIDE.split("## Paths through the course", 1)[1].split("## The notebooks", 1)[0]
    rows = [row.split("|")[1:4] for row in section.splitlines() if row.startswith("| A ")]
    return {name.strip(): (notebooks.strip(), time.strip()) for name, notebooks, time in rows}


def test_every_path_takes_each_notebook_after_the_ones_it_builds_on():
    table = table_of_notebooks()
    for name, (notebooks, _time) in paths().items():
        if name.startswith("A full module"):
            continue  # all seventeen, in order
        seen: set[str] = set()
        for number in notebooks_named(notebooks):
            missing = [needed for needed in table[number][0] if needed not in seen]
            assert missing == [], f"{name}: {number} builds on {missing}, not taken before"
            seen.add(number)


def test_the_lab_takes_the_time_it_says_and_each_session_of_the_week_at_most_two_hours():
    table = table_of_notebooks()
    lab_notebooks, lab_time = paths()["A lab of about an hour and a half"]
    assert lab_time == f"{sum(table[n][1] for n in notebooks_named(lab_notebooks))} min"
    week_notebooks, week_time = paths()["A week (five sessions of two hours)"]
    sessions = week_notebooks.split(";")
    week_minutes = sum(table[n][1] for n in notebooks_named(week_notebooks))
    assert len(sessions) == 5 and week_time == f"{week_minutes} min in 10 h of class"
    for session in sessions:
        assert sum(table[n][1] for n in notebooks_named(session)) <= 120, session


def test_the_notebooks_left_to_the_full_module_build_on_each_other_as_the_guide_says():
    """ "Notebooks 11, 16 and 17 are for the full module: 16 builds on 11, and 17 on 16 and on
    most of the others." """
    table = table_of_notebooks()
    _, week = paths()["A week (five sessions of two hours)"]
    taken = set(notebooks_named(paths()["A week (five sessions of two hours)"][0]))
    taken |= set(notebooks_named(paths()["A lab of about an hour and a half"][0]))
    assert {"11", "16", "17"}.isdisjoint(taken) and week
    assert "11" in table["16"][0] and "16" in table["17"][0]
    assert len(table["17"][0]) > len(table) / 2
