"""What every lsfix entry point answers to a bad invocation: exit code 2, one stderr line `error: …` (after the
command's tag, e.g. `lsfix-eval: error: …`), no traceback, and nothing under the output path created or modified.

The table below is the documentation: each row is (id, command, arguments, a substring the message must contain).
Commands: `eval` is `python -m lsfix.evaluate` (the `lsfix-eval` console script), `train` is `scripts/train.py`,
`data` is `python -m lsfix.data`, `demo` is `scripts/demo.py`. `{d}` is a folder of bad inputs, `{ok}`/`{okv}` a valid
test/validation logits pair, `{out}` the output path, watched before and after (a listing with sizes and mtimes).
"""
import io, json, os, re, subprocess, sys, zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lsfix.core import save_npz
from lsfix.logits import synthetic_logits
from conftest import ENV, ROOT, make_fmnist_root

COMMANDS = {"eval": [sys.executable, "-m", "lsfix.evaluate"], "train": [sys.executable, str(ROOT / "scripts" / "train.py")],
            "data": [sys.executable, "-m", "lsfix.data"], "demo": [sys.executable, str(ROOT / "scripts" / "demo.py")]}
LINE = re.compile(r"^(lsfix-eval: |demo: |python -m lsfix\.data: )?error: \S")

T = ["--recipe", "tiny_fmnist", "--data", "{data}", "--out", "{out}"]  # train with a valid data root
CASES = [
    # lsfix-eval: arguments
    ("eval-no-test", "eval", ["--out", "{out}"], "--test: need at least one logits file"),
    ("eval-unknown-flag", "eval", ["--test", "{ok}", "--bogus", "--out", "{out}"], "unrecognized arguments: --bogus"),
    ("eval-n_boot-text", "eval", ["--test", "{ok}", "--n_boot", "abc", "--out", "{out}"], "argument --n_boot: invalid int value"),
    ("eval-n_boot-negative", "eval", ["--test", "{ok}", "--n_boot", "-5", "--out", "{out}"], "--n_boot must be a non-negative integer, got -5"),
    ("eval-seed-negative", "eval", ["--test", "{ok}", "--seed", "-1", "--out", "{out}"], "--seed must be a non-negative integer, got -1"),
    ("eval-coverage-zero", "eval", ["--test", "{ok}", "--coverage", "0", "--out", "{out}"], "--coverage must be in (0, 1], got 0.0"),
    ("eval-coverage-above-1", "eval", ["--test", "{ok}", "--coverage", "1.5", "--out", "{out}"], "--coverage must be in (0, 1]"),
    ("eval-coverage-nan", "eval", ["--test", "{ok}", "--coverage", "nan", "--out", "{out}"], "--coverage must be in (0, 1]"),
    ("eval-ps-zero", "eval", ["--test", "{ok}", "--val", "{okv}", "--ps", "0", "--out", "{out}"], "--ps: p must be > 0"),
    ("eval-ps-text", "eval", ["--test", "{ok}", "--ps", "two", "--out", "{out}"], "argument --ps: invalid float value"),
    ("eval-val-count", "eval", ["--test", "{ok}", "{ok}", "--val", "{okv}", "--out", "{out}"], "pair them by position"),
    ("eval-names-count", "eval", ["--test", "{ok}", "--names", "a", "b", "--out", "{out}"], "--names: got 2 name(s) for 1 test file(s)"),
    ("eval-names-duplicate", "eval", ["--test", "{ok}", "{okv}", "--names", "m", "m", "--out", "{out}"], "'m' is given twice"),
    # lsfix-eval: the output folder, checked before any work
    ("eval-out-is-file", "eval", ["--test", "{ok}", "--out", "{d}/afile"], "is a file, not a folder"),
    ("eval-out-under-file", "eval", ["--test", "{ok}", "--out", "{d}/afile/report"], "cannot be created"),
    ("eval-out-foreign-folder", "eval", ["--test", "{ok}", "--out", "{d}/foreign"], "holds files that are not an lsfix report"),
    ("eval-out-report-md-folder", "eval", ["--test", "{ok}", "--out", "{d}/halfreport"], "holds files that are not an lsfix report"),
    ("eval-out-unwritable", "eval", ["--test", "{ok}", "--out", "{d}/locked/report"], "no permission to write"),
    # lsfix-eval: the files
    ("eval-missing-file", "eval", ["--test", "{d}/nope.npz", "--out", "{out}"], "no such file"),
    ("eval-folder-as-file", "eval", ["--test", "{d}", "--out", "{out}"], "is a directory, not a file"),
    ("eval-text-file", "eval", ["--test", "{d}/text.npz", "--out", "{out}"], "not an .npz archive (not a zip archive)"),
    ("eval-npy-file", "eval", ["--test", "{d}/array.npy", "--out", "{out}"], "not an .npz archive (a .npy file"),
    ("eval-empty-file", "eval", ["--test", "{d}/empty.npz", "--out", "{out}"], "not an .npz archive"),
    ("eval-pickled", "eval", ["--test", "{d}/pickled.npz", "--out", "{out}"], "holds Python objects"),
    ("eval-no-labels", "eval", ["--test", "{d}/nolabels.npz", "--out", "{out}"], "missing key(s) ['labels']"),
    ("eval-1d-logits", "eval", ["--test", "{d}/flat.npz", "--out", "{out}"], "expected a 2-D array [N, K]"),
    ("eval-one-class", "eval", ["--test", "{d}/k1.npz", "--out", "{out}"], "K ≥ 2 classes, got shape (50, 1)"),
    ("eval-no-samples", "eval", ["--test", "{d}/n0.npz", "--out", "{out}"], "need N ≥ 1 samples"),
    ("eval-nan-logits", "eval", ["--test", "{d}/nan.npz", "--out", "{out}"], "nan.npz: logits: 1 non-finite value(s)"),
    ("eval-inf-logits", "eval", ["--test", "{d}/inf.npz", "--out", "{out}"], "inf.npz: logits: 1 non-finite value(s)"),
    ("eval-huge-logits", "eval", ["--test", "{d}/huge.npz", "--out", "{out}"], "huge.npz: logits: values as large as 1e+308"),
    ("eval-complex-logits", "eval", ["--test", "{d}/complex.npz", "--out", "{out}"], "expected real numbers, got dtype complex128"),
    ("eval-bool-logits", "eval", ["--test", "{d}/bool.npz", "--out", "{out}"], "expected real numbers, got dtype bool"),
    ("eval-text-logits", "eval", ["--test", "{d}/strlogits.npz", "--out", "{out}"], "expected real numbers, got dtype <U"),
    ("eval-labels-range", "eval", ["--test", "{d}/range.npz", "--out", "{out}"], "labels out of range"),
    ("eval-labels-float", "eval", ["--test", "{d}/flabels.npz", "--out", "{out}"], "non-integer values"),
    ("eval-labels-length", "eval", ["--test", "{d}/short.npz", "--out", "{out}"], "length mismatch"),
    ("eval-group-length", "eval", ["--test", "{d}/glen.npz", "--out", "{out}"], "group"),
    ("eval-group-nan", "eval", ["--test", "{d}/gnan.npz", "--out", "{out}"], "group: 2 NaN or inf value(s)"),
    ("eval-group-all", "eval", ["--test", "{d}/gall.npz", "--out", "{out}"], "'all' is reserved"),
    ("eval-group-names-type", "eval", ["--test", "{d}/gnames.npz", "--out", "{out}"], "group_names must map group values to names"),
    ("eval-meta-json", "eval", ["--test", "{d}/meta.npz", "--out", "{out}"], "meta is not valid JSON"),
    ("eval-meta-list", "eval", ["--test", "{d}/metalist.npz", "--out", "{out}"], "meta must be a JSON object"),
    ("eval-image-id-length", "eval", ["--test", "{d}/imglen.npz", "--out", "{out}"], "image_id"),
    ("eval-val-other-K", "eval", ["--test", "{ok}", "--val", "{d}/k5.npz", "--out", "{out}"], "K=5 classes but the paired test file"),
    ("eval-too-large", "eval", ["--test", "{d}/vast.npz", "--out", "{out}"], "need 4000."),
    ("eval-bad-after-good", "eval", ["--test", "{ok}", "{d}/nan.npz", "--out", "{out}"], "nan.npz"),
    # scripts/train.py: configurations, all refused before training
    ("train-no-recipe", "train", ["--out", "{out}"], "the following arguments are required: --recipe"),
    ("train-unknown-recipe", "train", ["--recipe", "resnet18_cifar", "--out", "{out}"], "unknown recipe 'resnet18_cifar'"),
    ("train-alpha-1", "train", [*T, "--alpha", "1"], "label smoothing must be in [0, 1)"),
    ("train-alpha-text", "train", [*T, "--alpha", "high"], "argument --alpha: invalid float value"),
    ("train-unknown-key", "train", [*T, "lrr=0.1"], "unknown config key 'lrr'"),
    ("train-not-key-value", "train", [*T, "lr"], "expected key=value"),
    ("train-int-field-float", "train", [*T, "epochs=1.5"], "override epochs=1.5: expected int"),
    ("train-lr-negative", "train", [*T, "lr=-1"], "'lr': must be > 0"),
    ("train-choice", "train", [*T, "optimizer=lion"], "'optimizer': must be one of"),
    ("train-device-foo", "train", [*T, "device=foo"], "'device': 'foo' is not a device"),
    ("train-device-cuda", "train", [*T, "device=cuda"], "CUDA is not available"),
    ("train-model-kwargs-type", "train", [*T, "model_kwargs.hidden=foo"], "'model_kwargs'"),
    ("train-model-kwargs-unknown", "train", [*T, "model_kwargs.bogus=1"], "unexpected keyword argument 'bogus'"),
    ("train-dotted-non-dict", "train", [*T, "lr.x=1"], "not a dict field"),
    ("train-val-size-too-big", "train", [*T, "val_size=70000"], "'val_size': 70000 leaves no training samples"),
    ("train-batch-over-subset", "train", [*T, "batch_size=4096", "subset=10"], "'batch_size': 4096 exceeds the 10 training samples"),
    ("train-out-is-file", "train", ["--recipe", "tiny_fmnist", "--data", "{data}", "--out", "{d}/afile"], "--out"),
    ("train-data-is-file", "train", ["--recipe", "tiny_fmnist", "--data", "{d}/afile", "--out", "{out}"], "--data"),
    ("train-data-missing", "train", ["--recipe", "tiny_fmnist", "--data", "{d}/nodata", "--out", "{out}"], "does not exist"),
    # python -m lsfix.data
    ("data-root-is-file", "data", ["--root", "{d}/afile"], "is a file, not a folder"),
    ("data-root-under-file", "data", ["--root", "{d}/afile/sub"], "is a file, not a folder"),
    ("data-root-unwritable", "data", ["--root", "{d}/locked/data"], "no permission to write"),
    ("data-unknown-flag", "data", ["--rooot", "x"], "unrecognized arguments"),
    # the demo (bad arguments, refused before training)
    ("demo-no-ce", "demo", ["--alphas", "0.1", "0.2", "--out", "{out}", "--data", "{data}"], "include 0"),
    ("demo-alpha-1", "demo", ["--alphas", "0", "1.0", "--out", "{out}", "--data", "{data}"], "alpha must be in [0, 1)"),
    ("demo-recipe", "demo", ["--recipe", "nope", "--out", "{out}", "--data", "{data}"], "nope"),
    ("demo-n_boot-text", "demo", ["--n_boot", "many", "--out", "{out}"], "argument --n_boot: invalid int value"),
]


