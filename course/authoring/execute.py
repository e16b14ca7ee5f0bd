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


def stable_widget_ids(text: str, order: list[str] | None = None) -> str:
    """Replace each widget model id (32 hex digits) with a counter.

    Ids listed in ``order`` are numbered first, in that order; any other id
    in order of appearance in the text.
    """
    names: dict[str, str] = {}
    for model_id in order or []:
        names.setdefault(model_id, f"{len(names) + 1:032x}")

    def rename(match: re.Match) -> str:
        return names.setdefault(match.group(0), f"{len(names) + 1:032x}")

    return _MODEL_ID.sub(rename, text)


def coalesce_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how the kernel splits them varies."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] += out["text"]
        else:
            merged.append(out)
    return merged


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def widget_order(nb: nbformat.NotebookNode) -> list[str]:
    """Model ids reached from the cells' widget views, breadth first.

    The kernel saves its models in no fixed order; walking from the outputs,
    which are in cell order, gives the same numbering on every run.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    queue = [out.get("data", {}).get("application/vnd.jupyter.widget-view+json", {}).get("model_id")
             for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    order, seen = [], set()
    while queue:
        model_id = queue.pop(0)
        if not model_id or model_id in seen:
            continue
        seen.add(model_id)
        order.append(model_id)
        references = json.dumps(state.get(model_id, {}).get("state", {}), sort_keys=True)
        queue.extend(_MODEL_ID.findall(references))
    order += sorted(set(state) - seen, key=lambda m: json.dumps(state[m], sort_keys=True))
    return order


def _sort_widget_state(nb: nbformat.NotebookNode) -> None:
    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if widgets and "state" in widgets:
        widgets["state"] = dict(sorted(widgets["state"].items()))


def execute(path: Path, timeout: int = 600) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, store_widget_state=True,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    text = nbformat.writes(nb) + "\n"
    # Re-serialise after renaming so the JSON stays canonical.
    nb = nbformat.reads(stable_widget_ids(text, widget_order(nb)), as_version=4)
    _sort_widget_state(nb)
    Path(path).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def execute_all(paths: list[Path]) -> None:
    for path in paths:
        print(f"running {path} ...", flush=True)
        execute(path)
    print(json.dumps({"executed": len(paths)}))
