"""Benchmark: CPU training throughput with 1 thread and with every core's thread, each on a quiet machine and beside one
competing busy process that this module starts and stops itself (issue 19). The models are the CPU recipes' models:
the demo's FCN, the small CNN and ResNet-20 at Fashion-MNIST resolution, and a small DeepLabV3+ on 64x64 canvases.
From the same run: the speed that lsfix's thread policy (`lsfix.core.thread_policy`, threads = the cores free at
start-up) keeps quiet, relative to the best fixed setting, and what it keeps beside the busy process."""
from __future__ import annotations
import contextlib, os, subprocess, sys, time

import numpy as np
import torch
import torch.nn.functional as F

from lsfix.core import seed_everything, thread_policy
from lsfix.models import create_model, forward_flops

SECONDS = 4.0  # per measurement, after one warm-up step
MODELS = {  # name: (model name, kwargs, input shape of one sample, batch size, classes)
    "fcn (fmnist_fcn, demo)": ("fcn", {"dropout": 0.2}, (1, 28, 28), 128, 10),
    "cnn (Fashion-MNIST)": ("cnn", {}, (1, 28, 28), 128, 10),
    "resnet20 (Fashion-MNIST)": ("resnet20", {"in_chans": 1}, (1, 28, 28), 128, 10),
    "deeplabv3p resnet18 (64x64 canvas)": ("deeplabv3p", {"encoder_name": "resnet18", "in_chans": 1}, (1, 64, 64), 16, 11),
}


@contextlib.contextmanager
def busy_process():
    "One competing process that keeps a core busy while the block runs (a Python spin loop, niced like a background job)."
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # let it reach the scheduler
        yield
    finally:
        proc.kill(); proc.wait()


def images_per_s(model, x, y, threads:int, seconds:float=SECONDS) -> float:
    "Training throughput (forward, backward, SGD step) with `threads` intra-op threads, over about `seconds`."
    torch.set_num_threads(threads)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    step()  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds: step(); n += 1
    return n * len(x) / (time.perf_counter() - start)


def model_rows(label:str, name:str, kw:dict, shape:tuple, batch:int, classes:int, cores:int) -> list[dict]:
    seed_everything(0)
    model = create_model(name, classes, **kw).train()
    flops = forward_flops(model, torch.zeros(shape))
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch,) + ((shape[1], shape[2]) if name == "deeplabv3p" else ()))
    speed, policy = {}, {}
    for condition in ("quiet", "busy"):
        with busy_process() if condition == "busy" else contextlib.nullcontext():
            torch.set_num_threads(cores)  # the default, so the policy decides from the load it sees, as lsfix.train does
            policy[condition] = thread_policy(1)[0]
            for threads in sorted({1, cores, policy[condition]}): speed[threads, condition] = images_per_s(model, x, y, threads)
    best_quiet = max(speed[t, "quiet"] for t in {1, cores})
    best_busy = max(speed[t, "busy"] for t in {1, cores})
    note = (f"{flops / 1e6:.1f} MFLOPs/sample, batch {batch}; images/s 1 thread quiet {speed[1, 'quiet']:.0f}, busy {speed[1, 'busy']:.0f}; "
            f"{cores} threads quiet {speed[cores, 'quiet']:.0f}, busy {speed[cores, 'busy']:.0f}; policy: {policy['quiet']} quiet, {policy['busy']} busy")
    return [
        {"name": f"threads: {label}, {cores} threads beside a busy process / quiet (slowdown)",
         "value": round(speed[cores, "quiet"] / speed[cores, "busy"], 3), "unit": "x", "note": note},
        {"name": f"threads: {label}, 1 thread beside a busy process / quiet (slowdown)",
         "value": round(speed[1, "quiet"] / speed[1, "busy"], 3), "unit": "x", "note": note},
        {"name": f"threads: {label}, policy quiet / best fixed setting quiet (slowdown)",
         "value": round(best_quiet / speed[policy["quiet"], "quiet"], 3), "unit": "x", "target": 1.1,
         "note": "within 10% of the quiet speed"},
        {"name": f"threads: {label}, policy beside a busy process / policy quiet (slowdown)",
         "value": round(speed[policy["quiet"], "quiet"] / speed[policy["busy"], "busy"], 3), "unit": "x", "target": 1.5,
         "note": f"target: lose at most a third; the best fixed setting beside the busy process reaches {best_busy:.0f} images/s, "
                 f"{best_quiet / best_busy:.2f}x below the best quiet: no thread count can meet the target when the core "
                 f"the busy process takes carried more than a third of the quiet throughput"},
        {"name": f"threads: {label}, best fixed setting beside a busy process / policy beside it (slowdown)",
         "value": round(best_busy / speed[policy["busy"], "busy"], 3), "unit": "x", "target": 1.1,
         "note": "the policy's choice under load is within 10% of the best thread count for that load"},
    ]


def run() -> list[dict]:
    "Throughput of each CPU recipe's model with 1 and all threads, quiet and beside a busy process; the policy's ratios."
    cores, old, env = os.cpu_count() or 1, torch.get_num_threads(), os.environ.pop("OMP_NUM_THREADS", None)
    try: return [row for label, spec in MODELS.items() for row in model_rows(label, *spec, cores)]
    finally:
        torch.set_num_threads(old)
        if env is not None: os.environ["OMP_NUM_THREADS"] = env


if __name__ == "__main__":
    for row in run(): print(row)
