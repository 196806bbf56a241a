"""Benchmark: lsfix.selective and lsfix.calibration at the sizes of issue 4 (curve within 3x of a bare argsort,
bootstrap of 1000 resamples at n=1e5 within 5 s)."""
from __future__ import annotations
import functools, time

import numpy as np

from lsfix.selective import aurc, bootstrap_ci, rc_curve, selective_report
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


def curve_rows(n:int, repeats:int) -> list[dict]:
    s, c = data(n)
    # CPU time, not wall time: on a shared machine preemption would dominate the ratio
    floor = timed(lambda: np.argsort(s), repeats, time.process_time)
    rows = []
    for label, f in (("rc_curve", rc_curve), ("aurc", aurc)):
        t = timed(functools.partial(f, s, c), repeats, time.process_time)
        rows.append({"name": f"{label} n=1e{round(np.log10(n))} / np.argsort", "value": round(t / floor, 3), "unit": "x argsort",
                     "target": 3.0, "note": f"CPU {t:.3f} s vs argsort {floor:.3f} s; median of {repeats}; includes validation"})
    return rows


def run() -> list[dict]:
    "Curve and AURC vs argsort at 1e6 and 1e7, the report at 1e6, the bootstrap at 1e5, ECE at 1e7."
    rows = curve_rows(10**6, 5) + curve_rows(10**7, 3)
    s, c = data(10**6)
    rows.append({"name": "selective_report n=1e6", "value": round(timed(lambda: selective_report(s, c), 3), 3), "unit": "s",
                 "note": "all nine metrics from one sort; median of 3"})
    s, c = data(10**5)
    rows.append({"name": "bootstrap_ci(aurc) n=1e5, 1000 resamples", "value": round(timed(lambda: bootstrap_ci(aurc, s, c), 1), 3),
                 "unit": "s", "target": 5.0, "note": "one run"})
    rows.append({"name": "selective_report n=1e5, 1000 resamples", "value": round(timed(lambda: selective_report(s, c, n_boot=1000), 1), 3),
                 "unit": "s", "note": "CIs for all nine metrics from the same resamples; one run"})
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
