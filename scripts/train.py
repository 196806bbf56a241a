#!/usr/bin/env python
"""Train a recipe with label smoothing level alpha; run as `python scripts/train.py` or under `torchrun`.

    python scripts/train.py --recipe fmnist_fcn --alpha 0.1 --out runs/fmnist_ls01 [--resume] [--data DIR] [key=value ...]
    torchrun --standalone --nproc_per_node=8 scripts/train.py --recipe resnet50_imagenet --alpha 0.1 --data /datasets --out runs/r50

Exit codes: 0 success, 2 bad configuration (nothing trained), 1 unreadable checkpoints.
"""
import sys

from dataclasses import fields

from fastcore.script import Param, call_parse

from lsfix.core import cli_name, fail
from lsfix.recipes import ConfigError, TrainConfig, list_recipes
from lsfix.checkpoints import CheckpointError
from lsfix.train import train


@call_parse
@cli_name("train.py", tagged=False)
def main(recipe:Param(f"recipe name: {', '.join(list_recipes())}", str, required=True)=None,
         alpha:Param("label smoothing level in [0, 1)", float)=0.0,
         out:Param("run directory: config.yaml, metrics.jsonl, checkpoints/, model.pt, *.npz logits", str, required=True)=None,
         resume:Param("continue from the latest readable checkpoint in --out", action="store_true")=False,
         data:Param("data root (Fashion-MNIST: run `make data`)", str)="data",
         overrides:Param("config overrides key=value, e.g. lr=0.05 epochs=3 model_kwargs.dropout=0.1; keys: "
                         + ", ".join(f.name for f in fields(TrainConfig) if f.name != "alpha"), str, nargs="*", opt=False)=None):
    "Train `recipe` with label smoothing `alpha` into `out`; `key=value` arguments override the recipe."
    try: train(recipe, alpha, out, list(overrides or []), resume=resume, data_root=data)
    except ConfigError as e: fail(None, e)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr); sys.exit(1)
