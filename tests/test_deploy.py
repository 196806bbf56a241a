"""lsfix.deploy: the exact binomial tail against scipy and brute force, the procedures on hand-made data, validity by
simulation (LTT and SGR, MSP and logit-norm), the classifier's errors and files, and the `lsfix-eval` deployment section."""
import json, math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats

from lsfix.deploy import (binom_cdf, binom_upper_bound, min_accepted, risk_pvalues, rejects, accepted_counts, ltt_threshold,
                          ltt_thresholds, sgr_threshold, naive_threshold, simulate_validity, violation_summary, split_heldout,
                          SelectiveClassifier, SelectiveModule, NoCertificateWarning, deployment_report)
from lsfix.logitnorm import LogitNorm
from lsfix.logits import synthetic_logits
from lsfix.selective import msp
from conftest import run_eval, write_logits


# --- the binomial tail -------------------------------------------------------------------------------------------

def test_binom_cdf_matches_scipy():
    rng = np.random.default_rng(1)
    n = rng.integers(0, 5000, 3000)
    k, p = rng.integers(-2, n + 3), rng.random(3000)
    p[:30], p[30:60] = 0.0, 1.0
    np.testing.assert_allclose(binom_cdf(k, n, p), stats.binom.cdf(k, n, p), rtol=1e-9, atol=1e-15)
    tiny = stats.binom.cdf(k, n, p)
    tiny_mask = (tiny > 1e-250) & (tiny < 1e-50)   # deeper, scipy itself loses digits (see the brute-force case below)
    assert tiny_mask.sum() > 50  # deep tails keep their relative precision
    np.testing.assert_allclose(binom_cdf(k, n, p)[tiny_mask], tiny[tiny_mask], rtol=1e-8)

@pytest.mark.parametrize("k,n,p", [(0, 149, Fraction(1, 50)), (3, 200, Fraction(1, 50)), (17, 400, Fraction(1, 20)),
                                   (250, 300, Fraction(9, 10)), (5, 5, Fraction(1, 3)), (60, 1000, Fraction(1, 10)),
                                   (25, 885, Fraction(0.5725924318902159)), (2246, 2995, Fraction(1, 2))])
def test_binom_cdf_brute_force(k, n, p):
    exact = sum(Fraction(math.comb(n, i)) * p**i * (1 - p)**(n - i) for i in range(min(k, n) + 1))
    assert float(Fraction(float(binom_cdf(k, n, float(p)))) / exact) == pytest.approx(1.0, abs=1e-12)   # a ratio: the exact value may be ~1e-275

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), frac=st.floats(0, 1), p=st.floats(1e-4, 0.5))
def test_binom_cdf_monotone(n, frac, p):
    k = int(frac * n)
    assert binom_cdf(k, n + 1, p) <= binom_cdf(k, n, p) * (1 + 1e-10)            # more samples: e errors or fewer is less likely
    assert binom_cdf(k, n, min(1.0, p * 1.2)) <= binom_cdf(k, n, p) * (1 + 1e-10)  # larger risk: less likely
    assert binom_cdf(k + 1, n, p) >= binom_cdf(k, n, p) * (1 - 1e-10)

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), frac=st.floats(0, 0.99), delta=st.floats(0.001, 0.5))
def test_upper_bound_is_clopper_pearson_and_monotone(n, frac, delta):
    k = int(frac * n)
    b = binom_upper_bound(k, n, delta)
    assert b == pytest.approx(stats.beta.ppf(1 - delta, k + 1, n - k), abs=1e-9)
    assert binom_upper_bound(k, n, min(0.99, delta * 1.5)) <= b                     # a looser level, a lower bound
    assert binom_upper_bound(k, n + 1, delta) <= b                                  # more samples, same errors

def test_min_accepted():
    assert min_accepted(0.02, 0.05) == 149 and 0.98**148 > 0.05 >= 0.98**149
    for r in (0.005, 0.01, 0.05, 0.2):
        for d in (0.01, 0.05, 0.2):
            assert min_accepted(r, d) == next(m for m in range(1, 10**5) if (1 - r)**m <= d)
    assert [min_accepted(r, 0.05) for r in (0.01, 0.02, 0.05)] == sorted([min_accepted(r, 0.05) for r in (0.01, 0.02, 0.05)], reverse=True)

@pytest.mark.parametrize("pvalue", ["binomial", "hb"])
def test_pvalue_size_exact(pvalue):
    "P(reject) under the null boundary R = r, summed exactly over Bin(m, r), is at most δ."
    for m in (59, 149, 1000, 3000):
        for r in (0.01, 0.02, 0.05):
            e = np.arange(m + 1)
            reject = risk_pvalues(e, m, r, pvalue) <= 0.05
            assert stats.binom.pmf(e, m, r)[reject].sum() <= 0.05
            assert (rejects(e, m, r, 0.05, pvalue) == reject).all()

