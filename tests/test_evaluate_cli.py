"""End-to-end tests of the `lsfix-eval` CLI (`python -m lsfix.evaluate`): a real report, and every kind of bad input."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from lsfix.core import save_npz
from lsfix.logitnorm import synthetic_logits

REPO = Path(__file__).resolve().parents[1]
N = 600

def run_cli(*args, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "lsfix.evaluate", *map(str, args), "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)

def write(path, alpha=0.0, seed=0, n=N, **override):
    logits, labels = synthetic_logits(n, alpha=alpha, shift="topk", seed=seed)
    arrays = {"logits": logits, "labels": labels, "meta": json.dumps({"model": path.stem, "alpha": alpha}), **override}
    return save_npz(path, **{k: v for k, v in arrays.items() if v is not None})

def brute_aurc(scores, correct):
    "AURC by definition (design §2): mean over positions k of the expected selective risk, tied samples in random order."
    total, accepted, errors = 0.0, 0, 0
    for t in np.unique(scores)[::-1]:
        block = scores == t
        w, b = int(block.sum()), int((~correct[block]).sum())
        total += sum((errors + k * b / w) / (accepted + k) for k in range(1, w + 1))  # hypergeometric mean of the errors
        accepted, errors = accepted + w, errors + b
    return total / len(scores)

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("logits")
    group = np.r_[np.zeros(N // 2, int), np.ones(N - N // 2, int)]
    return {"ce": write(d / "ce.npz", 0.0, 0, group=group), "ce_val": write(d / "ce_val.npz", 0.0, 1),
            "ls": write(d / "ls.npz", 0.1, 0, group=group), "ls_val": write(d / "ls_val.npz", 0.1, 1), "dir": d}

def test_report_end_to_end(files, tmp_path):
    out = tmp_path / "report"
    r = run_cli("--test", files["ce"], files["ls"], "--val", files["ce_val"], files["ls_val"], "--n_boot", "50", "--seed", "3", out=out)
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "report.md", "rc_ce.png", "rc_ls.png", "rc_models.png", "reliability_ce.png",
            "reliability_ls.png", "max_logit_given_msp.png"} == names
    for png in out.glob("*.png"): assert png.read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((out / "report.json").read_text())
    assert [m["name"] for m in doc["models"]] == ["ce", "ls"]
    for model, key in zip(doc["models"], ("ce", "ls")):
        with np.load(files[key]) as z: logits, labels = z["logits"].astype(np.float64), z["labels"]
        correct = logits.argmax(1) == labels
        assert set(model["metrics"]) == {"MSP", "max logit", "entropy", "margin", "energy", "DOCTOR", "logit-norm"}
        err = model["metrics"]["MSP"]["error"]
        assert err[0] == pytest.approx(1 - correct.mean()) and err[1] <= err[0] <= err[2]
        assert model["metrics"]["max logit"]["aurc"][0] == pytest.approx(brute_aurc(logits.max(1), correct), abs=1e-12)
        assert model["calibration"]["temperature"] > 0 and len(model["calibration"]["ece_temperature"]) == 3
        accepted = sum(row["samples"] for row in model["groups"]["MSP"] if row["group"] != "all")
        assert accepted == int(np.ceil(0.1 * N))
    # ce and ls share their labels (same seed): ls is compared with ce by a paired bootstrap on the same resamples
    from lsfix.selective import msp, paired_difference
    (lc, yc), (ll, yl) = [(z["logits"].astype(np.float64), z["labels"]) for z in map(np.load, (files["ce"], files["ls"]))]
    direct = paired_difference(msp(lc, log=True), lc.argmax(1) == yc, msp(ll, log=True), ll.argmax(1) == yl, n_boot=50, seed=3)
    paired = doc["models"][1]["paired"]
    assert paired["reference"] == "ce" and doc["models"][0].get("paired") is None
    assert paired["scores"]["MSP"]["aurc"] == pytest.approx(list(direct["aurc"]), abs=1e-15)
    md = (out / "report.md").read_text()
    assert "## Paired differences against ce" in md and "ls − ce, MSP" in md
    for label in ("Error %", "AURC ×1000", "E-AURC ×1000", "AUGRC ×1000", "Cov@1% risk", "Risk@50% cov", "ECE % after T", "| DOCTOR |"):
        assert label in md

def test_without_validation(files, tmp_path):
    out = tmp_path / "report"
    r = run_cli("--test", files["ce"], "--n_boot", "0", out=out)
    assert r.returncode == 0, r.stderr
    model = json.loads((out / "report.json").read_text())["models"][0]
    assert "logit-norm" not in model["metrics"] and model["logit_norm"] is None and model["calibration"]["temperature"] is None

def bad_inputs(d, files):
    "(name, CLI arguments, substrings the error must contain)."
    lg, y = synthetic_logits(50, seed=0)
    cases = {
        "missing file": (["--test", d / "nope.npz"], ["nope.npz", "no such file"]),
        "missing key": (["--test", save_npz(d / "nolabels.npz", logits=lg)], ["nolabels.npz", "missing key", "labels"]),
        "logits not 2-D": (["--test", save_npz(d / "flat.npz", logits=lg[:, 0], labels=y)], ["flat.npz", "2-D"]),
        "NaN logits": (["--test", save_npz(d / "nan.npz", logits=np.where(lg > 12, np.nan, lg), labels=y)], ["nan.npz", "non-finite"]),
        "labels out of range": (["--test", save_npz(d / "range.npz", logits=lg, labels=y + 10)], ["range.npz", "out of range"]),
        "different K": (["--test", files["ce"], "--val", save_npz(d / "k5.npz", logits=lg[:, :5], labels=y % 5)],
                        ["k5.npz", "K=5", "ce.npz", "K=10"]),
        "p <= 0": (["--test", files["ce"], "--val", files["ce_val"], "--ps", "1", "0"], ["--ps", "p must be > 0"]),
        "negative p": (["--test", files["ce"], "--val", files["ce_val"], "--ps", "-2"], ["--ps", "p must be > 0"]),
        "empty group": (["--test", save_npz(d / "group.npz", logits=lg, labels=y, group=np.array([], int))], ["group.npz", "group", "non-empty"]),
        "group length": (["--test", save_npz(d / "glen.npz", logits=lg, labels=y, group=np.zeros(7, int))], ["glen.npz", "group", "length mismatch"]),
        "val count": (["--test", files["ce"], files["ls"], "--val", files["ce_val"]], ["--val", "pair them by position"]),
        "not an npz": (["--test", d / "junk.npz"], ["junk.npz", "not an .npz archive"]),
        "bad file among good": (["--test", files["ce"], d / "nope.npz"], ["nope.npz", "no such file"]),
    }
    (d / "junk.npz").write_text("not a zip")
    return cases

CASES = ["missing file", "missing key", "logits not 2-D", "NaN logits", "labels out of range", "different K", "p <= 0",
         "negative p", "empty group", "group length", "val count", "not an npz", "bad file among good"]

@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, files, tmp_path):
    args, needles = bad_inputs(tmp_path, files)[case]
    out = tmp_path / "report"
    r = run_cli(*args, "--n_boot", "10", out=out)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lsfix-eval: error:"), r.stderr
    for needle in needles: assert needle in lines[0], (needle, lines[0])
    assert not out.exists() or not any(out.iterdir())

def test_existing_out_dir_untouched_on_error(files, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    r = run_cli("--test", files["ce"], tmp_path / "nope.npz", out=out)
    assert r.returncode == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
