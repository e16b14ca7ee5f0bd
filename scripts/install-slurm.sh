#!/usr/bin/env bash
# Install what the cluster tests need (tests/test_cluster.py): Debian's Slurm
# (slurm-wlm: slurmctld, slurmd, sbatch) with munge, its authentication
# daemon, and GNU parallel. The test starts a one-node Slurm of its own in a
# scratch folder and stops it afterwards; nothing is started here.
# Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || missing+=(munge)
command -v parallel >/dev/null 2>&1 || missing+=(parallel)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    # apt-get update first: a new machine has no package list (as scripts/apt-install.sh).
    $SUDO apt-get update
    # Debian's packages would start munge and Slurm as services: the test starts its own.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
slurmctld -V
munged --version
parallel --version | head -n 1
