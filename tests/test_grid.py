"scripts/grid.py end to end on a tiny Fashion-MNIST: parallel workers, teacher -> distilled student, reuse, bad arguments."
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from test_ddp import ENV, make_fmnist_root

GRID = Path(__file__).resolve().parents[1] / "scripts" / "grid.py"
SMALL = ["val_size=100", "epochs=1", "batch_size=100", "eval_batch_size=100", "model_kwargs.hidden=[16]", "ckpt_every=0"]

def grid(tmp, *args, check=True):
    cmd = [sys.executable, str(GRID), *args, "--data", str(tmp / "data"), "--out", str(tmp / "runs"), "--results", str(tmp / "results"),
           "--device", "cpu"]
    res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    if check: assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res

@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid"); make_fmnist_root(tmp / "data")
    return tmp

def test_teacher_then_distilled_students_in_parallel(tmp):
    res = grid(tmp, "muller", "distill", "--only", "a0.3_s0", "--jobs", "2", "--threads", "1", "--overrides", *SMALL)
    assert "muller: 1 runs, 2 at a time" in res.stdout
    teacher = json.loads((tmp / "results/muller_fmnist/w1200_a0.3_s0.json").read_text())
    assert (teacher["alpha"], teacher["width"], teacher["seed"], teacher["overrides"][-len(SMALL):]) == (0.3, 1200, 0, SMALL)
    assert set(teacher["gamma"]) == {"1", "2", "4", "8"} and teacher["gamma"]["1"] < teacher["gamma"]["8"]
    res = grid(tmp, "distill", "--only", "t0.3_tau", "--seeds", "0", "--jobs", "2", "--threads", "1", "--overrides", *SMALL)
    students = [json.loads((tmp / f"results/muller_distill/w800_t0.3_tau{t}_s0.json").read_text()) for t in (1, 2, 4, 8)]
    assert [s["tau"] for s in students] == [1.0, 2.0, 4.0, 8.0] and all(s["teacher"] == "w1200_a0.3_s0" for s in students)
    assert [round(s["gamma"], 12) for s in students] == [round(teacher["gamma"][k], 12) for k in ("1", "2", "4", "8")]  # same split, same teacher
    assert json.loads((tmp / "results/muller_distill.json").read_text())["n_runs"] == 4
    z = np.load(tmp / "results/muller_distill/logits/w800_t0.3_tau2_s0.npz")
    assert z["test_logits"].shape == (151, 10) and z["test_logits"].dtype == np.float32
    assert (tmp / "runs/distill/w800_t0.3_tau2_s0/train.log").read_text().count("val error") == 1
    res = grid(tmp, "distill", "--only", "t0.3_tau", "--seeds", "0", "--jobs", "2", "--overrides", *SMALL)
    assert res.stdout.count(": reused in 0 s") == 4

def test_dry_run_and_bad_arguments(tmp):
    res = grid(tmp, "muller", "--dry_run", "--seeds", "0")
    assert "w1200_a0.05_s0" in res.stdout and "new" in res.stdout
    res = grid(tmp, "mullr", check=False)
    assert res.returncode == 2 and "error: unknown grid 'mullr'; grids: muller" in res.stderr
    res = grid(tmp, "distill", "--only", "t0_tau1_s1", "--overrides", *SMALL, check=False)
    assert res.returncode == 2 and "run the muller grid first" in res.stderr
    res = grid(tmp, "mixup", "--only", "fcn_ce_s0", "--seeds", "0", "--overrides", "epochs=1.5", check=False)
    assert res.returncode == 1 and "expected int, got float" in res.stdout and "1 of 1 runs failed" in res.stderr
