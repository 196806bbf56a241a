"""Benchmark: LogitNorm's grid search over p on ImageNet-sized validation logits (issue 5: target ≤ 5 s on 2 cores)."""
from __future__ import annotations
import time

import numpy as np

from lsfix.logitnorm import LogitNorm
from lsfix.logits import synthetic_logits

N, K, PS, TARGET_S, REPEATS = 50_000, 1000, range(1, 11), 5.0, 3

def run() -> list[dict]:
    "Time `LogitNorm(ps=1..10).fit` on 50k × 1000 float32 logits; the median of a few runs."
    logits, labels = synthetic_logits(N, num_classes=K, alpha=0.1, shift="topk", k=5, seed=0)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fitted = LogitNorm(ps=PS).fit(logits, labels)
        times.append(time.perf_counter() - start)
    value = float(np.median(times))
    return [{"name": f"LogitNorm.fit {N // 1000}k x {K} logits, {len(PS)} values of p", "value": round(value, 3), "unit": "s",
             "target": TARGET_S, "ratio": round(value / TARGET_S, 3),
             "note": f"median of {REPEATS}; chose {fitted}; includes validation and the MSP baseline"}]

if __name__ == "__main__":
    for row in run(): print(row)
