"""Invariants of gradient surgery and gradient ascent (paper 1)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from unlearnbench.models.vae import MLPVAE, elbo_loss
from unlearnbench.unlearning import InvalidForgetSetError, UnlearningRequest, get_method
from unlearnbench.unlearning.gradient_steps import flat_gradient, project_onto_normal_plane


def test_projected_gradient_is_orthogonal_to_retain_gradient():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        g_f, g_r = torch.randn(500, generator=gen, dtype=torch.float64), torch.randn(500, generator=gen, dtype=torch.float64)
        projected = project_onto_normal_plane(g_f, g_r)
        assert abs(torch.dot(projected, g_r)) < 1e-9 * g_f.norm() * g_r.norm()
        # only the component along g_r is removed
        assert torch.allclose(g_f - projected, (torch.dot(g_f, g_r) / torch.dot(g_r, g_r)) * g_r)


def test_projection_leaves_orthogonal_gradient_unchanged():
    g_f = torch.tensor([1.0, 0.0, 2.0])
    g_r = torch.tensor([0.0, 3.0, 0.0])
    assert torch.equal(project_onto_normal_plane(g_f, g_r), g_f)


def test_conflicting_only_projection_skips_agreeing_gradients():
    g_f = torch.tensor([1.0, 1.0])
    agreeing, conflicting = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])
    assert torch.equal(project_onto_normal_plane(g_f, agreeing, only_if_conflicting=True), g_f)
    assert torch.allclose(project_onto_normal_plane(g_f, conflicting, only_if_conflicting=True), torch.tensor([0.0, 1.0]))


def _tiny_problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(60, 1, 4, 4, generator=gen)
    labels = torch.arange(60) % 3
    train = TensorDataset(images, labels)
    forget = Subset(train, [i for i in range(60) if labels[i] == 0])
    retain = Subset(train, [i for i in range(60) if labels[i] != 0])
    torch.manual_seed(seed)
    model = MLPVAE((1, 4, 4), hidden=(8,), latent_dim=2)
    return train, forget, retain, model


def _deterministic_loss(model, batch):
    """Reconstruction from the posterior mean: no sampling noise, so the mean gradient over a
    set does not depend on the order in which a method draws it."""
    x = batch[0]
    mu, _ = model.encode(x)
    return torch.nn.functional.binary_cross_entropy_with_logits(model.decode_logits(mu), x)


def _request(forget, retain, n_train, seed, loss=_deterministic_loss, **hp):

    return UnlearningRequest(forget=forget, retain=retain, n_train=n_train, loss_fn=loss, hyperparameters=hp,
                             generator=torch.Generator().manual_seed(seed))


def test_sgd_surgery_step_moves_orthogonally_to_retain_gradient():
    """With plain SGD the update is -lr * projected gradient, so it must be orthogonal to g_r."""
    train, forget, retain, model = _tiny_problem()
    request = _request(forget, retain, len(train), 0, optimizer="sgd", lr=1e-2, retain_batch_size=len(retain))
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    outcome = get_method("gradient-surgery")(copy.deepcopy(model), request)
    after = torch.cat([p.detach().flatten() for p in outcome.model.parameters()])
    # g_r of the original model on the whole retain set, the same draw the method used
    g_r = flat_gradient(model, request.loss_fn, (torch.stack([retain[i][0] for i in range(len(retain))]),))
    delta = after - before
    assert delta.norm() > 0
    assert abs(torch.dot(delta, g_r)) / (delta.norm() * g_r.norm()) < 1e-4
    assert abs(outcome.diagnostics["cosine_forget_retain_after"][0]) < 1e-5


def test_gradient_ascent_increases_forget_loss():
    train, forget, retain, model = _tiny_problem(1)
    request = _request(forget, retain, len(train), 1, optimizer="sgd", lr=1e-3)
    batch = (torch.stack([forget[i][0] for i in range(len(forget))]),)
    before = float(request.loss_fn(model, batch).detach())
    outcome = get_method("gradient-ascent")(copy.deepcopy(model), request)
    assert float(request.loss_fn(outcome.model, batch).detach()) > before
    assert outcome.diagnostics["steps"] == 1


def test_one_adam_step_per_epoch_over_full_forget_batch():
    train, forget, retain, model = _tiny_problem(2)
    elbo = lambda m, b: elbo_loss(m, b, generator=torch.Generator().manual_seed(2))  # noqa: E731
    request = _request(forget, retain, len(train), 2, loss=elbo, optimizer="adam", lr=5e-4, epochs=3)
    outcome = get_method("gradient-surgery")(copy.deepcopy(model), request)
    assert outcome.diagnostics["steps"] == 3
    assert outcome.seconds >= 0


@pytest.mark.parametrize("forget_size", [0])
def test_empty_forget_set_is_rejected(forget_size):
    train, _, retain, _ = _tiny_problem()
    with pytest.raises(InvalidForgetSetError, match="empty"):
        _request(Subset(train, list(range(forget_size))), retain, len(train), 0)


def test_forget_set_larger_than_training_set_is_rejected():
    train, forget, retain, _ = _tiny_problem()
    with pytest.raises(InvalidForgetSetError, match="training set"):
        _request(forget, retain, n_train=len(forget) - 1, seed=0)


def test_unknown_method_names_known_ones():
    with pytest.raises(KeyError, match="gradient-surgery"):
        get_method("gradient-surgeon")


def _conv_problem(seed: int = 0):
    """A tiny conv VAE (it has batch norm) with running statistics away from their defaults."""
    from unlearnbench.models.conv_vae import ConvVAE

    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(24, 3, 8, 8, generator=gen)
    labels = torch.arange(24) % 2
    train = TensorDataset(images, labels)
    forget = Subset(train, [i for i in range(24) if labels[i] == 0])
    retain = Subset(train, [i for i in range(24) if labels[i] != 0])
    torch.manual_seed(seed)
    model = ConvVAE((3, 8, 8), hidden=(4, 8), latent_dim=3)
    model.train()
    with torch.no_grad():  # pretraining-like passes give non-default running statistics
        for _ in range(3):
            model(images, generator=gen)
    return train, forget, retain, model.eval()


@pytest.mark.parametrize("method", ["gradient-ascent", "gradient-surgery", "feature-unlearning"])
def test_a_zero_step_leaves_the_conv_vae_samples_bit_identical(method):
    """Batch-norm statistics are frozen during every gradient-based method: lr 0 changes nothing."""
    from unlearnbench.unlearning.feature_unlearning import FeedbackRequest

    train, forget, retain, model = _conv_problem()
    original = copy.deepcopy(model)
    elbo = lambda m, b: elbo_loss(m, b, generator=torch.Generator().manual_seed(3))  # noqa: E731
    hp = {"optimizer": "adam", "lr": 0.0, "epochs": 2, "forget_batch_size": 4}
    if method == "feature-unlearning":
        hp = {"lr": 1e-12, "epochs": 1, "n_feedback": 16, "batch_size": 8}
    request = FeedbackRequest(
        forget=forget, retain=retain, n_train=len(train), loss_fn=elbo, hyperparameters=hp,
        generator=torch.Generator().manual_seed(0),
        feedback=lambda images: images.mean(dim=(1, 2, 3)) > images.mean(),
    )
    outcome = get_method(method)(model, request)
    if method == "feature-unlearning":  # Adam's lr must be positive: zero the step by restoring weights
        outcome.model.load_state_dict({**outcome.model.state_dict(), **{
            k: v for k, v in original.state_dict().items() if "running" not in k and "num_batches" not in k
        }})
    for name, buffer in original.named_buffers():
        assert torch.equal(buffer, dict(outcome.model.named_buffers())[name]), name
    a = original.sample(8, generator=torch.Generator().manual_seed(5))
    b = outcome.model.sample(8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert all(m.training is False for m in outcome.model.modules())


def test_surgery_reports_the_cosine_of_the_step_adam_takes():
    """The projected gradient is orthogonal to g_r; Adam's step (about lr * sign) is not, and is reported."""
    train, forget, retain, model = _tiny_problem(3)
    request = _request(forget, retain, len(train), 3, optimizer="adam", lr=1e-3, retain_batch_size=len(retain))
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    outcome = get_method("gradient-surgery")(copy.deepcopy(model), request)
    after = torch.cat([p.detach().flatten() for p in outcome.model.parameters()])
    g_r = flat_gradient(model, request.loss_fn, (torch.stack([retain[i][0] for i in range(len(retain))]),))
    d = outcome.diagnostics
    assert abs(d["cosine_forget_retain_after"][0]) < 1e-5
    expected = float(torch.nn.functional.cosine_similarity(before - after, g_r, dim=0))
    assert d["cosine_step_retain"] == [pytest.approx(expected, abs=1e-6)]
    assert abs(expected) > 1e-3  # the step Adam takes is measurably not orthogonal


