"The training options of issues 15 and 17 (per-group lr + dampening, Mixup, CutMix, distillation): DDP = 1 process, kill+resume, bad configs."
import json

import numpy as np
import pytest
import torch

from conftest import RESUME_EXTRA, TINY, assert_same_run, ckpt_names, killed_run, make_fmnist_root, run_train

# Each option set changes the objective or the optimiser; every one must survive DDP and a SIGKILL.
OPTIONS = {
    "lr_groups_dampening": ["lr_mults.1.=10", "dampening=0.9", "schedule=linear", "augment=shift"],
    "mixup": ["mixup_alpha=0.4"],
    "cutmix": ["cutmix_alpha=1.0"],
    "distill": ["augment=none", "distill_beta=0.7", "distill_tau=2.0"],  # + teacher=<run>, added below
}

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    "Tiny data and a finished teacher run (a wider tiny FCN) for the distillation cases."
    tmp = tmp_path_factory.mktemp("options")
    data = make_fmnist_root(tmp / "data")
    teacher = tmp / "teacher"
    run_train(teacher, data, "model_kwargs.hidden=[48]", "epochs=3")
    return data, teacher

def options(name, teacher):
    return OPTIONS[name] + ([f"teacher={teacher}"] if name == "distill" else [])

def records(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]

@pytest.mark.parametrize("name", list(OPTIONS))
def test_two_processes_equal_one(setup, tmp_path, name):
    "A 2-process run ends where a 1-process run ends (Mixup/CutMix: the 1-process run pairs within 2 shards, as 2 ranks do)."
    data, teacher = setup
    one, two = tmp_path / "one", tmp_path / "two"
    extra = options(name, teacher)
    run_train(one, data, *extra, *(["mix_shards=2"] if "mix" in name else []))
    run_train(two, data, *extra, nproc=2)
    w1, w2 = torch.load(one / "model.pt", weights_only=True), torch.load(two / "model.pt", weights_only=True)
    for k in w1: torch.testing.assert_close(w2[k], w1[k], rtol=1e-5, atol=1e-6)
    l1 = [r["train_loss"] for r in records(one) if "train_loss" in r]; l2 = [r["train_loss"] for r in records(two) if "train_loss" in r]
    assert len(l1) == len(l2) > 3 and np.allclose(l1, l2, atol=1e-5)

def test_options_change_the_run(setup, tmp_path):
    "The options are not no-ops: each run differs from the plain recipe, and mix_shards changes the pairing."
    data, teacher = setup
    base = tmp_path / "base"; run_train(base, data)
    w0 = torch.load(base / "model.pt", weights_only=True)
    for name in OPTIONS:
        run_train(tmp_path / name, data, *options(name, teacher))
        w = torch.load(tmp_path / name / "model.pt", weights_only=True)
        assert max(float((w[k] - w0[k]).abs().max()) for k in w) > 1e-3, name
    run_train(tmp_path / "mix2", data, "mixup_alpha=0.4", "mix_shards=2")
    a, b = (torch.load(tmp_path / d / "model.pt", weights_only=True) for d in ("mixup", "mix2"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) > 1e-4

def test_per_group_learning_rates_follow_the_linear_schedule(setup, tmp_path):
    "The logged lr is the first group's (0.05 x (1 - t)); the first layer's group starts 10x higher (checkpointed scheduler)."
    data, _ = setup
    run = tmp_path / "run"; run_train(run, data, *OPTIONS["lr_groups_dampening"])
    ck = torch.load(sorted((run / "checkpoints").glob("step_*.pt"))[-1], weights_only=True)
    assert ck["scheduler"]["base_lrs"] == pytest.approx([0.05, 0.5])
    assert [g["dampening"] for g in ck["optimizer"]["param_groups"]] == [0.9, 0.9]
    total = ck["step"]
    for r in records(run):
        if "lr" in r: assert r["lr"] == pytest.approx(0.05 * (1 - r["step"] / total), abs=1e-12)

def test_teacher_logits_are_keyed_by_sample(setup):
    "Under shuffling and sharding, the teacher rows picked by the loader's indices are the teacher's logits of those images."
    from lsfix.distributed import DistInfo
    from lsfix.data import make_loader
    from lsfix.recipes import resolve_config
    from lsfix.train import _load_splits, load_trained, teacher_train_logits
    data, teacher = setup
    cfg = resolve_config("tiny_fmnist", 0.0, TINY + [f"teacher={teacher}", "augment=none"])
    splits = _load_splits(cfg, data)
    logits = teacher_train_logits(cfg, splits, data, DistInfo())
    model, _ = load_trained(teacher)
    assert logits.shape == (len(splits["train"]), 10)
    for rank in (0, 1):
        loader = make_loader(splits["train"], 16, True, rank=rank, world_size=2, seed=3, augment="none")
        loader.set_epoch(2)
        for x, _, idx in list(loader)[:3]:
            assert not torch.equal(idx, idx.sort().values)  # shuffled
            torch.testing.assert_close(logits[idx], model(x).detach(), rtol=1e-5, atol=1e-5)

@pytest.mark.parametrize("name", list(OPTIONS))
def test_kill_and_resume_is_bit_identical(setup, tmp_path, name):
    data, teacher = setup
    extra = [*RESUME_EXTRA, *options(name, teacher)]  # as test_train_resume: 15 steps per epoch, 30 in all, killed at step 19
    full, out = tmp_path / "full", tmp_path / "run"
    run_train(full, data, *extra)
    killed_run(out, data, *extra)
    assert ckpt_names(out) == ["step_00000012.pt", "step_00000016.pt"] and not (out / "model.pt").exists()
    res = run_train(out, data, *extra, "--resume")
    assert "step_00000016.pt (step 16 of 30)" in res.stderr
    assert_same_run(full, out)

BAD = [  # (overrides, processes, message)
    (["lr_mults.9.=2"], 1, "lr_mults: no parameter name starts with ['9.']"),
    (["lr_mults.1.=-1"], 1, "config field 'lr_mults': must map non-empty parameter-name prefixes to numbers > 0"),
    (["dampening=0.9", "nesterov=true"], 1, "config field 'nesterov': Nesterov momentum needs dampening = 0"),
    (["mixup_alpha=0.2", "cutmix_alpha=1.0"], 1, "config field 'cutmix_alpha': choose Mixup or CutMix, not both"),
    (["mixup_alpha=x"], 1, "override mixup_alpha='x': expected float, got str"),
    (["mixup_alpha=0.2", "mix_shards=3"], 2, "mix_shards=3 must be 0 or a multiple of the 2 processes"),
    (["teacher=/nonexistent/run", "augment=none"], 1, "teacher='/nonexistent/run': config.yaml not found"),
    (["teacher=/nonexistent/run"], 1, "config field 'augment': distillation uses the teacher's logits on un-augmented images"),
    (["distill_tau=0", "teacher=t", "augment=none"], 1, "config field 'distill_tau': must be > 0"),
]

@pytest.mark.parametrize("overrides,nproc,msg", BAD)
def test_bad_option_exits_2_before_training(setup, tmp_path, overrides, nproc, msg):
    data, _ = setup
    res = run_train(tmp_path / "run", data, *overrides, nproc=nproc, check=False)
    assert res.returncode != 0 and f"error: {msg}" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()
