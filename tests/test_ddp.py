"Distributed correctness on CPU (gloo): exact gathers, and a 2-process torchrun run equal to a 1-process run."
import os, socket, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lsfix.distributed import init_distributed, cleanup_distributed, gather_logits, all_gather_varlen, gather_objects

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

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
    mp.spawn(_gather_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    for r in range(world):
        d = torch.load(tmp_path / f"r{r}.pt", weights_only=True)
        assert d["info"] == (r, world, True)
        assert torch.equal(d["lg"], d["ref"]) and torch.equal(d["lb"], d["lab"])
        assert d["ragged"].shape == (world * (world + 1) // 2, 2)
        assert torch.equal(d["ragged"][:, 0], torch.cat([torch.full((q + 1,), float(q)) for q in range(world)]))
        assert d["objs"] == [q * 10 for q in range(world)]
