"""Slices: which layers have them, how blocks map to parameters, and that a block step touches nothing else."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench.batching import as_tensors
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.newton.activations import perturbed_activations
from unlearnbench.newton.noise import noise_scale
from unlearnbench.newton.settings import NewtonSettings
from unlearnbench.newton.slices import block_from_slices, gather, scatter_, slice_layers, slice_names
from unlearnbench.newton.update import block_newton_step
from unlearnbench.perturbations import GaussianInputNoise


class Mixed(nn.Module):
    """Conv, batch norm, an embedding, two identically configured Linear layers and a frozen one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.embed = nn.Embedding(5, 4)
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)  # same repr as fc1: must still be a separate layer
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(3 * 4 * 4 + 4, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.conv(x))).flatten(1)
        e = self.embed(torch.zeros(x.shape[0], dtype=torch.long))
        e = self.frozen(self.fc2(torch.relu(self.fc1(e))))
        return self.head(torch.cat([h, e], dim=1))


def test_slices_cover_linear_and_conv_and_skip_norm_embedding_and_frozen():
    layers = slice_layers(Mixed())
    assert [(layer.name, layer.kind, layer.n_slices) for layer in layers] == [
        ("conv", "conv", 3),
        ("fc1", "linear", 4),
        ("fc2", "linear", 4),
        ("head", "linear", 2),
    ]
    assert layers[0].parameter_names == ("conv.weight", "conv.bias")
    assert layers[-1].parameter_names == ("head.weight",)
    assert slice_names(layers)[3] == "fc1[0]"


def test_block_rows_map_global_slice_indices_to_parameters():
    model = Mixed()
    layers = slice_layers(model)
    block = block_from_slices(layers, [1, 7, 12])  # conv[1], fc2[0], head[1]
    assert {name: idx.tolist() for name, idx in block.rows.items()} == {
        "conv.weight": [1],
        "conv.bias": [1],
        "fc2.weight": [0],
        "fc2.bias": [0],
        "head.weight": [1],
    }
    params = dict(model.named_parameters())
    assert block.size(params) == 9 + 1 + 4 + 1 + 52
    expected = torch.cat(
        [
            params["conv.weight"][1].reshape(-1),
            params["conv.bias"][1:2],
            params["fc2.weight"][0],
            params["fc2.bias"][0:1],
            params["head.weight"][1],
        ]
    )
    assert torch.equal(gather(block, params), expected)
    with pytest.raises(ValueError, match="slice indices"):
        block_from_slices(layers, [13])


def test_scatter_writes_only_the_block():
    model = Mixed()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    block = block_from_slices(slice_layers(model), [2, 5])
    size = block.size(dict(model.named_parameters()))
    scatter_(block, model, torch.full((size,), 7.0))
    after = model.state_dict()
    assert torch.all(after["conv.weight"][2] == 7.0) and torch.all(after["fc1.weight"][2] == 7.0)
    assert torch.equal(after["conv.weight"][[0, 1]], before["conv.weight"][[0, 1]])
    assert torch.equal(after["fc2.weight"], before["fc2.weight"])


def _mlp_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    data = TensorDataset(torch.randn(60, 1, 2, 4), torch.randint(0, 3, (60,)))
    return model, data


