"""Where an entry of a flattened volume lives: its flat index and back.

A volume of shape (s0, s1, ..., sK) (s0 the batch) stored row-major (numpy's
default, "C order") puts the *last* index fastest: moving one step along the
last axis moves one place in memory, one step along the axis before it moves
s_K places, and so on. These two functions are what ``np.ravel_multi_index``
and ``np.unravel_index`` do, written out.
"""

from __future__ import annotations


def flat_index(position: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """The row-major flat index of ``position`` in a volume of ``shape``.

    Horner's scheme: index = (...((p0 * s1 + p1) * s2 + p2) ...) * sK + pK.
    """
    if len(position) != len(shape):
        raise ValueError(f"position {position} has {len(position)} entries but shape {shape} has {len(shape)}")
    index = 0
    for p, size in zip(position, shape):
        if not 0 <= p < size:
            raise IndexError(f"position {position} is outside shape {shape}")
        index = index * size + int(p)
    return index


def position_of(index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The position whose row-major flat index is ``index`` (the inverse).

    Peel off the last axis first: p_K = index % s_K, then divide by s_K with
    the *integer* division // and repeat.
    """
    total = 1
    for size in shape:
        total *= size
    if not 0 <= index < total:
        raise IndexError(f"flat index {index} is outside a volume of {total} entries")
    position = []
    for size in reversed(shape):
        position.append(int(index % size))
        index //= size
    return tuple(reversed(position))
