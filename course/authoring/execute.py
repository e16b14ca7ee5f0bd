"""Run notebooks and save their outputs, the same bytes on every run.

nbclient runs each notebook in a fresh kernel from its own folder. Widget
models get random ids; they are renamed in order of appearance so that a
rerun changes nothing in the file unless an output really changed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

# Also inside "IPY_MODEL_<id>", where \b would not see the start of the id.
_MODEL_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def stable_widget_ids(text: str) -> str:
    """Replace each widget model id (32 hex digits) with a counter, in order."""
    names: dict[str, str] = {}

    def rename(match: re.Match) -> str:
        return names.setdefault(match.group(0), f"{len(names) + 1:032x}")

    return _MODEL_ID.sub(rename, text)


def execute(path: Path, timeout: int = 600) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, store_widget_state=True,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    text = nbformat.writes(nb) + "\n"
    # Re-serialise after renaming so the JSON stays canonical.
    nb = nbformat.reads(stable_widget_ids(text), as_version=4)
    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def execute_all(paths: list[Path]) -> None:
    for path in paths:
        print(f"running {path} ...", flush=True)
        execute(path)
    print(json.dumps({"executed": len(paths)}))