def test_hb_never_below_binomial():
    e = np.arange(0, 200)
    assert (risk_pvalues(e, 2000, 0.03, "hb") >= risk_pvalues(e, 2000, 0.03) * (1 - 1e-12)).all()

# --- the procedures ----------------------------------------------------------------------------------------------

def test_accepted_counts_brute_force():
    rng = np.random.default_rng(0)
    s, c = rng.integers(0, 40, 700).astype(float), rng.random(700) > 0.3
    t = np.r_[rng.integers(-1, 42, 30).astype(float), 10.5]
    m, e = accepted_counts(s, c, t)
    assert m.tolist() == [(s >= x).sum() for x in t] and e.tolist() == [(~c[s >= x]).sum() for x in t]

def test_ltt_stops_at_first_failure():
    s, c = np.arange(1000, 0, -1).astype(float), np.ones(1000, bool)
    c[[10, 200]] = False
    c[300:320] = False
    t = np.array([900.5, 800.5, 700.5, 500.5, 0.5])
    cert = ltt_threshold(s, c, t, 0.05, 0.05)
    assert (cert["threshold"], cert["accepted"], cert["errors"], cert["tested"]) == (700.5, 300, 2, 4)
    assert cert["pvalue"] == pytest.approx(stats.binom.cdf(2, 300, 0.05))
    assert ltt_threshold(s, c, t[3:], 0.05, 0.05)["threshold"] is None
    with pytest.raises(ValueError, match="decreasing order"): ltt_threshold(s, c, t[::-1], 0.05, 0.05)

def test_ltt_grid_starts_where_certification_is_possible():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    t = ltt_thresholds(ref, 2000, 0.02, 0.05)
    assert (np.diff(t) < 0).all() and abs((ref >= t[0]).mean() * 2000 - 149) <= 2 and t[-1] == ref.min()
    refc = rng.random(5000) > 0.01 + 0.1 * (ref < 0)   # a 1% error rate at the top: zero errors in 149 is unlikely
    t2 = ltt_thresholds(ref, 2000, 0.02, 0.05, reference_correct=refc)
    assert t2.tolist() == t[-len(t2):].tolist() and len(t2) < len(t)
    with pytest.raises(ValueError, match="calibration set too small: 100 samples.*needs >= 149"): ltt_thresholds(ref, 100, 0.02, 0.05)

def test_sgr_bound_and_union():
    rng = np.random.default_rng(0)
    s, c = np.arange(1000, 0, -1).astype(float), np.ones(1000, bool)
    c[rng.choice(np.arange(500, 1000), 100, replace=False)] = False
    cert = sgr_threshold(s, c, 0.05, 0.05)
    assert cert["steps"] == 10 and cert["level"] == pytest.approx(0.005) and cert["accepted"] >= 500
    assert cert["bound"] == pytest.approx(stats.beta.ppf(1 - 0.005, cert["errors"] + 1, cert["accepted"] - cert["errors"]), abs=1e-9)
    assert cert["bound"] <= 0.05
    naive = naive_threshold(s, c, 0.05)
    assert naive["accepted"] == max(m for m in range(1, 1001) if (~c[:m]).mean() <= 0.05)

# --- validity by simulation --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pool():
    v, y = synthetic_logits(100_000, alpha=0.3, shift="topk", seed=1)
    ln = LogitNorm().fit(*synthetic_logits(5000, alpha=0.3, shift="topk", seed=2))
    assert ln.p is not None  # the logit-norm score differs from MSP on this pool
    return {"MSP": msp(v, log=True), "logit-norm": ln.score(v)}, v.argmax(1) == y

@pytest.mark.parametrize("score", ["MSP", "logit-norm"])
def test_violation_rate_at_most_delta(pool, score):
    "The pool is the population; 1000 calibration draws per method; the pool's risk at the chosen threshold exceeds r at most δ (+ margin)."
    scores, correct = pool
    r, delta, n_draws = 0.05, 0.05, 1000
    limit = stats.binom.ppf(0.999, n_draws, delta) / n_draws      # a valid method exceeds this with probability ≤ 0.001
    sim = simulate_validity(scores[score], correct, 2000, r, delta, n_draws, n_reference=1000, methods=("ltt", "sgr"), seed=7)
    rows = {row["method"]: row for row in violation_summary(sim, r, delta)}
    for method, row in rows.items():
        assert row["limit"] == pytest.approx(limit)
        assert row["violation rate"] <= limit, (method, row)
        assert row["certified"] > 0.5, (method, row)               # the check is not vacuous: most draws certify something
        print(f"{score}, {method}: violations {row['violation rate']:.3f}, held-out exceeds r {row['held-out exceeds r']:.3f}, mean coverage {row['mean coverage']:.3f}")
    naive = violation_summary(simulate_validity(scores[score], correct, 2000, r, delta, 200, methods=("naive",), seed=8), r, delta)[0]
    assert naive["violation rate"] > 0.25                            # the simulation does see violations when they happen

