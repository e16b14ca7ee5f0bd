"""report.html, the class report: what an instructor reads first, then what to teach again.

In this order: a summary (and a warning when the grades were made without a
sandbox); learners × concepts (scores and totals); a chart of the pass rate of
each exercise; a chart of the categories of mistakes the most learners made;
one section per concept with its exercise table (✔, ✘ with the mistake's
category, "not graded"), each ✘ a link to its hint in the list below the table
(so a hint reads without hovering, and in print); and, given a roster, who is
not on it and who handed in nothing. The charts are tables with a bar beside
each figure: the figure is text, the bar only draws it. No script; one page
that fits a 1366-pixel-wide screen and prints (styles in ``report_style``).
"""

from __future__ import annotations

import html
from collections import defaultdict

from course.gradebook.report_style import STYLE
from course.gradebook.roster import Matching
from course.gradebook.totals import (Total, by_learner, by_learner_and_concept, concept, concepts_in_order,
                                     course_rows, exercises_of, learners_in_order, misconceptions, number,
                                     pass_rates, UNKNOWN_NOTEBOOK)
from course.safe_run.verdicts import Row, category, short

esc = html.escape
HOVER_CHARS = 300  # the hover text's length: the whole hint is in the list the cell links to


def hover(hint: str) -> str:
    return hint if len(hint) <= HOVER_CHARS else hint[:HOVER_CHARS] + " … (the whole hint below the table)"


def _percent(share: float) -> str:
    return f"{round(100 * share)}%"


def _bar(share: float) -> str:
    """A bar drawing ``share`` (0..1); hidden from screen readers, which read the figure beside it."""
    return (f'<span class="bar" aria-hidden="true"><span style="width:{100 * max(0.0, min(share, 1.0)):.1f}%">'
            "</span></span>")


def _total_cell(total: Total | None) -> str:
    if total is None:
        return '<td class="none">–<span class="sr"> not handed in</span></td>'
    share = total.score / total.max_score if total.max_score else 0.0
    lacking = (f'<span class="lack">{total.ungraded} not graded</span>' if total.ungraded else "")
    return (f'<td class="num"><span class="nowrap"><span class="score">{number(total.score)}</span> /'
            f" {number(total.max_score)}</span>{lacking}{_bar(share)}</td>")


def _summary(rows: list[Row], sandboxed: bool, partial: bool) -> str:
    learners, graded_rows = learners_in_order(rows), course_rows(rows)
    infrastructure = sum(r.infrastructure for r in rows)
    graded = len(rows) - infrastructure
    infra = (f" <b>{infrastructure} could not be graded (infrastructure: the grader's failure, not the learners';"
             " grade again)</b>; their scores are missing, not zero.") if infrastructure else ""
    warning = ("" if sandboxed else '<p class="warning" role="alert"><b>These grades were made without a sandbox</b>'
               " (--no-sandbox): the learners' code ran with the grader's rights and could have changed them.</p>")
    scoring = ("partial credit: each exercise earns its points times the share of its cases (public and hidden)"
               " the function passed" if partial else
               "all or nothing: each exercise passed earns its points")
    exercises = len({r.exercise for r in graded_rows})
    return (f"{warning}<p>{len(learners)} learners, {exercises} exercises in {len(concepts_in_order(rows))} concepts:"
            f" {sum(r.passed for r in rows)} of {graded} graded exercises passed.{infra} Scores: {scoring}.</p>")


def _contents(rows: list[Row], matching: Matching | None) -> str:
    links = [("scores", "Scores by concept"), ("pass-rates", "Pass rate per exercise"),
             ("mistakes", "Mistakes to teach again")]
    links += [(f"concept-{i}", name) for i, name in enumerate(concepts_in_order(rows))]
    if matching is not None:
        links.append(("roster", "Roster"))
    if any(r.code == UNKNOWN_NOTEBOOK for r in rows):
        links.append(("other", "Notebooks not of the course"))
    return ('<nav aria-label="Contents"><ul>' + "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in links)
            + "</ul></nav>")


