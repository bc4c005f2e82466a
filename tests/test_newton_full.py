"""Newton removal on L2-regularised logistic regression: the step lands on the retrained optimum."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

import unlearnbench.unlearning.newton_full  # noqa: F401  (registers the method)
import unlearnbench.unlearning.newton_kfac  # noqa: F401
from unlearnbench.batching import as_tensors
from unlearnbench.models.classifiers import MLP, LogisticRegression, cross_entropy_loss
from unlearnbench.newton.hessian import BlockLoss
from unlearnbench.newton.settings import NewtonSettings
from unlearnbench.newton.slices import block_from_slices, slice_layers
from unlearnbench.newton.update import block_newton_step
from unlearnbench.unlearning import UnlearningRequest, get_method

LAMBDA = 0.05


def _problem(n: int = 300, d: int = 10, k: int = 3) -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w = torch.randn(d, k, generator=gen, dtype=torch.float64)
    y = (x @ w + 0.5 * torch.randn(n, k, generator=gen, dtype=torch.float64)).argmax(1)
    return TensorDataset(x, y)


def _fit_to_optimum(dataset: TensorDataset, indices: list[int]) -> LogisticRegression:
    """Minimise mean cross-entropy + lambda/2 ||w||^2 to high precision (LBFGS, float64)."""
    torch.manual_seed(1)
    model = LogisticRegression(dataset.tensors[0].shape[1], 3).double()
    x, y = dataset.tensors[0][indices], dataset.tensors[1][indices]
    opt = torch.optim.LBFGS(
        model.parameters(),
        lr=1,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = cross_entropy_loss(model, (x, y)) + LAMBDA / 2 * sum(
            p.pow(2).sum() for p in model.parameters()
        )
        loss.backward()
        return loss

    opt.step(closure)
    return model


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.fixture(scope="module")
def trained():
    data = _problem()
    everything = list(range(len(data)))
    return data, _fit_to_optimum(data, everything), _fit_to_optimum(data, everything[1:])


@pytest.mark.parametrize("hessian", ["exact", "dense"])
def test_newton_full_lands_on_the_retrained_optimum(trained, hessian):
    data, original, retrained = trained
    request = UnlearningRequest(
        forget=Subset(data, [0]),
        retain=Subset(data, list(range(1, len(data)))),
        n_train=len(data),
        loss_fn=cross_entropy_loss,
        hyperparameters={"l2_lambda": LAMBDA, "noise": "none", "hessian": hessian, "cg_tol": 1e-10},
    )
    weights = _flat(original).clone()
    outcome = get_method("newton-full")(original, request)
    gap_before = (_flat(original) - _flat(retrained)).norm()
    gap_after = (_flat(outcome.model) - _flat(retrained)).norm()
    assert gap_before > 1e-4  # removing the point does move the optimum
    assert gap_after <= 0.05 * gap_before
    assert outcome.diagnostics["n_params_updated"] == sum(p.numel() for p in original.parameters())
    assert torch.equal(_flat(original), weights)  # the caller's model is not modified


def test_data_only_gradient_misses_the_weight_decay_term(trained):
    """The authors' data-only gradient is not the Newton step of the regularised objective."""
    data, original, retrained = trained
    request = UnlearningRequest(
        forget=Subset(data, [0]),
        retain=Subset(data, list(range(1, len(data)))),
        n_train=len(data),
        loss_fn=cross_entropy_loss,
        hyperparameters={
            "l2_lambda": LAMBDA,
            "noise": "none",
            "sample_gradient": "data-only",
            "cg_tol": 1e-10,
        },
    )
    outcome = get_method("newton-full")(original, request)
    gap_before = (_flat(original) - _flat(retrained)).norm()
    assert (_flat(outcome.model) - _flat(retrained)).norm() > 0.05 * gap_before


def test_kfac_moves_towards_the_retrained_optimum(trained):
    data, original, retrained = trained
    request = UnlearningRequest(
        forget=Subset(data, [0]),
        retain=Subset(data, list(range(1, len(data)))),
        n_train=len(data),
        loss_fn=cross_entropy_loss,
        hyperparameters={"l2_lambda": LAMBDA, "noise": "none"},
    )
    outcome = get_method("newton-kfac")(original, request)
    assert outcome.diagnostics["layers_updated"] == ["linear"]
    assert (_flat(outcome.model) - _flat(retrained)).norm() < 0.5 * (
        _flat(original) - _flat(retrained)
    ).norm()


def _mlp_problem():
    torch.manual_seed(3)
    x = torch.randn(80, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (80,))
    model = MLP(6, 3, hidden=(5,)).double()
    return model, TensorDataset(x, y)


def test_exact_and_dense_agree_on_a_small_block():
    model, data = _mlp_problem()
    layers = slice_layers(model)
    block = block_from_slices(layers, [1, 3, 6])  # two hidden units and one output unit
    forget, retain = as_tensors(Subset(data, [0, 1])), as_tensors(Subset(data, list(range(2, 80))))
    loss = BlockLoss(model, cross_entropy_loss, block)
    theta = loss.theta()
    v = torch.randn(theta.numel(), dtype=torch.float64)
    dense = loss.dense_hessian(theta, retain, batch_size=32)
    torch.testing.assert_close(dense, dense.T)
    torch.testing.assert_close(loss.hvp(theta, v, retain, batch_size=32), dense @ v)
    damping = 0.5  # the untrained MLP's block Hessian is indefinite; this damping makes it positive definite
    assert float(torch.linalg.eigvalsh(dense).min()) + damping > 0.1
    steps = {}
    for hessian in ("exact", "dense"):
        work = MLP(6, 3, hidden=(5,)).double()
        work.load_state_dict(model.state_dict())
        settings = NewtonSettings(hessian=hessian, noise="none", l2_lambda=damping, cg_tol=1e-12)
        block_newton_step(work, cross_entropy_loss, block, forget, retain, 80, settings, torch.Generator())
        steps[hessian] = BlockLoss(work, cross_entropy_loss, block).theta() - theta
    assert steps["dense"].norm() > 0
    torch.testing.assert_close(steps["exact"], steps["dense"], rtol=1e-6, atol=1e-9)


def test_indefinite_block_hessian_is_shifted_to_positive_definite():
    """Non-convex model: both solvers add the same multiple of the identity and agree again."""
    model, data = _mlp_problem()
    block = block_from_slices(slice_layers(model), [1, 3, 6])
    forget, retain = as_tensors(Subset(data, [0, 1])), as_tensors(Subset(data, list(range(2, 80))))
    reports, steps = {}, {}
    for hessian in ("exact", "dense"):
        work = MLP(6, 3, hidden=(5,)).double()
        work.load_state_dict(model.state_dict())
        settings = NewtonSettings(hessian=hessian, noise="none", l2_lambda=0.01, cg_tol=1e-12)
        reports[hessian] = block_newton_step(
            work, cross_entropy_loss, block, forget, retain, 80, settings, torch.Generator()
        )
        steps[hessian] = (
            BlockLoss(work, cross_entropy_loss, block).theta()
            - BlockLoss(model, cross_entropy_loss, block).theta()
        )
    assert reports["exact"].negative_curvature and reports["dense"].negative_curvature
    assert reports["exact"].hessian_shift == reports["dense"].hessian_shift > 0
    assert reports["exact"].cg_converged
    torch.testing.assert_close(steps["exact"], steps["dense"], rtol=1e-6, atol=1e-9)
