"""The layers of course/, stated once, and no import circle among its modules.

Every ``import`` statement counts, at module level and inside functions alike
(a function-level import is still a dependency: it only runs later), and so
does ``importlib.import_module("course....")`` with a literal name. A lower
layer that must call up offers a seam instead (``course.assess.seams``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

COURSE = Path(__file__).resolve().parent.parent / "course"

# Bottom to top. Each room may import the rooms named here (and itself), nothing else; the package's
# root (``course/__init__.py``) names lower layers' modules by string only, and anyone may import it.
BELOW_AUTHORING = {"compute", "present", "assess"}
MAY_IMPORT = {
    "compute": set(),
    "present": {"compute"},  # present and assess sit side by side: neither imports the other
    "assess": {"compute"},
    "authoring": BELOW_AUTHORING,
    "safe_run": BELOW_AUTHORING | {"authoring"},
    "gradebook": BELOW_AUTHORING | {"authoring", "safe_run"},
    "session": {"compute", "assess"},  # the live session server: beside the gradebook, it receives verdict events
    "cli": BELOW_AUTHORING | {"authoring", "safe_run", "gradebook", "session"},
}
CLI_MODULES = {"course.cli", "course.__main__"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a module of the package, never a name inside one)
    line: int
    in_function: bool


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = COURSE) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def room(module: str) -> str | None:
    """The layer a module belongs to; None for the package's root."""
    if module in CLI_MODULES:
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _resolve(name: str, known: dict[str, Path]) -> list[str]:
    """The package's modules importing ``name`` runs: it and each package above it."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in known]


def imports(root: Path = COURSE) -> list[Import]:
    known = modules(root)
    package = root.name
    found = []
    for source, path in known.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
        nested = {id(inner) for f in functions for inner in ast.walk(f) if inner is not f}
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = source.split(".")
                    base = base[:len(base) - node.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                names = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
                  in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                names = [node.args[0].value]
            for name in names:
                if name == package or name.startswith(package + "."):
                    for target in _resolve(name, known):
                        if target != source:
                            found.append(Import(source, target, node.lineno, id(node) in nested))
    return sorted(set(found), key=lambda i: (i.source, i.line, i.target))


def upward(found: list[Import]) -> list[str]:
    """Every import that a room may not make, said in a line each."""
    wrong = []
    for imp in found:
        mine, theirs = room(imp.source), room(imp.target)
        if theirs is None or theirs == mine:
            continue
        if mine is None:
            wrong.append(f"{imp.source} (the package's root) imports {imp.target}: name it by string instead")
        elif theirs not in MAY_IMPORT.get(mine, set()):
            where = "inside a function" if imp.in_function else "at module level"
            allowed = ", ".join(sorted(MAY_IMPORT.get(mine, set()))) or "nothing of the package"
            wrong.append(f"{imp.source} imports {imp.target} (line {imp.line}, {where}):"
                         f" {mine} may import {allowed}")
    return wrong


def circles(found: list[Import]) -> list[list[str]]:
    """The import graph's strongly connected components of two or more modules (Tarjan, without recursion)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


# ----- the course itself ---------------------------------------------------------------------------

def test_every_module_of_course_is_in_a_room_the_layers_name():
    unknown = sorted(m for m in modules() if room(m) is not None and room(m) not in MAY_IMPORT)
    assert not unknown, f"modules outside the layers of tests/test_architecture.py (add their room there): {unknown}"


def test_no_import_runs_upward_or_sideways():
    found = imports()
    assert len(found) > 100  # the reader sees the package's imports (a broken parser would find none)
    wrong = upward(found)
    assert not wrong, "imports against the layers (offer a seam below instead, as course.assess.seams):\n" + \
        "\n".join(wrong)


def test_no_import_circle_among_the_modules_of_course():
    found = circles(imports())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_grading_rooms_import_only_downward():
    found = imports()
    assert not [i for i in found if room(i.source) == "safe_run" and room(i.target) == "gradebook"]
    assert any(room(i.source) == "gradebook" and room(i.target) == "safe_run" for i in found)


# ----- the checker itself: it sees what it must -----------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "course"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return root


def test_the_checker_finds_an_upward_import_inside_a_function_and_a_relative_one(tmp_path):
    root = _package(tmp_path, {
        "assess/check.py": "def check():\n    from course.safe_run import client\n",
        "compute/graph.py": "from ..present import figures\n",
        "present/figures.py": "",
        "safe_run/client.py": "from course.assess import check\n",
    })
    wrong = upward(imports(root))
    assert any("course.assess.check imports course.safe_run.client (line 2, inside a function)" in w for w in wrong)
    assert any("course.compute.graph imports course.present.figures (line 1, at module level)" in w for w in wrong)
    assert not any(w.startswith("course.safe_run.client") for w in wrong)  # downward: allowed


def test_the_checker_finds_a_circle_through_a_function_level_import(tmp_path):
    root = _package(tmp_path, {
        "authoring/build.py": "def build_one():\n    from course.authoring.nbgrader_cells import meta\n",
        "authoring/nbgrader_cells.py": "from course.authoring.build import BuildError\n",
        "authoring/scaffold.py": "from course.authoring import build\n",
    })
    assert circles(imports(root)) == [["course.authoring.build", "course.authoring.nbgrader_cells"]]