def _scores(rows: list[Row]) -> str:
    concepts = concepts_in_order(rows)
    per = by_learner_and_concept(rows)
    overall = by_learner(rows)
    possible = defaultdict(float)
    for (_, name), total in per.items():
        possible[name] = max(possible[name], total.max_score)
    head = "".join(f'<th scope="col"><a href="#concept-{i}">{esc(c)}</a><br><small>{number(possible[c])} pts</small>'
                   "</th>" for i, c in enumerate(concepts))
    body = "".join(f'<tr><th scope="row">{esc(learner)}</th>'
                   + "".join(_total_cell(per.get((learner, c))) for c in concepts)
                   + _total_cell(overall[learner] if overall[learner].exercises else None) + "</tr>"
                   for learner in learners_in_order(rows))
    means = []
    for c in concepts:
        these = [t for (_, name), t in per.items() if name == c and t.complete]
        means.append(f'<td class="num">{number(sum(t.score for t in these) / len(these))}</td>' if these
                     else '<td class="none">–</td>')
    return (f'<section id="scores"><h2>Scores by concept</h2><div class="wide"><table class="scores">'
            "<caption>Points earned of the concept's points, per learner; the last column is the course total."
            f' A dash: nothing handed in.</caption><thead><tr><th scope="col">Learner</th>{head}'
            f'<th scope="col">Total</th></tr></thead><tbody>{body}</tbody>'
            f'<tfoot><tr><th scope="row">Mean</th>{"".join(means)}<td></td></tr></tfoot></table></div></section>')


def _pass_rates(rows: list[Row]) -> str:
    by_concept: dict[str, list] = defaultdict(list)
    for rate in pass_rates(rows):
        by_concept[rate.concept].append(rate)
    tables = []
    for name, rates in by_concept.items():
        prefix = name.split("_", 1)[0] + "."
        items = "".join(
            f'<tr><th scope="row" title="{esc(rate.exercise)}">{esc(rate.exercise.removeprefix(prefix))}</th>'
            f'<td class="num nowrap">{rate.passed} of {rate.graded} <span class="pct">({_percent(rate.share)})'
            f'</span></td><td class="barcell">{_bar(rate.share)}</td></tr>' for rate in rates)
        tables.append(f'<table class="chart rates"><caption>{esc(name)}</caption><thead><tr><th scope="col">Exercise'
                      '</th><th scope="col">Passed</th><th scope="col"><span class="sr">Bar</span></th></tr></thead>'
                      f"<tbody>{items}</tbody></table>")
    return ('<section id="pass-rates"><h2>Pass rate per exercise</h2><p>Learners who passed each exercise, of'
            " those graded on it, concept by concept in the course's order.</p>"
            f'<div class="charts">{"".join(tables)}</div></section>')


def _mistakes(rows: list[Row]) -> str:
    learners = len(learners_in_order(rows)) or 1
    found = misconceptions(rows)
    if not found:
        return ('<section id="mistakes"><h2>Mistakes to teach again</h2><p>No mistake of a known category:'
                " every exercise handed in passed, or failed only for not being written.</p></section>")
    items = "".join(
        f'<tr><th scope="row">{esc(m.description)} <small>({esc(m.code)})</small></th>'
        f'<td class="num nowrap">{len(m.learners)} <span class="pct">({_percent(len(m.learners) / learners)})'
        f'</span></td><td class="barcell">{_bar(len(m.learners) / learners)}</td>'
        f'<td class="seen">{esc(", ".join(f"{e} ({n})" for e, n in m.exercises.most_common(3)))}</td></tr>'
        for m in found)
    return ('<section id="mistakes"><h2>Mistakes to teach again</h2><table class="chart"><caption>The categories'
            " of mistakes the most learners made (exercises not yet written left out), with the exercises where"
            ' they were seen and how often.</caption><thead><tr><th scope="col">Mistake</th>'
            '<th scope="col">Learners</th><th scope="col"><span class="sr">Bar</span></th>'
            f'<th scope="col">Seen in</th></tr></thead><tbody>{items}</tbody></table></section>')


def _verdict_cell(r: Row | None, anchor: str, partial: bool) -> str:
    if r is None:
        return '<td class="none">–<span class="sr"> not handed in</span></td>'
    if r.passed:
        return '<td class="ok">✔<span class="sr"> passed</span></td>'
    if r.infrastructure:
        return f'<td class="infra"><a href="#{anchor}" title="{esc(hover(r.hint))}">? not graded</a></td>'
    earned = f' <span class="part">{number(r.score)}</span>' if partial and r.score else ""
    return (f'<td class="no"><a href="#{anchor}" title="{esc(category(r.code))}: {esc(hover(r.hint))}">✘ '
            f'<span class="code">{esc(r.code)}</span></a>{earned}</td>')


