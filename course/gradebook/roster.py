"""The class roster: who is enrolled, and which learner folder is whose.

A roster is a CSV file whose header names the columns ``Student`` and at
least one of ``SIS Login ID``, ``SIS User ID`` and ``ID``; ``Section`` is
kept when present and other columns are ignored. Canvas's own gradebook
export (Grades → Export) is such a file, and its "Points Possible" row is
skipped. A learner (the name of their folder of notebooks) is the student
whose SIS Login ID, else SIS User ID, else Canvas ID, is that name, compared
without regard to case or surrounding spaces. A learner who matches nobody,
or more than one student, is *unknown*: listed, never dropped in silence.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

NAME, CANVAS_ID, SIS_USER, SIS_LOGIN, SECTION = "Student", "ID", "SIS User ID", "SIS Login ID", "Section"
KEYS = (SIS_LOGIN, SIS_USER, CANVAS_ID)  # matched in this order
MAX_ROSTER_BYTES = 20 * 2**20


class RosterError(ValueError):
    """The roster cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Student:
    name: str
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    def key(self, column: str) -> str:
        value = {CANVAS_ID: self.canvas_id, SIS_USER: self.sis_user_id, SIS_LOGIN: self.sis_login_id}[column]
        return value.strip().casefold()


@dataclass
class Roster:
    students: list[Student]
    columns: list[str] = field(default_factory=list)  # the header as given (assignment columns included)


@dataclass
class Matching:
    students: dict[str, Student]  # learner -> their student
    unknown: dict[str, str]  # learner -> why they matched no one student
    absent: list[Student]  # on the roster, no submission


def _is_skipped(row: dict) -> bool:
    name = (row.get(NAME) or "").strip()
    if "Points Possible" in name:
        return True
    # Canvas's export may add a row of posting policies ("Manual Posting") under the header.
    return all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", value or "", re.I) for value in row.values())


def read_roster(path: Path) -> Roster:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"the roster {path} is over {MAX_ROSTER_BYTES // 2**20} MB: is it the right file?")
        text = path.read_text(encoding="utf-8-sig")  # Canvas writes a byte-order mark
    except FileNotFoundError:
        raise RosterError(f"no roster at {path}") from None
    except UnicodeDecodeError:
        raise RosterError(f"the roster {path} is not UTF-8 text: save it as CSV (UTF-8)") from None
    except OSError as exc:
        raise RosterError(f"the roster {path} cannot be read: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    if NAME not in columns or not any(key in columns for key in KEYS):
        raise RosterError(f"the roster {path} needs a header with the columns {NAME!r} and at least one of"
                          f" {', '.join(map(repr, KEYS))} (Canvas's gradebook export has them); it has"
                          f" {', '.join(map(repr, columns)) or 'no header'}")
    students = []
    for row in reader:
        if _is_skipped(row):
            continue
        students.append(Student(*((row.get(c) or "").strip() for c in (NAME, CANVAS_ID, SIS_USER, SIS_LOGIN, SECTION))))
    return Roster(students, columns)


def match(learners: list[str], roster: Roster) -> Matching:
    """Which student each learner is (by SIS Login ID, else SIS User ID, else ID)."""
    index: dict[str, dict[str, list[Student]]] = {key: {} for key in KEYS}
    for student in roster.students:
        for key in KEYS:
            if student.key(key):
                index[key].setdefault(student.key(key), []).append(student)
    found: dict[str, Student] = {}
    unknown: dict[str, str] = {}
    for learner in learners:
        wanted = learner.strip().casefold()
        for key in KEYS:
            candidates = index[key].get(wanted, [])
            if len(candidates) == 1:
                found[learner] = candidates[0]
                break
            if len(candidates) > 1:
                unknown[learner] = f"{len(candidates)} students of the roster have the {key} {learner!r}"
                break
        else:
            unknown[learner] = f"no student of the roster has {learner!r} as {' or '.join(KEYS)}"
    # Two folders for one student (`ann` and `Ann`): neither is taken, so no grade is overwritten unseen.
    owners: dict[Student, list[str]] = {}
    for learner, student in found.items():
        owners.setdefault(student, []).append(learner)
    for student, mine in owners.items():
        if len(mine) > 1:
            for learner in mine:
                del found[learner]
                unknown[learner] = f"{' and '.join(map(repr, mine))} are the same student ({student.name})"
    taken = set(found.values())
    return Matching(found, unknown, [s for s in roster.students if s not in taken])
