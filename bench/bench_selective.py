"""Benchmark: lsfix.selective and lsfix.calibration. Targets (issue 10): AURC and `selective_report` at n = 1e6 and 1e7
within 1.3x the fastest full sort on the machine (the faster of np.argsort and torch.sort on the same data, same run),
and faster than torch-uncertainty's AURC where that package is installed (an optional row); the bootstrap of 1000
resamples at n = 1e5 within 5 s."""
from __future__ import annotations
import functools, time

import numpy as np

from lsfix.selective import aurc, bootstrap_ci, msp, rc_curve, selective_report
from lsfix.calibration import ece


def timed(f, repeats:int, clock=time.perf_counter) -> float:
    "Median time of `repeats` calls of `f` (wall time by default)."
    times = []
    for _ in range(repeats):
        start = clock(); f(); times.append(clock() - start)
    return float(np.median(times))


def data(n:int, seed:int=0) -> tuple[np.ndarray, np.ndarray]:
    "Distinct float64 scores (the worst case for sorting) and correctness that depends on them."
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    return s, rng.random(n) < 0.5 + 0.45 * s


def fastest_sort(s:np.ndarray, repeats:int) -> tuple[float, str]:
    "Wall time of the faster of np.argsort and torch.sort (torch's default threads) on `s`: (seconds, which)."
    import torch
    t = torch.from_numpy(s)
    times = {"np.argsort": timed(lambda: np.argsort(s), repeats), "torch.sort": timed(lambda: torch.sort(t), repeats)}
    best = min(times, key=times.get)
    return times[best], f"{best} (np.argsort {times['np.argsort']:.3f} s, torch.sort {times['torch.sort']:.3f} s)"


def curve_rows(n:int, repeats:int) -> list[dict]:
    "rc_curve, aurc and selective_report against the fastest full sort of the same scores, in one run."
    s, c = data(n)
    floor, which = fastest_sort(s, repeats)
    rows = []
    for label, f, target in (("aurc", aurc, 1.3), ("selective_report", selective_report, 1.3), ("rc_curve", rc_curve, None)):
        t = timed(functools.partial(f, s, c), repeats)
        row = {"name": f"{label} n=1e{round(np.log10(n))} / fastest sort", "value": round(t / floor, 3), "unit": "x sort",
               "note": f"wall {t:.3f} s vs {which}; median of {repeats}; includes validation"}
        rows.append(row if target is None else {**row, "target": target})
    return rows


def torch_uncertainty_rows(n:int, repeats:int) -> list[dict]:
    "lsfix's AURC against torch-uncertainty's on the same confidences, when that package is installed (it is not a dependency)."
    try:
        import torch
        from torch_uncertainty.metrics import AURC
    except ImportError: return []
    s, c = data(n)
    probs = torch.from_numpy(np.stack([s, 1 - s], 1))  # binary probabilities whose max is ~ the score
    target = torch.from_numpy(np.where(c, probs.argmax(1).numpy(), 1 - probs.argmax(1).numpy()))
    def theirs():
        metric = AURC(); metric.update(probs, target); return metric.compute()
    ours = timed(lambda: aurc(msp(np.log(probs.numpy())), c), repeats)
    return [{"name": f"aurc n=1e{round(np.log10(n))} / torch-uncertainty AURC", "value": round(ours / timed(theirs, repeats), 3),
             "unit": "x theirs", "target": 1.0, "note": "same confidences; lsfix computes MSP from log-probabilities"}]


def run() -> list[dict]:
    "AURC, selective_report and rc_curve vs the fastest sort at 1e6 and 1e7, torch-uncertainty if present, the bootstrap at 1e5, ECE at 1e7."
    rows = curve_rows(10**6, 5) + curve_rows(10**7, 3) + torch_uncertainty_rows(10**6, 3) + torch_uncertainty_rows(10**7, 1)
    s, c = data(10**5)
    selective_report(s[:100], c[:100], n_boot=2)  # loads (or compiles) the bootstrap's compiled loops: timed in bench_evaluate
    rows.append({"name": "bootstrap_ci(aurc) n=1e5, 1000 resamples", "value": round(timed(lambda: bootstrap_ci(aurc, s, c), 1), 3),
                 "unit": "s", "target": 5.0, "note": "one run, compiled loops loaded"})
    rows.append({"name": "selective_report n=1e5, 1000 resamples", "value": round(timed(lambda: selective_report(s, c, n_boot=1000), 1), 3),
                 "unit": "s", "note": "CIs for all nine metrics from the same resamples; one run, compiled loops loaded"})
    n, k = 10**7, 10
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(n, k)).astype(np.float32) * 3
    probs = np.exp(logits - logits.max(1, keepdims=True)); probs /= probs.sum(1, keepdims=True)
    del logits
    labels = rng.integers(0, k, n)
    rows.append({"name": "ece n=1e7, K=10", "value": round(timed(lambda: ece(probs, labels), 3), 3), "unit": "s",
                 "note": "float32 probabilities in (checked, converted to float64); median of 3"})
    return rows


if __name__ == "__main__":
    for row in run(): print(row)