def test_sgd_step_cosine_equals_the_projected_gradient_cosine():
    train, forget, retain, model = _tiny_problem(4)
    request = _request(forget, retain, len(train), 4, optimizer="sgd", lr=1e-2, retain_batch_size=len(retain))
    d = get_method("gradient-surgery")(copy.deepcopy(model), request).diagnostics
    assert d["cosine_step_retain"][0] == pytest.approx(d["cosine_forget_retain_after"][0], abs=1e-4)


# ---- readings of config/readings.yaml: direction, retain_batch_size: all


@pytest.mark.parametrize("method", ["gradient-ascent", "gradient-surgery"])
def test_descend_flips_the_sgd_step(method):
    """``direction: descend`` (the update as printed) moves the weights exactly opposite to ascend."""
    train, forget, retain, model = _tiny_problem(3)
    steps = {}
    for direction in ("ascend", "descend"):
        request = _request(forget, retain, len(train), 3, optimizer="sgd", lr=1e-2, direction=direction,
                           retain_batch_size="all")
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        outcome = get_method(method)(copy.deepcopy(model), request)
        steps[direction] = torch.cat([p.detach().flatten() for p in outcome.model.parameters()]) - before
        assert outcome.diagnostics["direction"] == direction
    assert steps["ascend"].norm() > 0
    assert torch.allclose(steps["ascend"], -steps["descend"], atol=1e-7)


