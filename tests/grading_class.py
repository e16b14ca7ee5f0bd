"""A class of learners built in code, for the grading tests (never hand-edited JSON).

Every learner starts from the generated exercise notebook, fills in the
master's solutions, then changes one thing: a misconception, a tampered
check cell, a patched checker, a loop, a crash, a broken file, ...
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from conftest import EXERCISES, SOLUTIONS

NB01 = "01_chain_rule.ipynb"
NB07 = "07_batchnorm.ipynb"
COPIED_COMPACT = '''from course.compute.batchnorm import batchnorm_backward, batchnorm_forward


def batchnorm_backward_compact(dout, x, gamma, eps):
    """The compact backward of batch normalisation."""
    _, cache = batchnorm_forward(x, gamma, np.zeros_like(gamma), "train", None, eps)
    return batchnorm_backward(dout, cache)'''
NB05 = "05_dropout.ipynb"

SIGNATURES = {
    "01.mul_gate": "def mul_backward(x, y, dout):",
    "01.add_gate": "def add_backward(x, y, dout):",
    "01.max_gate": "def max_backward(x, y, dout):",
    "01.compound": "def compound_backward(x, y, z):",
    "01.sigmoid_neuron": "def sigmoid(a):\n    return 1.0 / (1.0 + math.exp(-a))\n\n\ndef neuron_backward(w, x):",
    "01.numerical_derivative": "def numerical_derivative(f, x, h):",
    "01.best_step": "def best_step(f, dfdx, x, steps):",
}

# Every misconception of concept 01: (exercise, index of the misconception, wrong body).
MISCONCEPTIONS = [
    ("01.mul_gate", 0, "return x * dout, y * dout"),
    ("01.add_gate", 0, "return y * dout, x * dout"),
    ("01.max_gate", 0, "return float(x >= y) * dout, float(y >= x) * dout"),
    ("01.max_gate", 1, "return float(x >= y) * dout, float(y > x) * dout"),
    ("01.max_gate", 2, "return float(x < y) * dout, float(y < x) * dout"),
    ("01.compound", 0, "return 1.0, 1.0, x + y"),
    ("01.compound", 1, "return z, z, (x + y) * z"),
    ("01.numerical_derivative", 0, "return (f(x + h) - f(x)) / h"),
    ("01.numerical_derivative", 1, "return (f(x + h) - f(x - h)) / h"),
    ("01.numerical_derivative", 2, "return (f(x - h) - f(x + h)) / (2.0 * h)"),
    ("01.best_step", 0, "return min(steps)"),
    ("01.best_step", 1, "return max(steps)"),
]



def misconception_learner(number: int) -> str:
    """Who makes MISCONCEPTIONS[number]: learner k makes the k-th misconception of every exercise that has one.

    Three notebooks (three kernels) hold all twelve; each wrong exercise must still get its own hint,
    and every other exercise of the notebook must pass.
    """
    exercise = MISCONCEPTIONS[number][0]
    k = [e for e, _, _ in MISCONCEPTIONS[:number]].count(exercise)
    return f"misconception{k + 1:02d}"


def misconception_learners() -> dict[str, dict[str, str]]:
    """learner -> {exercise: its wrong body}."""
    learners: dict[str, dict[str, str]] = {}
    for number, (exercise, _, body) in enumerate(MISCONCEPTIONS):
        learners.setdefault(misconception_learner(number), {})[exercise] = body
    return learners


CORRECT_NEURON = """dot = w[0] * x[0] + w[1] * x[1] + w[2]
s = sigmoid(dot)
ddot = (1.0 - s) * s
dw = np.array([x[0], x[1], 1.0]) * ddot
dx = np.array([w[0], w[1]]) * ddot"""


def function(exercise: str, body: str) -> str:
    return SIGNATURES[exercise] + "\n" + "\n".join("    " + line for line in body.splitlines())


def solved(name: str) -> nbformat.NotebookNode:
    """The learner's notebook for ``name`` with every exercise solved as in the master."""
    master = nbformat.read(SOLUTIONS / name, as_version=4)
    answers = {c.metadata["gradflow"]["exercise"]: c.source for c in master.cells
               if c.cell_type == "code" and "exercise" in c.metadata.get("gradflow", {})}
    nb = nbformat.read(EXERCISES / name, as_version=4)
    for cell in nb.cells:
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident:
            cell.source = answers[ident]
    return nb


