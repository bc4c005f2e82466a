"""Moon et al. (2023) feature unlearning: latent translation, feature direction, and the method's contract."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from unlearnbench.models.conv_vae import ConvVAE
from unlearnbench.models.vae import MLPVAE, elbo_loss
from unlearnbench.unlearning import UnlearningRequest, get_method
from unlearnbench.unlearning.feature_unlearning import (
    FeedbackRequest,
    choose_threshold,
    decoder_parameters,
    feature_direction,
    translate,
)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def test_translation_removes_the_projection_above_t_and_leaves_the_rest():
    gen = torch.Generator().manual_seed(0)
    direction = _unit(torch.randn(6, generator=gen, dtype=torch.float64))
    z = 2 * torch.randn(200, 6, generator=gen, dtype=torch.float64)
    t = 0.3
    translated, carries = translate(z, direction, t)
    projection = z @ direction
    assert torch.equal(carries, projection > t)
    assert 0 < int(carries.sum()) < 200
    # below t: untouched, bit for bit
    assert torch.equal(translated[~carries], z[~carries])
    # above t: the projection is now exactly t, the orthogonal part is unchanged
    assert torch.allclose(
        translated[carries] @ direction, torch.full((int(carries.sum()),), t, dtype=torch.float64)
    )
    orthogonal = lambda v: v - (v @ direction)[:, None] * direction  # noqa: E731
    assert torch.allclose(orthogonal(translated[carries]), orthogonal(z[carries]))


def test_feature_direction_is_the_normalised_difference_of_means():
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    marks = torch.tensor([True, True, False, False])
    direction = feature_direction(z, marks)
    assert torch.allclose(direction, _unit(torch.tensor([2.0, -2.0])))
    with pytest.raises(ValueError, match="some latents with and some without"):
        feature_direction(z, torch.ones(4, dtype=torch.bool))


def test_threshold_rules():
    projections = torch.tensor([4.0, 2.0, -1.0, 1.0])
    marks = torch.tensor([True, True, False, False])
    assert choose_threshold(projections, marks, "negative-mean") == pytest.approx(0.0)
    assert choose_threshold(projections, marks, "positive-mean") == pytest.approx(3.0)
    assert choose_threshold(projections, marks, "midpoint") == pytest.approx(1.5)
    assert choose_threshold(projections, marks, 0.7) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="threshold"):
        choose_threshold(projections, marks, "median")


def _tiny_setup(seed: int = 0):
    torch.manual_seed(seed)
    model = MLPVAE((1, 4, 4), hidden=(16,), latent_dim=3)
    images = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    train = TensorDataset(images, torch.arange(30) % 2)
    forget, retain = Subset(train, list(range(0, 30, 2))), Subset(train, list(range(1, 30, 2)))
    # the "feature": a bright image; the cut is the median brightness of the model's own samples
    with torch.no_grad():
        cut = float(model.sample(2000, generator=torch.Generator().manual_seed(99)).mean((1, 2, 3)).median())

    def feedback(x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3)) > cut

    return model, train, forget, retain, feedback


def _request(train, forget, retain, feedback, **hp) -> FeedbackRequest:
    return FeedbackRequest(
        forget=forget,
        retain=retain,
        n_train=len(train),
        loss_fn=elbo_loss,
        hyperparameters=hp,
        generator=torch.Generator().manual_seed(0),
        feedback=feedback,
    )


def _share_with_feature(model, feedback) -> float:
    samples = model.sample(4000, generator=torch.Generator().manual_seed(7))
    return float(feedback(samples).double().mean())


def test_feature_unlearning_changes_only_the_decoder_and_removes_the_feature():
    model, train, forget, retain, feedback = _tiny_setup()
    original = copy.deepcopy(model)
    request = _request(train, forget, retain, feedback, lr=1e-2, epochs=10, n_feedback=200, batch_size=50)
    outcome = get_method("feature-unlearning")(model, request)
    new = dict(outcome.model.named_parameters())
    for name, param in original.named_parameters():
        changed = not torch.equal(param, new[name])
        is_decoder = name.startswith(("decoder_body", "to_logits"))
        assert changed == is_decoder, f"{name}: changed={changed}, decoder={is_decoder}"
    before, after = _share_with_feature(original, feedback), _share_with_feature(outcome.model, feedback)
    assert before > 0.3
    assert after < 0.5 * before
    diagnostics = outcome.diagnostics
    assert diagnostics["feedback_positive"] > 0 and diagnostics["epochs"] == 10
    assert (
        diagnostics["feedback_projection_mean"]["feature"]
        > diagnostics["feedback_projection_mean"]["no_feature"]
    )
    assert outcome.seconds > 0


def test_feature_unlearning_needs_feedback_and_skips_degenerate_feedback():
    model, train, forget, retain, _ = _tiny_setup()
    plain = UnlearningRequest(forget=forget, retain=retain, n_train=len(train), loss_fn=elbo_loss)
    with pytest.raises(ValueError, match="feedback"):
        get_method("feature-unlearning")(model, plain)
    never = _request(train, forget, retain, lambda x: torch.zeros(x.shape[0], dtype=torch.bool), epochs=2)
    original = copy.deepcopy(model)
    outcome = get_method("feature-unlearning")(model, never)
    assert "skipped" in outcome.diagnostics
    assert all(torch.equal(a, b) for a, b in zip(original.parameters(), outcome.model.parameters()))


def test_other_methods_accept_a_feedback_request():
    model, train, forget, retain, feedback = _tiny_setup()
    request = _request(train, forget, retain, feedback, lr=1e-3)
    outcome = get_method("gradient-surgery")(model, request)
    assert outcome.diagnostics["steps"] == 1


def test_decoder_parameters_of_the_conv_vae_exclude_the_encoder():
    model = ConvVAE((3, 16, 16), hidden=(4, 8), latent_dim=5)
    found = {id(p) for p in decoder_parameters(model)}
    names = {name for name, p in model.named_parameters() if id(p) in found}
    assert names and all(name.startswith(("decoder_input", "decoder.")) for name in names)
    expected = {
        name for name, _ in model.named_parameters() if name.startswith(("decoder_input", "decoder."))
    }
    assert names == expected
    assert model.training  # the probe restores the mode it found
