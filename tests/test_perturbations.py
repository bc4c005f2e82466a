"""The perturbation hook of UnlearningRequest: Gaussian input noise by default, any Perturbation if given."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.newton.activations import perturbed_activations
from unlearnbench.newton.slices import slice_layers
from unlearnbench.perturbations import GaussianInputNoise
from unlearnbench.unlearning import UnlearningRequest, get_method

# perturbed_activations(mlp(), cross_entropy_loss, (X, Y), copies=4, std=0.1, seed 3, chunk=4)
# as computed before the perturbation hook existed (commit db85939): the default must keep
# every draw and every float operation.
BEFORE_FEATURES = [
    [0.5602894425392151, 1.3653385639190674, 0.41927802562713623, 0.018580734729766846, 0.2927679419517517],
    [0.4923456013202667, 1.3780122995376587, 0.4990975856781006, -0.1245155930519104, 0.3919641375541687],
    [0.5901378393173218, 1.2713578939437866, 0.3013666272163391, 0.17771437764167786, 0.11286816000938416],
    [0.7706736326217651, 1.5267865657806396, 0.36017605662345886, 0.2431439459323883, 0.2950540781021118],
]
BEFORE_LOSSES = [1.0106960535049438, 0.9907093048095703, 0.7913645505905151, 0.726547122001648]
X = torch.linspace(-1, 1, 8).reshape(2, 4)
Y = torch.tensor([0, 1])


def mlp() -> nn.Module:
    """Fixed weights (no initialiser involved), so the stored values depend on the noise draws only."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(torch.sin(torch.arange(p.numel()) * 1.3 + k).reshape(p.shape))
    return model.eval()


class Unperturbed:
    """A perturbation that changes nothing: every copy is the forget batch itself."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, inputs: torch.Tensor, copies: int, generator: torch.Generator) -> torch.Tensor:
        self.calls.append(copies)
        return inputs.unsqueeze(0).repeat(copies, *[1] * inputs.ndim)


def _sample(perturbation, copies: int = 4):
    model = mlp()
    return perturbed_activations(
        model,
        cross_entropy_loss,
        (X, Y),
        slice_layers(model),
        perturbation=perturbation,
        copies=copies,
        generator=torch.Generator().manual_seed(3),
        chunk=4,
    )


def test_gaussian_noise_reproduces_the_values_from_before_the_hook():
    sample = _sample(GaussianInputNoise(0.1))
    assert torch.equal(sample.features, torch.tensor(BEFORE_FEATURES))
    assert torch.equal(sample.losses, torch.tensor(BEFORE_LOSSES))


def test_gaussian_noise_is_x_plus_std_times_one_draw():
    copies = GaussianInputNoise(0.5)(X, 3, torch.Generator().manual_seed(1))
    noise = torch.randn((3, *X.shape), generator=torch.Generator().manual_seed(1))
    assert torch.equal(copies, X.unsqueeze(0) + 0.5 * noise)
    with pytest.raises(ValueError, match="std must be positive"):
        GaussianInputNoise(0.0)


def test_unperturbed_copies_have_equal_features_and_losses():
    perturbation = Unperturbed()
    sample = _sample(perturbation, copies=5)
    assert perturbation.calls == [5]
    assert torch.equal(sample.features, sample.features[:1].expand(5, -1))
    assert torch.equal(sample.losses, sample.losses[:1].expand(5))


def test_a_perturbation_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"perturbation returned shape \(4, 4\), expected \(4, 2, 4\)"):
        _sample(lambda inputs, copies, generator: torch.zeros(copies, 4))


def _request(perturbation=None) -> UnlearningRequest:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 4, generator=gen)
    data = TensorDataset(x, (x.sum(dim=1) > 2).long())
    return UnlearningRequest(
        forget=Subset(data, [0]),
        retain=Subset(data, list(range(1, 40))),
        n_train=40,
        loss_fn=cross_entropy_loss,
        hyperparameters={"l2_lambda": 0.01, "noise": "none", "perturbations": 30},
        generator=torch.Generator().manual_seed(0),
        perturbation=perturbation,
    )


def test_the_request_s_perturbation_is_the_one_lcodec_uses():
    lcodec = get_method("lcodec")
    default = lcodec(mlp(), _request())
    assert default.diagnostics["n_slices_selected"] > 0
    # Gaussian noise of perturbation_std (0.1) is the default: passing it changes nothing.
    explicit = lcodec(mlp(), _request(GaussianInputNoise(0.1)))
    assert explicit.diagnostics["selected_slices"] == default.diagnostics["selected_slices"]
    for a, b in zip(default.model.parameters(), explicit.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # Copies that do not differ give L-FOCI nothing to select from.
    unperturbed = Unperturbed()
    outcome = lcodec(mlp(), _request(unperturbed))
    assert unperturbed.calls == [30]
    assert outcome.diagnostics["n_slices_selected"] == 0 and outcome.diagnostics["unchanged"]
    assert "no slice activation varies" in outcome.diagnostics["selection_note"]
