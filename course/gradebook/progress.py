"""A learner's own view: every exercise, done or not yet, with the current hint.

Fast enough to run after every exercise: a notebook is run again only when
it changed since the last run. Its rows are kept in a small cache file in the
user's cache folder (``$XDG_CACHE_HOME/gradflow/progress/``, one file per
folder of notebooks, never in the learner's repository), keyed by a hash of
everything the verdict depends on: the notebook's bytes, its master's, the
checks' code and the seed. Rows the grader's own machinery produced (a cell that timed out, a
dead kernel) are never kept: the next run tries again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
from dataclasses import asdict
from pathlib import Path

import course.assess
from course.assess.check import hidden_seed
from course.safe_run import sandbox
from course.safe_run.collect import collect, masters
from course.safe_run.grade import INFRASTRUCTURE_CODE, Row, grade

NOT_KEPT = {"crash", "cell_timeout", "nbval", "error", "no_verdict", INFRASTRUCTURE_CODE}  # may be the machine's doing: graded again next time


def learner_progress(folder: Path, solutions: Path, *, cache: bool = True, **options) -> list[Row]:
    """Run the learner's exercise notebooks (with the seed their own check cells use) and judge them."""
    submissions = collect([Path(folder)])
    options.setdefault("seed", hidden_seed())
    # A learner's own notebooks, on any system: the sandbox where there is one.
    options.setdefault("use_sandbox", sandbox.bwrap() is not None)
    if not cache:
        return grade(submissions, solutions, **options)
    cache_file = cache_path(Path(folder))
    kept = _read_cache(cache_file)
    known = masters(solutions)
    keys = {s.path: _key(s.path, known.get(s.notebook), options["seed"]) for s in submissions}
    todo = [s for s in submissions if keys[s.path] not in kept]
    fresh = _split(todo, grade(todo, solutions, **options) if todo else [])
    rows, keep = [], {}
    for s in submissions:
        mine = kept.get(keys[s.path]) or fresh.get(s.path, [])
        rows += [Row(**r) for r in mine]
        if not any(r["code"] in NOT_KEPT for r in mine):
            keep[keys[s.path]] = mine
    _write_cache(cache_file, keep)
    return rows


def cache_path(folder: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return base / "gradflow" / "progress" / f"{name}.json"


def _split(submissions, rows: list[Row]) -> dict[Path, list[dict]]:
    """Rows (in submission order, one group per submission) -> submission path -> its rows."""
    groups: dict[Path, list[dict]] = {}
    rows = iter(rows)
    row = next(rows, None)
    for s in submissions:
        seen = groups.setdefault(s.path, [])
        while row is not None and row.notebook == s.notebook and row.exercise not in {r["exercise"] for r in seen}:
            seen.append(asdict(row))
            row = next(rows, None)
    return groups


def _key(notebook: Path, master: Path | None, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}\n{_checks_version()}\n".encode())
    for path in (notebook, master):
        digest.update(path.read_bytes() if path and path.is_file() else b"-")
    return digest.hexdigest()


def _checks_version() -> str:
    """A hash of the course's checking code: an updated course grades every notebook again."""
    digest = hashlib.sha256()
    for path in sorted(Path(course.assess.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: everything is graded again


def _write_cache(path: Path, rows: dict) -> None:
    # Written whole then renamed: an interrupted run never leaves half a file.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(rows), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # no writable cache folder: progress still works, only slower


def progress_table(rows: list[Row], width: int | None = None) -> str:
    """One line per exercise; a hint is shown whole, wrapped to the terminal under its column."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    name = max([len(r.exercise) for r in rows] + [8])
    indent = " " * (name + 8)
    lines = [f"{'exercise':<{name}}  done  hint"]
    for r in rows:
        mark = "✔" if r.passed else "✘"
        first = f"{r.exercise:<{name}}  {mark}     "
        hint = "" if r.passed else " ".join(r.hint.split())
        wrapped = textwrap.wrap(hint, width=max(width, len(indent) + 30), initial_indent=first,
                                subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
        lines += wrapped or [first.rstrip()]
    lines.append("")
    lines += concept_summary(rows)
    return "\n".join(lines)


def concept_summary(rows: list[Row]) -> list[str]:
    """One line per notebook (concept): "01_chain_rule: 5 of 7 done"."""
    summary = []
    for notebook in dict.fromkeys(r.notebook for r in rows):
        mine = [r for r in rows if r.notebook == notebook]
        summary.append(f"{Path(notebook).stem}: {sum(r.passed for r in mine)} of {len(mine)} done")
    return summary
