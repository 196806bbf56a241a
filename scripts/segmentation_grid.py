#!/usr/bin/env python
"""Train the pixel-level grid (one recipe, alphas x seeds) and write the small files nbs/22_segmentation_selective.ipynb reads.

    python scripts/segmentation_grid.py --out runs/fmnist_canvas --results nbs/results [--seeds 0,1] [--alphas 0,0.1,0.3] [key=value ...]

Finished runs are reused (delete a run directory to retrain it); `key=value` overrides go to every run (e.g. num_workers=6 on a
GPU machine, where rendering canvases on the main process would starve the GPU). The results keep, per run, the per-pixel
scores of the sampled test pixels (not the logits: 3 floats instead of 11 per pixel), logit normalisation's validation table,
and the wall times; for the first seed, the full-resolution maps of a few test canvases under the CE model and the largest α.
"""
import json, time
from pathlib import Path

import numpy as np
import torch
import yaml
from fastcore.script import Param, call_parse

from lsfix.core import atomic_write, save_json
from lsfix.data import get_datasets
from lsfix.demo import max_logit_gap, run_dir, train_models
from lsfix.evaluate import load_logits, check_same_pixels
from lsfix.logitnorm import LogitNorm
from lsfix.plots import max_logit_given_msp
from lsfix.segmentation import labels_at, logits_before_upsampling
from lsfix.selective import max_logit, msp, rc_curve
from lsfix.train import load_trained


def _key(alpha:float, seed:int) -> str: return f"a{alpha:g}_s{seed}"


def run_record(run:Path, alpha:float, seed:int) -> tuple[dict, dict, dict]:
    "One run's summary (p, validation table, times), its per-pixel test arrays, and its test file (for the pixel check)."
    val, test = load_logits(run / "val.npz"), load_logits(run / "test.npz")
    ln = LogitNorm().fit(val["logits"], val["labels"])
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    speeds = [m["images_per_s"] for m in metrics if "images_per_s" in m]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    rec = {"alpha": alpha, "seed": seed, "p": ln.p, "logit_norm": ln.state(), "val_error": metrics[-1].get("val_error"),
           "train_loop_s": metrics[-1]["time"], "images_per_s": float(np.median(speeds)) if speeds else None,
           "wall_s": round((run / "test.npz").stat().st_mtime - (run / "config.yaml").stat().st_mtime, 1),
           "steps": metrics[-1]["step"], "batch_size": cfg["batch_size"]}
    v = test["logits"]
    rec["max_logit_given_msp"] = max_logit_given_msp(v, test["labels"]).to_dict("records")  # Fig 5/9 needs the logits: tabulate here
    rec["max_logit_gap"] = max_logit_gap(v, test["labels"], n_boot=0)[0]
    arrays = {f"msp_{_key(alpha, seed)}": msp(v, log=True).astype(np.float32), f"ln_{_key(alpha, seed)}": ln.score(v).astype(np.float32),
              f"maxlogit_{_key(alpha, seed)}": max_logit(v).astype(np.float32), f"pred_{_key(alpha, seed)}": v.argmax(1).astype(np.uint8)}
    return rec, arrays, test


@torch.no_grad()
def canvas_maps(run:Path, ids:list[int], data:str) -> dict:
    "Pre-upsampling logits `[n,K,h,w]` of run `run` on test canvases `ids`, with the canvases and their labels (full and cell grid)."
    model, cfg = load_trained(run)
    test = get_datasets(cfg.dataset, data, val_size=cfg.val_size, seed=cfg.seed, **cfg.data_kwargs)["test"]
    x, y = map(torch.stack, zip(*(test[i] for i in ids)))
    logits = logits_before_upsampling(model, x).float()
    images = torch.stack([test.canvas(i)[0][0] for i in ids])
    return {"logits": logits.numpy(), "images": images.numpy(), "labels": y.numpy().astype(np.uint8),
            "cell_labels": labels_at(y, logits.shape[-2:]).numpy().astype(np.uint8)}


