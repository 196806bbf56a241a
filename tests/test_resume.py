"Kill-and-resume: a run SIGKILLed mid-epoch and resumed ends bit-identical to an uninterrupted one; bad checkpoints."
import json, os, shutil, signal, subprocess, sys

import numpy as np
import pytest
import torch

from test_ddp import ENV, TRAIN, make_fmnist_root, run_train

# dropout on, so the result depends on restoring every RNG state; augmentation is on by default
EXTRA = ["model_kwargs.dropout=0.3", "batch_size=32"]  # 500 training images: 15 steps per epoch, 30 in all
KILL_AT = 19  # SIGKILL during step 19 (epoch 1, batch 3): the newest checkpoint is step 16, mid-epoch

# Runs scripts/train.py in this process after wrapping lsfix.train.train_step so that the process
# SIGKILLs itself when step KILL_AT starts: a real, uncatchable kill at a known point.
KILLER = """
import os, runpy, signal, sys
import lsfix.train as T
calls, step = [0], T.train_step
def killing_step(*a, **k):
    calls[0] += 1
    if calls[0] == int(os.environ["KILL_AT"]): os.kill(os.getpid(), signal.SIGKILL)
    return step(*a, **k)
T.train_step = killing_step
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

def killed_run(out, data):
    cmd = [sys.executable, "-c", KILLER, str(TRAIN), "--recipe", "tiny_fmnist", "--alpha", "0.1", "--out", str(out),
           "--data", str(data), "val_size=100", "subset=0", "ckpt_every=4", "log_every=2", *EXTRA]
    res = subprocess.run(cmd, env={**ENV, "KILL_AT": str(KILL_AT)}, capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    assert not (out / "model.pt").exists()

def ckpt_names(out): return sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))

def assert_same_run(a, b):
    wa, wb = torch.load(a / "model.pt", weights_only=True), torch.load(b / "model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)  # bit-identical
    for f in ("val.npz", "test.npz"):
        np.testing.assert_array_equal(np.load(a / f)["logits"], np.load(b / f)["logits"])
    ca = torch.load(a / "checkpoints" / "step_00000030.pt", weights_only=True)
    cb = torch.load(b / "checkpoints" / "step_00000030.pt", weights_only=True)
    for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "An uninterrupted run, and a run killed at step KILL_AT (not yet resumed)."
    tmp = tmp_path_factory.mktemp("resume")
    data = make_fmnist_root(tmp / "data")
    full, killed = tmp / "full", tmp / "killed"
    run_train(full, data, *EXTRA)
    killed_run(killed, data)
    return data, full, killed

def test_kill_and_resume_is_bit_identical(runs, tmp_path):
    data, full, killed = runs
    out = tmp_path / "run"; shutil.copytree(killed, out)
    assert ckpt_names(out) == ["step_00000012.pt", "step_00000016.pt"]  # keep_ckpts=2
    res = run_train(out, data, *EXTRA, "--resume")
    assert "resuming" in res.stderr and "step_00000016.pt (step 16 of 30)" in res.stderr
    assert_same_run(full, out)
    steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines() if "train_loss" in l]
    assert steps == list(range(2, 31, 2))  # records written after step 16 by the killed run were dropped

def test_truncated_checkpoint_falls_back_to_previous(runs, tmp_path):
    data, full, killed = runs
    out = tmp_path / "run"; shutil.copytree(killed, out)
    newest = out / "checkpoints" / "step_00000016.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    res = run_train(out, data, *EXTRA, "--resume")
    assert "step_00000016.pt is unreadable (truncated or corrupt?)" in res.stderr and "falling back" in res.stderr
    assert "step_00000012.pt (step 12 of 30)" in res.stderr
    assert_same_run(full, out)  # replaying from the older checkpoint gives the same bits

def test_all_checkpoints_corrupt_is_a_clear_error(runs, tmp_path):
    data, _, killed = runs
    out = tmp_path / "run"; shutil.copytree(killed, out)
    for p in (out / "checkpoints").glob("*.pt"): p.write_bytes(b"not a checkpoint")
    res = run_train(out, data, *EXTRA, "--resume", check=False)
    assert res.returncode == 1 and "no readable checkpoint in" in res.stderr
    assert not (out / "model.pt").exists()
