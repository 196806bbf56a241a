"Property tests for lsfix.selective and lsfix.calibration: brute force from the definitions, invariances, bounds."
from fractions import Fraction
import functools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lsfix.selective import (aurc, augrc, bootstrap_ci, coverage_at_risk, eaurc, oracle_aurc, rc_curve, risk_at_coverage,
                             selective_report)
from lsfix.calibration import TemperatureScaler, ece, ece_from_confidence, nll, softmax

samples = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),   # few distinct values: heavy ties
    st.lists(st.booleans(), min_size=n, max_size=n)))


def brute_curve(s, c):
    "Eq 10-12 by a loop over the distinct thresholds, in exact rationals (levels like 0.1 read as decimals)."
    pts = []
    for t in sorted(set(s), reverse=True):
        acc = [i for i, x in enumerate(s) if x >= t]
        pts.append((Fraction(len(acc), len(s)), Fraction(sum(not c[i] for i in acc), len(acc))))
    return pts


@settings(max_examples=200, deadline=None)
@given(samples, st.sampled_from([0.01, 0.1, 0.5, 1.0]), st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_matches_brute_force(data, coverage, risk):
    s, c = np.array(data[0], float), np.array(data[1], bool)
    pts, prev, area = brute_curve(data[0], data[1]), Fraction(0), Fraction(0)
    for cj, rj in pts: area += (cj - prev) * rj; prev = cj
    cov, rk, _ = rc_curve(s, c)
    np.testing.assert_allclose(cov, [float(p[0]) for p in pts], rtol=0, atol=1e-15)
    np.testing.assert_allclose(rk, [float(p[1]) for p in pts], rtol=0, atol=1e-15)
    assert aurc(s, c) == pytest.approx(float(area), abs=1e-13)
    assert risk_at_coverage(s, c, coverage) == float(next(r for cj, r in pts if cj >= Fraction(str(coverage))))
    assert coverage_at_risk(s, c, risk) == float(max([cj for cj, r in pts if r <= Fraction(str(risk))], default=0))


@settings(max_examples=200, deadline=None)
@given(samples, st.randoms(use_true_random=False))
def test_shuffle_invariance_and_bounds(data, rnd):
    s, c = np.array(data[0], float), np.array(data[1], bool)
    p = np.array(rnd.sample(range(len(s)), len(s)))
    rep = selective_report(s, c)
    assert selective_report(s[p], c[p]) == rep
    assert eaurc(s, c) >= -1e-15 and 0 <= augrc(s, c) <= aurc(s, c) + 1e-15
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


def test_calibration_against_grid_and_ece_forms():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(800, 4)) * 4
    y = np.where(rng.random(800) < 0.7, logits.argmax(1), rng.integers(0, 4, 800))  # informative logits: finite optimum
    t = TemperatureScaler().fit(logits, y).temperature
    grid = np.linspace(0.2, 20, 20001)
    best = grid[np.argmin([nll(logits / g, y) for g in grid])]
    assert t == pytest.approx(best, abs=2e-3)
    p = softmax(logits)
    assert ece(p, y) == pytest.approx(ece_from_confidence(p.max(1), p.argmax(1) == y), abs=1e-15)
