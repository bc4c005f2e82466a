"""One checkpoint metric set for every removal kind: the values of today's single metrics, nothing drawn globally."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench.metrics.classification import accuracy, output_kl, parameter_distance
from unlearnbench.metrics.gradients import dataset_gradient_norm
from unlearnbench.metrics.privacy import membership_auc
from unlearnbench.metrics.removal import (
    MetricInputs,
    metric_names,
    removal_metrics,
    residual_gradient_norms,
    top_class_confidence,
    true_class_confidence,
)
from unlearnbench.models.classifiers import cross_entropy_loss

TODAY_KEYS = {
    "forget_accuracy",
    "residual_accuracy",
    "test_accuracy",
    "residual_gradient_norm_data",
    "residual_gradient_norm_regularised",
    "mia_auc",
}
RETRAIN_KEYS = {
    "distance_to_retrain",
    "output_kl_to_retrain",
    "forget_accuracy_gap_to_retrain",
    "residual_accuracy_gap_to_retrain",
    "test_accuracy_gap_to_retrain",
}


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))


@pytest.fixture(scope="module")
def task():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 5, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    train = TensorDataset(x[:100], y[:100])
    test = TensorDataset(x[100:], y[100:])
    sets = {
        "forget": Subset(train, list(range(10))),
        "retain": Subset(train, list(range(10, 100))),
        "test": test,
        "heldout": Subset(test, list(range(0, 50, 2))),
    }
    return _model(1), _model(2), sets


def _metrics(model, sets, reference=None, **hooks):
    inputs = MetricInputs(**sets, loss_fn=cross_entropy_loss, l2_lambda=0.05, **hooks)
    return removal_metrics(model, inputs, seed=[0, 9], reference=reference)


def test_the_metric_set_keeps_todays_names_and_values(task):
    """Each key equals the single metric the experiment kinds compute today, bit for bit."""
    model, reference, sets = task
    row = _metrics(model, sets, reference=reference, batch_size=32)
    assert set(row) == TODAY_KEYS | RETRAIN_KEYS | {"mia_svc_efficacy"}
    assert tuple(row) == metric_names(retrain=True)
    assert row["forget_accuracy"] == accuracy(model, sets["forget"], batch_size=32)
    assert row["residual_accuracy"] == accuracy(model, sets["retain"], batch_size=32)
    assert row["test_accuracy"] == accuracy(model, sets["test"], batch_size=32)
    assert row["residual_gradient_norm_data"] == dataset_gradient_norm(
        model, cross_entropy_loss, sets["retain"], batch_size=32
    )
    assert row["residual_gradient_norm_regularised"] == dataset_gradient_norm(
        model, cross_entropy_loss, sets["retain"], batch_size=32, l2_lambda=0.05
    )
    assert row["mia_auc"] == membership_auc(model, sets["forget"], sets["heldout"])
    assert row["distance_to_retrain"] == parameter_distance(model, reference)
    assert row["output_kl_to_retrain"] == output_kl(reference, model, sets["test"], batch_size=32)
    assert row["test_accuracy_gap_to_retrain"] == pytest.approx(
        accuracy(model, sets["test"]) - accuracy(reference, sets["test"]), abs=0
    )
    assert 0.0 <= row["mia_svc_efficacy"] <= 1.0


def test_a_model_is_at_no_distance_from_itself(task):
    model, _, sets = task
    row = _metrics(model, sets, reference=model)
    assert {row[k] for k in RETRAIN_KEYS} == {0.0}


def test_nothing_removed_yet_leaves_the_removed_set_metrics_undefined(task):
    model, _, sets = task
    row = _metrics(model, {**sets, "forget": Subset(sets["forget"], [])}, reference=model)
    undefined = {"forget_accuracy", "mia_auc", "mia_svc_efficacy", "forget_accuracy_gap_to_retrain"}
    assert {k for k, v in row.items() if v is None} == undefined


def test_the_metric_set_leaves_every_global_random_state_alone(task):
    """Runs draw from the global streams in a fixed order: a metric must not shift them."""
    model, reference, sets = task
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    before = torch.get_rng_state(), np.random.get_state(), random.getstate()
    _metrics(model, sets, reference=reference)
    after = torch.get_rng_state(), np.random.get_state(), random.getstate()
    assert torch.equal(before[0], after[0])
    assert (
        before[1][0] == after[1][0]
        and np.array_equal(before[1][1], after[1][1])
        and before[1][2:] == after[1][2:]
    )
    assert before[2] == after[2]


def test_the_metric_set_is_deterministic(task):
    model, reference, sets = task
    assert _metrics(model, sets, reference=reference) == _metrics(model, sets, reference=reference)


def test_a_task_supplies_its_own_score_and_can_leave_the_svc_attack_out(task):
    model, _, sets = task

    def error_rate(logits: torch.Tensor, labels: torch.Tensor) -> float:
        return float((logits.argmax(dim=1) != labels).double().mean())

    row = _metrics(model, sets, score=error_rate, score_name="error", confidence=None)
    assert row["test_error"] == pytest.approx(1.0 - accuracy(model, sets["test"]), abs=1e-12)
    assert "test_accuracy" not in row and row["mia_svc_efficacy"] is None


def test_residual_gradient_norms_come_from_one_gradient(task):
    model, _, sets = task
    norms = residual_gradient_norms(
        model, cross_entropy_loss, sets["retain"], 0.05, batch_size=16, device="cpu"
    )
    data = dataset_gradient_norm(model, cross_entropy_loss, sets["retain"], batch_size=16)
    regularised = dataset_gradient_norm(
        model, cross_entropy_loss, sets["retain"], batch_size=16, l2_lambda=0.05
    )
    assert norms == {"residual_gradient_norm_data": data, "residual_gradient_norm_regularised": regularised}
    assert regularised != data
    unregularised = residual_gradient_norms(
        model, cross_entropy_loss, sets["retain"], 0.0, batch_size=16, device="cpu"
    )
    assert unregularised["residual_gradient_norm_regularised"] == unregularised["residual_gradient_norm_data"]


def test_the_names_follow_the_score():
    assert metric_names("micro_f1")[:3] == ("residual_micro_f1", "forget_micro_f1", "test_micro_f1")
    assert "test_micro_f1_gap_to_retrain" in metric_names("micro_f1", retrain=True)
    assert not any("retrain" in name for name in metric_names())


def test_the_svc_attack_contrasts_the_removed_samples_with_the_heldout_ones(task):
    """Non-members of the SVC attack are the held-out samples (the loss attack's), not the whole test set."""
    from unlearnbench.batching import as_tensors
    from unlearnbench.metrics.classification import predict_logits
    from unlearnbench.metrics.privacy import svc_mia_efficacy

    model, _, sets = task

    def confidence(name):
        return true_class_confidence(predict_logits(model, sets[name]), as_tensors(sets[name])[1])

    direct = svc_mia_efficacy(confidence("retain"), confidence("heldout"), confidence("forget"), seed=[0, 9])
    assert _metrics(model, sets)["mia_svc_efficacy"] == direct
    assert _metrics(model, {**sets, "test": sets["forget"]})["mia_svc_efficacy"] == direct


def test_a_task_without_a_test_score_still_gets_both_attacks(task):
    """Open-set tasks (re-ID): no labelled unseen samples, label-free attack features."""
    from unlearnbench.metrics.privacy import predicted_class_cross_entropy

    model, _, sets = task
    x, y = sets["test"][:][0], sets["test"][:][1]
    row = _metrics(
        model,
        {**sets, "test": TensorDataset(x[:0], y[:0]), "heldout": TensorDataset(x, torch.full_like(y, -1))},
        sample_losses=predicted_class_cross_entropy,
        confidence=top_class_confidence,
    )
    assert row["test_accuracy"] is None
    assert 0.0 <= row["mia_auc"] <= 1.0 and 0.0 <= row["mia_svc_efficacy"] <= 1.0


def test_top_class_confidence_ignores_the_label_and_is_the_true_class_one_when_they_agree():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    top = top_class_confidence(logits, torch.tensor([-1, -1]))
    assert np.array_equal(top, true_class_confidence(logits, torch.tensor([0, 1])))
