"""A pytest plugin (``-p course.grading.nbval_log``): one JSON line per notebook cell nbval ran.

The file is named by GRADFLOW_NBVAL_LOG, which the plugin removes from the
environment at once, so the kernels nbval starts (and the learner code in
them) are not told where it is.
"""

from __future__ import annotations

import json
import os

_LOG = os.environ.pop("GRADFLOW_NBVAL_LOG", None)
MESSAGE_CHARS = 2000


def pytest_runtest_logreport(report):
    # Under xdist the controller sees every worker's reports; workers do not write.
    if not _LOG or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if report.when == "call" or (report.failed and report.when == "setup"):
        line = {"nodeid": report.nodeid, "passed": report.outcome == "passed",
                "message": report.longreprtext[-MESSAGE_CHARS:] if not report.passed else ""}
        with open(_LOG, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
