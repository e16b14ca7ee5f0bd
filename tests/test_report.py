"""What grading writes, on a realistic class built in code: grades.csv's scores, the class report's
sections (parsed), the Canvas gradebook and the roster it is matched through, and the command."""

from __future__ import annotations

import csv
import io
from collections import Counter
from html.parser import HTMLParser

import nbformat
import pytest
from conftest import SOLUTIONS
from grading_class import NB01, solved
from report_class import LEARNERS, class_rows

from course.cli import main
from course.gradebook import cli as grading_cli
from course.gradebook.canvas import gradebook_text
from course.gradebook.report import csv_text, html_report
from course.gradebook.report_html import hover
from course.gradebook.roster import Roster, RosterError, Student, match, read_roster
from course.gradebook.totals import concept
from course.safe_run import grade as grade_module
from course.safe_run.collect import collect
from course.safe_run.run import Results
from course.safe_run.verdicts import Row, category, scored, short

ROWS = class_rows()
COURSE = [r for r in ROWS if r.code != "unknown_notebook"]
CONCEPTS = sorted({concept(r.notebook) for r in COURSE})


# ----- grades.csv ---------------------------------------------------------------------

def test_grades_csv_has_points_score_and_max_score_for_every_row():
    table = list(csv.DictReader(io.StringIO(csv_text(ROWS))))
    assert len(table) == len(ROWS)
    for line, row in zip(table, ROWS):
        assert float(line["points"]) == row.points == float(line["max_score"])
        if row.infrastructure:
            assert line["score"] == "" and line["passed"] == "ungraded"  # no score, not a zero
        else:
            assert float(line["score"]) == pytest.approx(row.score, abs=0.005)
    partial = [line for line in table if line["passed"] == "no" and line["score"] not in ("", "0")]
    assert partial and all(0 < float(line["score"]) < float(line["points"]) for line in partial)


# ----- report.html --------------------------------------------------------------------