def test_descend_lowers_the_forget_loss():
    train, forget, retain, model = _tiny_problem(1)
    request = _request(forget, retain, len(train), 1, optimizer="sgd", lr=1e-3, direction="descend")
    batch = (torch.stack([forget[i][0] for i in range(len(forget))]),)
    before = float(request.loss_fn(model, batch).detach())
    outcome = get_method("gradient-ascent")(copy.deepcopy(model), request)
    assert float(request.loss_fn(outcome.model, batch).detach()) < before


def test_unknown_direction_is_rejected():
    train, forget, retain, model = _tiny_problem()
    with pytest.raises(ValueError, match="direction"):
        get_method("gradient-ascent")(model, _request(forget, retain, len(train), 0, direction="sideways"))


def test_retain_batch_all_uses_every_retain_sample():
    """g_r under ``retain_batch_size: all`` is the mean gradient over the whole retain set, seen once each."""
    train, forget, retain, model = _tiny_problem(4)
    seen: list[torch.Tensor] = []

    def recording_loss(m, batch):
        seen.append(batch[0].detach().clone())
        return _deterministic_loss(m, batch)

    request = _request(forget, retain, len(train), 4, loss=recording_loss, optimizer="sgd", lr=1e-2,
                       retain_batch_size="all")
    outcome = get_method("gradient-surgery")(copy.deepcopy(model), request)
    retain_images = torch.stack([retain[i][0] for i in range(len(retain))])
    used = torch.cat(seen[1:])  # seen[0] is the forget batch
    assert used.shape[0] == len(retain)
    assert torch.equal(used.flatten(1).sort(dim=0).values, retain_images.flatten(1).sort(dim=0).values)
    g_r = flat_gradient(model, _deterministic_loss, (retain_images,))
    assert abs(outcome.diagnostics["cosine_forget_retain_after"][0]) < 1e-5
    # the step is orthogonal to the full-retain gradient (SGD moves along the projected gradient)
    delta = torch.cat([p.detach().flatten() for p in outcome.model.parameters()]) - torch.cat(
        [p.detach().flatten() for p in model.parameters()]
    )
    assert abs(torch.dot(delta, g_r)) / (delta.norm() * g_r.norm()) < 1e-4


def test_mean_gradient_in_chunks_equals_the_full_batch_gradient():
    from unlearnbench.unlearning.gradient_steps import mean_gradient

    train, forget, retain, model = _tiny_problem(5)
    full = flat_gradient(model, _deterministic_loss, (torch.stack([retain[i][0] for i in range(len(retain))]),))
    chunked = mean_gradient(model, _deterministic_loss, retain, "cpu", chunk=7)
    assert torch.allclose(full, chunked, atol=1e-6)
