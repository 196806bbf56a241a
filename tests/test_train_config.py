"Bad configurations fail with a clear message and exit code 2 before any training (no files written)."
import importlib.util, subprocess, sys

import pytest

from lsfix.recipes import ConfigError
from lsfix.train import train
from conftest import ENV, TRAIN, make_fmnist_root

def load_script():
    spec = importlib.util.spec_from_file_location("train_script", TRAIN)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod.main

@pytest.fixture(scope="module")
def data(tmp_path_factory): return make_fmnist_root(tmp_path_factory.mktemp("cfg") / "data")

BAD = [  # (recipe, alpha, overrides, data root or None for the fixture, message)
    ("resnet18_cifar", 0.0, [], None, "unknown recipe 'resnet18_cifar'; known recipes: deeplabv3p_cityscapes"),
    ("tiny_fmnist", 1.0, [], None, "'alpha': label smoothing must be in [0, 1), got 1.0"),
    ("tiny_fmnist", -0.1, [], None, "'alpha': label smoothing must be in [0, 1)"),
    ("tiny_fmnist", 0.1, [], "/nonexistent/data", "data root /nonexistent/data does not exist"),
    ("tiny_fmnist", 0.1, ["lrr=0.1"], None, "unknown config key 'lrr'; valid keys:"),
    ("tiny_fmnist", 0.1, ["epochs=1.5"], None, "override epochs=1.5: expected int, got float"),
    ("tiny_fmnist", 0.1, ["lr"], None, "override 'lr': expected key=value"),
    ("tiny_fmnist", 0.1, ["optimizer=lion"], None, "'optimizer': must be one of ('sgd', 'adamw')"),
    ("tiny_fmnist", 0.1, ["model=resnet9000"], None, "unknown model 'resnet9000'"),
    ("tiny_fmnist", 0.1, ["dataset=mnist"], None, "unknown dataset 'mnist'"),
    ("tiny_fmnist", 0.1, ["dataset=cityscapes"], None, "task 'classification' does not fit dataset 'cityscapes'"),
    ("tiny_fmnist", 0.1, ["val_size=100"], "empty", "fashion_mnist: "),  # data root without the dataset's files
]

@pytest.mark.parametrize("recipe,alpha,overrides,root,msg", BAD)
def test_bad_config_exits_2_before_training(tmp_path, data, capsys, recipe, alpha, overrides, root, msg):
    if root == "empty": (tmp_path / "empty").mkdir(); root = tmp_path / "empty"
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        load_script()(recipe=recipe, alpha=alpha, out=str(out), data=str(root or data), overrides=overrides)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and msg in err
    assert not (out / "checkpoints").exists() and not (out / "model.pt").exists()

def test_command_line_exit_code(tmp_path, data):
    "The real command line: a bad config exits with status 2 and one clear line."
    res = subprocess.run([sys.executable, str(TRAIN), "--recipe", "tiny_fmnist", "--alpha", "1.5", "--out", str(tmp_path / "r"),
                          "--data", str(data)], env=ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip() == "error: config field 'alpha': label smoothing must be in [0, 1), got 1.5"
    assert not (tmp_path / "r").exists()

def test_existing_run_needs_resume(tmp_path, data):
    out = tmp_path / "run"
    train("tiny_fmnist", 0.1, out, ["val_size=100", "subset=0", "epochs=1"], data_root=data)
    with pytest.raises(ConfigError, match="already holds a run's checkpoints; pass --resume"):
        train("tiny_fmnist", 0.1, out, ["val_size=100", "subset=0", "epochs=1"], data_root=data)
    with pytest.raises(ConfigError, match="lr: saved 0.05, now 0.5"):
        train("tiny_fmnist", 0.1, out, ["val_size=100", "subset=0", "epochs=1", "lr=0.5"], resume=True, data_root=data)
    with pytest.raises(ConfigError, match="alpha: saved 0.1, now 0.2"):
        train("tiny_fmnist", 0.2, out, ["val_size=100", "subset=0", "epochs=1"], resume=True, data_root=data)
    # runtime settings may change on resume; a finished run resumes to a no-op that re-exports the logits
    assert train("tiny_fmnist", 0.1, out, ["val_size=100", "subset=0", "epochs=1", "log_every=3"], resume=True, data_root=data) == out