def with_sources(nb, sources: dict[str, str]):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident in sources:
            cell.source = sources[ident]
    return nb


def check_index(nb, exercise: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("gradflow", {}).get("check") == exercise)


def tampered_check_cells():
    """mul's check deleted, add's edited to print success, max's duplicated and moved to the top; all three wrong."""
    nb = with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "return -y * dout, -x * dout"),
        "01.add_gate": function("01.add_gate", "return 0.0, 0.0"),
        "01.max_gate": function("01.max_gate", "return 0.0, 0.0"),
    })
    nb.cells[check_index(nb, "01.add_gate")].source = 'print("✔ 01.add_gate passed")'
    max_check = copy.deepcopy(nb.cells[check_index(nb, "01.max_gate")])
    copies = [copy.deepcopy(max_check), max_check]
    for number, cell in enumerate(copies):
        cell.id = f"duplicate-{number}"
    nb.cells.insert(0, copies[0])
    nb.cells.insert(check_index(nb, "01.max_gate") + 1, copies[1])
    del nb.cells[check_index(nb, "01.mul_gate")]
    return nb


def hard_coded_visible_answers():
    """Each exercise answers the worked examples from a table and nothing else."""
    from course.assess.registry import get_exercise

    exercise = get_exercise("01.mul_gate")
    table = {case.args: exercise.reference(*case.args) for case in exercise.public}
    body = f"ANSWERS = {table!r}\nreturn ANSWERS.get((x, y, dout), (0.0, 0.0))"
    return with_sources(solved(NB01), {"01.mul_gate": function("01.mul_gate", body)})


WRONG_MUL = function("01.mul_gate", "return 0.0, 0.0")

# ----- the hostile class: each attack a learner of its own ----------------------------
#
# Every attacker's multiply gate is right only if its attack worked (it found a
# reference, reached the network, ...); otherwise it returns zeros. So a ✔ on
# 01.mul_gate of an attacker means the attack succeeded.

DAEMON_MARK = "gradflow-hostile-daemon"
FORGED = "forged by a learner"


def _attacker(route: str) -> str:
    """A multiply gate that answers with whatever ``route`` (code that sets ``ref``) finds, else zeros."""
    body = ("ref = None\ntry:\n" + "\n".join("    " + line for line in route.splitlines())
            + "\nexcept BaseException:\n    ref = None\n"
            "if callable(ref):\n    return ref(x, y, dout)\nreturn 0.0, 0.0")
    return function("01.mul_gate", body)


ROUTES = {
    "refs_registry": "from course.assess.registry import get_exercise\nref = get_exercise('01.mul_gate').reference",
    "refs_import": "import importlib\nref = importlib.import_module('course.assess.concepts.c01_chain_rule').mul_backward",
    "refs_sys_modules": "import sys\nfor m in list(sys.modules.values()):\n"
                        "    f = getattr(m, 'mul_backward', None)\n"
                        "    if callable(f) and getattr(m, '__name__', '') != '__main__':\n        ref = f",
    "refs_setup_objects": "import sys, course\nmodule = sys.modules[course.check.__module__]\n"
                          "ref = module.get_exercise('01.mul_gate').reference",
    "refs_gc": "import gc\nfor o in gc.get_objects():\n"
               "    if callable(o) and getattr(o, '__name__', '') == 'mul_backward'"
               " and getattr(o, '__module__', '') != '__main__':\n        ref = o",
    "refs_frames": "import sys\nframe = sys._getframe(1)\nwhile frame is not None:\n"
                   "    for v in frame.f_locals.values():\n"
                   "        if hasattr(v, 'reference') and getattr(v, 'id', '') == '01.mul_gate':\n"
                   "            ref = v.reference\n    frame = frame.f_back",
}


