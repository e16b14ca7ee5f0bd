#!/usr/bin/env bash
# apt-install.sh COMMAND PACKAGE: install Debian's PACKAGE unless COMMAND is
# already on the PATH (apt-get update first: a new machine has no package list).
# Needs root (or sudo). Used by install-browser.sh and install-sandbox.sh.
set -euo pipefail
command -v "$1" >/dev/null 2>&1 && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y "$2"
