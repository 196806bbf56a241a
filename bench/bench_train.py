"""Benchmark: the training loop's overhead on Fashion-MNIST FCN (issue 6: the real loop keeps >= 0.9 of a bare
forward+backward+step loop's throughput) and the ResNet-20 step time on CIFAR-shaped tensors."""
from __future__ import annotations
import contextlib, json, os, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lsfix.core import seed_everything
from lsfix.data import get_datasets
from lsfix.models import create_model
from lsfix.recipes import get_recipe
from lsfix.train import build_optimizer, train

DATA = Path(__file__).resolve().parent.parent / "data"
RECIPE, ALPHA, STEPS, CHUNK, REPEATS, MIN_EFFICIENCY, QUANTILE = "fmnist_fcn", 0.1, 60, 3, 3, 0.9, 0.9

def bare_images_per_s(steps:int) -> list[float]:
    "Throughputs of the bare loop over chunks of CHUNK steps: the recipe's model and optimiser on normalised in-memory batches."
    cfg = get_recipe(RECIPE)
    ds = get_datasets("fashion_mnist", DATA)["train"]
    n = steps * cfg.batch_size
    x, y = ds.normalise(ds.images[:n]), ds.labels[:n]
    seed_everything(0)
    model = create_model(cfg.model, 10, **cfg.model_kwargs).train()
    opt = build_optimizer(model, cfg)
    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb, label_smoothing=ALPHA).backward()
        opt.step()
    for i in range(3): step(x[:cfg.batch_size], y[:cfg.batch_size])  # warm-up
    rates, bs = [], cfg.batch_size
    for c in range(0, steps, CHUNK):
        start = time.perf_counter()
        for i in range(c, c + CHUNK): step(x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs])
        rates.append(CHUNK * bs / (time.perf_counter() - start))
    return rates

def loop_images_per_s(steps:int) -> list[float]:
    "Throughputs of `lsfix.train.train` (loader, scheduler, logging) over chunks of CHUNK steps, from its metrics file."
    bs = get_recipe(RECIPE).batch_size
    with tempfile.TemporaryDirectory() as d:
        train(RECIPE, ALPHA, d, ["epochs=1", f"subset={steps * bs + CHUNK * bs}", "progress=False", f"log_every={CHUNK}"], data_root=DATA)
        rates = [r["images_per_s"] for r in map(json.loads, (Path(d) / "metrics.jsonl").read_text().splitlines()) if "images_per_s" in r]
    return rates[1:]  # the first chunk holds the warm-up

def resnet20_step_ms(batch:int=128, steps:int=5) -> float:
    "Median time of one ResNet-20 SGD step (forward, backward, update) on a CIFAR-shaped batch."
    seed_everything(0)
    model = create_model("resnet20", 10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True); F.cross_entropy(model(x), y).backward(); opt.step()
        if i >= 2: times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))

@contextlib.contextmanager
def one_thread():
    "Run with one torch/OpenMP thread (lsfix.train honours OMP_NUM_THREADS), then restore the harness's setting."
    env, n = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = "1"; torch.set_num_threads(1)
    try: yield
    finally:
        if env is None: os.environ.pop("OMP_NUM_THREADS")
        else: os.environ["OMP_NUM_THREADS"] = env
        torch.set_num_threads(n)

def run() -> list[dict]:
    "Loop efficiency (bare / loop throughput), loop throughput, and ResNet-20 step time."
    # One thread for the ratio: on shared cores, two OpenMP threads spend most of a step waiting for a
    # descheduled partner (measured here: 290 ms vs 25 ms per FCN step), which would swamp the loop's overhead.
    bare, loop = [], []
    with one_thread():
        for _ in range(REPEATS): bare += bare_images_per_s(STEPS); loop += loop_images_per_s(STEPS)
        r20_one = resnet20_step_ms()
    r20_all = resnet20_step_ms()
    # other processes share the cores: compare the fast end of each distribution (the least disturbed chunks)
    qb, ql = np.quantile(bare, QUANTILE), np.quantile(loop, QUANTILE)
    return [{"name": f"{RECIPE} training: bare step throughput / real-loop throughput (batch 128)",
             "value": round(float(qb / ql), 3), "unit": "x", "target": round(1 / MIN_EFFICIENCY, 3),
             "note": f"loop efficiency {ql / qb:.2f} (goal >= {MIN_EFFICIENCY}); {QUANTILE:.0%} quantiles of {len(bare)} and "
                     f"{len(loop)} chunks of {CHUNK} steps from {REPEATS} alternating runs (medians: bare {np.median(bare):.0f}, "
                     f"loop {np.median(loop):.0f} img/s); 1 thread"},
            {"name": f"{RECIPE} training throughput through lsfix.train (loader, schedule, logging)",
             "value": round(float(ql), 1), "unit": "images/s", "note": f"{QUANTILE:.0%} quantile over chunks of {CHUNK} steps, 1 thread; excludes start-up and evaluation"},
            {"name": "ResNet-20 SGD step, CIFAR-shaped batch of 128 (forward + backward + update), 1 thread",
             "value": round(r20_one, 1), "unit": "ms",
             "note": f"median of 5 after 2 warm-up steps, float32 on CPU; {r20_all:.0f} ms with the harness's {torch.get_num_threads()} thread(s)"}]

if __name__ == "__main__":
    for row in run(): print(row)
