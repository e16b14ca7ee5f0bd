"""A real nbgrader course folder made from the masters (for the nbgrader test and the benchmark).

nbgrader lives in its own virtual environment, ``.venv-nbgrader/``
(``scripts/install-nbgrader.sh``), or in this one when installed here
(``pip install -e '.[nbgrader]'``). Every nbgrader command runs as a
subprocess of that environment, in the course folder, with the course's
``docs/nbgrader/nbgrader_config.py`` and with no user-level Jupyter
configuration or kernels, so the kernel is that environment's Python.

Layout (nbgrader's defaults)::

    nbgrader_config.py
    source/<assignment>/<notebook>.ipynb           the masters
    release/<assignment>/<notebook>.ipynb          what generate_assignment makes
    submitted/<learner>/<assignment>/<notebook>.ipynb
    autograded/...  gradebook.db                   what autograde makes
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "docs" / "nbgrader" / "nbgrader_config.py"
REQUIRE_VARIABLE = "GRADFLOW_REQUIRE_NBGRADER"
ASSIGNMENT = "gradflow"
# Seconds one nbgrader command may take; a busy machine is slow, not broken.
COMMAND_TIMEOUT = 1800

_SCORES = """
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///" + sys.argv[1]) as gb:
    rows = []
    for submission in gb.find_assignment(sys.argv[2]).submissions:
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                rows.append([submission.student.id, notebook.name, grade.name, grade.score, grade.max_score])
print(json.dumps(rows))
"""


def nbgrader_python() -> Path | None:
    """The Python of an environment with nbgrader: .venv-nbgrader, else this one, else None."""
    own = ROOT / ".venv-nbgrader" / "bin" / "python"
    if own.exists():
        return own
    if importlib.util.find_spec("nbgrader") is not None:
        return Path(sys.executable)
    return None


def environment(home: Path, python: Path, **extra: str) -> dict[str, str]:
    """This environment less pytest's and Jupyter's variables, with empty user-level Jupyter folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JUPYTER_"))}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        folder = home / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    # nbgrader runs its environment's `alembic` by name, as when that environment is activated.
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env.update(extra)
    return env


class NbgraderCourse:
    def __init__(self, folder: Path, python: Path) -> None:
        self.folder, self.python = Path(folder), Path(python)
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(CONFIG, self.folder / "nbgrader_config.py")

    @property
    def source(self) -> Path:
        return self.folder / "source" / ASSIGNMENT

    @property
    def release(self) -> Path:
        return self.folder / "release" / ASSIGNMENT

    def submitted(self, learner: str) -> Path:
        return self.folder / "submitted" / learner / ASSIGNMENT

    def add_masters(self, masters: list[Path]) -> None:
        self.source.mkdir(parents=True, exist_ok=True)
        for path in masters:
            shutil.copy(path, self.source / path.name)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """``nbgrader ARGS`` in the course folder; raises with nbgrader's log when it fails."""
        result = subprocess.run([str(self.python), "-m", "nbgrader", *args], cwd=self.folder,
                                env=environment(self.folder / ".home", self.python, **env), capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
        return result

    def generate(self) -> None:
        self.run("generate_assignment", ASSIGNMENT, "--force")

    def autograde(self, **env: str) -> None:
        self.run("autograde", ASSIGNMENT, "--force", **env)

    def scores(self) -> dict[tuple[str, str, str], tuple[float, float]]:
        """(learner, notebook stem, grade id) -> (score, max score), from nbgrader's gradebook."""
        result = subprocess.run([str(self.python), "-c", _SCORES, str(self.folder / "gradebook.db"), ASSIGNMENT],
                                capture_output=True, text=True, check=True, timeout=300,
                                env=environment(self.folder / ".home", self.python))
        return {(s, n, g): (score, top) for s, n, g, score, top in json.loads(result.stdout)}
