"""Start-up the grader does not pay for: an optional import that takes seconds and checks nothing here.

nbformat imports jsonschema, and jsonschema imports ``rfc3987_syntax`` when it
is installed (JupyterLab's dependencies bring it in) to check strings of the
"iri" format; that module builds a parser at import time: about 3 CPU seconds,
paid by every process that reads a notebook: the grader itself, nbval's
session and each of its workers, so 12 s of a class run's CPU and most of the
fixed cost of ``course progress``. No notebook schema uses that format (and
nbformat checks none), so the grader's processes do without it: jsonschema
then treats "iri" strings as unchecked, as it does when the package is absent.

Called before the first import of nbformat (``course.safe_run.grade`` and the
nbval plugin ``course.safe_run.nbval_log``); a process that already imported
it keeps it.
"""

from __future__ import annotations

import sys

SLOW_OPTIONAL = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> None:
    for name in SLOW_OPTIONAL:
        sys.modules.setdefault(name, None)  # None in sys.modules: `import name` raises ImportError at once