# Uses the judge as an oracle from its exercise cell: the thin client the guard cell loaded asks for the check of
# 01.mul_gate with one candidate after another (a known mistake first, the right answer last) and keeps the
# first that passes. Each exercise is judged once per notebook run, so only the first candidate is ever judged.
ORACLE = (
    "import course.safe_run.client as client\n"
    "candidates = [lambda x, y, dout: (x * dout, y * dout), lambda x, y, dout: (0.0, 0.0),\n"
    "              lambda x, y, dout: (y * dout, x * dout)]\n"
    "found = candidates[0]\n"
    "for candidate in candidates:\n"
    "    try:\n"
    "        client.remote_check('01.mul_gate', candidate)\n"
    "    except Exception:\n"
    "        continue\n"
    "    found = candidate\n"
    "    break\n\n\n"
    + function("01.mul_gate", "return found(x, y, dout)"))


def solutions_route(solutions: Path) -> str:
    """Reads the master from disk and runs its multiply gate."""
    return (f"import json\ncells = json.load(open({str(solutions / NB01)!r}))['cells']\n"
            "code = [''.join(c['source']) for c in cells if c.get('metadata', {}).get('gradflow', {})"
            ".get('exercise') == '01.mul_gate'][0]\nspace = {}\nexec(code, space)\nref = space['mul_backward']")


def network_route(port: int) -> str:
    """Answers right only if a connection to the grader's machine gets through."""
    return (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
            "ref = lambda x, y, dout: (y * dout, x * dout)")


TRACE_MARK = "gradflow-trace"
TRACES = (
    "import os, sys\n"
    f"found = [os.path.join(top, name) for top, dirs, files in os.walk('/tmp') for name in dirs + files"
    f" if {TRACE_MARK!r} in name]\n"
    "others = [n for n in os.listdir('/proc') if n.isdigit() and int(n) not in (os.getpid(), os.getppid())]\n"
    "if found or others or 'GRADFLOW_TRACE' in globals():\n"
    "    raise RuntimeError(f'the other notebook left {found} and processes {others}')\n"
    f"open('/tmp/{TRACE_MARK}.txt', 'w').write('left here')\n"
    f"os.makedirs('/tmp/{TRACE_MARK}-dir/inner')\n"
    f"os.chmod('/tmp/{TRACE_MARK}-dir', 0)\n"
    "startup = os.path.join(os.environ.get('IPYTHONDIR', '/tmp'), 'profile_default', 'startup')\n"
    "os.makedirs(startup, exist_ok=True)\n"
    f"open(os.path.join(startup, '{TRACE_MARK}.py'), 'w').write('GRADFLOW_TRACE = 1')\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)  # {DAEMON_MARK}'])\n"
    "    os._exit(0)\n"
    "os.wait()\n")


def _with_attack(cell_code: str, exercise: str = "01.mul_gate", notebook: str = NB01) -> nbformat.NotebookNode:
    """The solved notebook with ``cell_code`` run at the top of ``exercise``'s cell (its function kept)."""
    nb = solved(notebook)
    for cell in nb.cells:
        if cell.metadata.get("gradflow", {}).get("exercise") == exercise:
            cell.source = cell_code + "\n\n" + cell.source
    return nb


