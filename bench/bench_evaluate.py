"""Benchmark: `lsfix-eval` at the paper's scale (issue 13), each run a separate process timed with its peak RSS.

Rows: 100k x 1,000 float32 test + val files (default settings: 1,000 bootstrap resamples, figures), the ImageNet
shape 50k x 1,000, and 50k x 20,000 float16 test + val files (ImageNet-21k / iNaturalist heads). Targets: the 100k
run within 15 s, and every run's peak RSS within 2x the larger file's in-memory size + 1 GB. The 100k case runs three
times: first with numba's on-disk cache of lsfix's compiled loops removed (what the first run after installing pays
to compile them), then twice warm; its timed row is the median of the warm runs. The logits files are generated in
a temporary folder (about 5 GB on disk) and removed afterwards.
"""
from __future__ import annotations
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_logits(path:Path, n:int, k:int, dtype:type, seed:int) -> int:
    "A logits file shaped like a trained model's (true class boosted, ~75% accuracy); returns the logits' in-memory bytes."
    from lsfix.core import save_npz
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = np.empty((n, k), dtype)
    for i in range(0, n, 2000):  # in chunks: the generator's float64 temporaries stay small
        rows = slice(i, min(n, i + 2000))
        block = rng.standard_normal((rows.stop - i, k), dtype=np.float32) * 2
        block[np.arange(rows.stop - i), labels[rows]] += rng.gamma(2.0, 2.0, rows.stop - i).astype(np.float32)
        logits[rows] = block
    save_npz(path, logits=logits, labels=labels)
    return logits.nbytes


# Linux starts a child's peak RSS at its parent's RSS at fork time, so the timed process is started by a small
# launcher of its own (a few MB), not by this process, which holds the generated logits.
LAUNCH = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "rss": usage.ru_maxrss * 1024, "code": os.waitstatus_to_exitcode(status),
                  "stderr": proc.stderr.read().decode()[-2000:]}))
"""

def run_cli(args:list[str]) -> tuple[float, int]:
    "Wall seconds and peak RSS (bytes) of `python -m lsfix.evaluate args` in its own process."
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", LAUNCH, sys.executable, "-m", "lsfix.evaluate", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    if res["code"] != 0: raise RuntimeError(f"lsfix-eval {' '.join(args)} failed: {res['stderr']}")
    return res["wall"], res["rss"]


def clear_compiled() -> int:
    "Remove numba's cached machine code of lsfix's compiled loops (the next run compiles them again); returns the files removed."
    files = [p for p in (ROOT / "lsfix" / "__pycache__").glob("*.nb[ic]")]
    for p in files: p.unlink()
    return len(files)


def run() -> list[dict]:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lsfix.evaluate", "--help"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    rows = [{"name": "lsfix-eval --help", "value": round(float(np.median(times)), 3), "unit": "s", "target": 1.0,
             "note": "wall time of the process, median of 3 (heavy modules are imported where they are used)"}]
    cases = [("100k x 1,000 float32", 100_000, 1_000, np.float32, 15.0),
             ("50k x 1,000 float32 (ImageNet val+test)", 50_000, 1_000, np.float32, None),
             ("50k x 20,000 float16", 50_000, 20_000, np.float16, None)]
    for label, n, k, dtype, time_target in cases:
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            size = max(make_logits(d / "test.npz", n, k, dtype, 0), make_logits(d / "val.npz", n, k, dtype, 1))
            args = ["--test", str(d / "test.npz"), "--val", str(d / "val.npz"), "--out", str(d / "report")]
            if time_target: clear_compiled()
            runs = [run_cli(args) for _ in range(3 if time_target else 1)]
        warm = runs[1:] or runs
        wall, rss = float(np.median([w for w, _ in warm])), max(r for _, r in runs)
        how = f"median of {len(warm)} warm runs; the first run (compiling the loops) {runs[0][0]:.2f} s; " if time_target else ""
        row = {"name": f"lsfix-eval {label} test + val, 1,000 resamples, figures", "value": round(wall, 2), "unit": "s",
               "note": f"wall time of the process, {how}peak RSS {rss / 1e9:.2f} GB"}
        if time_target: row["target"] = time_target
        rows.append(row)
        rows.append({"name": f"lsfix-eval {label}: peak RSS / (2 x file + 1 GB)", "value": round(rss / (2 * size + 2**30), 3),
                     "unit": "x budget", "target": 1.0, "note": f"peak RSS {rss / 1e9:.2f} GB; logits {size / 1e9:.2f} GB in memory per file"})
    return rows


if __name__ == "__main__":
    for row in run(): print(row)
