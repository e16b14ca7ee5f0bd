"""Kernel-side cost of one widget update: state computation + redraw + PNG.

For every lesson widget, move one of its sliders 200 times (back and forth
over its range) and time each assignment, which runs the widget's observer
synchronously: the state function, the picture update and the PNG encoding.
Prints p50 and p95 in milliseconds; the target is p95 < 50 ms. The
two-layer widget also trains: its "two_layer train" row times each tick of
its play button (10 SGD steps on the spiral, then the redraw), with the
target p95 < 100 ms.

    .venv/bin/python scripts/bench_widgets.py [--updates 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")


def sliders_of(box):
    import ipywidgets as widgets

    stack, found = [box], []
    while stack:
        w = stack.pop(0)
        if isinstance(w, (widgets.FloatSlider, widgets.IntSlider)):
            found.append(w)
        stack.extend(getattr(w, "children", ()))
    return found


def builders():
    from course.present.widgets.attention import attention_widget
    from course.present.widgets.batchnorm import batchnorm_widget
    from course.present.widgets.chain_rule import chain_rule_widget
    from course.present.widgets.dropout import dropout_widget
    from course.present.widgets.shapes import shapes_widget
    from course.present.widgets.softmax import softmax_widget
    from course.present.widgets.staged import staged_widget
    from course.present.widgets.two_layer import two_layer_widget

    return {"chain_rule": chain_rule_widget, "staged": staged_widget, "shapes": shapes_widget,
            "softmax": softmax_widget, "dropout": dropout_widget, "two_layer": two_layer_widget,
            "batchnorm": batchnorm_widget, "attention": attention_widget}


def values(slider, n: int) -> list:
    """n values that sweep the slider's range back and forth, never repeating the current one."""
    steps = int(round((slider.max - slider.min) / slider.step))
    grid = [slider.min + k * slider.step for k in range(steps + 1)]
    sweep = grid + grid[-2:0:-1]
    start = min(range(len(grid)), key=lambda k: abs(grid[k] - slider.value))
    out = [sweep[(start + 1 + k) % len(sweep)] for k in range(n)]
    return [type(slider.value)(v) for v in out]


def bench(build, updates: int) -> list[float]:
    box = build()
    slider = sliders_of(box)[0]
    for v in values(slider, 5):  # warm-up: first draws fill caches
        slider.value = v
    times = []
    for v in values(slider, updates):
        t0 = time.perf_counter()
        slider.value = v
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def bench_training(updates: int) -> list[float]:
    """Each tick of the two-layer widget's play button: one chunk of training and the redraw."""
    import ipywidgets as widgets

    from course.present.widgets.two_layer import MAX_CHUNKS, two_layer_widget

    box = two_layer_widget()
    stack, play = [box], None
    while stack:
        w = stack.pop(0)
        play = w if isinstance(w, widgets.Play) else play
        stack.extend(getattr(w, "children", ()))
    times = []
    for k in range(1, min(updates, MAX_CHUNKS) + 1):
        t0 = time.perf_counter()
        play.value = k
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    print(f"{'widget':<15} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({args.updates} updates)")
    runs = [(name, lambda build=build: bench(build, args.updates)) for name, build in builders().items()]
    runs.append(("two_layer train", lambda: bench_training(args.updates)))
    for name, run in runs:
        t = sorted(run())
        p50 = statistics.median(t)
        p95 = t[int(0.95 * (len(t) - 1))]
        print(f"{name:<15} {p50:8.1f} {p95:8.1f} {t[-1]:8.1f}")


if __name__ == "__main__":
    main()
