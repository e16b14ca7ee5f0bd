"""Training the lesson 06 digits network, beside scikit-learn's LogisticRegression, in one run.

Loads the digits split once, then times (wall clock) training the network of
``course.compute.network.DIGITS_RECIPE`` and fitting LogisticRegression on the
same training set, both with one BLAS thread, and prints both test
accuracies. Target: the network reaches >= 95 % test accuracy in under 5 s.
Then times each exercise check of concept 06 (the reference answer through
the same ``evaluate`` that ``check`` runs). Target: under 2 s each.

    .venv/bin/python scripts/bench_training.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression

    from course.compute.data import digits_split
    from course.compute.network import DIGITS_RECIPE, train_digits
    from course.compute.threads import one_blas_thread

    start = time.perf_counter()
    split = digits_split(0)
    print(f"digits split {split.sizes} loaded in {time.perf_counter() - start:.2f} s")
    print(f"recipe: {DIGITS_RECIPE}")
    net_times, base_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        net, _ = train_digits(split, seed=0)
        net_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        with one_blas_thread():
            baseline = LogisticRegression(max_iter=1000).fit(split.x_train, split.y_train)
        base_times.append(time.perf_counter() - start)
    net_acc = net.accuracy(split.x_test, split.y_test)
    base_acc = float(baseline.score(split.x_test, split.y_test))
    net_s, base_s = statistics.median(net_times), statistics.median(base_times)
    print(f"{'model':<22} {'median s':>9} {'max s':>7} {'test accuracy':>14}   ({args.repeats} runs)")
    print(f"{'two-layer network':<22} {net_s:9.2f} {max(net_times):7.2f} {net_acc:14.3f}")
    print(f"{'LogisticRegression':<22} {base_s:9.2f} {max(base_times):7.2f} {base_acc:14.3f}")
    print(f"network / baseline time: {net_s / base_s:.1f}x;"
          f" target: >= 0.95 in < 5 s: {'met' if net_acc >= 0.95 and max(net_times) < 5.0 else 'NOT met'}")

    from course.assess.check import DEFAULT_HIDDEN_SEED
    from course.assess.diagnose import evaluate
    from course.assess.registry import exercises_of

    print(f"{'check of':<18} {'median s':>9} {'max s':>7}")
    for exercise in exercises_of("06_two_layer_net"):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            verdict = evaluate(exercise, exercise.reference, DEFAULT_HIDDEN_SEED)
            times.append(time.perf_counter() - start)
            assert verdict.passed, verdict.message
        print(f"{exercise.id:<18} {statistics.median(times):9.2f} {max(times):7.2f}")


if __name__ == "__main__":
    main()
