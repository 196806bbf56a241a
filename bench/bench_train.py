"""Benchmark: the training loop's overhead on Fashion-MNIST FCN (issue 6: the real loop keeps >= 0.9 of a bare
forward+backward+step loop's throughput) and the ResNet-20 step time on CIFAR-shaped tensors."""
from __future__ import annotations
import json, tempfile, time
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
RECIPE, ALPHA, STEPS, REPEATS, MIN_EFFICIENCY = "fmnist_fcn", 0.1, 60, 3, 0.9

def bare_images_per_s(steps:int) -> float:
    "Throughput of the bare loop: the recipe's model and optimiser on batches already normalised in memory."
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
    start = time.perf_counter()
    for i in range(steps): step(x[i * cfg.batch_size:(i + 1) * cfg.batch_size], y[i * cfg.batch_size:(i + 1) * cfg.batch_size])
    return n / (time.perf_counter() - start)

def loop_images_per_s(steps:int) -> float:
    "Throughput of `lsfix.train.train` (loader, augmentation, scheduler, logging), from its metrics file."
    bs = get_recipe(RECIPE).batch_size
    with tempfile.TemporaryDirectory() as d:
        train(RECIPE, ALPHA, d, ["epochs=1", f"subset={(steps + 3) * bs}", "progress=False", "log_every=3"], data_root=DATA)
        rates = [r["images_per_s"] for r in map(json.loads, (Path(d) / "metrics.jsonl").read_text().splitlines()) if "images_per_s" in r]
    rates = rates[1:]  # the first interval holds the warm-up
    return len(rates) / sum(1 / r for r in rates)  # equal intervals: images / time is the harmonic mean

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

def run() -> list[dict]:
    "Loop efficiency (bare / loop time, alternating repeats), loop throughput, and ResNet-20 step time."
    bare, loop = [], []
    for _ in range(REPEATS): bare.append(bare_images_per_s(STEPS)); loop.append(loop_images_per_s(STEPS))
    slowdown = float(np.median(np.array(bare) / np.array(loop)))
    return [{"name": f"{RECIPE} training: bare step throughput / real-loop throughput (batch 128, {STEPS} steps)",
             "value": round(slowdown, 3), "unit": "x", "target": round(1 / MIN_EFFICIENCY, 3),
             "note": f"loop efficiency {1 / slowdown:.2f} (goal >= {MIN_EFFICIENCY}); median of {REPEATS} alternating pairs; "
                     f"bare {np.median(bare):.0f} img/s on normalised in-memory batches"},
            {"name": f"{RECIPE} training throughput through lsfix.train (loader, schedule, logging)",
             "value": round(float(np.median(loop)), 1), "unit": "images/s", "note": f"median of {REPEATS}; excludes start-up and evaluation"},
            {"name": "ResNet-20 SGD step, CIFAR-shaped batch of 128 (forward + backward + update)",
             "value": round(resnet20_step_ms(), 1), "unit": "ms", "note": "median of 5 after 2 warm-up steps, float32 on CPU"}]

if __name__ == "__main__":
    for row in run(): print(row)
