"""The demo end to end through its script: a smoke run (tiny subset, 1 epoch) produces every report section,
is reproducible with the same seed, and bad arguments fail before training."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SMOKE = ["--alphas", "0", "0.2", "--n_boot", "50", "--overrides", "subset=2000", "epochs=1", "progress=False"]


def demo(out, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out), "--data", str(DATA), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not (DATA / "FashionMNIST" / "raw").is_dir(): pytest.fail("data/FashionMNIST/raw is missing: run `make data` first")
    out = tmp_path_factory.mktemp("demo")
    res = demo(out, *SMOKE)
    assert res.returncode == 0, res.stderr
    return out, res


def test_report_has_every_section(smoke):
    out, res = smoke
    assert f"The demo report is at {out / 'report' / 'report.md'}" in res.stdout
    text = (out / "report" / "report.md").read_text()
    for heading in ("## Summary", "## 1. Risk–coverage with MSP", "## 2. Risk–coverage with logit normalisation",
                    "## 3. Max logit given MSP", "## 4. Epistemic injection", "## 5. Selective classification and calibration",
                    "## 6. Deployment with a guarantee"):
        assert heading in text
    claims = [l for l in text.splitlines() if l.startswith("- **")]
    assert len(claims) == 5                                   # accuracy, SC, logit-norm, Eq 16, injection
    verdicts = [l.split(": **")[1].split("**")[0] for l in text.splitlines() if l.startswith("  - ") and ": **" in l]
    assert len(verdicts) == 8                                 # one per metric family, for SC and for logit-norm
    assert set(verdicts) <= {"supported", "not supported", "partly supported", "no significant difference"}, verdicts
    keeps = claims[0].split(": ")[1].split(".**")[0]
    assert keeps in ("supported", "not supported"), claims[0]
    for png in ("rc_msp.png", "rc_logitnorm.png", "max_logit_given_msp.png"):
        assert (out / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = json.loads((out / "report" / "report.json").read_text())["models"]
    assert set(models) == {"0", "0.2"}
    for m in models.values():  # numbers come from the run: error matches the exported logits
        assert 0 < m["metrics"]["MSP"]["error"][0] < 1 and m["n"] == 2000


def test_rerun_reuses_and_force_reproduces(smoke):
    out, _ = smoke
    before = json.loads((out / "report" / "report.json").read_text())["models"]
    mtime = (out / "alpha_0" / "model.pt").stat().st_mtime_ns
    res = demo(out, *SMOKE)
    assert res.returncode == 0 and "reusing" in res.stderr
    assert (out / "alpha_0" / "model.pt").stat().st_mtime_ns == mtime
    res = demo(out, *SMOKE, "--force", "1")
    assert res.returncode == 0, res.stderr
    assert (out / "alpha_0" / "model.pt").stat().st_mtime_ns != mtime
    assert json.loads((out / "report" / "report.json").read_text())["models"] == before


@pytest.mark.parametrize("args, message", [
    (["--alphas", "0", "1.0"], "alpha must be in [0, 1)"),
    (["--alphas", "0.1", "0.2"], "include 0"),
    (["--recipe", "no_such_recipe"], "no_such_recipe"),
])
def test_bad_arguments_fail_before_training(tmp_path, args, message):
    res = demo(tmp_path / "out", *args)
    assert res.returncode == 2 and message in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.pt"))


def test_missing_data_root(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path / "o"), "--data", str(tmp_path / "nodata")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 2 and "nodata" in res.stderr
