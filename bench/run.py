"""Run lsfix's benchmarks and write `bench/results.json` and `bench/results.md` (atomically).

Usage: `python bench/run.py --out bench [--only NAME] [--threads N]` (what `make bench` runs).

Contract for a benchmark module. Every `bench/bench_*.py` is discovered and imported; it exposes

    def run() -> list[dict]

returning one dict per measurement with keys
- `name` (str): what was measured, including the size, e.g. "aurc n=1e6 / np.argsort";
- `value` (float): the measurement;
- `unit` (str): its unit, e.g. "s", "x argsort";
and optionally
- `target` (float, same unit as `value`): the goal; a row passes when value <= target;
- `ratio` (float): value / target (filled in by the harness when `target` is given and `ratio` is not);
- `note` (str): anything a reader needs (repeats, sizes, what is included).
Modules should time with `time.perf_counter`, take the median of a few repeats, keep the whole module
under a few minutes on 2 cores, and not write files. A module that raises is reported as an error row;
the others still run, and the exit code is 1.

`--only NAME` runs the modules whose name contains NAME (e.g. `--only selective`); rows of the modules
not run are kept from the previous results.json, so helpers can refresh their own rows. Threads are set
once for all modules (`--threads`, default: every core) through the usual environment variables and
`torch.set_num_threads`, and recorded with the machine information and the load average, because other
processes on a shared machine make the numbers noisy.
"""
from __future__ import annotations
import argparse, datetime, importlib.util, json, math, os, platform, subprocess, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"name": str, "value": (int, float), "unit": str}
OPTIONAL = {"target": (int, float), "ratio": (int, float), "note": str}


def parse_args(argv:list[str]|None=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench", help="directory for results.json and results.md")
    ap.add_argument("--only", default=None, help="run only the modules whose name contains this string")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for BLAS/OpenMP/torch")
    return ap.parse_args(argv)


def set_threads(n:int) -> None:
    "Set the thread count before numpy/torch are imported, then tell torch too."
    if n < 1: raise SystemExit(f"error: --threads must be >= 1, got {n}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"): os.environ[var] = str(n)
    import torch
    torch.set_num_threads(n)


def machine_info(threads:int) -> dict:
    import numpy, torch
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    try: commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError): commit = ""
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
            "cpu": cpu, "cores": os.cpu_count(), "threads": threads, "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__,
            "platform": platform.platform()}


def discover(only:str|None) -> list[Path]:
    mods = sorted((ROOT / "bench").glob("bench_*.py"))
    return [m for m in mods if only is None or only in m.stem]


def check_row(row:object, module:str) -> dict:
    "Validate one row against the contract and fill in `ratio`."
    if not isinstance(row, dict): raise ValueError(f"{module}: run() must return dicts, got {type(row).__name__}")
    for k, t in REQUIRED.items():
        if not isinstance(row.get(k), t): raise ValueError(f"{module}: row {row!r} needs {k!r} of type {t}")
    for k, t in OPTIONAL.items():
        if k in row and not isinstance(row[k], t): raise ValueError(f"{module}: row {row['name']!r}: {k!r} must be {t}")
    unknown = set(row) - set(REQUIRED) - set(OPTIONAL)
    if unknown: raise ValueError(f"{module}: row {row['name']!r} has unknown keys {sorted(unknown)}")
    if not math.isfinite(row["value"]): raise ValueError(f"{module}: row {row['name']!r} has a non-finite value")
    out = {"module": module, **row}
    if "target" in row and "ratio" not in row: out["ratio"] = row["value"] / row["target"]
    if "target" in row: out["status"] = "ok" if row["value"] <= row["target"] else "over target"
    return out


def run_module(path:Path, date:str) -> tuple[list[dict], bool]:
    "Import and run one benchmark module; an exception becomes one error row."
    start = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        rows = [check_row(r, path.stem) for r in mod.run()]
        ok = True
    except Exception as e:
        traceback.print_exc()
        rows, ok = [{"module": path.stem, "name": "(failed)", "value": None, "unit": "", "status": "error",
                     "note": f"{type(e).__name__}: {e}"}], False
    took = time.perf_counter() - start
    for r in rows: r.update(date=date, module_seconds=round(took, 1))
    print(f"{path.stem}: {len(rows)} row(s) in {took:.1f} s" + ("" if ok else " (FAILED)"), flush=True)
    return rows, ok


def fmt(x:object) -> str:
    if isinstance(x, float): return f"{x:.4g}"
    return "" if x is None else str(x)


def to_markdown(machine:dict, rows:list[dict]) -> str:
    lines = ["# lsfix benchmarks", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} thread(s); "
             f"Python {machine['python']}, NumPy {machine['numpy']}, torch {machine['torch']}; commit {machine['commit']}; "
             f"{machine['date']}, 1-minute load average {machine['load_avg_1m']} at the start.",
             "", "Timings are single runs or medians of a few repeats: on a shared machine (see the load average) compare ratios, not seconds.", "",
             "| module | benchmark | value | unit | target | ratio | status | note |", "|---|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        cells = [r["module"], r["name"], fmt(r["value"]), r["unit"], fmt(r.get("target")), fmt(r.get("ratio")), r.get("status", ""), r.get("note", "")]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv:list[str]|None=None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    sys.path.insert(0, str(ROOT))  # benchmark the checkout, installed or not
    from lsfix.core import save_json, save_text
    mods = discover(args.only)
    if not mods: raise SystemExit(f"error: no bench/bench_*.py module matches --only {args.only!r}")
    machine = machine_info(args.threads)
    results, all_ok = [], True
    for path in mods:
        rows, ok = run_module(path, machine["date"])
        results += rows; all_ok &= ok
    out_json = args.out / "results.json"
    ran = {p.stem for p in mods}
    if out_json.exists():  # keep the rows of modules not run this time
        try: old = json.loads(out_json.read_text())["results"]
        except (ValueError, KeyError): old = []
        results = [r for r in old if r.get("module") not in ran] + results
    results.sort(key=lambda r: r["module"])
    save_json({"machine": machine, "results": results}, out_json)
    save_text(to_markdown(machine, results), args.out / "results.md")
    print(f"wrote {out_json} and {args.out / 'results.md'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
