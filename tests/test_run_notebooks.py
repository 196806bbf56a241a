"""scripts/run_notebooks.py, behind `make notebooks`, on a toy notebook: outputs replaced, slow cells skipped but kept
(run with --slow), the notebook cleaned; a cell that fails or writes to stderr leaves the file untouched."""
import json, shutil, subprocess, sys
from pathlib import Path

import pytest

from conftest import ENV, ROOT

RUN = ROOT / "scripts" / "run_notebooks.py"


def cell(source:str, outputs:list|None=None) -> dict:
    return {"cell_type": "code", "execution_count": 3, "id": f"c{abs(hash(source)) % 10**6}", "metadata": {},
            "outputs": outputs or [], "source": source.splitlines(keepends=True)}


def stale(text:str) -> list: return [{"name": "stdout", "output_type": "stream", "text": [text]}]


def toy(folder:Path, *extra:dict) -> Path:
    "A project folder (this repo's settings.ini) with nbs/toy.ipynb: a printing cell, a slow cell, a stale output."
    shutil.copy(ROOT / "settings.ini", folder / "settings.ini")
    (folder / "nbs").mkdir()
    cells = [cell("x = 6 * 7\nprint(x)", stale("old\n")), cell("#| slow\nprint('slow ran')", stale("kept\n")),
             cell("y = x + 1", stale("stale\n")), *extra]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / "nbs" / "toy.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def run(path:Path, *args:str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN), str(path), *args], cwd=path.parent.parent, capture_output=True, text=True,
                          env=ENV, timeout=300)


def outputs(path:Path) -> list[str]:
    return ["".join("".join(o.get("text", "")) for o in c["outputs"]) for c in json.loads(path.read_text())["cells"]]


def test_outputs_replaced_and_slow_cells_kept(tmp_path):
    path = toy(tmp_path)
    res = run(path)
    assert res.returncode == 0, res.stderr
    assert outputs(path) == ["42\n", "kept\n", ""]  # a cell that prints nothing loses its stale output
    assert all(c["execution_count"] is None for c in json.loads(path.read_text())["cells"])  # nbdev_clean ran
    assert run(path, "--slow").returncode == 0 and outputs(path) == ["42\n", "slow ran\n", ""]


@pytest.mark.parametrize("source, message", [("import sys; print('careful', file=sys.stderr)", "wrote to stderr"),
                                             ("import warnings; warnings.warn('deprecated')", "wrote to stderr"),
                                             ("raise ValueError('broken cell')", "broken cell")])
def test_a_noisy_or_failing_cell_leaves_the_notebook_untouched(tmp_path, source, message):
    path = toy(tmp_path, cell(source))
    before = path.read_bytes()
    res = run(path)
    assert res.returncode == 1 and message in res.stderr and "not written" in res.stderr, res.stderr
    assert path.read_bytes() == before


def test_missing_notebook_is_a_usage_error(tmp_path):
    res = run(tmp_path / "nope.ipynb")
    assert res.returncode == 2 and "no such notebook" in res.stderr