def test_simulation_pool_risk_is_exact(pool):
    scores, correct = pool
    s, c = scores["MSP"], correct
    sim = simulate_validity(s, c, 2000, 0.05, 0.05, 5, methods=("naive",), seed=3)
    for cov, risk in zip(sim["naive"]["coverage"], sim["naive"]["risk"]):
        t = np.sort(s)[::-1][int(round(cov * len(s))) - 1]
        assert (~c[s >= t]).mean() == pytest.approx(risk) and (s >= t).mean() == pytest.approx(cov)

# --- the classifier ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def heldout():
    return synthetic_logits(3000, alpha=0.3, shift="topk", seed=10), synthetic_logits(5000, alpha=0.3, shift="topk", seed=11)

def bad_cases(v, y):
    return {
        "r = 0": (lambda: SelectiveClassifier("msp", target_risk=0.0), "target_risk must be in (0, 1)"),
        "r = 1": (lambda: SelectiveClassifier("msp", target_risk=1.0), "target_risk must be in (0, 1)"),
        "delta = 0": (lambda: SelectiveClassifier("msp", delta=0.0), "delta must be in (0, 1)"),
        "delta > 1": (lambda: SelectiveClassifier("msp", delta=1.5), "delta must be in (0, 1)"),
        "unknown score": (lambda: SelectiveClassifier("softmax"), "score must be one of"),
        "unknown method": (lambda: SelectiveClassifier("msp", method="crc"), "method must be 'ltt' or 'sgr'"),
        "too small": (lambda: SelectiveClassifier("msp").fit(v[:100], y[:100]), "calibration set too small: 100 samples"),
        "too small sgr": (lambda: SelectiveClassifier("msp", method="sgr").fit(v[:200], y[:200]), "calibration set too small: 200 samples"),
        "length mismatch": (lambda: SelectiveClassifier("msp").fit(v, y[:-1]), "length mismatch"),
        "NaN logits": (lambda: SelectiveClassifier("msp").fit(np.where(v > 12, np.nan, v), y), "non-finite"),
        "unfitted LogitNorm": (lambda: SelectiveClassifier(LogitNorm()).fit(v, y), "LogitNorm is not fitted"),
        "reference K": (lambda: SelectiveClassifier("msp").fit(v, y, reference=(v[:, :5], y % 5)), "K=5"),
        "fit_fraction": (lambda: SelectiveClassifier("msp").fit_split(v, y, fit_fraction=1.0), "fit_fraction must be in (0, 1)"),
    }

@pytest.mark.parametrize("case", list(bad_cases(np.zeros((2, 2)), np.zeros(2, int))))
def test_bad_arguments(case, heldout):
    (v, y), _ = heldout
    fn, needle = bad_cases(v, y)[case]
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")): fn()

def test_no_certificate_warns_and_rejects_everything():
    v, y = synthetic_logits(1000, seed=3)
    with pytest.warns(NoCertificateWarning, match="rejects every input"):
        sc = SelectiveClassifier("msp", target_risk=0.005, delta=0.05).fit(v, y)
    assert sc.threshold is None and not sc.predict(v)[1].any()

def test_split_heldout_disjoint_and_seeded(heldout):
    (v, y), _ = heldout
    (fv, fy), (cv, cy) = split_heldout(v, y, 0.3, seed=5)
    assert (len(fy), len(cy)) == (900, 2100)
    rows = {r.tobytes() for r in v}
    assert {r.tobytes() for r in fv}.isdisjoint({r.tobytes() for r in cv}) and len(rows) == 3000
    assert np.array_equal(split_heldout(v, y, 0.3, seed=5)[0][0], fv) and not np.array_equal(split_heldout(v, y, 0.3, seed=6)[0][0], fv)

