"scripts/grid.py end to end on a tiny Fashion-MNIST: parallel workers, teacher -> distilled student, reuse, bad arguments."
import json, subprocess, sys

import numpy as np
import pytest

from conftest import ENV, ROOT, make_fmnist_root

GRID = ROOT / "scripts" / "grid.py"
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

SEG = ["max_steps=2", "batch_size=4", "data_kwargs.n_train=8", "data_kwargs.n_test=6", "data_kwargs.item_val_size=100", "val_size=3",
       "eval_batch_size=6", "n_pixels=5", "model_kwargs.decoder_channels=16", "ckpt_every=0"]

def test_segmentation_grid(tmp):
    "The pixel-level grid on tiny canvases: per-run results with pixel logits (the same pixels for every run) and the Fig 6 maps."
    from lsfix.experiments import pick_canvases
    from lsfix.selective import msp
    res = grid(tmp, "segmentation", "--seeds", "0", "--overrides", *SEG)
    assert "segmentation: 3 runs" in res.stdout and "Fig 6 maps in" in res.stdout
    recs = {a: json.loads((tmp / f"results/seg_canvas/a{a}_s0.json").read_text()) for a in ("0", "0.1", "0.3")}
    assert [r["alpha"] for r in recs.values()] == [0.0, 0.1, 0.3] and recs["0"]["n_test"] == 30
    z = {a: np.load(tmp / f"results/seg_canvas/logits/a{a}_s0.npz") for a in ("0", "0.3")}
    assert z["0"]["test_logits"].shape == (30, 11) and np.bincount(z["0"]["test_image_id"]).tolist() == [5] * 6
    for k in ("test_image_id", "test_coords", "test_labels", "val_image_id", "val_coords"): np.testing.assert_array_equal(z["0"][k], z["0.3"][k])
    m, ls = np.load(tmp / "results/seg_canvas_maps.npz"), z["0.3"]
    assert m["ce_logits"].shape == m["ls_logits"].shape == (3, 11, 16, 16) and m["images"].shape == (3, 64, 64) and m["cell_labels"].shape == (3, 16, 16)
    assert m["canvas_ids"].tolist() == pick_canvases(ls["test_image_id"], msp(ls["test_logits"], log=True), ls["test_logits"].argmax(1) == ls["test_labels"])
