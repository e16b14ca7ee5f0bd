"""The data lesson 06 trains on: the scikit-learn digits and a 2-D spiral.

- ``digits_split(seed)``: the 1,797 handwritten digits (8 × 8 grey images,
  64 features, 10 classes) that ship inside the scikit-learn wheel (nothing is
  downloaded), split by class into train / validation / test (60 / 20 / 20 %)
  with a fixed seed, and standardised with the *training* set's mean and
  standard deviation (the validation and test sets must not leak into it).
- ``spiral(...)``: points on interleaved spiral arms, one class per arm,
  made in code: no linear model separates them, a small network does, and in
  two dimensions its decision regions can be drawn.
- ``blobs(per_class, rng)``: three round clouds in the plane, one per class;
  small and easy, so a training loop can be checked in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """A fixed train / validation / test split; every x is (N, D) float64, every y (N,) int."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return int(self.y_train.max()) + 1


def stratified_indices(y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Split the indices of ``y`` into parts of the given fractions, class by class.

    Every part gets (nearly) the same share of each class, so a rare class
    cannot end up missing from the test set by chance.
    """
    parts: list[list[int]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)[:-1]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cuts = np.round(bounds * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(part, dtype=np.int64)) for part in parts]


def standardise(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Subtract the training mean, divide by the training standard deviation, feature by feature.

    A pixel that is the same in every training image (the digits' corners
    are always 0) has standard deviation 0; it is divided by 1 instead, so it
    stays 0 and produces no NaN.
    """
    mean = train.mean(axis=0, keepdims=True)
    std = train.std(axis=0, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return tuple((a - mean) / std for a in (train, *others))


def digits_split(seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Split:
    """The scikit-learn digits, split and standardised (see the module's doc)."""
    from sklearn.datasets import load_digits  # imported here: `import course` stays fast

    digits = load_digits()
    x = digits.data.astype(np.float64)
    y = digits.target.astype(np.int64)
    train, val, test = stratified_indices(y, fractions, np.random.default_rng(seed))
    x_train, x_val, x_test = standardise(x[train], x[val], x[test])
    return Split(x_train, y[train], x_val, y[val], x_test, y[test])


def spiral(points_per_class: int = 100, classes: int = 3, noise: float = 0.2,
           rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` spiral arms in the plane: x (K·P, 2) float64 in about [-1, 1]², y (K·P,) int.

    Arm k starts at the origin and turns through one full turn while its
    radius grows to 1; ``noise`` (radians) jitters each point's angle.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    radius = np.linspace(0.0, 1.0, points_per_class)
    xs, ys = [], []
    for k in range(classes):
        angle = np.linspace(k * 2 * np.pi / classes, k * 2 * np.pi / classes + 2 * np.pi, points_per_class)
        angle = angle + rng.normal(0.0, noise, points_per_class) * radius
        xs.append(np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]))
        ys.append(np.full(points_per_class, k, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def blobs(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three round clouds of points in the plane, one per class, centred on a circle of radius 1."""
    angles = 2 * np.pi * np.arange(3) / 3
    centres = np.column_stack([np.cos(angles), np.sin(angles)])
    y = np.repeat(np.arange(3), per_class)
    return centres[y] + rng.normal(0.0, 0.4, size=(3 * per_class, 2)), y
