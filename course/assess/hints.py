"""The categories of mistakes the checks recognise, with their generic hints.

Exercise-specific misconceptions carry their own hint text but use one of
these codes, so that the grader and the instructor guide count mistakes by
category. Hints say what is wrong and where to look, never the answer.
"""

CATEGORIES: dict[str, str] = {
    "not_done": "the exercise still raises NotImplementedError",
    "error": "the function raised an exception",
    "timeout": "the function did not finish in time; an endless loop?",
    "none": "returned None",
    "nan": "returned NaN or infinity",
    "dtype": "returned the wrong type or dtype",
    "count": "returned the wrong number of values",
    "shape": "a result has the wrong shape",
    "transpose": "a transpose is missing or misplaced",
    "sum_axis": "summed over the wrong axis",
    "keepdims": "summed without keepdims (or with it where it does not belong)",
    "mutated": "changed its inputs in place",
    "sign": "a sign is flipped",
    "upstream": "the upstream gradient factor is missing",
    "output_for_input": "used the output where the input was needed, or the reverse",
    "fork_overwrite": "overwrote a gradient at a fork instead of adding (= instead of +=)",
    "one_over_n": "the 1/N of the mean is missing or doubled",
    "wrong_class": "the -1 is at the wrong class",
    "p_not_p_minus_onehot": "used P where P - onehot was needed",
    "overflow": "an unstable softmax that overflows for large scores",
    "mask_resampled": "the dropout mask was not reused in the backward pass",
    "keep_prob_scale": "the keep probability or the dropout scale is wrong",
    "test_time_scale": "dropout scaled (or dropped) at test time",
    "tie": "the max gate's tie is not handled as the course states",
    "order": "results returned in the wrong order",
    "step": "the numerical difference or its step size is not the central one",
    "wrong_value": "a result has the wrong value",
    "reverse_order": "the backward pass ran the modules in forward order instead of in reverse",
    "intermediate": "skipped an intermediate (such as S = XW + b) whose value the local derivative needs",
    "index_order": "the flat index runs over the axes in the wrong order (row-major puts the last axis fastest)",
    "integer_division": "divided with / where the integer division // is needed",
    "missing_scale": "the dropout scale 1/keep_prob is missing (in the forward or the backward pass)",
    "mean_only_test": "a dropout test that checks only the mean, which a swapped keep probability passes",
    "keep_half_test": "a dropout test run only at keep_prob = 0.5, where a swapped keep probability is invisible",
    "mask_convention": "a dropout mask drawn another way than the course's, so it differs from the checker's",
    "recursion": "a recursive graph walk that fails on deep graphs (Python's recursion limit)",
    "l2_gradient": "the L2 penalty or its gradient λW is missing or has the wrong factor",
    "l2_bias": "weight decay applied to the biases as well",
    "no_update": "the training loop never changes the network's parameters",
    "threshold": "a gradient-check threshold far too loose for float64",
    "absolute_error": "a gradient check on absolute instead of relative differences",
    "topo_order": "nodes visited in an order that is not reverse topological",
    "graph_walk": "a graph walk that repeats nodes (no set of the nodes already seen) or leaves some out",
    "elementwise": "used * (entry by entry) where the matrix product @ belongs",
    "global_rng": "drew random numbers from numpy's global generator instead of the rng it was given",
    "stats_constant": "the batch mean and variance treated as constants: a path from x through them is missing",
    "unbiased_variance": "the variance divided by N − 1 where batch normalisation uses N",
    "epsilon": "ε forgotten or outside the square root",
    "test_batch_stats": "batch statistics used at test time (or running ones in training)",
    "momentum_reversed": "the running average's momentum applied the wrong way round",
    "running_update": "the running statistics not updated in training, or updated at test time",
    "not_summed": "the gradient of a variable broadcast over a batch not summed over that batch",
    "no_broadcast": "the gradient of a sum (or mean) not broadcast back to the shape of what was summed",
    "init_scale": "the initial weights' scale: relu's factor 2, the fan-in, or variance taken for spread",
}


def describe(code: str) -> str:
    return CATEGORIES.get(code, code)