def hostile_class(root: Path, *, solutions: Path, out: Path, port: int) -> dict[str, str]:
    """The attacks of docs/sandbox.md, each a learner, beside an unsolved learner (class_folder's "masters" solved it)."""
    learners: dict[str, tuple[str, nbformat.NotebookNode]] = {
        "unsolved": ("solved nothing", nbformat.read(EXERCISES / NB01, as_version=4)),
        "public_helpers": ("imports the course's public helpers, numpy, math and the standard library",
                           with_sources(solved(NB01), {"01.mul_gate": (
                               "import collections\nimport math\nimport numpy\n"
                               "from course import numerical_gradient, sigmoid\n"
                               "from course.compute.graph import Node\n\n"
                               + function("01.mul_gate", "return y * dout, x * dout"))})),
    }
    for name, route in ROUTES.items():
        learners[name] = (f"reads the references ({name[5:]})", with_sources(solved(NB01), {
            "01.mul_gate": _attacker(route)}))
    learners["refs_solutions"] = ("reads solutions/ from disk", with_sources(solved(NB01), {
        "01.mul_gate": _attacker(solutions_route(solutions))}))
    learners["network"] = ("connects to the grader's machine", with_sources(solved(NB01), {
        "01.mul_gate": _attacker(network_route(port))}))
    learners["oracle"] = ("asks the judge itself, trying answers until one passes", with_sources(solved(NB01), {
        "01.mul_gate": ORACLE}))
    course_dir = Path(__file__).resolve().parent.parent / "course"
    targets = [course_dir / "__init__.py", course_dir / "assess" / "check.py", solutions / NB01,
               out / "grades.csv", out / "canary.txt"]
    learners["writes_files"] = ("writes the course, the solutions and the output folder", _with_attack(
        "import os\n"
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    try:\n"
        f"        with open(path, 'a') as f:\n            f.write({FORGED!r})\n"
        "    except OSError:\n        pass\n"
        "for top, dirs, files in os.walk('/'):\n"
        "    if top.startswith(('/proc', '/sys', '/dev', '/usr', '/lib', '/etc', '/bin', '/sbin', '/root/.pyenv'))"
        " or '.venv' in top:\n        dirs[:] = []\n        continue\n"
        "    for name in files:\n"
        "        if name in ('grades.csv', 'report.html') or name.endswith('.ipynb'):\n"
        "            try:\n"
        f"                open(os.path.join(top, name), 'w').write({FORGED!r})\n"
        "            except OSError:\n                pass"))
    learners["daemon"] = ("leaves a process behind", _with_attack(
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)  # {DAEMON_MARK}'])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "import time\n"
        "for _ in range(100):  # the daemon is running before the cell ends (else the attack proves nothing)\n"
        "    if any(name.isdigit() and b'" + DAEMON_MARK + "' in open(f'/proc/{name}/cmdline', 'rb').read()\n"
        "           for name in os.listdir('/proc')):\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "else:\n"
        "    raise RuntimeError('the daemon did not start')"))
    learners["kills"] = ("kills every process it can see, the grader's included", _with_attack(
        "import os, signal\n"
        "for target in [os.getppid(), 1]:\n"
        "    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "for name in os.listdir('/proc'):\n"
        "    if name.isdigit() and int(name) not in (os.getpid(), 1):\n"
        "        try:\n            os.kill(int(name), signal.SIGKILL)\n        except OSError:\n            pass"))
    learners["fork_bomb"] = ("starts processes without end", _with_attack(
        "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(600)\n        os._exit(0)",
        "01.compound"))
    learners["memory_bomb"] = ("allocates 20 GB", _with_attack("hog = bytearray(20 * 2**30)", "01.compound"))
    learners["disk_filler"] = ("writes files without end", _with_attack(
        "n = 0\nwhile True:\n    with open(f'/tmp/fill{n}', 'wb') as f:\n"
        "        for _ in range(8):\n            f.write(b'0' * 2**20)\n    n += 1", "01.compound"))
    learners["endless_writer"] = ("writes one file without end", _with_attack(
        "with open('/tmp/endless', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)", "01.compound"))
    for learner, (_, nb) in learners.items():
        (root / learner).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, root / learner / NB01)
    # Two notebooks of one learner share a warm sandbox (course.safe_run.pool), one after the other: each
    # looks for what the other may have left, then leaves it (whichever runs second proves the point).
    traces = {NB01: _with_attack(TRACES, "01.add_gate"), NB05: _with_attack(TRACES, "05.dropout_layer", NB05)}
    for notebook, nb in traces.items():
        (root / "leaves_traces").mkdir(exist_ok=True)
        nbformat.write(nb, root / "leaves_traces" / notebook)
    learners["leaves_traces"] = ("leaves files, a process and IPython start-up code for its next notebook", None)
    return {learner: what for learner, (what, _) in learners.items()}