class Page(HTMLParser):
    """The report as sections: each <section>'s id, its headings, tables (rows of cell texts), links,
    list items by id, and the title of every linked cell."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.order: list[str] = []
        self._section = None
        self._cell = None
        self._li = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = {"tables": [], "items": {}, "texts": [], "links": [], "headings": []}
            self.sections[attrs["id"]] = self._section
            self.order.append(attrs["id"])
        if self._section is None:
            return
        if tag == "table":
            self._section["tables"].append([])
        elif tag == "tr":
            self._section["tables"][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self._cell is not None:
            self._section["links"].append((attrs.get("href", ""), attrs.get("title", "")))
        elif tag == "li":
            self._li = (attrs.get("id"), [])
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag in ("h2", "h3"):
            self._section["headings"].append("")

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        elif tag in ("td", "th") and self._cell is not None and self._section is not None:
            self._section["tables"][-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "li" and self._li is not None and self._section is not None:
            if self._li[0]:
                self._section["items"][self._li[0]] = "".join(self._li[1])
            self._section["texts"].append("".join(self._li[1]))
            self._li = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._li is not None:
            self._li[1].append(data)
        if self._section is not None and self._section["headings"] and self.lasttag in ("h2", "h3"):
            self._section["headings"][-1] += data


def test_the_report_leads_with_scores_then_the_charts_then_one_section_per_concept():
    page = Page(html_report(ROWS, partial=True, matching=match(LEARNERS, Roster([]))))
    assert page.order == ["scores", "pass-rates", "mistakes", *(f"concept-{i}" for i in range(len(CONCEPTS))),
                          "roster", "other"]
    assert [page.sections[f"concept-{i}"]["headings"][0] for i in range(len(CONCEPTS))] == CONCEPTS


def test_scores_are_learners_by_concepts_with_totals():
    table = Page(html_report(ROWS)).sections["scores"]["tables"][0]
    assert [cell.split("\n")[0] for cell in table[0]] == ["Learner", *CONCEPTS, "Total"]
    body = {line[0]: line[1:] for line in table[1:-1]}
    assert set(body) == set(LEARNERS)
    for learner, cells in body.items():
        for name, cell in zip(CONCEPTS, cells):
            mine = [r for r in COURSE if r.learner == learner and concept(r.notebook) == name]
            if not mine:
                assert cell.startswith("–")  # handed in nothing
                continue
            earned = sum(r.score for r in mine if r.score is not None)
            assert cell.startswith(f"{round(earned, 2):g} / {sum(r.points for r in mine):g}".replace(".0 ", " "))
            ungraded = sum(r.infrastructure for r in mine)
            assert (f"{ungraded} not graded" in cell) == bool(ungraded)


def test_pass_rates_are_counted_per_exercise_among_the_graded():
    section = Page(html_report(ROWS)).sections["pass-rates"]
    figures = {line[0]: line[1] for table in section["tables"] for line in table[1:]}
    for exercise in {r.exercise for r in COURSE}:
        graded = [r for r in COURSE if r.exercise == exercise and not r.infrastructure]
        short = exercise.split(".", 1)[1]
        assert figures[short].startswith(f"{sum(r.passed for r in graded)} of {len(graded)} (")


def test_the_mistakes_chart_ranks_categories_by_learners():
    section = Page(html_report(ROWS)).sections["mistakes"]
    lines = section["tables"][0][1:]
    learners = {}
    for r in COURSE:
        if not r.passed and r.code not in ("not_done", "infrastructure", "unreadable"):
            learners.setdefault(r.code, set()).add(r.learner)
    ranked = sorted(learners.items(), key=lambda item: -len(item[1]))
    assert len(lines) == min(10, len(ranked))
    for line in lines:
        code = line[0].rsplit("(", 1)[1].rstrip(")")
        assert int(line[1].split()[0]) == len(learners[code])
    assert [int(line[1].split()[0]) for line in lines] == sorted((len(v) for _, v in ranked), reverse=True)[:10]
    assert not any("not_done" in line[0] for line in lines)


def test_each_failed_cell_links_to_its_hint_which_reads_without_hovering():
    text = html_report(ROWS)
    assert "… (the whole hint below the table)" in text and "a huge message " * 100 in text
    page = Page(text)
    for index, name in enumerate(CONCEPTS):
        section = page.sections[f"concept-{index}"]
        failed = [r for r in COURSE if concept(r.notebook) == name and not r.passed]
        links = [(href, title) for href, title in section["links"] if href.startswith("#h")]
        assert len(links) == len(failed) == len(section["items"])
        assert {href[1:] for href, _ in links} == set(section["items"])  # every ✘ leads to its hint
        titles = {title for _, title in links}
        for r in failed:
            what = "not graded" if r.infrastructure else category(r.code)
            assert f"{r.learner}, {r.exercise} ({what}): {short(r.hint)}" in section["items"].values()
            assert (hover(r.hint) if r.infrastructure else f"{what}: {hover(r.hint)}") in titles  # on hover too
        header = section["tables"][0][0]
        exercises = list(dict.fromkeys(r.exercise for r in COURSE if concept(r.notebook) == name))
        assert header == ["Learner", *(e.split(".", 1)[1] for e in exercises), "Score"]
        cells = Counter(c.split()[0] for line in section["tables"][0][1:-1] for c in line[1:-1])
        assert cells["✔"] == sum(r.passed for r in COURSE if concept(r.notebook) == name)
        assert cells["?"] == sum(r.infrastructure for r in COURSE if concept(r.notebook) == name)


def test_the_summary_counts_infrastructure_apart_and_warns_without_a_sandbox():
    infra = sum(r.infrastructure for r in ROWS)
    page = html_report(ROWS, sandboxed=False, partial=True)
    assert infra and f"{infra} could not be graded (infrastructure" in page
    assert "These grades were made without a sandbox" in page and "partial credit" in page
    assert "without a sandbox" not in html_report(ROWS) and "all or nothing" in html_report(ROWS)


# ----- roster and Canvas ----------------------------------------------------------------

CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,01_chain_rule (4242),Current Score\n"
    "    Points Possible,,,,,7,(read only)\n"
    ",,,,,Manual Posting,\n"
    '"Doe, Jane",101,S-001,learner00,Section A,,\n'
    '"Roe, Rick",102,S-002,LEARNER01,Section A,,\n'
    '"Poe, Pat",103,learner02,pat,Section B,,\n'
    '"Nobody, Ned",104,S-004,ned,Section B,,\n'
)


@pytest.fixture
def roster_file(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(CANVAS_EXPORT, encoding="utf-8")
    return path


def test_a_canvas_export_is_a_roster(roster_file):
    roster = read_roster(roster_file)
    assert [s.name for s in roster.students] == ["Doe, Jane", "Roe, Rick", "Poe, Pat", "Nobody, Ned"]
    assert roster.students[0] == Student("Doe, Jane", "101", "S-001", "learner00", "Section A")


@pytest.mark.parametrize("content, words", [
    ("Name,Email\nann,ann@x\n", "needs a header"),
    ("", "no header"),
])
def test_a_roster_without_the_columns_says_which_it_needs(tmp_path, content, words):
    path = tmp_path / "roster.csv"
    path.write_text(content)
    with pytest.raises(RosterError, match=words):
        read_roster(path)
    with pytest.raises(RosterError, match="no roster"):
        read_roster(tmp_path / "missing.csv")


def test_learners_are_matched_by_login_then_sis_id_then_id_without_regard_to_case(roster_file):
    roster = read_roster(roster_file)
    found = match(["learner00", "learner01", "learner02", "104", "stranger"], roster)
    assert {learner: s.name for learner, s in found.students.items()} == {
        "learner00": "Doe, Jane", "learner01": "Roe, Rick", "learner02": "Poe, Pat", "104": "Nobody, Ned"}
    assert list(found.unknown) == ["stranger"] and found.absent == []


def test_two_folders_of_one_student_and_a_name_two_students_share_are_unknown():
    roster = Roster([Student("A", "1", "x", "ann"), Student("B", "2", "y", "bob"), Student("C", "3", "y", "cat")])
    found = match(["ann", "Ann", "y"], roster)
    assert found.students == {} and set(found.unknown) == {"ann", "Ann", "y"}
    assert "same student" in found.unknown["Ann"] and "2 students" in found.unknown["y"]
    assert [s.name for s in found.absent] == ["A", "B", "C"]


def test_the_canvas_gradebook_follows_canvas_format_and_the_roster(roster_file):
    roster = read_roster(roster_file)
    rows = [r for r in ROWS if r.learner in ("learner00", "learner01", "learner02", "learner03")]
    matching = match(sorted({r.learner for r in rows}), roster)
    lines = list(csv.reader(io.StringIO(gradebook_text(rows, roster, matching))))
    header, possible, students = lines[0], lines[1], lines[2:]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    # The roster's own assignment keeps its Canvas id; the others are titled by their concept.
    assert header[5:] == ["01_chain_rule (4242)", *CONCEPTS[1:]]
    assert possible[0] == "Points Possible" and possible[1:5] == ["", "", "", ""]
    for name, cell in zip(CONCEPTS, possible[5:]):
        points = {(r.exercise, r.points) for r in COURSE if concept(r.notebook) == name}
        assert float(cell) == sum(p for _, p in points)
    assert [line[0] for line in students] == [s.name for s in roster.students]  # every student, roster order
    assert students[3][5:] == [""] * len(CONCEPTS)  # on the roster, nothing handed in: empty, not zero
    assert "learner03" in matching.unknown and not any("learner03" in line for line in lines)
    for line, learner in zip(students[:3], ("learner00", "learner01", "learner02")):
        for name, cell in zip(CONCEPTS, line[5:]):
            mine = [r for r in rows if r.learner == learner and concept(r.notebook) == name]
            if any(r.infrastructure for r in mine):
                assert cell == ""  # lacks an exercise: grade again rather than import a short sum
            else:
                assert float(cell) == pytest.approx(sum(r.score for r in mine), abs=0.005)


def test_grade_with_canvas_writes_the_gradebook_and_names_unknown_learners(tmp_path, roster_file, monkeypatch,
                                                                          capsys):
    for learner in ("learner00", "stranger"):
        (tmp_path / "class" / learner).mkdir(parents=True)
        nbformat.write(solved(NB01), tmp_path / "class" / learner / NB01)
    rows = [scored(Row(learner, NB01, "01.mul_gate", True, "ok", ""), 1) for learner in ("learner00", "stranger")]
    monkeypatch.setattr(grading_cli, "grade", lambda *a, **k: rows)
    out = tmp_path / "out"
    command = ["grade", str(tmp_path / "class"), "--out", str(out), "--quiet", "--no-sandbox", "--format", "canvas"]
    assert main(command) == grading_cli.CANNOT_RUN  # no roster: says so before grading
    assert "--roster" in capsys.readouterr().err and not out.exists()
    assert main([*command, "--roster", str(tmp_path / "nope.csv")]) == grading_cli.CANNOT_RUN
    assert main([*command, "--roster", str(roster_file)]) == grading_cli.GRADED
    printed = capsys.readouterr().out
    assert "NOT ON THE ROSTER" in printed and "stranger" in printed and "3 students on the roster" in printed
    gradebook = (out / "canvas.csv").read_text(encoding="utf-8")
    assert '"Doe, Jane",101,S-001,learner00,Section A,1' in gradebook and "stranger" not in gradebook
    roster = Page((out / "report.html").read_text(encoding="utf-8")).sections["roster"]
    assert "Learners not on the roster (1)" in roster["headings"]
    assert [text.split(":")[0] for text in roster["texts"]] == ["stranger", "Roe, Rick (LEARNER01)",
                                                              "Poe, Pat (pat)", "Nobody, Ned (ned)"]


# ----- grade(partial=True) ----------------------------------------------------------------

def test_grade_passes_partial_to_the_judge_and_scores_by_share(tmp_path, monkeypatch):
    nbformat.write(solved(NB01), tmp_path / NB01)
    seen = {}

    def fake_run(notebooks, workdir, settings, on_progress, learners=None):
        seen["partial"] = settings.partial
        cells = {(key, n): (True, "") for key, (count, _) in notebooks.items() for n in range(count)}
        verdicts = {key: {e: {"passed": False, "code": "sign", "message": "m", "cases_passed": 3, "cases_total": 12}
                          for e in exercises} for key, (_, exercises) in notebooks.items()}
        return Results(cells, verdicts)

    monkeypatch.setattr(grade_module, "run", fake_run)
    rows = grade_module.grade(collect([tmp_path / NB01]), SOLUTIONS, use_sandbox=False, partial=True)
    assert seen["partial"] is True and rows and all(r.score == pytest.approx(0.25 * r.points) for r in rows)
    rows = grade_module.grade(collect([tmp_path / NB01]), SOLUTIONS, use_sandbox=False)
    assert seen["partial"] is False and all(r.score == 0 for r in rows)
