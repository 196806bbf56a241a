#!/usr/bin/env python
"""Run experiment grids of issues 15 and 17 (resumable; finished runs are reused), one result file per run.

    python scripts/grid.py muller muller_students distill --jobs 10 --device cuda
    python scripts/grid.py architectures mixup --jobs 2 --data data
    python scripts/grid.py muller --dry_run          # list the runs and their state

Grids: muller, muller_students, distill (needs muller), architectures, mixup (see nbs/17_experiments.ipynb).
Exit codes: 0 every run finished, 1 some run failed (see its train.log; rerun to resume), 2 bad arguments.
"""
import sys

from fastcore.script import Param, call_parse

from lsfix.experiments import GRIDS, run_grid
from lsfix.recipes import ConfigError


@call_parse
def main(grids:Param(f"grids to run, in this order: {', '.join(GRIDS)}", str, nargs="+", opt=False)=None,
         data:Param("data root holding FashionMNIST/raw (make data)", str)="data",
         out:Param("root of the run directories (checkpoints, logits; one folder per grid)", str)="runs/grids",
         results:Param("root of the per-run result files", str)="nbs/results",
         jobs:Param("runs trained in parallel (processes; on a GPU they share it)", int)=1,
         threads:Param("torch threads per process (0: CPU cores / jobs)", int)=0,
         device:Param("cpu, cuda or cuda:N (default: CUDA if present)", str)=None,
         seeds:Param("seeds to run (default: each grid's own)", int, nargs="*")=None,
         only:Param("run only the runs whose name contains this text", str)=None,
         no_logits:Param("do not keep the runs' logits next to their result files", action="store_true")=False,
         dry_run:Param("list the runs and their state (new, partial, trained, done) without running", action="store_true")=False,
         overrides:Param("extra key=value config overrides for every run (use another --out/--results)", str, nargs="*")=None):
    "Run (or resume, or reuse) every run of `grids`; print one line per finished run."
    try:
        rows = run_grid(grids, out, data, results, jobs=jobs, threads=threads, device=device, seeds=seeds or None, only=only,
                        keep_logits=not no_logits, extra=overrides or (), dry_run=dry_run)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr); sys.exit(2)
    if dry_run:
        print(rows.to_string(index=False) if len(rows) else "no runs match"); return
    failed = rows[rows["status"] == "failed"] if len(rows) else rows
    if len(failed):
        print(f"error: {len(failed)} of {len(rows)} runs failed: {', '.join(failed['run'])}; rerun the same command to resume them",
              file=sys.stderr)
        sys.exit(1)