def _concept(index: int, name: str, rows: list[Row], partial: bool) -> str:
    exercises = exercises_of(rows, name)
    mine = [r for r in course_rows(rows) if concept(r.notebook) == name]
    cell = {(r.learner, r.exercise): r for r in mine}
    per = by_learner_and_concept(rows)
    prefix = name.split("_", 1)[0] + "."
    head = "".join(f'<th scope="col" title="{esc(e)}">{esc(e.removeprefix(prefix))}</th>' for e in exercises)
    learners = learners_in_order(mine)
    anchor = {(learner, e): f"h{index}-{i}-{j}" for i, learner in enumerate(learners) for j, e in enumerate(exercises)}
    body = "".join(f'<tr><th scope="row">{esc(learner)}</th>'
                   + "".join(_verdict_cell(cell.get((learner, e)), anchor[(learner, e)], partial) for e in exercises)
                   + _total_cell(per.get((learner, name))) + "</tr>" for learner in learners)
    passes = "".join(f'<td class="num">{sum(cell[(x, e)].passed for x in learners if (x, e) in cell)}/'
                     f'{sum(1 for x in learners if (x, e) in cell and not cell[(x, e)].infrastructure)}</td>'
                     for e in exercises)
    hints = [(learner, e, cell[(learner, e)]) for learner in learners for e in exercises
             if (learner, e) in cell and not cell[(learner, e)].passed]
    listed = "".join(
        f'<li id="{anchor[(learner, e)]}"><b>{esc(learner)}</b>, {esc(e)}'
        f" ({'not graded' if r.infrastructure else esc(category(r.code))}): {esc(short(r.hint))}</li>"
        for learner, e, r in hints)
    details = (f'<details><summary>Every hint of this concept ({len(hints)}), learner by learner</summary>'
               f"<ol class=\"hints\">{listed}</ol></details>" if hints else "<p>Every exercise passed.</p>")
    return (f'<section id="concept-{index}" class="concept"><h2>{esc(name)}</h2><div class="wide">'
            f'<table class="grid"><caption>{esc(name)}: ✔ passed, ✘ failed (the mistake\'s category; follow'
            " it to the hint), ? not graded (the grader's failure). Column headers are exercise ids without"
            f' "{esc(prefix)}".</caption><thead><tr><th scope="col">Learner</th>{head}<th scope="col">Score</th>'
            f'</tr></thead><tbody>{body}</tbody><tfoot><tr><th scope="row">Passed</th>{passes}<td></td></tr></tfoot>'
            f"</table></div>{details}</section>")


def _roster(matching: Matching | None) -> str:
    if matching is None:
        return ""
    unknown = "".join(f"<li><b>{esc(learner)}</b>: {esc(why)}</li>"
                      for learner, why in sorted(matching.unknown.items(), key=lambda item: item[0].casefold()))
    absent = "".join(f"<li>{esc(s.name)}" + (f" ({esc(s.sis_login_id or s.sis_user_id or s.canvas_id)})")
                     + "</li>" for s in matching.absent)
    return ('<section id="roster"><h2>Roster</h2>'
            f"<p>{len(matching.students)} learners matched to the roster.</p>"
            f"<h3>Learners not on the roster ({len(matching.unknown)})</h3>"
            + (f"<p>Graded here, but left out of the gradebook export: match them by hand.</p><ul>{unknown}</ul>"
               if unknown else "<p>None.</p>")
            + f"<h3>On the roster, nothing handed in ({len(matching.absent)})</h3>"
            + (f"<p>Their scores in the gradebook export are empty.</p><ul>{absent}</ul>" if absent else "<p>None.</p>")
            + "</section>")


def _other(rows: list[Row]) -> str:
    other = [r for r in rows if r.code == UNKNOWN_NOTEBOOK]
    if not other:
        return ""
    items = "".join(f"<li><b>{esc(r.learner)}</b>: {esc(r.notebook)}</li>" for r in other)
    return (f'<section id="other"><h2>Notebooks not of the course</h2><p>No master has their name: they count'
            f" nowhere.</p><ul>{items}</ul></section>")


def html_report(rows: list[Row], sandboxed: bool = True, *, partial: bool = False,
                matching: Matching | None = None) -> str:
    concepts = "".join(_concept(i, name, rows, partial) for i, name in enumerate(concepts_in_order(rows)))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>Gradflow class report'
            f"</title><style>{STYLE}</style></head><body><main><h1>Class report</h1>"
            f"{_summary(rows, sandboxed, partial)}{_contents(rows, matching)}{_scores(rows)}{_pass_rates(rows)}"
            f"{_mistakes(rows)}{concepts}{_roster(matching)}{_other(rows)}</main></body></html>\n")
