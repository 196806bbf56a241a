"""Helpers shared by the test files (pytest puts tests/ on sys.path, so a test file imports them with
`from conftest import ...`): a tiny Fashion-MNIST on disk, scripts/train.py run as a subprocess (under torchrun
when asked), a kill-and-resume harness, and the `lsfix-eval` CLI run on synthetic logits files."""
import gzip, json, os, signal, socket, struct, subprocess, sys
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, settings

from lsfix.core import save_npz
from lsfix.logits import synthetic_logits

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
# Property tests: no deadline and no too-slow health check (the machine is shared, timings vary); 150 examples unless
# a test says otherwise. `make test` is derandomised, so CI tests the same cases every run and a red build is
# reproducible; HYPOTHESIS_PROFILE=explore draws fresh random cases (1,500 where a test sets no number) to hunt for new ones.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("lsfix", max_examples=150, derandomize=True, **_common)
settings.register_profile("explore", max_examples=1500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lsfix"))

TINY = ["val_size=100", "subset=0", "ckpt_every=4", "log_every=2"]  # the tiny_fmnist recipe, checkpointing often


def free_port() -> int:
    "A free TCP port on localhost for a gloo rendezvous."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_idx(path:Path, arr:np.ndarray) -> Path:
    "An IDX file (magic: 0x08 = ubyte and the number of dims; big-endian int32 dims; raw bytes), gzipped if `path` ends in .gz."
    body = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f: f.write(body)
    else: path.write_bytes(body)
    return path


def make_fmnist_root(root:Path, n_train:int=600, n_test:int=151, seed:int=0) -> Path:
    "A tiny Fashion-MNIST in torchvision's raw IDX layout: class-dependent blobs plus noise (learnable, fast)."
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    templates = rng.integers(0, 256, (10, 28, 28))
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = np.clip(0.6 * templates[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def run_train(out:Path, data:Path, *extra:str, nproc:int=1, check:bool=True, env:dict=ENV) -> subprocess.CompletedProcess:
    "Run scripts/train.py on the tiny recipe (under torchrun when nproc > 1)."
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
    cmd = [*launcher, str(TRAIN), "--recipe", "tiny_fmnist", "--alpha", "0.1", "--out", str(out), "--data", str(data), *TINY, *extra]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if check: assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}"
    return res


# Kill and resume. With RESUME_EXTRA (dropout on, batch 32) the 500 training images give 15 steps per epoch, 30 in all;
# KILLER runs scripts/train.py in this process after wrapping lsfix.train.train_step so that the process SIGKILLs
# itself when step KILL_AT starts (epoch 1, batch 3; the newest checkpoint is then step 16, mid-epoch): a real,
# uncatchable kill at a known point.
RESUME_EXTRA = ["model_kwargs.dropout=0.3", "batch_size=32"]
KILL_AT = 19
KILLER = """
import os, runpy, signal, sys
import lsfix.train as T
calls, step = [0], T.train_step
def killing_step(*a, **k):
    calls[0] += 1
    if calls[0] == int(os.environ["KILL_AT"]): os.kill(os.getpid(), signal.SIGKILL)
    return step(*a, **k)
T.train_step = killing_step
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def killed_run(out:Path, data:Path, *extra:str) -> subprocess.CompletedProcess:
    "scripts/train.py on the tiny recipe, SIGKILLed when step KILL_AT starts; asserts it died that way, before writing model.pt."
    cmd = [sys.executable, "-c", KILLER, str(TRAIN), "--recipe", "tiny_fmnist", "--alpha", "0.1", "--out", str(out),
           "--data", str(data), *TINY, *extra]
    res = subprocess.run(cmd, env={**ENV, "KILL_AT": str(KILL_AT)}, capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    assert not (out / "model.pt").exists()
    return res


def ckpt_names(out:Path) -> list[str]: return sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))


def assert_same_run(a:Path, b:Path) -> None:
    "Runs `a` and `b` (30 steps) end bit-identical: weights, exported logits and the optimiser's momentum at the last checkpoint."
    wa, wb = torch.load(a / "model.pt", weights_only=True), torch.load(b / "model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    for f in ("val.npz", "test.npz"):
        np.testing.assert_array_equal(np.load(a / f)["logits"], np.load(b / f)["logits"])
    ca = torch.load(a / "checkpoints" / "step_00000030.pt", weights_only=True)
    cb = torch.load(b / "checkpoints" / "step_00000030.pt", weights_only=True)
    for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])


def run_eval(*args, out:Path) -> subprocess.CompletedProcess:
    "The `lsfix-eval` CLI (`python -m lsfix.evaluate`) with `args` and `--out out`, run from the repo root."
    cmd = [sys.executable, "-m", "lsfix.evaluate", *map(str, args), "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)


def write_logits(path:Path, alpha:float=0.0, seed:int=0, n:int=600, **override) -> Path:
    "A classification logits file of `n` synthetic samples (lsfix.logits.synthetic_logits, top-k shift); `override` replaces or drops (None) arrays."
    logits, labels = synthetic_logits(n, alpha=alpha, shift="topk", seed=seed)
    arrays = {"logits": logits, "labels": labels, "meta": json.dumps({"model": path.stem, "alpha": alpha}), **override}
    return save_npz(path, **{k: v for k, v in arrays.items() if v is not None})
