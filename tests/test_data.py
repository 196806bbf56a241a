"Data loaders on tiny fixtures written on disk in each dataset's real layout."
import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from lsfix import data
from lsfix.data import get_datasets, make_loader, prepare_fashion_mnist, num_classes, FMNIST_FILES, DATASETS
from conftest import write_idx


@pytest.fixture
def fmnist_deb(tmp_path, monkeypatch):
    "A fake Debian dataset-fashion-mnist directory (gzipped IDX) with 100 train and 20 test images."
    rng = np.random.default_rng(0)
    deb = tmp_path / "deb"; deb.mkdir()
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (100, 28, 28)), "train-labels-idx1-ubyte": rng.integers(0, 10, 100),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)), "t10k-labels-idx1-ubyte": rng.integers(0, 10, 20)}
    for name, arr in arrays.items(): write_idx(deb / f"{name}.gz", arr)
    monkeypatch.setenv("LSFIX_FMNIST_DEB", str(deb))
    return arrays


def test_fashion_mnist_unzip_and_splits(tmp_path, fmnist_deb):
    root = tmp_path / "data"
    raw = prepare_fashion_mnist(root)
    assert sorted(p.name for p in raw.iterdir()) == sorted(FMNIST_FILES)
    assert prepare_fashion_mnist(root) == raw  # idempotent
    ds = get_datasets("fashion_mnist", root, val_size=10, seed=1)
    assert {k: len(v) for k, v in ds.items()} == dict(train=90, val=10, test=20, test_shifted=20)
    tr, va = data.split_indices(100, 10, seed=1)
    np.testing.assert_array_equal(ds["val"].images[:, 0].numpy(), fmnist_deb["train-images-idx3-ubyte"][va.numpy()])
    np.testing.assert_array_equal(ds["train"].labels.numpy(), fmnist_deb["train-labels-idx1-ubyte"][tr.numpy()])
    np.testing.assert_array_equal(ds["test"].labels.numpy(), fmnist_deb["t10k-labels-idx1-ubyte"])
    assert ds["test_shifted"].images.shape == (20, 1, 28, 28)
    assert set(ds["val"].labels.tolist()) | set(ds["train"].labels.tolist()) <= set(range(num_classes("fashion_mnist")))
    x, y, idx = next(iter(make_loader(ds["train"], 32, train=True)))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(y, ds["train"].labels[idx])


def test_fashion_mnist_download_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("LSFIX_FMNIST_DEB", str(tmp_path / "nothing"))
    calls = []
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", lambda root, train, download: calls.append((root, download)))
    prepare_fashion_mnist(tmp_path / "d")
    assert calls == [(tmp_path / "d", True)]

    def offline(*a, **k): raise RuntimeError("no network")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(FileNotFoundError, match="no network"): prepare_fashion_mnist(tmp_path / "d")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"): get_datasets("fashion_mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"): get_datasets("cifar10", tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="cifar-100-python"): get_datasets("cifar100", tmp_path)
    with pytest.raises(FileNotFoundError, match="train"): get_datasets("imagenet", tmp_path)
    with pytest.raises(FileNotFoundError, match="leftImg8bit"): get_datasets("cityscapes", tmp_path)
    with pytest.raises(ValueError, match="valid names"): get_datasets("svhn", tmp_path)
    with pytest.raises(FileNotFoundError, match="FashionMNIST/raw"): get_datasets("fmnist_canvas", tmp_path)
    assert len(DATASETS) == 7


