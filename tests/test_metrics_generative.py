"""fratio, IS and FID from a domain classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from unlearnbench.metrics.generative import (
    fratio,
    frechet_distance,
    frechet_distance_from_moments,
    inception_score,
)


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_inception_score_of_one_hot_predictions_spread_over_k_classes_is_k(k):
    probs = torch.eye(k).repeat(7, 1)
    assert inception_score(probs) == pytest.approx(k, rel=1e-6)


def test_inception_score_of_constant_prediction_is_one():
    probs = torch.tensor([[0.2, 0.5, 0.3]]).repeat(50, 1)
    assert inception_score(probs) == pytest.approx(1.0, abs=1e-9)


def test_inception_score_rejects_empty_input():
    with pytest.raises(ValueError):
        inception_score(torch.empty(0, 3))


def test_fid_of_a_set_against_itself_is_about_zero():
    feats = np.random.default_rng(0).normal(size=(400, 16))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_pytorch_fid_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 8)), rng.normal(loc=0.5, size=(300, 8))
    ours = frechet_distance(a, b)
    reference = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert ours == pytest.approx(reference, rel=1e-6)
    assert ours > frechet_distance(a, rng.normal(loc=0.1, size=(300, 8)))


def test_fid_handles_singular_covariance():
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.normal(size=(50, 4)), np.zeros((50, 4))], axis=1)  # dead units
    assert np.isfinite(frechet_distance(a, a + 0.1))


def test_fid_raises_on_a_large_imaginary_square_root_as_pytorch_fid_does():
    """An indefinite 'covariance' has a complex square root: pytorch-fid raises, and so must we."""
    mu = np.zeros(2)
    indefinite, identity = np.diag([1.0, -1.0]), np.eye(2)
    with pytest.raises(ValueError, match="Imaginary component"):
        calculate_frechet_distance(mu, indefinite, mu, identity)
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance_from_moments(mu, indefinite, mu, identity)


def test_fratio_counts_argmax_of_target_class():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.0, 0.0, 1.0]])
    assert fratio(probs, 0) == pytest.approx(0.5)
    assert fratio(probs, 2) == pytest.approx(0.25)


# ---- evaluation.fid_features: the classifier spaces of config/readings.yaml (metric-space)


def _evaluation_problem():
    from torch.utils.data import TensorDataset

    from unlearnbench.data import DatasetSplits
    from unlearnbench.models.classifiers import AllCNN
    from unlearnbench.models.vae import MLPVAE

    gen = torch.Generator().manual_seed(0)
    images, labels = torch.rand(40, 1, 8, 8, generator=gen), torch.arange(40) % 3
    data = DatasetSplits(
        train=TensorDataset(images[:30], labels[:30]), test=TensorDataset(images[30:], labels[30:]),
        name="tiny", classes=[1, 3, 8], image_shape=(1, 8, 8), description="tiny", stand_in=True,
    )
    torch.manual_seed(0)
    return data, MLPVAE((1, 8, 8), hidden=(8,), latent_dim=2), AllCNN(in_channels=1, n_classes=3, width=4)


@pytest.mark.parametrize(
    "which, space", [("classifier", "penultimate"), ("classifier-logits", "logits"),
                     ("classifier-probabilities", "probabilities")]
)
def test_fid_in_each_classifier_space_equals_the_frechet_distance_of_those_outputs(which, space):
    from unlearnbench.experiments.generative_unlearning import evaluate, generate
    from unlearnbench.metrics.generative import frechet_distance

    data, vae, classifier = _evaluation_problem()
    evaluation = {"n_samples": 50, "fid_features": which, "batch_size": 16}
    metrics = evaluate(vae, classifier, data, 0, evaluation, seed=0, device="cpu")
    samples = generate(vae, 50, 16, torch.Generator().manual_seed(10_000), "cpu")
    reference = torch.cat([data.train.tensors[0], data.test.tensors[0]])
    classifier.eval()
    with torch.no_grad():
        def outputs(x):
            h = classifier.embed(x)
            logits = classifier.head(h)
            return {"penultimate": h, "logits": logits, "probabilities": torch.softmax(logits, 1)}[space].numpy()

        expected = frechet_distance(outputs(samples), outputs(reference))
    assert metrics["FID"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert metrics[f"FID_{space}"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    # every classifier space is recorded whichever one is the headline, and they differ
    assert {"FID_penultimate", "FID_logits", "FID_probabilities"} <= set(metrics)
    assert metrics["FID_penultimate"] != metrics["FID_probabilities"]


def test_unknown_fid_features_is_rejected():
    from unlearnbench.experiments.generative_unlearning import fid_features

    with pytest.raises(ValueError, match="classifier-probabilities"):
        fid_features({"fid_features": "softmax"})
