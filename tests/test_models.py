"Forward shapes of every model on tiny inputs, parameter counts, and the local-checkpoint path of DeepLabV3+."
import pytest
import torch
import torchvision

from lsfix.models import create_model, count_parameters, MODELS, DenseNetBC, CifarResNet


@pytest.mark.parametrize("name, kw, shape", [
    ("fcn", {}, (2, 1, 28, 28)),
    ("fcn", dict(dropout=0.0, in_chans=3, img_size=32), (2, 3, 32, 32)),
    ("cnn", {}, (2, 1, 28, 28)),
    ("cnn", dict(in_chans=3, width=16), (2, 3, 32, 32)),
    ("resnet20", {}, (2, 3, 32, 32)),
    ("densenet_bc", {}, (2, 3, 32, 32)),
    ("resnet50", {}, (2, 3, 32, 32)),
    ("vit_small_patch16_224", dict(img_size=32), (2, 3, 32, 32)),
])
def test_forward_shapes(name, kw, shape):
    model = create_model(name, 7, **kw)
    out = model(torch.randn(shape))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()  # every parameter is reachable from the output
    assert all(p.grad is not None for p in model.parameters())


def test_parameter_counts():
    assert count_parameters(create_model("resnet20", 10)) == 269_722  # 0.27M (He et al. 2016), option-A shortcuts
    assert count_parameters(create_model("densenet_bc", 100)) == 800_032  # 0.8M (Huang et al. 2017)
    assert count_parameters(create_model("fcn", 10)) == 784 * 1200 + 1200 * 1200 + 1200 * 10 + 1200 + 1200 + 10
    assert count_parameters(CifarResNet(10, depth=56)) > count_parameters(CifarResNet(10))
    frozen = create_model("fcn", 10); frozen[1].requires_grad_(False)
    assert count_parameters(frozen, trainable_only=True) == count_parameters(frozen) - 784 * 1200 - 1200


def test_no_pretrained_download_by_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any download attempt would fail here
    model = create_model("resnet18", 5)
    assert model.fc.out_features == 5


def test_deeplabv3p_resnet101():
    model = create_model("deeplabv3p", 19).eval()
    assert type(model.encoder.layer3[22]).__name__ == "Bottleneck"  # ResNet-101: 23 blocks in layer3
    with torch.no_grad(): out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 19, 64, 64)


def test_deeplabv3p_pretrained_path(tmp_path):
    ref = torchvision.models.resnet101(weights=None)
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, tmp_path / "r101.pth")
    model = create_model("deeplabv3p", 19, pretrained_path=tmp_path / "r101.pth")
    for k, v in ref.state_dict().items():
        if not k.startswith("fc."): assert torch.equal(model.encoder.state_dict()[k], v), k
    partial = {k: v for k, v in ref.state_dict().items() if not k.startswith("layer4")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="not a checkpoint"): create_model("deeplabv3p", 19, pretrained_path=tmp_path / "partial.pth")
    with pytest.raises(FileNotFoundError): create_model("deeplabv3p", 19, pretrained_path=tmp_path / "missing.pth")


def test_bad_input():
    with pytest.raises(ValueError, match="valid names: " + ", ".join(MODELS)): create_model("resnet21", 10)
    with pytest.raises(ValueError, match="num_classes"): create_model("resnet20", 0)
    with pytest.raises(ValueError, match="dropout"): create_model("fcn", 10, dropout=1.5)
    with pytest.raises(ValueError, match="6n\\+4"): DenseNetBC(10, depth=50)