def write_pickle(path, obj):
    with open(path, "wb") as f: pickle.dump(obj, f)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar(tmp_path, name):
    rng = np.random.default_rng(1)
    k, per = num_classes(name), 8
    if name == "cifar10":
        folder, files, key, meta = tmp_path / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "labels", ("batches.meta", "label_names")
    else:
        folder, files, key, meta = tmp_path / "cifar-100-python", ["train"], "fine_labels", ("meta", "fine_label_names")
    folder.mkdir()
    train_rows, train_labels = [], []
    for f in files:
        rows, labels = rng.integers(0, 256, (per * 5 // len(files), 3072), dtype=np.uint8), rng.integers(0, k, per * 5 // len(files)).tolist()
        write_pickle(folder / f, {"data": rows, key: labels})
        train_rows.append(rows); train_labels += labels
    test_rows = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
    write_pickle(folder / ("test_batch" if name == "cifar10" else "test"), {"data": test_rows, key: list(range(6))})
    write_pickle(folder / meta[0], {meta[1]: [f"class{i}" for i in range(k)]})

    with pytest.raises(RuntimeError, match="corrupted"): get_datasets(name, tmp_path, val_size=5)  # MD5s differ from the real files
    ds = get_datasets(name, tmp_path, val_size=5, verify_md5=False)
    assert {s: len(d) for s, d in ds.items()} == dict(train=35, val=5, test=6)
    tr, va = data.split_indices(40, 5, seed=0)
    images = np.concatenate(train_rows).reshape(-1, 3, 32, 32)  # CIFAR rows: 1024 R, then G, then B values
    np.testing.assert_array_equal(ds["train"].images.numpy(), images[tr.numpy()])
    np.testing.assert_array_equal(ds["val"].labels.numpy(), np.array(train_labels)[va.numpy()])
    assert ds["test"].labels.tolist() == list(range(6)) and ds["train"].max_shift == 4
    x, y, idx = next(iter(make_loader(ds["test"], 4, train=False)))
    assert x.shape == (4, 3, 32, 32) and idx.tolist() == [0, 1, 2, 3]
    mean = torch.tensor(ds["train"].mean).view(1, 3, 1, 1); std = torch.tensor(ds["train"].std).view(1, 3, 1, 1)
    torch.testing.assert_close(x, (torch.from_numpy(test_rows[:4].reshape(-1, 3, 32, 32)).float() / 255 - mean) / std)


WNIDS = ["n01440764", "n01443537", "n01484850"]


def write_images(folder, n, size=(20, 24), mode="RGB", ext="JPEG", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = size + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"img_{i}.{ext}")


@pytest.fixture
def imagenet_root(tmp_path):
    root = tmp_path / "imagenet"
    for c, wnid in enumerate(WNIDS):
        write_images(root / "train" / wnid, 4, seed=c)
        write_images(root / "val" / wnid, 2, seed=10 + c)
    return root


def epoch(loader, epoch=0, start_batch=0):
    loader.set_epoch(epoch, start_batch)
    return list(loader)


def test_imagenet(imagenet_root):
    ds = get_datasets("imagenet", imagenet_root, val_size=3, img_size=16)
    assert {s: len(d) for s, d in ds.items()} == dict(train=9, val=3, test=6)
    assert ds["test"].classes == WNIDS and [t for _, t in ds["test"].samples] == [0, 0, 1, 1, 2, 2]
    dl = make_loader(ds["train"], 4, train=True, seed=5)
    batches = epoch(dl)
    assert len(batches) == len(dl) == 2
    x, y, idx = batches[0]
    assert x.shape == (4, 3, 16, 16) and y.tolist() == [ds["train"].samples[i][1] for i in idx.tolist()]
    again = epoch(make_loader(ds["train"], 4, train=True, seed=5, num_workers=1))  # augmentation is keyed, not worker-dependent
    torch.testing.assert_close(again[1][0], batches[1][0], rtol=0, atol=0)
    resumed = epoch(dl, 0, start_batch=1)
    assert len(resumed) == 1 and torch.equal(resumed[0][0], batches[1][0])
    assert not torch.equal(epoch(dl, 1)[0][0], batches[0][0])
    shards = [epoch(make_loader(ds["test"], 2, train=False, rank=r, world_size=2)) for r in range(2)]
    order = torch.stack([torch.cat([b[2] for b in s]) for s in shards], 1).flatten()
    assert order.tolist() == list(range(6))
    torch.testing.assert_close(shards[1][0][0][0], ds["test"][1][0])  # rank 1's first sample is sample 1, eval-transformed


def test_imagenet_mismatched_classes(imagenet_root):
    (imagenet_root / "val" / WNIDS[0]).rename(imagenet_root / "val_extra")
    with pytest.raises(ValueError, match="must match"): get_datasets("imagenet", imagenet_root, val_size=3)


def test_imagenet_sketch(tmp_path, imagenet_root):
    sketch = tmp_path / "sketch_root"
    write_images(sketch / "sketch" / WNIDS[2], 2, mode="L", ext="png")  # greyscale PNGs, as in ImageNet-Sketch
    write_images(sketch / "sketch" / WNIDS[1], 1, ext="JPEG")
    ds = get_datasets("imagenet_sketch", sketch, imagenet_root=imagenet_root, img_size=16)
    assert list(ds) == ["test"] and len(ds["test"]) == 3
    x, y, idx = next(iter(make_loader(ds["test"], 3, train=False)))
    assert x.shape == (3, 3, 16, 16) and y.tolist() == [1, 2, 2]  # indices in ImageNet's class order, not Sketch's
    with pytest.raises(ValueError, match="imagenet_root"): get_datasets("imagenet_sketch", sketch)
    write_images(sketch / "sketch" / "n99999999", 1)
    with pytest.raises(ValueError, match="not ImageNet classes"): get_datasets("imagenet_sketch", sketch, imagenet_root=imagenet_root)


def test_cityscapes(tmp_path):
    root, rng, lut = tmp_path / "cityscapes", np.random.default_rng(2), data.cityscapes_train_ids()
    ids = {}
    for split, cities in (("train", ["aachen", "bochum"]), ("val", ["frankfurt"])):
        for city in cities:
            for k in range(2):
                stem = f"{city}_{k:06d}_000019"
                (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
                (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
                lab = rng.integers(0, 34, (12, 16), dtype=np.uint8)
                Image.fromarray(lab).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
                ids[stem] = lab
    ds = get_datasets("cityscapes", root, val_size=1, crop_size=(8, 10))  # the paper's split: the official val images split 1 / 1
    assert {s: len(d) for s, d in ds.items()} == dict(train=4, val=1, test=1) and len(ds["test"].classes) == 19
    assert sorted(ds["val"].indices + ds["test"].indices) == [0, 1]
    ds = get_datasets("cityscapes", root, val_size=0, crop_size=(8, 10))  # no validation images: test = the 2 official val images
    x, y, idx = next(iter(make_loader(ds["test"], 2, train=False)))
    assert x.shape == (2, 3, 12, 16) and y.shape == (2, 12, 16) and y.dtype == torch.int64
    for b, i in enumerate(idx.tolist()):
        stem = ds["test"].samples[i][0].split("/")[-1].replace("_leftImg8bit.png", "")
        assert torch.equal(y[b], lut[torch.from_numpy(ids[stem]).long()])
    assert set(y.unique().tolist()) <= set(range(19)) | {255}
    xt, yt, _ = next(iter(make_loader(ds["train"], 3, train=True)))
    assert xt.shape == (3, 3, 8, 10) and yt.shape == (3, 8, 10)


def test_loader_bad_input(fmnist_deb, tmp_path):
    prepare_fashion_mnist(tmp_path)
    train = get_datasets("fashion_mnist", tmp_path, val_size=10)["train"]
    with pytest.raises(ValueError, match="batch_size"): make_loader(train, 0, train=True)
    with pytest.raises(ValueError, match="rank"): make_loader(train, 4, train=True, rank=1, world_size=1)
    with pytest.raises(ValueError, match="world_size"): make_loader(train, 4, train=True, world_size=0)


@pytest.mark.parametrize("n, world_size, drop_last", [(10, 3, False), (10, 3, True), (7, 2, False), (2, 4, False), (12, 4, True)])
def test_shard_indices_match_distributed_sampler(n, world_size, drop_last):
    "Evaluation order, padding and truncation are DistributedSampler's (shuffle=False is deterministic there)."
    for rank in range(world_size):
        ref = list(torch.utils.data.DistributedSampler(range(n), world_size, rank, shuffle=False, drop_last=drop_last))
        idx, pos = data.shard_indices(n, world_size, rank, shuffle=False, drop_last=drop_last)
        assert idx.tolist() == ref and pos.tolist() == list(range(rank, len(ref) * world_size, world_size))


@pytest.fixture
def small_train(fmnist_deb, tmp_path):
    prepare_fashion_mnist(tmp_path)
    return get_datasets("fashion_mnist", tmp_path, val_size=10)["train"]


@pytest.mark.parametrize("world_size", [2, 3])
def test_ddp_batches_equal_one_process(small_train, world_size):
    "Rank r's k-th batch of size B/W, interleaved over ranks, is the one-process k-th batch of size B: indices and pixels."
    B = 6 * world_size
    one = list(make_loader(small_train, B, train=True, seed=9))
    shards = [list(make_loader(small_train, B // world_size, train=True, seed=9, rank=r, world_size=world_size)) for r in range(world_size)]
    assert all(len(s) == len(one) == 90 // B for s in shards)
    for k in range(len(one)):
        assert torch.equal(torch.stack([s[k][2] for s in shards], 1).flatten(), one[k][2])
        assert torch.equal(torch.stack([s[k][0] for s in shards], 1).flatten(0, 1), one[k][0])


def test_resume_in_a_fresh_loader(small_train):
    "A new loader (as after a restart) set to (epoch, start_batch) reproduces the rest of the epoch bit for bit."
    full = make_loader(small_train, 8, train=True, seed=1, augment="crop_flip")
    full.set_epoch(3)
    ref = list(full)
    fresh = make_loader(small_train, 8, train=True, seed=1, augment="crop_flip")
    fresh.set_epoch(3, start_batch=4)
    rest = list(fresh)
    assert len(rest) == len(ref) - 4 and len(ref) == len(full)
    for a, b in zip(rest, ref[4:]):
        assert all(torch.equal(u, v) for u, v in zip(a, b))
    plain = list(make_loader(small_train, 8, train=True, seed=1, augment="none"))
    assert not torch.equal(plain[0][0], list(make_loader(small_train, 8, train=True, seed=1))[0][0])
