"Property tests for lsfix.selective: brute force from the definitions, invariances, bounds."
from fractions import Fraction
import functools, itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lsfix.selective import (aurc, augrc, bootstrap_ci, coverage_at_risk, eaurc, oracle_aurc, rc_curve, risk_at_coverage,
                             selective_report)

samples = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),   # few distinct values: heavy ties
    st.lists(st.booleans(), min_size=n, max_size=n)))
small_samples = st.integers(1, 9).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n)))


def brute_curve(s, c):
    "Eq 10-12 by a loop over the distinct thresholds, in exact rationals (levels like 0.1 read as decimals)."
    pts = []
    for t in sorted(set(s), reverse=True):
        acc = [i for i, x in enumerate(s) if x >= t]
        pts.append((Fraction(len(acc), len(s)), Fraction(sum(not c[i] for i in acc), len(acc))))
    return pts


def order_averaged_areas(s, c):
    "AURC, AUGRC and oracle AURC by exhaustive enumeration: every order of the tied samples, each scored as a strict order."
    n = len(s)
    def strict(errors):
        e, area, garea = 0, Fraction(0), Fraction(0)
        for k, x in enumerate(errors, 1):
            e += x; area += Fraction(e, k); garea += Fraction(e, n)
        return area / n, garea / n
    blocks = [(sum(x == t for x in s), sum(x == t and not ok for x, ok in zip(s, c))) for t in sorted(set(s), reverse=True)]
    # every placement of a block's errors among its positions: each stands for the same number of permutations
    placements = [itertools.combinations(range(w), b) for w, b in blocks]
    total, count = [Fraction(0), Fraction(0)], 0
    for combo in itertools.product(*placements):
        a, g = strict([i in pos for (w, _), pos in zip(blocks, combo) for i in range(w)])
        total[0] += a; total[1] += g; count += 1
    oracle = strict(sorted((not x for x in c)))[0]  # every correct sample before every error
    return total[0] / count, total[1] / count, oracle


@settings(max_examples=200, deadline=None)
@given(samples, st.sampled_from([0.01, 0.1, 0.5, 1.0]), st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_curve_and_operating_points_match_brute_force(data, coverage, risk):
    s, c = np.array(data[0], float), np.array(data[1], bool)
    pts = brute_curve(data[0], data[1])
    cov, rk, _ = rc_curve(s, c)
    np.testing.assert_allclose(cov, [float(p[0]) for p in pts], rtol=0, atol=1e-15)
    np.testing.assert_allclose(rk, [float(p[1]) for p in pts], rtol=0, atol=1e-15)
    assert risk_at_coverage(s, c, coverage) == float(next(r for cj, r in pts if cj >= Fraction(str(coverage))))
    assert coverage_at_risk(s, c, risk) == float(max([cj for cj, r in pts if r <= Fraction(str(risk))], default=0))


@settings(max_examples=150, deadline=None)
@given(small_samples)
def test_areas_equal_the_average_over_tie_orders(data):
    s, c = np.array(data[0], float), np.array(data[1], bool)
    area, garea, oracle = order_averaged_areas(data[0], data[1])
    assert aurc(s, c) == pytest.approx(float(area), abs=1e-14)
    assert augrc(s, c) == pytest.approx(float(garea), abs=1e-14)
    assert eaurc(s, c) == pytest.approx(float(area - oracle), abs=1e-14)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_tie_free_areas_are_the_per_sample_sums(n, seed):
    "Distinct scores: AURC = mean of r_k and AUGRC = mean of e_k/n exactly as before the tie convention (no ties, nothing to average)."
    rng = np.random.default_rng(seed)
    s, c = rng.permutation(n) / n, rng.random(n) < rng.random()
    e_k = np.cumsum(~c[np.argsort(-s)])
    assert aurc(s, c) == pytest.approx((e_k / np.arange(1, n + 1)).mean(), abs=1e-15)
    assert augrc(s, c) == pytest.approx(e_k.mean() / n, abs=1e-15)


def test_constant_score_and_perfect_binary_score():
    n = 1000
    c = np.arange(n) >= 100                      # 10% errors
    assert aurc(np.zeros(n), c) == pytest.approx(0.1, abs=1e-15)
    assert augrc(np.zeros(n), c) == pytest.approx(0.1 * (n + 1) / (2 * n), abs=1e-15)  # -> 0.05 as n grows
    assert eaurc(c * 1.0, c) == pytest.approx(0.0, abs=1e-15)  # a 0/1 score ranking every correct sample first is the oracle


@settings(max_examples=200, deadline=None)
@given(samples, st.randoms(use_true_random=False))
def test_shuffle_invariance_and_bounds(data, rnd):
    s, c = np.array(data[0], float), np.array(data[1], bool)
    p = np.array(rnd.sample(range(len(s)), len(s)))
    rep = selective_report(s, c)
    assert selective_report(s[p], c[p]) == rep
    assert eaurc(s, c) >= 0 and 0 <= augrc(s, c) <= aurc(s, c) + 1e-15
    assert all(0 <= v <= 1 for v in rep.values())


def test_bootstrap_fast_path_equals_loop():
    rng = np.random.default_rng(0)
    s, c = rng.integers(0, 50, 300) / 50, rng.random(300) < 0.7
    for metric in (aurc, eaurc, augrc, functools.partial(risk_at_coverage, coverage=0.2)):
        fast = bootstrap_ci(metric, s, c, n_boot=100, seed=1)
        slow = bootstrap_ci(lambda a, b: metric(a, b), s, c, n_boot=100, seed=1)
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    boot = selective_report(s, c, n_boot=100, seed=1)
    np.testing.assert_allclose(boot["aurc"], bootstrap_ci(aurc, s, c, n_boot=100, seed=1), rtol=0, atol=1e-12)


def test_oracle_is_exact():
    for n, e in [(1, 1), (9, 4), (250, 31)]:
        c = np.arange(n) >= e
        exact = sum(Fraction(k - n + e, k) for k in range(n - e + 1, n + 1)) / n
        assert oracle_aurc(c) == pytest.approx(float(exact), abs=1e-15)