def write_bad_inputs(d:Path) -> None:
    "The folder of bad inputs the table refers to."
    lg, y = synthetic_logits(50, seed=0)
    (d / "afile").write_text("a file where a folder is expected")
    (d / "foreign").mkdir(); (d / "foreign" / "notes.txt").write_text("mine")
    (d / "halfreport").mkdir(); (d / "halfreport" / "report.md").mkdir()
    (d / "locked").mkdir(); (d / "locked").chmod(0o500)
    (d / "text.npz").write_text("not a zip")
    np.save(d / "array.npy", lg)
    (d / "empty.npz").write_bytes(b"")
    save_npz(d / "pickled.npz", logits=lg, labels=np.array([object()] * 50, dtype=object))
    save_npz(d / "nolabels.npz", logits=lg)
    save_npz(d / "flat.npz", logits=lg[:, 0], labels=y)
    save_npz(d / "k1.npz", logits=lg[:, :1], labels=np.zeros(50, int))
    save_npz(d / "n0.npz", logits=lg[:0], labels=y[:0])
    save_npz(d / "nan.npz", logits=np.where(np.arange(lg.size).reshape(lg.shape) == 7, np.nan, lg), labels=y)
    save_npz(d / "inf.npz", logits=np.where(np.arange(lg.size).reshape(lg.shape) == 7, np.inf, lg), labels=y)
    save_npz(d / "huge.npz", logits=np.where(lg > 12, 1e308, -1e308), labels=y)
    save_npz(d / "complex.npz", logits=lg.astype(complex), labels=y)
    save_npz(d / "bool.npz", logits=lg > 10, labels=y)
    save_npz(d / "strlogits.npz", logits=lg.astype(str), labels=y)
    save_npz(d / "range.npz", logits=lg, labels=y + 10)
    save_npz(d / "flabels.npz", logits=lg, labels=y + 0.5)
    save_npz(d / "short.npz", logits=lg, labels=y[:-1])
    save_npz(d / "glen.npz", logits=lg, labels=y, group=np.zeros(7, int))
    save_npz(d / "gnan.npz", logits=lg, labels=y, group=np.r_[np.nan, np.nan, np.zeros(48)])
    save_npz(d / "gall.npz", logits=lg, labels=y, group=y % 2, meta=json.dumps({"group_names": {"0": "all", "1": "x"}}))
    save_npz(d / "gnames.npz", logits=lg, labels=y, group=y % 2, meta=json.dumps({"group_names": {"0": 1, "1": 2}}))
    save_npz(d / "meta.npz", logits=lg, labels=y, meta="{not json")
    save_npz(d / "metalist.npz", logits=lg, labels=y, meta="[1, 2]")
    save_npz(d / "imglen.npz", logits=lg, labels=y, image_id=np.zeros(3, int))
    save_npz(d / "k5.npz", logits=lg[:, :5], labels=y % 5)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(d / "vast.npz", "w") as zf: zf.writestr("logits.npy", header.getvalue()); zf.writestr("labels.npy", b"")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    write_bad_inputs(d)
    lg, y = synthetic_logits(200, seed=1)
    ok, okv = save_npz(d / "ok.npz", logits=lg, labels=y), save_npz(d / "okv.npz", logits=lg, labels=y)
    data = make_fmnist_root(tmp_path_factory.mktemp("fmnist") / "data")
    yield {"d": d, "ok": ok, "okv": okv, "data": data}
    (d / "locked").chmod(0o700)


def listing(root:Path) -> dict:
    "Every path under `root` (and `root` itself) with its size and mtime: what must not change."
    if not root.exists(): return {}
    paths = [root, *root.rglob("*")]
    return {str(p.relative_to(root.parent)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns) for p in paths}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation(case, inputs, tmp_path):
    name, command, args, needle = case
    if name == "train-device-cuda" and torch.cuda.is_available(): pytest.skip("this machine has CUDA: device=cuda is valid here")
    if "locked" in " ".join(args) and os.geteuid() == 0: pytest.skip("root can write anywhere: permissions cannot be tested")
    out = tmp_path / "out"
    fill = {**{k: str(v) for k, v in inputs.items()}, "out": str(out)}
    argv = [a.format(**fill) for a in args]
    watched = [out, inputs["d"]]
    before = [listing(p) for p in watched]
    env = {**ENV, "PYTHONWARNINGS": "default"}
    r = subprocess.run(COMMANDS[command] + argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert len(lines) == 1 and LINE.match(lines[0]), r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert needle in lines[0], (needle, lines[0])
    assert [listing(p) for p in watched] == before, "the output path or the inputs changed"


def test_table_is_large_enough():
    assert len(CASES) >= 50 and len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == set(COMMANDS)
