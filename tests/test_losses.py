"""Property tests of lsfix.losses: Result 1 (exact and float), the LS loss and its logit gradient against PyTorch,
and design.md §4's API (names, parameters, types, one-line docstrings)."""
import inspect, math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

from lsfix.losses import (ls_cross_entropy, ls_logit_grad, ls_optimum, max_logit_suppression, norm_ratio,
                          regularisation_grad, smooth_targets)

positive = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
positive_vectors = st.lists(positive, min_size=2, max_size=20)
alphas = st.sampled_from([0.0, 0.05, 0.1, 0.3]) | st.floats(0, 0.99)


def eq24_sides(v, c, p):
    "(‖v‖p/‖v‖∞)^p and (‖v+c‖p/‖v+c‖∞)^p in exact rational arithmetic (v positive, c > -min v, integer p)."
    top = max(v)
    return sum((x / top) ** p for x in v), sum(((x + c) / (top + c)) ** p for x in v)


# --- Result 1, exact: strict for integer p and rational entries ---

rationals = st.fractions(min_value=Fraction(1, 1000), max_value=1000, max_denominator=1000)

@given(st.lists(rationals, min_size=2, max_size=12), rationals, st.integers(1, 12))
def test_result1_strict_in_exact_arithmetic(v, c, p):
    assume(len(set(v)) >= 2)
    before, after = eq24_sides(v, c, p)
    assert before < after  # Eq 24, equivalent to Eq 19 by inversion and the p-th root
    # norm_ratio computes the same quantity as the exact sums, to float accuracy
    assert norm_ratio(np.array(v, dtype=float), p) == pytest.approx(float(before) ** (-1 / p), rel=1e-12)
    assert norm_ratio(np.array([x + c for x in v], dtype=float), p) == pytest.approx(float(after) ** (-1 / p), rel=1e-12)


@given(rationals, st.integers(2, 12), rationals, st.integers(1, 12))
def test_result1_equality_when_all_entries_equal(a, K, c, p):
    before, after = eq24_sides([a] * K, c, p)
    assert before == after == K
    assert norm_ratio(np.full(K, float(a)), p) == pytest.approx(K ** (-1 / p), rel=1e-13)
    assert norm_ratio(np.full(K, float(a + c)), p) == pytest.approx(K ** (-1 / p), rel=1e-13)


@given(st.lists(rationals, min_size=2, max_size=12), rationals, st.integers(1, 12))
def test_negative_shift_reverses_result1(v, c, p):
    "With c < 0 (and v - c still positive) the inequality flips: Result 1 read from v - c back to v."
    assume(len(set(v)) >= 2)
    shifted_down = [x - c / 2 for x in v]
    assume(min(shifted_down) > 0)
    before, after = eq24_sides(v, -c / 2, p)
    assert before > after


# --- Result 1, float64: a tolerance, since a strict "<" can round to equality ---

@given(positive_vectors, positive, st.floats(0.1, 20) | st.sampled_from([1.0, 2.0, 10.0]))
def test_result1_float(v, c, p):
    v = np.array(v)
    assert norm_ratio(v + c, p) <= norm_ratio(v, p) * (1 + 1e-12)


def test_float_rounding_hides_strictness():
    "The case that motivates the exact test: float64 ties, exact arithmetic does not."
    assert norm_ratio(np.array([100.0, 1.0]), 10) == norm_ratio(np.array([101.0, 2.0]), 10)
    before, after = eq24_sides([Fraction(100), Fraction(1)], Fraction(1), 10)
    assert before < after


def test_counterexample_negative_entry():
    assert norm_ratio(np.array([0.0, 3.0]), 1) > norm_ratio(np.array([-1.0, 2.0]), 1)


# no subnormals: the torch oracle's norms underflow to 0 there, while norm_ratio rescales first
entries = st.just(0.0) | st.floats(1e-6, 1e3) | st.floats(-1e3, -1e-6)

@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=entries),
       st.sampled_from([0.5, 1, 2, 3.5, 10, math.inf]))
def test_norm_ratio_rows_match_torch(V, p):
    assume((np.abs(V).max(1) > 0).all())
    T = torch.from_numpy(V)
    ref = (torch.linalg.vector_norm(T, math.inf, -1) / torch.linalg.vector_norm(T, p, -1)).numpy()
    np.testing.assert_allclose(norm_ratio(V, p), ref, rtol=1e-11)
    assert norm_ratio(V[0], p) == pytest.approx(ref[0], rel=1e-11)


# --- the LS loss and its gradient (Eq 8, 14, 15, 16) against PyTorch ---

def logits_and_labels(max_n=8, max_k=30):
    return st.integers(1, max_n).flatmap(lambda n: st.integers(2, max_k).flatmap(lambda k: st.tuples(
        hnp.arrays(np.float64, (n, k), elements=st.floats(-30, 30)),
        hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))))


