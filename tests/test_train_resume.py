"Kill-and-resume: a run SIGKILLed mid-epoch and resumed ends bit-identical to an uninterrupted one; bad checkpoints."
import json, shutil

import pytest

from conftest import RESUME_EXTRA as EXTRA, assert_same_run, ckpt_names, killed_run, make_fmnist_root, run_train

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "An uninterrupted run, and a run killed at step KILL_AT (not yet resumed)."
    tmp = tmp_path_factory.mktemp("resume")
    data = make_fmnist_root(tmp / "data")
    full, killed = tmp / "full", tmp / "killed"
    run_train(full, data, *EXTRA)
    killed_run(killed, data, *EXTRA)
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
