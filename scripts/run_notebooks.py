"""Execute notebooks in place and keep their outputs, so that they read with their tables and figures on a code host
(the Makefile's `notebooks` target).

    python scripts/run_notebooks.py nbs/01_theory.ipynb nbs/02_selective.ipynb [--slow]

Cells run as nbdev_test runs them (execnb, from the notebook's folder): cells flagged with a `tst_flags` flag of
settings.ini (`#| slow`, `#| gpu`), `#| eval: false` cells and the export cell are skipped and keep the outputs of their
last full run; `--slow` also runs the slow cells. Every other cell's outputs are replaced. A notebook is written only
when every cell ran and none wrote to stderr (warnings, progress bars: fix them at their source; tqdm is silenced
with TQDM_DISABLE=1), then cleaned with nbdev_clean (outputs kept).
"""
import argparse, os, sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import nbdev_clean
from nbdev.config import get_config
from nbdev.process import NBProcessor


def skipped(cell, flags:set) -> bool:
    "Whether nbdev_test would skip `cell` (not code, the export cell, `eval: false`, or a flag in `flags`)."
    if cell.cell_type != "code": return True
    if "nbdev_export" + "(" in cell.source: return True
    directives = getattr(cell, "directives_", {}) or {}
    if directives.get("eval:", [""])[0].lower() == "false": return True
    return bool(flags & directives.keys())


def noise(cell) -> str:
    "What a cell wrote to stderr (warnings, progress bars), or ''."
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stderr")


def execute(path:Path, flags:set) -> list[str]:
    "Run the notebook at `path`; write it back with outputs and clean it unless something failed. Returns the problems."
    nb = read_nb(path)
    NBProcessor(nb=nb, rm_directives=False)  # reads each cell's `#|` directives into cell.directives_, source unchanged
    def prepare(cell):
        skip = skipped(cell, flags)
        if not skip: cell.outputs = []  # execnb keeps old outputs when a cell prints nothing
        return skip
    shell = CaptureShell(path)
    try:
        with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=prepare)
    except Exception: return [shell.prettytb(fname=path)]  # run_all re-raises the first cell's exception
    problems = [f"{path} cell {i}: wrote to stderr:\n{text[:500]}" for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and not skipped(c, flags) and (text := noise(c))]
    if problems: return problems
    write_nb(nb, path)
    nbdev_clean(fname=str(path))
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--slow", action="store_true", help="also run the cells flagged slow (hours for the experiments)")
    args = parser.parse_args()
    flags = set(get_config().tst_flags.split()) - ({"slow"} if args.slow else set())
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing: parser.error(f"no such notebook: {', '.join(missing)}")
    failed = 0
    for path in args.notebooks:
        print(f"executing {path} (skipping cells flagged {', '.join(sorted(flags)) or 'nothing'})", flush=True)
        problems = execute(path.resolve(), flags)
        for p in problems: print(f"error: {p}", file=sys.stderr)
        failed += bool(problems)
    if failed: print(f"error: {failed} notebook(s) not written (see above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
