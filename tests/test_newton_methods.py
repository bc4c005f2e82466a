"""The registered Newton methods end to end: validation, selection variants, diagnostics."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import unlearnbench.unlearning.lcodec  # noqa: F401  (registers the methods)
import unlearnbench.unlearning.newton_full  # noqa: F401
import unlearnbench.unlearning.newton_kfac  # noqa: F401
import unlearnbench.unlearning.newton_random  # noqa: F401
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.newton.gradient_bank import GradientBankCallback
from unlearnbench.training import OptimizerSpec, fit
from unlearnbench.unlearning import InvalidForgetSetError, UnlearningRequest, get_method

HP = {"l2_lambda": 0.01, "noise": "none", "perturbations": 200}


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.conv(x))).flatten(1)
        return self.head(torch.relu(self.fc(h)))


@pytest.fixture(scope="module")
def trained():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(90, 1, 4, 4, generator=gen)
    y = (x.mean(dim=(1, 2, 3)) * 3).long().clamp(max=2)
    data = TensorDataset(x, y)
    torch.manual_seed(0)
    model = ConvNet()
    bank = GradientBankCallback(cross_entropy_loss, epochs=5)
    fit(
        model,
        cross_entropy_loss,
        data,
        epochs=5,
        batch_size=16,
        optimizer=OptimizerSpec("sgd", lr=0.1, weight_decay=0.01),
        seed=0,
        callbacks=[bank],
    )
    return model.eval(), data, bank.bank


def _request(data, forget, hp=None, seed=0, n_train=None):
    retain = [i for i in range(len(data)) if i not in set(forget)]
    return UnlearningRequest(
        forget=Subset(data, forget),
        retain=Subset(data, retain),
        n_train=n_train or len(data),
        loss_fn=cross_entropy_loss,
        hyperparameters={**HP, **(hp or {})},
        generator=torch.Generator().manual_seed(seed),
    )


def test_empty_forget_set_is_rejected(trained):
    _, data, _ = trained
    with pytest.raises(InvalidForgetSetError, match="empty"):
        _request(data, [])


@pytest.mark.parametrize("forget", [[90], [-1], [3, 500]])
def test_out_of_range_forget_set_is_rejected(trained, forget):
    model, data, _ = trained
    request = UnlearningRequest(
        forget=Subset(data, forget),
        retain=Subset(data, [0, 1]),
        n_train=90,
        loss_fn=cross_entropy_loss,
        hyperparameters=HP,
    )
    with pytest.raises(InvalidForgetSetError, match="out of range"):
        get_method("newton-full")(model, request)


def test_removing_everything_is_rejected(trained):
    model, data, _ = trained
    request = _request(data, [0, 1], n_train=2)
    with pytest.raises(InvalidForgetSetError, match="nothing would remain"):
        get_method("newton-full")(model, request)


def test_hyperparameter_errors_name_the_key(trained):
    model, data, _ = trained
    with pytest.raises(ValueError, match="perturbation_sigma"):
        get_method("lcodec")(model, _request(data, [0], {"perturbation_sigma": 0.1}))
    with pytest.raises(ValueError, match="l2_lambda"):
        get_method("lcodec")(
            model,
            UnlearningRequest(
                forget=Subset(data, [0]),
                retain=Subset(data, [1]),
                n_train=90,
                loss_fn=cross_entropy_loss,
                hyperparameters={"noise": "none"},
            ),
        )
    with pytest.raises(ValueError, match="fixes selection"):
        get_method("newton-full")(model, _request(data, [0], {"selection": "lfoci"}))
    with pytest.raises(ValueError, match="hessian must be one of"):
        get_method("lcodec")(model, _request(data, [0], {"hessian": "diagonal"}))
    with pytest.raises(ValueError, match="gradient bank"):
        get_method("lcodec")(model, _request(data, [0], {"hessian": "finite-difference"}))


def _changed_rows(before: nn.Module, after: nn.Module) -> dict[str, list[int]]:
    out = {}
    for (name, a), b in zip(before.named_parameters(), after.parameters(), strict=True):
        rows = [i for i in range(a.shape[0]) if not torch.equal(a[i], b[i])]
        if rows:
            out[name] = rows
    return out


def test_lcodec_updates_only_the_selected_slices(trained):
    model, data, _ = trained
    outcome = get_method("lcodec")(model, _request(data, [5]))
    d = outcome.diagnostics
    assert d["selection"] == "lfoci" and d["n_slices_total"] == 4 + 8 + 3
    assert 1 <= d["n_slices_selected"] == len(d["selected_slices"]) < d["n_slices_total"]
    changed = _changed_rows(model, outcome.model)
    touched = {f"{name.rsplit('.', 1)[0]}[{row}]" for name, rows in changed.items() for row in rows}
    assert touched <= set(d["selected_slices"])  # nothing outside the selection moved
    assert "norm.weight" not in changed and "norm.bias" not in changed
    assert torch.equal(model.norm.running_mean, outcome.model.norm.running_mean)
    assert d["cg_converged"] and d["n_params_updated"] > 0


def test_random_selection_has_the_lfoci_size_and_cheap_one_slice(trained):
    model, data, _ = trained
    lfoci = get_method("lcodec")(model, _request(data, [5], seed=3)).diagnostics
    random = get_method("newton-random")(model, _request(data, [5], seed=3)).diagnostics
    cheap = get_method("lcodec")(model, _request(data, [5], {"selection": "cheap"}, seed=3)).diagnostics
    assert random["n_slices_selected"] == lfoci["n_slices_selected"] == random["lfoci_selected"]
    assert cheap["n_slices_selected"] == 1
    assert cheap["selected_slices"] == lfoci["selected_slices"][:1]  # the first L-FOCI step


def test_lcodec_is_deterministic_for_a_seed(trained):
    model, data, _ = trained
    a = get_method("lcodec")(model, _request(data, [7], {"noise": "paper", "epsilon": 10.0}, seed=1))
    b = get_method("lcodec")(model, _request(data, [7], {"noise": "paper", "epsilon": 10.0}, seed=1))
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a.diagnostics["noise_sigma"] > 0


def test_finite_difference_variant_runs_from_the_bank(trained):
    model, data, bank = trained
    outcome = get_method("lcodec")(
        model, _request(data, [2, 9], {"hessian": "finite-difference", "gradient_bank": bank.to_payload()})
    )
    assert outcome.diagnostics["hessian"] == "finite-difference"
    assert outcome.diagnostics["curvature_terms"] >= 1
    assert outcome.diagnostics["step_norm"] > 0


def test_kfac_updates_linear_and_conv_layers(trained):
    model, data, _ = trained
    outcome = get_method("newton-kfac")(model, _request(data, [4], {"hessian": "exact"}))
    assert outcome.diagnostics["layers_updated"] == ["conv", "fc", "head"]
    assert outcome.diagnostics["ignored_hyperparameters"] == ["hessian", "perturbations"]
    changed = _changed_rows(model, outcome.model)
    assert {"conv.weight", "fc.weight", "head.weight"} <= set(changed) and "norm.weight" not in changed