def class_folder(root: Path) -> dict[str, str]:
    """Write the class under ``root``; returns learner -> what they did."""
    learners: dict[str, tuple[str, dict]] = {}

    def add(learner: str, what: str, notebooks: dict):
        learners[learner] = (what, notebooks)

    # Every master of the course, graded in the sandbox: a right answer of any concept passes. It is also
    # the class's learner who solved everything (a learner of its own for that would be three kernels more).
    add("masters", "handed in every solved master", {p.name: solved(p.name) for p in sorted(SOLUTIONS.glob("*.ipynb"))})
    # Own work: the right values, computed by calling the course's own batchnorm (course.assess.own_work).
    add("copies_the_course", "calls the course's own batchnorm backward", {NB07: with_sources(solved(NB07), {
        "07.batchnorm_compact": COPIED_COMPACT})})
    for learner, bodies in misconception_learners().items():
        add(learner, f"a misconception in each of {', '.join(bodies)}",
            {NB01: with_sources(solved(NB01), {e: function(e, body) for e, body in bodies.items()})})
    add("check_cells", "deleted, edited, duplicated and moved check cells", {NB01: tampered_check_cells()})
    add("hard_coded", "answers only the worked examples", {NB01: hard_coded_visible_answers()})
    add("redefines_check", "defines its own check()", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + '\n\n\ndef check(*args):\n    print("✔ passed")'})})
    add("replaces_course_check", "replaces the course's check()", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + '\n\n\nimport course\ncourse.check = lambda *args: print("✔ passed")'})})
    add("imports_course", "patches the course's evaluate", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": "import course.assess.diagnose as d\n"
                       "d.evaluate = lambda *a: None\n\n" + WRONG_MUL})})
    add("patches_globals", "patches the checker through check's globals", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + "\n\n\nclass Passed:\n    passed = True\n\n"
                       "check.__globals__['evaluate'] = lambda *a: Passed()"})})
    add("patches_numpy", "makes np.allclose always true", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + "\n\n\nnp.allclose = lambda *a, **k: True"})})
    add("patches_in_call", "patches numpy while being checked", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "np.allclose = lambda *a, **k: True\nreturn 0.0, 0.0")})})
    add("loop_in_function", "an endless loop inside a function", {NB01: with_sources(solved(NB01), {
        "01.add_gate": function("01.add_gate", "while True:\n    pass")})})
    add("loop_at_top", "an endless loop at the top level of a cell", {NB01: with_sources(solved(NB01), {
        "01.add_gate": function("01.add_gate", "return 1.0 * dout, 1.0 * dout")
        # waits rather than computes, so the cell's timeout does not load the machine meanwhile
        + "\n\n\nimport time\nwhile True:\n    time.sleep(0.1)"})})
    add("crash", "ends the kernel's process", {NB01: with_sources(solved(NB01), {
        "01.compound": "import os\nos._exit(1)"})})
    add("huge_output", "prints 30 MB", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": 'print("x" * 30_000_000)\n\n' + function("01.mul_gate", "return y * dout, x * dout")})})
    add("forms", "returns None, NaN and the wrong shape", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "return None"),
        "01.add_gate": function("01.add_gate", "return float('nan'), 1.0 * dout"),
        "01.sigmoid_neuron": function("01.sigmoid_neuron", CORRECT_NEURON + "\nreturn dw[:2], dx"),
    })})
    add("mutates", "changes its input in place", {NB01: with_sources(solved(NB01), {
        "01.sigmoid_neuron": function("01.sigmoid_neuron", CORRECT_NEURON + "\nw[2] = 0.0\nreturn dw, dx"),
    })})
    for learner, (_, notebooks) in learners.items():
        for name, nb in notebooks.items():
            (root / learner).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / learner / name)
    (root / "broken").mkdir()
    (root / "broken" / NB01).write_text('{"cells": [', encoding="utf-8")
    (root / "broken" / NB05).write_text(json.dumps([1, 2, 3]), encoding="utf-8")
    (root / "broken" / "notes.ipynb").write_text(json.dumps({"cells": []}), encoding="utf-8")
    learners["broken"] = ("invalid JSON, not a notebook, not a course notebook", {})
    return {learner: what for learner, (what, _) in learners.items()}
