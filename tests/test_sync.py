"""scripts/sync.py, the sync check behind `make check-sync`, on temporary copies of the repo: it fails, naming the file,
when a notebook and lsfix/ (or README.md, or the cleaned notebook) disagree, and passes on an uncommitted edit that
was exported. The copies are regenerated first, so these tests check the checker, not this checkout."""
import json, shutil, subprocess, sys
from pathlib import Path

import pytest

from conftest import ENV, ROOT

SYNC = ROOT / "scripts" / "sync.py"


def sync(folder:Path, command:str="check") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SYNC), command, "--root", str(folder)], capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    "A copy of the repo's notebooks, lsfix/, README.md and settings.ini, regenerated so that it is in sync by construction."
    sys.path.insert(0, str(SYNC.parent))
    try: import sync as sync_module
    finally: sys.path.remove(str(SYNC.parent))
    copy = sync_module.snapshot(ROOT, tmp_path_factory.mktemp("repo"))
    sync_module.regenerate(copy)
    return copy


@pytest.fixture
def repo(synced, tmp_path) -> Path:
    return Path(shutil.copytree(synced, tmp_path / "repo"))


def edit_cell(nb_path:Path, find:str, old:str, new:str) -> None:
    "Replace `old` by `new` in the first cell of the notebook whose source contains `find`."
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if find in "".join(c["source"]))
    source = "".join(cell["source"])
    assert old in source
    cell["source"] = source.replace(old, new, 1).splitlines(keepends=True)
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def test_a_synced_copy_passes(repo):
    res = sync(repo)
    assert res.returncode == 0 and "agree" in res.stdout, res.stderr


def test_an_unexported_export_cell_fails(repo):
    edit_cell(repo / "nbs" / "00_core.ipynb", "def save_json", "def save_json", "def save_json_renamed")
    res = sync(repo)
    assert res.returncode == 1, res.stdout
    assert "out of sync" in res.stderr and "lsfix/core.py" in res.stderr and "save_json_renamed" in res.stderr
    assert "def save_json(" in (repo / "lsfix" / "core.py").read_text()  # the check never writes the tree


def test_an_exported_uncommitted_edit_passes(repo):
    "No git here at all: only the files on disk are compared."
    edit_cell(repo / "nbs" / "00_core.ipynb", "def save_json", "def save_json", "def save_json_renamed")
    subprocess.run([str(Path(sys.executable).parent / "nbdev_export")], cwd=repo, check=True, capture_output=True, timeout=300)
    subprocess.run([str(Path(sys.executable).parent / "nbdev_clean")], cwd=repo, check=True, capture_output=True, timeout=300)
    assert not (repo / ".git").exists() and "def save_json_renamed(" in (repo / "lsfix" / "core.py").read_text()
    res = sync(repo)
    assert res.returncode == 0, res.stderr


def test_a_stale_readme_fails_and_the_readme_command_fixes_it(repo):
    edit_cell(repo / "nbs" / "index.ipynb", "# lsfix", "# lsfix", "# lsfix, edited")
    res = sync(repo)
    assert res.returncode == 1 and "README.md" in res.stderr and "lsfix, edited" in res.stderr
    assert sync(repo, "readme").returncode == 0 and "# lsfix, edited" in (repo / "README.md").read_text()
    assert sync(repo).returncode == 0


def test_an_uncleaned_notebook_fails(repo):
    nb_path = repo / "nbs" / "01_theory.ipynb"
    nb = json.loads(nb_path.read_text())
    next(c for c in nb["cells"] if c["cell_type"] == "code")["execution_count"] = 7
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb_path.write_text(json.dumps(nb, indent=1) + "\n")
    res = sync(repo)
    assert res.returncode == 1 and "nbs/01_theory.ipynb" in res.stderr
