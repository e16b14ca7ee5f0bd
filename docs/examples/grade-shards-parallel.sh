#!/bin/bash
# Grade a class in shards with GNU parallel (Debian package `parallel`), then
# merge them: for a big machine, or several machines that share the course
# checkout and the class folder (add `--sshloginfile HOSTS` to the parallel
# line; each machine needs the course and scripts/install-sandbox.sh).
#
# From the course checkout (after `make setup` and scripts/install-sandbox.sh),
# with the learners' notebooks in CLASS (one folder per learner):
#
#     GRADING_SEED=8675309 SHARDS=8 JOBS=4 bash docs/examples/grade-shards-parallel.sh submissions/
#
# JOBS shards run at once (default: one per two cores, each grading with two
# workers). Each shard goes to grades-shards/shard-K, the merged grades to
# grades-shards/class: the files one unsharded run would write. Keep
# GRADING_SEED: the same seed grades the same hidden cases. A shard that
# failed (exit status 2; 3 means some rows could not be graded) is listed in
# grades-shards/logs/joblog and nothing is merged; run the same command again
# and only the failed shards are graded again (--resume-failed), then merged.
#
# tests/test_cluster.py runs this very file and compares the merged grades
# with one unsharded run's.
set -euo pipefail

CLASS=${1:?usage: GRADING_SEED=N SHARDS=N bash grade-shards-parallel.sh CLASS_FOLDER}
SEED=${GRADING_SEED:?set GRADING_SEED to a number: every shard must grade with the same seed}
SHARDS=${SHARDS:-8}
JOBS=${JOBS:-$(( ($(nproc) + 1) / 2 ))}
OUT=grades-shards
PYTHON=${PYTHON:-.venv/bin/python}

mkdir -p "$OUT/logs"
# -q: each argument passed as it is (a class folder with spaces stays one argument); --tag: each line of a
# shard's output starts with its number. Parallel's exit status is the number of shards that failed.
if ! parallel --jobs "$JOBS" --joblog "$OUT/logs/joblog" --resume-failed --tag -q \
        "$PYTHON" -m course grade "$CLASS" --shard "{}/$SHARDS" --seed "$SEED" --workers 2 --quiet \
        --out "$OUT/shard-{}" ::: $(seq 1 "$SHARDS"); then
    echo "some shards failed (see $OUT/logs/joblog): run the same command again to grade them again" >&2
    exit 1
fi
"$PYTHON" -m course grade merge "$OUT"/shard-* --out "$OUT/class"
