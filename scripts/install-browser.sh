#!/usr/bin/env bash
# Install what the real-browser tests need: Debian's chromium and the Python
# playwright package (the project's "browser" extra) into .venv.
# Playwright drives the Debian browser (executable_path=/usr/bin/chromium);
# `playwright install` is never run: its browser download is not needed.
# Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-install.sh chromium chromium
make setup
.venv/bin/python -m pip install --quiet -e '.[test,browser]'
chromium --version
.venv/bin/python -c "import playwright; from importlib.metadata import version; print('playwright', version('playwright'))"
