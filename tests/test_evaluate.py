"""End-to-end tests of the `lsfix-eval` CLI (`python -m lsfix.evaluate`): a real report, and every kind of bad input."""
import json, subprocess, sys

import numpy as np
import pytest

from lsfix.core import save_npz
from lsfix.logits import synthetic_logits
from conftest import ROOT, run_eval, write_logits

N = 600

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
    return {"ce": write_logits(d / "ce.npz", 0.0, 0, group=group), "ce_val": write_logits(d / "ce_val.npz", 0.0, 1),
            "ls": write_logits(d / "ls.npz", 0.1, 0, group=group), "ls_val": write_logits(d / "ls_val.npz", 0.1, 1), "dir": d}

def test_report_end_to_end(files, tmp_path):
    out = tmp_path / "report"
    r = run_eval("--test", files["ce"], files["ls"], "--val", files["ce_val"], files["ls_val"], "--n_boot", "50", "--seed", "3", out=out)
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
    r = run_eval("--test", files["ce"], "--n_boot", "0", out=out)
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
    r = run_eval(*args, "--n_boot", "10", out=out)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lsfix-eval: error:"), r.stderr
    for needle in needles: assert needle in lines[0], (needle, lines[0])
    assert not out.exists() or not any(out.iterdir())

def test_existing_out_dir_untouched_on_error(files, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    r = run_eval("--test", files["ce"], tmp_path / "nope.npz", out=out)
    assert r.returncode == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

def test_intervals_equal_direct_calls(files, tmp_path):
    "Every interval of report.json is the one the library gives when called directly with the same seed (the shared"
    " bootstrap keeps each score's resample stream); the temperature matches an autograd L-BFGS fit to 1e-6."
    import torch, torch.nn.functional as F
    from lsfix.selective import bootstrap_ci, confidence_scores, selective_report, softmax
    from lsfix.calibration import ece_from_confidence
    out = tmp_path / "report"
    r = run_eval("--test", files["ls"], "--val", files["ls_val"], "--n_boot", "60", "--seed", "5", out=out)
    assert r.returncode == 0, r.stderr
    model = json.loads((out / "report.json").read_text())["models"][0]
    with np.load(files["ls"]) as z: logits, labels = z["logits"], z["labels"]
    correct = logits.argmax(1) == labels
    scores = confidence_scores(logits)
    for name in ("MSP", "max logit", "entropy", "margin", "energy", "DOCTOR"):
        direct = selective_report(scores[name], correct, n_boot=60, seed=5)
        assert model["metrics"][name] == {k: list(v) for k, v in direct.items()}, name
    p = softmax(logits)
    assert model["calibration"]["ece"] == pytest.approx(list(bootstrap_ci(ece_from_confidence, p.max(1), p.argmax(1) == labels, n_boot=60, seed=5)), abs=1e-12)
    with np.load(files["ls_val"]) as z: v, y = torch.tensor(z["logits"], dtype=torch.float64), torch.tensor(z["labels"])
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)
    def closure():
        opt.zero_grad(); loss = F.cross_entropy(v / log_t.exp(), y); loss.backward(); return loss
    opt.step(closure)
    assert model["calibration"]["temperature"] == pytest.approx(float(log_t.detach().exp()), rel=1e-6)
    assert model["bootstrap"]["unit"] == "sample" and model["calibration"]["temperature_warning"] is None


def test_pixel_files_resample_images(tmp_path):
    "A file with image_id is bootstrapped by image (checked against selective_report's cluster bootstrap) and says so."
    from lsfix.selective import msp, selective_report
    lg, y = synthetic_logits(N, alpha=0.1, shift="topk", seed=4)
    image_id = np.repeat(np.arange(20), N // 20)
    f = save_npz(tmp_path / "pixels.npz", logits=lg, labels=y, image_id=image_id)
    out = tmp_path / "report"
    r = run_eval("--test", f, "--n_boot", "40", out=out)
    assert r.returncode == 0, r.stderr
    model = json.loads((out / "report.json").read_text())["models"][0]
    assert model["bootstrap"]["unit"] == "image" and model["bootstrap"]["count"] == 20
    direct = selective_report(msp(lg, log=True), lg.argmax(1) == y, n_boot=40, cluster=image_id)
    assert model["metrics"]["MSP"] == {k: list(v) for k, v in direct.items()}
    assert "resample whole images (20 images" in (out / "report.md").read_text()


def test_memory_check_before_work(tmp_path):
    "A logits file too large for this machine is refused from its header, before anything is read or written."
    import io, zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(tmp_path / "vast.npz", "w") as zf:
        zf.writestr("logits.npy", header.getvalue()); zf.writestr("labels.npy", b"")
    out = tmp_path / "report"
    r = run_eval("--test", tmp_path / "vast.npz", out=out)
    assert r.returncode == 2 and not out.exists()
    assert r.stderr.startswith("lsfix-eval: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "vast.npz: logits [1000000, 1000000] (float32) need 4000." in r.stderr and "this machine has" in r.stderr and "GB available" in r.stderr


def test_help_is_fast():
    "`lsfix-eval --help` imports no heavy module (torch, pandas, matplotlib, numba)."
    code = "import sys, runpy; sys.argv = ['lsfix-eval', '--help']\ntry: runpy.run_module('lsfix.evaluate', run_name='__main__')\nexcept SystemExit: pass\n" \
           "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'seaborn', 'scipy', 'numba') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout
