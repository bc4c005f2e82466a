"""The CIFAR-10 model zoo: torchvision's classes adapted to 32x32, and what the L-CODEC engine sees in them."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearnbench.models import REGISTRY, build_model, load_model, save_model, zoo
from unlearnbench.newton.slices import SLICEABLE_TYPES, slice_layers, total_slices

#: Narrow but structurally complete variants (every stage and block type present), fast on a CPU.
SMALL = {
    "cifar-resnet18": {"width": 4},
    "cifar-resnet50": {"width": 4},
    "cifar-densenet121": {"growth_rate": 4, "num_init_features": 8},
    "cifar-mobilenetv2": {"width_mult": 0.1},
    "cifar-vgg11-bn": {"width": 4, "hidden": 16},
    "mlp": {"hidden": [16]},
}


def test_zoo_lists_the_six_models_of_the_figure():
    assert list(zoo.ZOO) == list(SMALL)
    assert all(name in REGISTRY for name in zoo.ZOO)


@pytest.mark.parametrize("name", list(SMALL))
def test_forward_on_32x32_gives_one_logit_per_class(name):
    torch.manual_seed(0)
    model = zoo.build_zoo_model(name, 7, **SMALL[name]).eval()
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [n for n in SMALL if n != "mlp"])
def test_final_feature_maps_are_not_collapsed_to_one_pixel(name):
    """The 32x32 adaptation: a 3x3 stride-1 stem and no max-pool leave 4x4 maps (VGG: 1x1 after 5 pools)."""
    model = zoo.build_zoo_model(name, 10, **SMALL[name]).eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    first = convs[0]
    assert first.kernel_size == (3, 3) and first.stride == (1, 1)
    shapes = []
    handle = convs[-1].register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[2:])))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    handle.remove()
    assert shapes[0] == ((2, 2) if name == "cifar-vgg11-bn" else (4, 4))


def test_resnets_match_the_standard_cifar_variants():
    """3x3 stem, no max-pool: the well-known CIFAR ResNet-18/50 parameter counts."""
    assert sum(p.numel() for p in zoo.cifar_resnet18(10).parameters()) == 11_173_962
    assert sum(p.numel() for p in zoo.cifar_resnet50(10).parameters()) == 23_520_842


def test_default_width_is_the_torchvision_architecture():
    from torchvision.models import resnet18

    ours, theirs = zoo.cifar_resnet18(10), resnet18(weights=None, num_classes=10)
    # Same layers apart from the stem: every non-stem parameter has the same shape.
    a = {k: v.shape for k, v in ours.state_dict().items() if not k.startswith("conv1")}
    b = {k: v.shape for k, v in theirs.state_dict().items() if not k.startswith("conv1")}
    assert a == b
    assert type(ours).__mro__[1] is type(theirs)  # torchvision's ResNet class itself


@pytest.mark.parametrize("name", list(SMALL))
def test_slices_are_every_linear_and_conv_output_and_never_batch_norm(name):
    model = zoo.build_zoo_model(name, 10, **SMALL[name])
    layers = slice_layers(model)
    modules = dict(model.named_modules())
    sliceable = [n for n, m in modules.items() if isinstance(m, SLICEABLE_TYPES)]
    assert [layer.name for layer in layers] == sliceable
    expected = sum(
        m.out_features if isinstance(m, nn.Linear) else m.out_channels for m in map(modules.get, sliceable)
    )
    assert total_slices(layers) == expected
    covered = {p for layer in layers for p in layer.parameter_names}
    norm_params = {f"{n}.{p}" for n, m in modules.items() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for p, _ in m.named_parameters(recurse=False)}  # fmt: skip
    assert norm_params.isdisjoint(covered)
    assert (name == "mlp") == (not norm_params)  # every conv zoo model has batch norm, the MLP none
    assert covered | norm_params == {n for n, _ in model.named_parameters()}


def test_width_options_change_width_not_structure():
    small, large = zoo.cifar_resnet50(10, width=4), zoo.cifar_resnet50(10, width=8)
    names = lambda m: [n for n, _ in m.named_modules()]  # noqa: E731
    assert names(small) == names(large)
    assert small.fc.in_features == 4 * 8 * 4 and large.fc.in_features == 8 * 8 * 4
    assert len(slice_layers(zoo.cifar_resnet18(10, width=4, layers=[1, 1, 1, 1]))) < len(
        slice_layers(zoo.cifar_resnet18(10, width=4))
    )


def test_checkpoints_rebuild_zoo_models(tmp_path):
    model = build_model("cifar-vgg11-bn", n_classes=10, width=4, hidden=16)
    path = save_model(
        tmp_path / "m.pt", model, "cifar-vgg11-bn", {"n_classes": 10, "width": 4, "hidden": 16}, {"x": 1}
    )
    loaded, meta = load_model(path)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(model.eval()(x), loaded(x)) and meta == {"x": 1}
    clone = copy.deepcopy(zoo.cifar_resnet18(10, width=4))  # the engine deep-copies models
    assert isinstance(clone, type(zoo.cifar_resnet18(10, width=4)))


def test_vgg_builds_no_imagenet_classifier():
    model = zoo.cifar_vgg11_bn(10)
    assert not any(p.is_meta for p in model.parameters())
    assert [m.in_features for m in model.classifier if isinstance(m, nn.Linear)] == [512, 512, 512]


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (zoo.cifar_resnet, {"depth": 34}, "depth"),
        (zoo.cifar_resnet18, {"width": 0}, "width"),
        (zoo.cifar_resnet18, {"layers": [2, 2, 2]}, "layers"),
        (zoo.cifar_densenet121, {"block_config": [1, 2]}, "block_config"),
        (zoo.cifar_mobilenetv2, {"width_mult": 0}, "width_mult"),
        (zoo.cifar_mobilenetv2, {"stage_depths": [1, 1]}, "stage_depths"),
        (zoo.cifar_vgg11_bn, {"hidden": 0}, "hidden"),
    ],
)
def test_bad_options_are_named(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_unknown_zoo_model_is_a_clear_error():
    with pytest.raises(KeyError, match="not in the CIFAR-10 zoo"):
        zoo.build_zoo_model("resnet101")