@pytest.mark.parametrize("hessian", ["exact", "finite-difference"])
def test_unselected_parameters_are_bit_identical_after_a_block_step(hessian):
    from unlearnbench.newton.gradient_bank import GradientBankCallback
    from unlearnbench.training import OptimizerSpec, fit

    model, data = _mlp_and_data()
    bank = GradientBankCallback(cross_entropy_loss, epochs=3)
    fit(
        model,
        cross_entropy_loss,
        data,
        epochs=3,
        batch_size=16,
        optimizer=OptimizerSpec("sgd", lr=0.1, weight_decay=0.01),
        seed=0,
        callbacks=[bank],
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    block = block_from_slices(slice_layers(model), [0, 4, 7])  # 1.weight rows 0 and 4, 3.weight row 1
    settings = NewtonSettings(
        hessian=hessian, noise="paper", l2_lambda=0.01, epsilon=1.0, gradient_bank=bank.bank
    )
    forget, retain = as_tensors(Subset(data, [3])), as_tensors(Subset(data, list(range(4, 60))))
    block_newton_step(
        model, cross_entropy_loss, block, forget, retain, 60, settings, torch.Generator().manual_seed(0)
    )
    after = model.state_dict()
    selected = {"1.weight": [0, 4], "1.bias": [0, 4], "3.weight": [1], "3.bias": [1]}
    for name, value in after.items():
        keep = [i for i in range(value.shape[0]) if i not in selected[name]]
        assert torch.equal(value[keep], before[name][keep]), name
        assert not torch.equal(value[selected[name]], before[name][selected[name]]), name


def test_block_step_noise_has_the_formula_scale():
    model, data = _mlp_and_data()
    block = block_from_slices(slice_layers(model), list(range(9)))
    forget, retain = as_tensors(Subset(data, [0, 1])), as_tensors(Subset(data, list(range(2, 60))))
    results = {}
    for noise in ("none", "paper", "authors-code"):
        work = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
        work.load_state_dict(model.state_dict())
        settings = NewtonSettings(
            hessian="exact", noise=noise, l2_lambda=0.5, epsilon=1.0, delta=0.01, M=1.0, L=2.0
        )
        report = block_newton_step(
            work, cross_entropy_loss, block, forget, retain, 60, settings, torch.Generator().manual_seed(9)
        )
        results[noise] = (gather(block, dict(work.named_parameters())).detach(), report)
    clean = results["none"][0]
    for noise in ("paper", "authors-code"):
        vector, report = results[noise]
        n = 60 if noise == "paper" else 50000  # authors-code: the n their scripts pass
        expected = noise_scale(
            noise, n=n, m=2, l2_lambda=0.5, epsilon=1.0, delta=0.01, hessian_lipschitz=1.0, lipschitz=2.0
        )
        assert report.noise_sigma == pytest.approx(expected.sigma) and report.noise_n == n
        draw = torch.randn(clean.shape, generator=torch.Generator().manual_seed(9)) * expected.sigma
        torch.testing.assert_close(vector - clean, draw, rtol=1e-4, atol=1e-5)
    ratio = 16 * 4 * (50000 / 60) ** 2  # m^2, M L^2, n^2
    assert results["paper"][1].noise_sigma == pytest.approx(ratio * results["authors-code"][1].noise_sigma)


def test_perturbed_activations_one_feature_per_slice_and_seeded():
    model, data = _mlp_and_data()
    layers = slice_layers(model)
    forget = as_tensors(Subset(data, [0]))
    a = perturbed_activations(
        model,
        cross_entropy_loss,
        forget,
        layers,
        perturbation=GaussianInputNoise(0.1),
        copies=50,
        generator=torch.Generator().manual_seed(1),
        chunk=16,
    )
    b = perturbed_activations(
        model,
        cross_entropy_loss,
        forget,
        layers,
        perturbation=GaussianInputNoise(0.1),
        copies=50,
        generator=torch.Generator().manual_seed(1),
        chunk=7,
    )
    assert a.features.shape == (50, 9) and a.losses.shape == (50,)
    torch.testing.assert_close(a.features, b.features)  # chunking does not change the samples
    torch.testing.assert_close(a.losses, b.losses)
    noise = torch.randn((50, *forget[0].shape), generator=torch.Generator().manual_seed(1))
    x0 = forget[0] + 0.1 * noise[0]
    torch.testing.assert_close(a.features[0, :6], model[1](x0.flatten(1))[0].detach())
    torch.testing.assert_close(a.losses[0], cross_entropy_loss(model, (x0, forget[1])).detach())