@given(logits_and_labels(), alphas, st.sampled_from(["mean", "sum", "none"]), st.sampled_from([torch.float32, torch.float64]))
def test_ls_cross_entropy_matches_torch(vy, alpha, reduction, dtype):
    v, y = torch.from_numpy(vy[0]).to(dtype), torch.from_numpy(vy[1])
    ours = ls_cross_entropy(v, y, alpha, reduction)
    ref = F.cross_entropy(v, y, label_smoothing=alpha, reduction=reduction)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)


@given(logits_and_labels(), alphas)
def test_ls_logit_grad_matches_autograd(vy, alpha):
    v = torch.from_numpy(vy[0]).requires_grad_()
    y = torch.from_numpy(vy[1])
    F.cross_entropy(v, y, label_smoothing=alpha, reduction="sum").backward()
    torch.testing.assert_close(ls_logit_grad(v.detach(), y, alpha), v.grad, rtol=0, atol=1e-10)


@given(logits_and_labels(), alphas)
def test_ls_grad_is_ce_grad_plus_regularisation(vy, alpha):
    v, y = vy
    onehot = np.eye(v.shape[1])[y]
    torch.testing.assert_close(ls_logit_grad(v, y, alpha), ls_logit_grad(v, y, 0.0) + regularisation_grad(onehot, alpha),
                               rtol=0, atol=1e-12)


@given(st.integers(2, 20), alphas, st.integers(0, 2**32 - 1))
def test_soft_conditional_gradient(K, alpha, seed):
    "Gradient of E_{y~p}[L_LS(v, y)] by autograd = (softmax(v) - p) + regularisation_grad(p) (Eq 14 = CE + Eq 15)."
    rng = np.random.default_rng(seed)
    v, p = rng.normal(0, 3, K), rng.dirichlet(np.ones(K))
    vk = torch.from_numpy(np.tile(v, (K, 1))).requires_grad_()
    (torch.from_numpy(p) * F.cross_entropy(vk, torch.arange(K), label_smoothing=alpha, reduction="none")).sum().backward()
    expected = torch.softmax(torch.from_numpy(v), 0) - torch.from_numpy(p) + regularisation_grad(p[None], alpha)[0]
    torch.testing.assert_close(vk.grad.sum(0), expected, rtol=0, atol=1e-12)


@given(st.integers(2, 50), alphas, st.integers(0, 2**32 - 1))
def test_max_logit_suppression_is_eq15_at_the_prediction(K, alpha, seed):
    rng = np.random.default_rng(seed)
    p, pred = rng.dirichlet(np.ones(K)), int(rng.integers(K))
    assert max_logit_suppression(1 - p[pred], alpha, K) == pytest.approx(regularisation_grad(p[None], alpha)[0, pred].item(), abs=1e-14)


@given(st.integers(2, 50), st.floats(0.01, 0.99), st.integers(0, 2**32 - 1))
def test_ls_optimum_is_a_minimum(K, alpha, seed):
    "At log(p*) the LS gradient vanishes, and the loss (convex in v) is no lower at random nearby logits."
    p_true, p_other, gap = ls_optimum(K, alpha)
    v = np.log(np.r_[p_true, np.full(K - 1, p_other)])[None]
    assert v[0, 0] - v[0, 1] == pytest.approx(gap, rel=1e-12)
    torch.testing.assert_close(ls_logit_grad(v, [0], alpha), torch.zeros(1, K, dtype=torch.float64), rtol=0, atol=1e-12)
    noise = np.random.default_rng(seed).normal(0, 0.5, (16, K))
    best = ls_cross_entropy(v, [0], alpha).item()
    assert (ls_cross_entropy(v + noise, [0] * 16, alpha, "none").numpy() >= best - 1e-12).all()
    torch.testing.assert_close(smooth_targets([0], K, alpha)[0], torch.from_numpy(np.exp(v[0])), rtol=0, atol=1e-12)


# design.md §4: the names and parameters users and other modules call
LOSSES_API = {
    "smooth_targets": ["labels", "num_classes", "alpha"],
    "ls_cross_entropy": ["logits", "labels", "alpha", "reduction"],
    "ls_logit_grad": ["logits", "labels", "alpha"],
    "regularisation_grad": ["true_probs", "alpha"],
    "max_logit_suppression": ["p_err", "alpha", "num_classes"],
    "norm_ratio": ["v", "p"],
    "ls_optimum": ["num_classes", "alpha"],
}


@pytest.mark.parametrize("name", sorted(LOSSES_API))
def test_losses_api_is_typed_and_documented(name):
    import lsfix.losses as losses
    assert name in losses.__all__, f"lsfix.losses.{name} is not exported"
    f = getattr(losses, name)
    doc = inspect.getdoc(f)
    assert doc and "\n" not in doc.strip(), f"{name} needs a one-line docstring, got {doc!r}"
    sig = inspect.signature(f)
    assert list(sig.parameters) == LOSSES_API[name], f"{name}{sig} does not match design.md §4"
    untyped = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
    assert not untyped, f"{name}: parameters without type annotations: {untyped}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return annotation"
    if name == "ls_cross_entropy": assert sig.parameters["reduction"].default == "mean"
