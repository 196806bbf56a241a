"Distributed correctness on CPU (gloo): exact gathers, and a 2-process torchrun run equal to a 1-process run."
import json, os, re

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lsfix.distributed import init_distributed, cleanup_distributed, gather_logits, all_gather_varlen, gather_objects
from conftest import free_port, make_fmnist_root, run_train

def _gather_worker(rank:int, world:int, port:int, out:str) -> None:
    env = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **env)
    info = init_distributed("cpu")
    try:
        n, k = 11, 4
        gen = torch.Generator().manual_seed(0)
        ref, lab = torch.randn(n, k, generator=gen), torch.randint(0, k, (n,), generator=gen)
        perm = torch.randperm(n, generator=gen)
        padded = torch.cat([perm, perm[: (-n) % world]])  # DistributedSampler-style padding
        mine = padded[rank::world]
        # ranks hold different lengths when the last one is trimmed: exercise the variable-length path
        if rank == world - 1: mine = mine[:-1] if len(mine) > 1 and (-n) % world else mine
        lg, lb = gather_logits(ref[mine], lab[mine], mine, n)
        ragged = all_gather_varlen(torch.full((rank + 1, 2), float(rank)))
        torch.save({"lg": lg, "lb": lb, "ref": ref, "lab": lab, "ragged": ragged, "objs": gather_objects(rank * 10),
                    "info": (info.rank, info.world_size, info.distributed)}, f"{out}/r{rank}.pt")
    finally:
        cleanup_distributed()

@pytest.mark.parametrize("world", [2, 3])
def test_gather_logits_matches_single_process(tmp_path, world):
    mp.spawn(_gather_worker, args=(world, free_port(), str(tmp_path)), nprocs=world, join=True)
    for r in range(world):
        d = torch.load(tmp_path / f"r{r}.pt", weights_only=True)
        assert d["info"] == (r, world, True)
        assert torch.equal(d["lg"], d["ref"]) and torch.equal(d["lb"], d["lab"])
        assert d["ragged"].shape == (world * (world + 1) // 2, 2)
        assert torch.equal(d["ragged"][:, 0], torch.cat([torch.full((q + 1,), float(q)) for q in range(world)]))
        assert d["objs"] == [q * 10 for q in range(world)]


def test_torchrun_two_processes_equal_one(tmp_path):
    from lsfix.data import get_datasets
    from lsfix.train import load_trained, predict_logits
    from lsfix.models import create_model
    from lsfix.core import seed_everything
    data = make_fmnist_root(tmp_path / "data")
    one, two = tmp_path / "one", tmp_path / "two"
    run_train(one, data); run_train(two, data, nproc=2)
    w1 = torch.load(one / "model.pt", weights_only=True); w2 = torch.load(two / "model.pt", weights_only=True)
    seed_everything(0); init = create_model("fcn", 10, hidden=[32], dropout=0.0).state_dict()  # the run's initial weights
    assert w1.keys() == w2.keys() == init.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-5, atol=1e-6)
        assert (w1[k] - init[k]).abs().max() > 1e-3  # training moved every tensor: the comparison is not vacuous
    # the same global batches were seen: the loss trajectories agree too
    rec = lambda d: [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
    l1 = [r["train_loss"] for r in rec(one) if "train_loss" in r]; l2 = [r["train_loss"] for r in rec(two) if "train_loss" in r]
    assert len(l1) == len(l2) > 3 and np.allclose(l1, l2, atol=1e-5)
    # exported logits: exactly N rows, dataset order, equal to a 1-process evaluation of the same model
    ds = get_datasets("fashion_mnist", data, val_size=100)
    model, cfg = load_trained(two)
    for split in ("val", "test", "test_shifted"):
        z = np.load(two / f"{split}.npz")
        assert z["logits"].shape == (len(ds[split]), 10) and z["logits"].dtype == np.float32
        np.testing.assert_array_equal(z["labels"], ds[split].labels.numpy())
        ref, _ = predict_logits(model, ds[split], batch_size=64)
        np.testing.assert_allclose(z["logits"], ref.numpy(), rtol=1e-5, atol=1e-5)
        assert json.loads(str(z["meta"]))["split"] == split
    # the distributed validation error is the exact one
    val = np.load(two / "val.npz")
    last = [r for r in rec(two) if "val_error" in r][-1]
    assert last["val_error"] == pytest.approx((val["logits"].argmax(1) != val["labels"]).mean(), abs=1e-12)

def test_torchrun_rejects_uneven_batch(tmp_path):
    res = run_train(tmp_path / "run", make_fmnist_root(tmp_path / "data"), "batch_size=63", nproc=2, check=False)
    assert res.returncode != 0 and "does not split evenly over 2 processes" in res.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()

@pytest.mark.parametrize("hidden", [[32], [3000, 3000]])  # a small model (one thread) and one above the threshold
def test_torchrun_threads_never_exceed_cores(tmp_path, hidden):
    "Without OMP_NUM_THREADS the thread policy decides; processes x threads stays within the cores, and the run says so."
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    res = run_train(tmp_path / "run", make_fmnist_root(tmp_path / "data"), f"model_kwargs={{'hidden': {hidden}, 'dropout': 0.0}}",
                    "max_steps=2", nproc=2, env=env)
    threads = [int(m) for m in re.findall(r"CPU threads: (\d+) per process", res.stderr)]
    assert threads, res.stderr[-2000:]
    assert all(1 <= t and 2 * t <= max(2, os.cpu_count()) for t in threads)
    assert re.search(r"images/s on \d+ CPU thread", res.stderr)
