"""VGGFace: the VGG-16 face identifier, its layer names, and loading converted weight files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearnbench.data.download import md5sum
from unlearnbench.models import build_model
from unlearnbench.models.vggface import VGGFace, VGGFaceWeightsError, load_vggface_weights
from unlearnbench.newton.slices import slice_layers

#: The parameter names of vgg_face_dag.pth (Albanie's conversion), in order.
DAG_NAMES = [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)] + [
    "fc6",
    "fc7",
    "fc8",
]


def small(**kwargs) -> VGGFace:
    return VGGFace(**{"n_classes": 5, "width": 2, "fc_width": 8, "image_size": 32, **kwargs})


def test_original_architecture_shapes_without_allocating():
    with torch.device("meta"):
        model = VGGFace()
    assert model.fc6.in_features == 25088 and model.fc6.out_features == 4096
    assert model.fc7.out_features == 4096 and model.fc8.out_features == 2622
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    # VGG-16 has 138,357,544 parameters with 1000 classes; VGGFace's fc8 has 2622 outputs.
    assert sum(p.numel() for p in model.parameters()) == 138_357_544 - (4096 * 1000 + 1000) + (
        4096 * 2622 + 2622
    )
    assert [k.rsplit(".", 1)[0] for k in model.state_dict()][::2] == DAG_NAMES


def test_small_variant_forward_and_registry():
    model = build_model("vggface", n_classes=5, width=2, fc_width=8, image_size=32).eval()
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 5)
    assert model.embed(torch.rand(1, 3, 32, 32)).shape == (1, 8)
    with pytest.raises(ValueError, match=r"\[N, 3, 32, 32\]"):
        model(torch.rand(1, 3, 64, 64))


def test_input_preprocessing_subtracts_the_vggface_mean_on_the_0_255_scale():
    model = small().eval()
    seen = []
    model.conv1_1.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    pixel = torch.tensor([129.186279296875, 104.76238250732422, 93.59396362304688]) / 255.0
    model(pixel.view(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous())
    assert seen[0].abs().max() < 1e-4  # the mean image maps to zero
    bgr = small(bgr=True).eval()
    bgr.conv1_1.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    bgr(pixel.view(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous())  # inputs are always RGB
    assert seen[1].abs().max() < 1e-4
    assert torch.allclose(seen[1][0, :, 0, 0], torch.zeros(3), atol=1e-4)
    ramp = torch.linspace(0, 1, 3).view(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous()
    model(ramp), bgr(ramp)
    assert torch.allclose(
        seen[3][0, :, 0, 0], (seen[2][0, :, 0, 0] + model.mean.view(3)).flip(0) - model.mean.view(3).flip(0)
    )


def test_slices_are_the_13_convolutions_and_3_linear_layers():
    layers = slice_layers(small())
    assert [layer.name for layer in layers] == DAG_NAMES
    assert layers[-3].kind == "linear" and layers[0].kind == "conv"


def test_weights_round_trip_in_both_conversions_naming(tmp_path):
    source = small().eval()
    dag = tmp_path / "vgg_face_dag.pth"
    torch.save(source.state_dict(), dag)
    target = small()
    info = load_vggface_weights(target, dag, md5sum(dag))
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(source(x), target.eval()(x))
    assert info["md5"] == md5sum(dag) and not info["new_head"]
    # prlz77's VGG_16 names its convolutions conv_1_1 ... conv_5_3.
    prlz = {k.replace("conv", "conv_", 1): v for k, v in source.state_dict().items()}
    assert "conv_1_1.weight" in prlz
    torch.save(prlz, tmp_path / "prlz.pth")
    other = small()
    load_vggface_weights(other, tmp_path / "prlz.pth")
    assert torch.equal(source(x), other.eval()(x))


def test_new_head_keeps_the_models_own_classifier(tmp_path):
    torch.save(small(n_classes=5).state_dict(), tmp_path / "w.pth")
    target = small(n_classes=3)
    before = target.fc8.weight.clone()
    with pytest.raises(VGGFaceWeightsError, match="fc8"):
        load_vggface_weights(target, tmp_path / "w.pth")
    load_vggface_weights(target, tmp_path / "w.pth", new_head=True)
    assert torch.equal(target.fc8.weight, before)


def test_weight_file_errors_name_the_problem(tmp_path):
    missing = tmp_path / "absent" / "vgg_face_dag.pth"
    with pytest.raises(VGGFaceWeightsError, match="does not exist") as info:
        load_vggface_weights(small(), missing)
    assert str(missing) in str(info.value) and "vgg_face_dag.pth" in str(info.value)
    torch.save(small().state_dict(), tmp_path / "w.pth")
    with pytest.raises(VGGFaceWeightsError, match="md5"):
        load_vggface_weights(small(), tmp_path / "w.pth", md5="0" * 32)
    with pytest.raises(VGGFaceWeightsError, match="does not fit"):
        load_vggface_weights(small(width=4), tmp_path / "w.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(VGGFaceWeightsError, match="state dict"):
        load_vggface_weights(small(), tmp_path / "junk.pth")


@pytest.mark.parametrize("kwargs", [{"image_size": 40}, {"width": 0}, {"dropout": 1.0}])
def test_bad_architecture_options(kwargs):
    with pytest.raises(ValueError):
        small(**kwargs)
