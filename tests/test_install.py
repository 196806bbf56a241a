"""The install works: every module imports from outside the repo, the declared console scripts exist and resolve,
`nbdev_export` is a no-op on a clean checkout, and lsfix.losses has design.md §4's API, typed and documented."""
import configparser, inspect, json, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin" / "python").exists() else Path(sys.executable).parent
SCRIPT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*=\s*(?P<value>[A-Za-z_][\w.]*:[A-Za-z_][\w.]*)$")


def settings() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(REPO / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"]


def parse_console_scripts(value: str) -> dict:
    "settings.ini's `console_scripts` (whitespace-separated `name=module:function`, as setup.py reads it) as a dict."
    scripts = {}
    for item in value.split():
        m = SCRIPT.match(item)
        assert m, f"console_scripts entry {item!r} is not of the form name=module:function"
        scripts[m["name"]] = m["value"]
    return scripts


def venv_python(code: str, cwd: Path) -> dict:
    "Run `code` with the venv's Python in `cwd`; it must print one JSON object as its last line."
    r = subprocess.run([str(BIN / "python"), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def lib_modules() -> list:
    lib = REPO / settings()["lib_path"]
    return sorted(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in lib.rglob("*.py"))


def test_parse_console_scripts():
    test = parse_console_scripts("lsfix-eval=lsfix.evaluate:main\n  lsfix-train=lsfix.train:cli")
    assert test == {"lsfix-eval": "lsfix.evaluate:main", "lsfix-train": "lsfix.train:cli"}
    assert parse_console_scripts("") == {}
    for bad in ("lsfix-eval", "lsfix-eval = lsfix.evaluate:main", "lsfix-eval=lsfix.evaluate"):  # setup.py splits on spaces
        with pytest.raises(AssertionError, match="not of the form"): parse_console_scripts(bad)


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
    declared = parse_console_scripts(settings().get("console_scripts", ""))
    code = """
import importlib.metadata as md, json
eps = [e for e in md.distribution("lsfix").entry_points if e.group == "console_scripts"]
loaded = {}
for e in eps:
    try: loaded[e.name] = callable(e.load())
    except Exception as err: loaded[e.name] = repr(err)
print(json.dumps({"installed": {e.name: e.value for e in eps}, "loaded": loaded}))"""
    out = venv_python(code, tmp_path)
    assert out["installed"] == declared, "installed console scripts differ from settings.ini (reinstall: make install)"
    for name in declared:
        assert out["loaded"][name] is True, f"console script {name}: entry point does not resolve: {out['loaded'][name]}"
        exe = BIN / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"console script {name} is not an executable in {BIN}"
        assert shutil.which(name, path=str(BIN)) == str(exe)
        r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, f"{name} --help failed:\n{r.stderr}"


def test_nbdev_export_is_a_noop_on_a_clean_checkout(tmp_path):
    "Clone HEAD, export every notebook: the committed lsfix/ must already be what the notebooks generate."
    if not (REPO / ".git").exists(): pytest.skip("not a git checkout")
    clone = tmp_path / "lsfix"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300)
    r = subprocess.run([str(BIN / "nbdev_export")], cwd=clone, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True).stdout
    diff = subprocess.run(["git", "diff", "--stat"], cwd=clone, capture_output=True, text=True).stdout
    assert status == "", f"nbdev_export changed a clean checkout of HEAD (commit the exported files):\n{status}\n{diff}"


# design.md §4: the names and parameters users and other modules call
LOSSES_API = {
    "smooth_targets": ["labels", "num_classes", "alpha"],
    "ls_cross_entropy": ["logits", "labels", "alpha", "reduction"],
    "ls_logit_grad": ["logits", "labels", "alpha"],
    "regularisation_grad": ["true_probs", "alpha"],
    "max_logit_suppression": ["p_err", "alpha", "num_classes"],
    "norm_ratio": ["v", "p"],
    "ls_optimum": ["num_classes", "alpha"],
}


@pytest.mark.parametrize("name", sorted(LOSSES_API))
def test_losses_api_is_typed_and_documented(name):
    import lsfix.losses as losses
    assert name in losses.__all__, f"lsfix.losses.{name} is not exported"
    f = getattr(losses, name)
    doc = inspect.getdoc(f)
    assert doc and "\n" not in doc.strip(), f"{name} needs a one-line docstring, got {doc!r}"
    sig = inspect.signature(f)
    assert list(sig.parameters) == LOSSES_API[name], f"{name}{sig} does not match design.md §4"
    untyped = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
    assert not untyped, f"{name}: parameters without type annotations: {untyped}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return annotation"
    if name == "ls_cross_entropy": assert sig.parameters["reduction"].default == "mean"
