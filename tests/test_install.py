"""The install works: every module imports from outside the repo, and the console scripts that setup.py declares
(from settings.ini) are well formed, installed, and resolve."""
import configparser, json, os, re, shutil, subprocess, sys
from pathlib import Path

from conftest import ROOT as REPO

BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin" / "python").exists() else Path(sys.executable).parent
SCRIPT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)=(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)$")
# Runs setup.py with setuptools.setup replaced by a recorder: what it would pass to setuptools, and nothing built.
SETUP_ARGS = """
import json, runpy, setuptools
seen = {}
setuptools.setup = lambda **kw: seen.update(kw)
runpy.run_path("setup.py", run_name="__main__")
print(json.dumps(seen["entry_points"]["console_scripts"]))"""


def settings() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(REPO / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"]


def setup_console_scripts(folder:Path) -> list[str]:
    "The console_scripts entry points setup.py declares when run in `folder` (its settings.ini and README.md)."
    r = subprocess.run([str(BIN / "python"), "-c", SETUP_ARGS], cwd=folder, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def scripts_of(folder:Path, console_scripts:str) -> list[str]:
    "setup.py's console_scripts for a copy of this repo's packaging files whose settings.ini has `console_scripts` replaced."
    for name in ("setup.py", "README.md"): shutil.copy(REPO / name, folder / name)
    text = (REPO / "settings.ini").read_text(encoding="utf-8")
    (folder / "settings.ini").write_text(re.sub(r"(?m)^console_scripts = .*$", lambda m: f"console_scripts = {console_scripts}", text), encoding="utf-8")
    return setup_console_scripts(folder)


def venv_python(code: str, cwd: Path) -> dict:
    "Run `code` with the venv's Python in `cwd`; it must print one JSON object as its last line."
    r = subprocess.run([str(BIN / "python"), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def lib_modules() -> list:
    lib = REPO / settings()["lib_path"]
    return sorted(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in lib.rglob("*.py"))


def test_setup_declares_well_formed_console_scripts():
    "Each entry setup.py hands to setuptools is `name=module:function` with a module inside lsfix (a space would split it)."
    scripts = setup_console_scripts(REPO)
    assert scripts, "settings.ini declares no console_scripts (lsfix-eval is documented in the README)"
    for item in scripts:
        m = SCRIPT.match(item)
        assert m, f"settings.ini console_scripts entry {item!r} is not of the form name=module:function (no spaces)"
        assert m["module"].split(".")[0] == "lsfix", f"{item!r} points outside the lsfix package"


def test_setup_splits_console_scripts_on_whitespace(tmp_path):
    "setup.py reads settings.ini's list as nbdev writes it: entries separated by spaces or newlines, none empty."
    assert scripts_of(tmp_path, "a=lsfix.x:main\n  b=lsfix.y:cli") == ["a=lsfix.x:main", "b=lsfix.y:cli"]
    assert scripts_of(tmp_path, "") == []
    assert scripts_of(tmp_path, "a = lsfix.x:main") == ["a", "=", "lsfix.x:main"]  # why spaces around = are refused above


def test_every_module_imports_from_outside_the_repo(tmp_path):
    "Run from an empty directory, so `import lsfix` finds the installed (editable) package, not the working dir."
    modules = lib_modules()
    assert "lsfix" in modules and "lsfix.core" in modules and "lsfix.losses" in modules
    code = f"""
import importlib, json, traceback
failed, file = {{}}, None
for m in {modules!r}:
    try: importlib.import_module(m)
    except Exception: failed[m] = traceback.format_exc(limit=3)
if "lsfix" not in failed: file = importlib.import_module("lsfix").__file__
print(json.dumps({{"failed": failed, "file": file}}))"""
    out = venv_python(code, tmp_path)
    assert out["file"], f"lsfix does not import outside the repo (is it installed? run make install):\n{out['failed']['lsfix']}"
    assert not out["failed"], "modules that do not import:\n" + "\n".join(f"{m}:\n{e}" for m, e in out["failed"].items())
    assert Path(out["file"]).resolve() == (REPO / "lsfix" / "__init__.py").resolve(), \
        f"the venv imports lsfix from {out['file']}, not this checkout (reinstall: pip install -e .)"


def test_console_scripts_installed_and_resolve(tmp_path):
    "The installed entry points are exactly settings.ini's list; each is an executable in the venv and loads."
    declared = dict(item.split("=", 1) for item in setup_console_scripts(REPO))
    code = """
import importlib.metadata as md, json
eps = [e for e in md.distribution("lsfix").entry_points if e.group == "console_scripts"]
loaded = {}
for e in eps:
    try: loaded[e.name] = callable(e.load())
    except Exception as err: loaded[e.name] = repr(err)
print(json.dumps({"installed": {e.name: e.value for e in eps}, "loaded": loaded}))"""
    out = venv_python(code, tmp_path)
    assert out["installed"] == declared, "installed console scripts differ from setup.py's (settings.ini; reinstall: make install)"
    for name in declared:
        assert out["loaded"][name] is True, f"console script {name}: entry point does not resolve: {out['loaded'][name]}"
        exe = BIN / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"console script {name} is not an executable in {BIN}"
        assert shutil.which(name, path=str(BIN)) == str(exe)
        r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, f"{name} --help failed:\n{r.stderr}"
