"Pixel-level logits files from a Cityscapes-layout fixture on disk and from Fashion-MNIST canvases, through lsfix-eval and the training loop."
import os, subprocess, sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from lsfix.data import get_datasets, cityscapes_train_ids
from lsfix.logits import load_logits
from lsfix.models import create_model
from lsfix.segmentation import export_pixel_logits, logits_before_upsampling, labels_at
from lsfix.train import train, load_trained
from lsfix.distributed import init_distributed, cleanup_distributed
from conftest import ENV, ROOT, free_port

H, W = 32, 64  # divisible by DeepLabV3+'s output stride 16


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    "Cityscapes layout: 3 train and 3 val images with random label ids (incl. void ids), one val label map all void."
    root, rng = tmp_path_factory.mktemp("data") / "cityscapes", np.random.default_rng(0)
    for split, city, n in (("train", "aachen", 3), ("val", "frankfurt", 3)):
        for d in ("leftImg8bit", "gtFine"): (root / d / split / city).mkdir(parents=True)
        for k in range(n):
            stem = f"{city}_{k:06d}_000019"
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            lab = np.zeros((H, W), np.uint8) if split == "val" and k == 1 else rng.integers(0, 34, (H, W), dtype=np.uint8)
            Image.fromarray(lab).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
    return root


def tiny_deeplab(seed):
    torch.manual_seed(seed)
    return create_model("deeplabv3p", 19, encoder_name="resnet18").eval()


