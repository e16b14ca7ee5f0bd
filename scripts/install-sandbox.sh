#!/usr/bin/env bash
# Install what grading a class needs: bubblewrap (Debian package `bubblewrap`),
# the sandbox every notebook of a graded learner runs in (docs/grading.md).
# Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v bwrap >/dev/null 2>&1; then
    $SUDO apt-get update
    $SUDO apt-get install -y bubblewrap
fi
bwrap --version
