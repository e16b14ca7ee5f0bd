#!/usr/bin/env bash
# Install what grading a class needs: bubblewrap (Debian package `bubblewrap`),
# the sandbox every notebook of a graded learner runs in (docs/grading.md).
# Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-install.sh bwrap bubblewrap
bwrap --version
