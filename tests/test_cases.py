"""The shared case helpers (course.assess.cases) and the defaults an exercise gets for free."""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.cases import array, case, many, note, number, remark, sizes
from course.assess.exercise import Case, Exercise
from course.assess.registry import _with_concept, all_exercises, concept_of_module


def test_numbers_have_two_decimals_and_never_zero():
    rng = np.random.default_rng(0)
    values = [number(rng, -0.02, 0.02) for _ in range(500)]  # a range where 0 is drawn often
    assert 0.0 not in values and 0.5 in values
    assert all(round(v, 2) == v for v in values)


def test_arrays_have_no_exact_zero_and_the_asked_shape():
    a = array(np.random.default_rng(1), (40, 30), -0.02, 0.02)
    assert a.shape == (40, 30) and a.dtype == np.float64
    assert not np.any(a == 0.0) and np.array_equal(np.round(a, 2), a)


def test_sizes_all_differ_and_the_first_set_is_a_batch_of_one():
    rng = np.random.default_rng(2)
    drawn = [sizes(rng, k) for k in range(50)]
    assert drawn[0][0] == 1 and all(s[0] >= 2 for s in drawn[1:])
    assert all(len(set(s)) == 3 for s in drawn)
    assert all(len(set(sizes(rng, k, count=4))) == 4 for k in range(20))


def test_a_case_is_described_by_name_shape_and_value():
    made = case(x=np.zeros((2, 3)), keep_prob=0.8, mode="train")
    assert made.args[1] == 0.8 and made.args[2] == "train"
    assert made.note == "x of shape (2, 3), keep_prob = 0.8, mode = 'train'"
    assert note(dout=1.0) == "dout = 1"


def test_a_remark_adds_what_the_shapes_do_not_say():
    made = case(x=np.ones((2, 3)), eps=0.1)
    told = remark(made, "feature 2 constant (variance 0)")
    assert told.args is made.args and told.note == "x of shape (2, 3), eps = 0.1, feature 2 constant (variance 0)"
    assert remark(made, "") is made


def test_many_puts_the_edges_first_and_draws_the_rest_in_order():
    edge = Case((0.0,), "zero")
    hidden = many(3, lambda rng, k: Case((k, number(rng)), f"k = {k}"), edges=(edge,))
    first, second = hidden(np.random.default_rng(3)), hidden(np.random.default_rng(3))
    assert [c.note for c in first] == ["zero", "k = 0", "k = 1", "k = 2"]
    assert [c.args for c in first] == [c.args for c in second]  # same seed, same cases


def _my_backward(x):
    return x


def test_function_defaults_to_the_reference_name_and_can_be_overridden():
    plain = Exercise(id="99.x", title="t", reference=_my_backward, public=(), hidden=lambda rng: [], outputs=("dx",))
    assert plain.function == "_my_backward" and plain.concept == ""
    named = Exercise(id="99.y", title="t", reference=_my_backward, public=(), hidden=lambda rng: [],
                     outputs=("dx",), function="backward")
    assert named.function == "backward"


def test_the_registry_fills_in_the_concept_from_the_module_name():
    assert concept_of_module("course.assess.concepts.c03_matmul_gradients") == "03_matmul_gradients"
    assert all(e.concept.startswith(e.id[:2] + "_") for e in all_exercises().values())
    assert {e.concept for e in all_exercises().values()} >= {"01_chain_rule", "05_dropout"}
    with pytest.raises(ValueError, match="cNN_name"):
        concept_of_module("helpers")
    plain = Exercise(id="99.x", title="t", reference=_my_backward, public=(), hidden=lambda rng: [], outputs=("dx",))
    assert _with_concept(plain, "99_new").concept == "99_new"
    with pytest.raises(ValueError, match="its module is the concept"):
        _with_concept(_with_concept(plain, "99_new"), "98_other")
