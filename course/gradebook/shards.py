"""Classes of any size: grade one N-th of a class per machine, then merge the parts.

``course grade CLASS --shard K/N --seed S --out OUT_K`` grades the learners
whose name falls in shard K of N (``shard_of``: a hash of the name, so every
notebook of a learner lands in the same shard and a learner's shard does not
depend on who else is in the class, or in what order). Every grading run
writes, beside grades.csv, report.html and feedback/, ``rows.json``: every
row in full, the shard, and the settings that decide a verdict (the seed, the
masters, the limits, the sandbox). ``course grade merge OUT_1 ... OUT_N --out
OUT`` reads them, refuses parts that do not belong together (different
settings, a learner in two parts, a shard missing or given twice) and writes
the output an unsharded run writes, byte for byte: rows are ordered by
learner (then as graded), and no output holds a time or a path of the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from course.gradebook.report import write_all, write_atomically
from course.safe_run.collect import Submission, masters
from course.safe_run.verdicts import Row

ROWS_FILE = "rows.json"
FORMAT = "gradflow-rows"
VERSION = 1


class ShardError(ValueError):
    """Shard outputs that cannot be merged, or a shard that cannot be named; the message says which and why."""


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` (1 to ``count``) of ``count``."""

    index: int = 1
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> Shard(K, N), with 1 <= K <= N (the numbering of a job array: 1, 2, ..., N)."""
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ShardError(f"--shard {text!r}: write K/N, e.g. 2/4 for the second of four shards")
    shard = Shard(int(index), int(count))
    if not 1 <= shard.index <= shard.count:
        raise ShardError(f"--shard {text}: K must be from 1 to N (shards are numbered 1, 2, ..., N)")
    return shard


def shard_of(learner: str, count: int) -> int:
    """The shard (1 to ``count``) a learner belongs to: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(learner.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(submissions: list[Submission], shard: Shard) -> list[Submission]:
    return [s for s in submissions if shard_of(s.learner, shard.count) == shard.index]


def in_learner_order(rows: list[Row]) -> list[Row]:
    """Rows by learner, each learner's rows as graded: the order does not depend on how the class was split."""
    return sorted(rows, key=lambda r: r.learner)


def masters_digest(solutions: Path) -> str:
    """What the masters are: a shard graded against other masters would not give comparable verdicts."""
    digest = hashlib.sha256()
    for name, path in masters(solutions).items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def settings(seed: int, solutions: Path, *, sandboxed: bool, cell_timeout: float,
             time_limit: float | None, partial: bool = False) -> dict:
    """Everything that decides a verdict or a score and must be the same in every shard of one class."""
    return {"seed": seed, "masters": masters_digest(solutions), "sandboxed": sandboxed,
            "cell_timeout": cell_timeout, "time_limit": time_limit, "partial": partial}


def rows_document(rows: list[Row], shard: Shard, run_settings: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "shard": [shard.index, shard.count], "settings": run_settings,
            "rows": [dataclasses.asdict(r) for r in rows]}


def write_rows(out: Path, rows: list[Row], shard: Shard, run_settings: dict) -> Path:
    path = Path(out) / ROWS_FILE
    write_atomically(path, json.dumps(rows_document(rows, shard, run_settings), indent=1, ensure_ascii=False) + "\n")
    return path


def write_run(out: Path, rows: list[Row], shard: Shard, run_settings: dict, matching=None) -> None:
    """Everything a grading run writes into ``out``: the reports, and rows.json for a later merge."""
    rows = in_learner_order(rows)
    write_all(rows, out, sandboxed=run_settings["sandboxed"], partial=run_settings.get("partial", False),
              matching=matching)
    write_rows(out, rows, shard, run_settings)


@dataclass
class Part:
    folder: Path
    shard: Shard
    settings: dict
    rows: list[Row]


def read_part(folder: Path) -> Part:
    path = Path(folder) / ROWS_FILE
    if not path.is_file():
        raise ShardError(f"{folder} has no {ROWS_FILE}: is it the --out folder of a `course grade` run?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ShardError(f"{path} is not a file of rows written by `course grade`")
        if data.get("version") != VERSION:
            raise ShardError(f"{path} has version {data.get('version')} of the rows format; this grader reads"
                             f" version {VERSION}: grade that shard again with this version")
        known = {f.name for f in dataclasses.fields(Row)}
        rows = [Row(**{k: v for k, v in row.items() if k in known}) for row in data["rows"]]
        return Part(Path(folder), Shard(*data["shard"]), data["settings"], rows)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ShardError):
            raise
        raise ShardError(f"{path} cannot be read ({exc}): grade that shard again") from exc


def check_parts(parts: list[Part]) -> None:
    """Refuse parts that are not the N shards of one class graded alike; say which and why."""
    if not parts:
        raise ShardError("nothing to merge: give the --out folders of the shards")
    first = parts[0]
    for part in parts[1:]:
        for key in sorted(set(first.settings) | set(part.settings)):
            if first.settings.get(key) != part.settings.get(key):
                what = {"seed": "seeds", "masters": "masters (solutions/)", "sandboxed": "sandbox settings",
                        "cell_timeout": "--cell-timeout values", "time_limit": "--time-limit values",
                        "partial": "scoring (--partial or not)"}.get(key, key)
                raise ShardError(f"{first.folder} and {part.folder} were graded with different {what}"
                                 f" ({first.settings.get(key)!r} and {part.settings.get(key)!r}): grade every"
                                 " shard with the same options (and the same --seed)")
    counts = {p.shard.count for p in parts}
    if len(counts) > 1:
        listed = ", ".join(f"{p.folder} is shard {p.shard}" for p in parts)
        raise ShardError(f"the parts split the class into different numbers of shards: {listed}")
    count = counts.pop()
    seen: dict[int, Path] = {}
    for part in parts:
        if part.shard.index in seen:
            raise ShardError(f"shard {part.shard} is given twice: {seen[part.shard.index]} and {part.folder}")
        seen[part.shard.index] = part.folder
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in seen]
    if missing:
        raise ShardError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing: merge all"
                         f" {count} shards (grade the missing ones first)")
    owner: dict[str, Part] = {}
    for part in parts:
        for learner in dict.fromkeys(r.learner for r in part.rows):
            if learner in owner and owner[learner] is not part:
                raise ShardError(f"learner {learner!r} is in two parts, {owner[learner].folder} (shard"
                                 f" {owner[learner].shard}) and {part.folder} (shard {part.shard}): were they"
                                 " graded from the same class folder?")
            owner[learner] = part


def merge(folders: list[Path], out: Path, matching=lambda rows: None) -> list[Row]:
    """Merge the shards' outputs into ``out``, as one unsharded run would have written it.

    ``matching(rows)``: the roster matching the report shows, as the unsharded run was given.
    """
    parts = [read_part(folder) for folder in folders]
    check_parts(parts)
    rows = in_learner_order([row for part in sorted(parts, key=lambda p: p.shard) for row in part.rows])
    write_run(out, rows, Shard(), parts[0].settings, matching=matching(rows))
    return rows