def test_export_and_report(cityscapes, tmp_path):
    test = get_datasets("cityscapes", cityscapes, val_size=0)["test"]  # no validation images: all 3 official val images
    assert cityscapes_train_ids()[0] == 255  # label id 0 is void: val image 1 has no labelled pixel
    files = [export_pixel_logits(tiny_deeplab(s), test, tmp_path / f"m{s}.npz", n_pixels=50, batch_size=2) for s in (0, 1)]
    z0, z1 = (dict(np.load(f)) for f in files)
    assert z0["logits"].dtype == np.float32 and z0["logits"].shape[1] == 19
    for k in ("labels", "image_id", "coords"): assert z0[k].dtype == np.int64
    np.testing.assert_array_equal(np.bincount(z0["image_id"], minlength=3), [50, 0, 50])
    for k in ("image_id", "coords", "labels"): np.testing.assert_array_equal(z0[k], z1[k])  # same pixels for both models
    assert not np.allclose(z0["logits"], z1["logits"])
    assert z0["coords"].min() >= 0 and (z0["coords"] < [H // 4, W // 4]).all() and (z0["labels"] != 255).all()
    # the rows are the model's pre-upsampling logits and the labels at the sampled cells, recomputed independently
    x, y = zip(*(test[i] for i in range(3)))
    with torch.no_grad(): low = logits_before_upsampling(tiny_deeplab(0), torch.stack(x))
    img, (r, c) = z0["image_id"], z0["coords"].T
    np.testing.assert_allclose(z0["logits"], low[img, :, r, c].numpy(), atol=1e-5)
    np.testing.assert_array_equal(z0["labels"], labels_at(torch.stack(y), low.shape[-2:])[img, r, c].numpy())
    assert load_logits(files[0])["logits"].shape == (100, 19)
    res = subprocess.run([sys.executable, "-m", "lsfix.evaluate", "--test", str(files[0]), "--val", str(files[1]),
                          "--out", str(tmp_path / "report"), "--n_boot", "20"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "MSP" in (tmp_path / "report" / "report.md").read_text()


def test_paper_split(cityscapes):
    "§4: the official validation images split at random (fixed seed) into validation and evaluation images, not the training set."
    official = sorted(str(p) for p in (cityscapes / "leftImg8bit" / "val").rglob("*_leftImg8bit.png"))
    ds = get_datasets("cityscapes", cityscapes, val_size=1)
    assert {k: len(v) for k, v in ds.items()} == dict(train=3, val=1, test=2)
    assert sorted(ds["val"].indices + ds["test"].indices) == [0, 1, 2]  # a partition of the official val images
    for split in ("val", "test"):
        assert [s[0] for s in ds[split].samples] == [official[i] for i in ds[split].indices]
        assert "cityscapes official val" in ds[split].source and "split_seed=0" in ds[split].source
    assert all("/train/" in s[0] for s in ds["train"].samples)
    assert get_datasets("cityscapes", cityscapes, val_size=1, seed=7)["test"].indices == ds["test"].indices  # not the training seed
    splits = {tuple(get_datasets("cityscapes", cityscapes, val_size=1, split_seed=s)["val"].indices) for s in range(12)}
    assert len(splits) == 3  # but split_seed moves it
    with pytest.raises(ValueError, match="val_size must be in"): get_datasets("cityscapes", cityscapes)  # the default 100 > 3 images


def test_training_run_writes_pixel_files(cityscapes, tmp_path):
    out = train("deeplabv3p_cityscapes", 0.1, tmp_path / "run", data_root=cityscapes,
                overrides=["model_kwargs.encoder_name=resnet18", "data_kwargs.crop_size=32", "batch_size=2", "max_steps=1",
                           "val_size=1", "num_workers=0", "eval_batch_size=2", "ckpt_every=0", "progress=false", "device=cpu",
                           "n_pixels=7", "pixel_seed=3"])
    ds = get_datasets("cityscapes", cityscapes, val_size=1)
    for split, n_images in (("val", 1), ("test", 2)):
        d = load_logits(out / f"{split}.npz")
        assert d["meta"]["split"] == split and d["meta"]["alpha"] == 0.1 and d["meta"]["logits_at"] == "pre-upsampling"
        assert (d["meta"]["n_pixels"], d["meta"]["pixel_seed"]) == (7, 3)
        assert d["meta"]["image_indices"] == ds[split].indices and d["meta"]["image_source"] == ds[split].source
        assert set(np.unique(d["image_id"])) <= set(range(n_images)) and np.bincount(d["image_id"]).max() <= 7
        assert d["logits"].shape[1] == 19


def _export_worker(rank:int, world:int, port:int, root:str, out:str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    try: export_pixel_logits(tiny_deeplab(0), get_datasets("cityscapes", root, val_size=0)["test"], out, n_pixels=50, info=info)
    finally: cleanup_distributed()


def test_two_processes_equal_one(cityscapes, tmp_path):
    "3 images on 2 ranks: rank 1 gets image 1 (all void) and a padded copy of image 0, which must not be duplicated."
    one = export_pixel_logits(tiny_deeplab(0), get_datasets("cityscapes", cityscapes, val_size=0)["test"], tmp_path / "one.npz", n_pixels=50)
    mp.spawn(_export_worker, args=(2, free_port(), str(cityscapes), str(tmp_path / "two.npz")), nprocs=2, join=True)
    with np.load(one) as a, np.load(tmp_path / "two.npz") as b:
        for k in ("image_id", "coords", "labels"): np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)


def test_canvas_smoke_training(tmp_path):
    "The CPU segmentation recipe end to end through scripts/train.py (a few steps), then lsfix-eval on its pixel files."
    if not (ROOT / "data" / "FashionMNIST" / "raw").is_dir(): pytest.fail("data/FashionMNIST/raw is missing: run `make data` first")
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--recipe", "deeplabv3p_fmnist_canvas", "--alpha", "0.1",
                          "--out", str(out), "--data", str(ROOT / "data"), "max_steps=2", "batch_size=4", "data_kwargs.n_train=8",
                          "data_kwargs.n_test=3", "val_size=2", "eval_batch_size=4", "n_pixels=5", "pixel_seed=1",
                          "model_kwargs.decoder_channels=16", "progress=false", "device=cpu"],
                         capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    test = load_logits(out / "test.npz")
    assert test["logits"].shape == (15, 11) and test["meta"]["logits_at"] == "pre-upsampling"
    assert (test["meta"]["n_pixels"], test["meta"]["pixel_seed"], test["meta"]["image_indices"]) == (5, 1, [0, 1, 2])
    assert np.bincount(test["image_id"]).tolist() == [5, 5, 5] and test["coords"].max() < 16  # 64 px at stride 4
    assert load_logits(out / "val.npz")["logits"].shape == (10, 11)
    # the same model exported with another pixel seed holds other pixels: lsfix-eval refuses to compare the two
    model, cfg = load_trained(out)
    ds = get_datasets("fmnist_canvas", ROOT / "data", val_size=2, n_test=3)["test"]
    other = export_pixel_logits(model, ds, tmp_path / "other.npz", n_pixels=5, seed=2)
    np.testing.assert_array_equal(load_logits(other)["labels"] >= 0, True)
    same = export_pixel_logits(model, ds, tmp_path / "same.npz", n_pixels=5, seed=1)
    np.testing.assert_allclose(load_logits(same)["logits"], test["logits"], atol=1e-5)  # the run's export is reproducible
    ev = lambda *files: subprocess.run([sys.executable, "-m", "lsfix.evaluate", "--test", *map(str, files), "--out", str(tmp_path / "rep"),
                                        "--n_boot", "0"], capture_output=True, text=True)
    assert ev(out / "test.npz", same).returncode == 0
    bad = ev(out / "test.npz", other)
    assert bad.returncode == 2 and "hold different pixels" in bad.stderr and "pixel_seed 1 vs 2" in bad.stderr, bad.stderr
