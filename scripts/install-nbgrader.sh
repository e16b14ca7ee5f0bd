#!/usr/bin/env bash
# Install nbgrader for the nbgrader tests and benchmark: the course with its
# `nbgrader` extra in a virtual environment of its own, .venv-nbgrader/.
#
# Not in .venv: the versions would not change (pip install --dry-run adds only
# nbgrader, notebook 7, SQLAlchemy, alembic, Mako and RapidFuzz), but nbgrader
# and notebook 7 add their extensions to JupyterLab (nbgrader's menus and
# Validate button, notebook 7's toolbar items), and the course's lab and its
# browser tests must stay what learners get. It shares .venv's packages (a
# .pth file: same interpreter, same pins), so only nbgrader and what it adds
# are installed here, in seconds, and its kernels run the course's code as
# .venv's do.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv-nbgrader
STAMP=$VENV/.gradflow-ready

# Up to date when the stamp is newer than pyproject.toml (as make setup does for .venv).
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
    "$VENV/bin/nbgrader" --version
    exit 0
fi
make --no-print-directory setup
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
site_of() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
site_of .venv/bin/python > "$(site_of "$VENV/bin/python")/gradflow-course-venv.pth"
# The course (its editable hook in .venv is not read through a .pth) and the extra.
"$VENV/bin/python" -m pip install --quiet -e '.[nbgrader]'
touch "$STAMP"
"$VENV/bin/nbgrader" --version