@pytest.mark.parametrize("method", ["ltt", "sgr"])
def test_fit_split_save_load_module(method, heldout, tmp_path):
    (v, y), (nv, ny) = heldout
    sc = SelectiveClassifier(LogitNorm(), 0.05, 0.05, method).fit_split(v, y, fit_fraction=0.5, seed=0)
    assert sc.certificate["n"] == 1500 and sc.n_reference == 1500 and sc.threshold is not None
    (fv, fy), (cv, cy) = split_heldout(v, y, 0.5, seed=0)
    assert sc.score_fn.p == LogitNorm().fit(fv, fy).p                # p fitted on the fitting part only
    s = sc.score(cv)
    assert sc.certificate["accepted"] == (s >= sc.threshold).sum()
    assert sc.certificate["errors"] == ((cv.argmax(1) != cy) & (s >= sc.threshold)).sum()
    path = sc.save(tmp_path / "sel.json")
    state = json.loads(path.read_text())
    assert {k: state[k] for k in ("score", "p", "threshold", "target_risk", "delta", "n", "method")} == \
           {"score": "logit_norm", "p": sc.score_fn.p, "threshold": sc.threshold, "target_risk": 0.05, "delta": 0.05, "n": 1500, "method": method}
    assert state["code_version"]
    back = SelectiveClassifier.load(path)
    pred, accept = sc.predict(nv)
    assert all(np.array_equal(a, b) for a, b in zip(back.predict(nv), (pred, accept)))
    pt, at = SelectiveModule(torch.nn.Identity(), back)(torch.as_tensor(nv))
    assert np.array_equal(pt.numpy(), pred) and np.array_equal(at.numpy(), accept) and at.dtype == torch.bool

def test_named_scores_and_callables(heldout):
    (v, y), _ = heldout
    a = SelectiveClassifier("msp", 0.05, 0.05).fit(v, y)
    b = SelectiveClassifier(msp, 0.05, 0.05).fit(v, y)                # the library function maps to the saved name
    assert a.threshold == b.threshold and b.state()["score"] == "msp"
    c = SelectiveClassifier(lambda x: msp(x, log=True), 0.05, 0.05).fit(v, y)
    with pytest.raises(ValueError, match="cannot be saved"): c.state()

def test_load_bad_files(tmp_path):
    (tmp_path / "partial.json").write_text(json.dumps({"score": "msp"}))
    with pytest.raises(ValueError, match="missing key"): SelectiveClassifier.load(tmp_path / "partial.json")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(ValueError, match="not a SelectiveClassifier JSON file"): SelectiveClassifier.load(tmp_path / "junk.json")
    with pytest.raises(FileNotFoundError, match="no such file"): SelectiveClassifier.load(tmp_path / "nope.json")

# --- lsfix-eval --target_risk --delta ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("deploy_logits")
    return {"test": write_logits(d / "ls.npz", 0.3, 0, 2000), "val": write_logits(d / "ls_val.npz", 0.3, 1, 2000),
            "tiny_val": write_logits(d / "tiny_val.npz", 0.3, 2, 60)}

def test_cli_deployment_section(files, tmp_path):
    out = tmp_path / "report"
    r = run_eval("--test", files["test"], "--val", files["val"], "--n_boot", "0", "--seed", "4", "--target_risk", "0.05", "--delta", "0.1", out=out)
    assert r.returncode == 0, r.stderr
    dep = json.loads((out / "report.json").read_text())["models"][0]["deployment"]
    with np.load(files["val"]) as zv, np.load(files["test"]) as zt:
        direct = deployment_report(zv["logits"], zv["labels"], zt["logits"], zt["labels"], 0.05, 0.1, seed=4)
    assert (dep["n_fit"], dep["n_cal"], dep["n_test"], dep["target_risk"], dep["delta"]) == (1000, 1000, 2000, 0.05, 0.1)
    assert dep["rows"] == json.loads(json.dumps(direct["rows"]))
    assert [(row["score"], row["method"]) for row in dep["rows"]] == [("MSP", "ltt"), ("MSP", "sgr"), ("logit-norm", "ltt"), ("logit-norm", "sgr")]
    md = (out / "report.md").read_text()
    assert "Deployment with a guarantee" in md and "certified on the other 1000" in md and "| MSP | ltt |" in md

@pytest.mark.parametrize("args,needle", [
    (["--target_risk", "1.5"], "--target_risk must be in (0, 1), got 1.5"),
    (["--target_risk", "0.05", "--delta", "0"], "--delta must be in (0, 1), got 0.0"),
    (["--target_risk", "0.05", "--no_val"], "the deployment section needs --val"),
    (["--target_risk", "0.05", "--tiny_val"], "deployment: calibration set too small: 30 samples"),
])
def test_cli_deployment_bad_arguments(files, tmp_path, args, needle):
    val = [] if "--no_val" in args else ["--val", files["tiny_val"] if "--tiny_val" in args else files["val"]]
    args = [a for a in args if a not in ("--no_val", "--tiny_val")]
    out = tmp_path / "report"
    r = run_eval("--test", files["test"], *val, "--n_boot", "0", *args, out=out)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = r.stderr.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("lsfix-eval: error:") and needle in line[0], r.stderr
    assert not out.exists() or not any(out.iterdir())