def pick_canvases(image_id:np.ndarray, score:np.ndarray, correct:np.ndarray, coverage:float=0.8, n:int=3) -> list[int]:
    "The `n` test images with the most wrong pixels among those accepted at `coverage` (ties: lower image id)."
    cov, _, thr = rc_curve(score, correct)
    accepted = score >= thr[np.searchsorted(cov, coverage)]
    counts = np.bincount(image_id, weights=accepted & ~correct, minlength=image_id.max() + 1)
    return [int(i) for i in np.argsort(-counts, kind="stable")[:n]]


@call_parse
def main(out:Param("folder of the runs (seed_<s>/alpha_<a>)", str)="runs/fmnist_canvas",
         results:Param("folder for the results files", str)="nbs/results",
         data:Param("data root (Fashion-MNIST: run `make data`)", str)="data",
         recipe:Param("training recipe", str)="deeplabv3p_fmnist_canvas",
         seeds:Param("training seeds, comma-separated", str)="0,1",
         alphas:Param("label smoothing levels, comma-separated, 0 first", str)="0,0.1,0.3",
         n_show:Param("test canvases kept for the uncertainty maps", int)=3,
         overrides:Param("config overrides key=value for every run", str, nargs="*", opt=False)=None):
    "Train (or reuse) every run of the grid, then write seg_canvas.json, seg_canvas_scores.npz and seg_canvas_maps.npz."
    tic = time.time()
    seeds, alphas = [int(x) for x in seeds.split(",")], [float(x) for x in alphas.split(",")]
    runs = {s: train_models(Path(out) / f"seed_{s}", list(alphas), recipe, data, [f"seed={s}", "progress=false", *(overrides or [])])
            for s in seeds}
    records, arrays, tests = [], {}, []
    for s in seeds:
        for a in alphas:
            rec, arr, test = run_record(runs[s][a], a, s)
            records.append(rec); arrays.update(arr); tests.append(test)
    check_same_pixels(tests)  # every model scored on the same pixels
    ref = tests[0]
    arrays.update(labels=ref["labels"].astype(np.uint8), image_id=ref["image_id"].astype(np.int32), coords=ref["coords"].astype(np.uint8))
    ce, ls = (run_dir(Path(out) / f"seed_{seeds[0]}", a) for a in (alphas[0], max(alphas)))
    k_ls = _key(max(alphas), seeds[0])
    ids = pick_canvases(ref["image_id"], arrays[f"msp_{k_ls}"], arrays[f"pred_{k_ls}"] == ref["labels"], n=n_show)
    ce_maps, ls_maps = (canvas_maps(run, ids, data) for run in (ce, ls))
    maps = {"canvas_ids": np.array(ids), "images": ce_maps["images"], "labels": ce_maps["labels"], "cell_labels": ce_maps["cell_labels"],
            "ce_logits": ce_maps["logits"], "ls_logits": ls_maps["logits"]}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    summary = {"recipe": recipe, "alphas": list(alphas), "seeds": list(seeds), "overrides": list(overrides or []), "device": device,
               "torch": torch.__version__, "meta": {k: ref["meta"].get(k) for k in ("n_pixels", "pixel_seed", "image_source", "logits_at")},
               "n_test_images": int(len(np.unique(ref["image_id"]))), "n_test_pixels": int(len(ref["labels"])), "maps_canvas_ids": ids,
               "maps_models": {"ce": _key(alphas[0], seeds[0]), "ls": k_ls}, "runs": records, "grid_wall_s": round(time.time() - tic, 1)}
    results = Path(results)
    for name, arrs in (("seg_canvas_scores.npz", arrays), ("seg_canvas_maps.npz", maps)):
        with atomic_write(results / name) as f: np.savez_compressed(f, **arrs)
    save_json(summary, results / "seg_canvas.json")
    print(f"wrote {results}/seg_canvas.json, seg_canvas_scores.npz, seg_canvas_maps.npz ({len(records)} runs, {summary['grid_wall_s']} s)")
