"""The gradient bank: what it records, that it does not change training, and its checkpoint round trip."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from unlearnbench.models import load_model, save_model
from unlearnbench.models.classifiers import LogisticRegression, cross_entropy_loss
from unlearnbench.newton.gradient_bank import (
    GradientBank,
    GradientBankCallback,
    read_from_meta,
    store_in_meta,
)
from unlearnbench.training import OptimizerSpec, fit


def _data() -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(70, 1, 3, 3, generator=gen), torch.randint(0, 4, (70,), generator=gen))


def _train(callbacks=()):
    torch.manual_seed(0)
    model = LogisticRegression(9, 4)
    fit(
        model,
        cross_entropy_loss,
        _data(),
        epochs=4,
        batch_size=16,
        optimizer=OptimizerSpec("sgd", lr=0.5, weight_decay=0.01),
        seed=0,
        callbacks=callbacks,
    )
    return model


@pytest.fixture(scope="module")
def banked():
    callback = GradientBankCallback(cross_entropy_loss, epochs=4)
    model = _train([callback])
    return model, callback.bank


def test_bank_records_the_last_two_epochs_and_the_final_full_gradient(banked):
    model, bank = banked
    assert [r.epoch for r in bank.epochs] == [2, 3]
    assert bank.n_train == 70
    x, y = _data().tensors
    expected = torch.autograd.grad(cross_entropy_loss(model, (x, y)), list(model.parameters()))
    for (name, _), grad in zip(model.named_parameters(), expected, strict=True):
        torch.testing.assert_close(bank.final_grads[name], grad)
        assert torch.equal(bank.final_params[name], dict(model.named_parameters())[name].detach())
    # The last epoch ends where training ends.
    assert torch.equal(bank.epochs[-1].params["linear.weight"], bank.final_params["linear.weight"])
    assert not torch.equal(bank.epochs[0].params["linear.weight"], bank.epochs[1].params["linear.weight"])


def test_recording_the_bank_does_not_change_training(banked):
    model, _ = banked
    plain = _train()
    for a, b in zip(model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bank_survives_a_weights_only_checkpoint_round_trip(banked, tmp_path):
    model, bank = banked
    meta = store_in_meta({"train_seconds": 1.5}, bank)
    path = save_model(tmp_path / "original.pt", model, "logistic", {"n_features": 9, "n_classes": 4}, meta)
    raw = torch.load(path, weights_only=True)  # must not need pickle
    assert raw["meta"]["gradient_bank"]["format"] == "unlearnbench-gradient-bank-v1"
    _, loaded_meta = load_model(path)
    restored = read_from_meta(loaded_meta)
    assert restored.n_train == bank.n_train
    assert [r.epoch for r in restored.epochs] == [r.epoch for r in bank.epochs]
    for original, copy in zip(bank.epochs, restored.epochs, strict=True):
        for name in original.grads:
            assert torch.equal(original.grads[name], copy.grads[name])
            assert torch.equal(original.params[name], copy.params[name])
    assert torch.equal(restored.final_grads["linear.bias"], bank.final_grads["linear.bias"])


def test_bank_errors_are_clear():
    with pytest.raises(KeyError, match="no gradient bank"):
        read_from_meta({})
    with pytest.raises(ValueError, match="not a gradient bank"):
        GradientBank.from_payload({"format": "something else"})
    with pytest.raises(ValueError, match="last two epochs"):
        GradientBank().last_two()


def test_the_bank_is_recorded_only_when_a_method_uses_finite_differences():
    from unlearnbench.newton.gradient_bank import bank_needed

    assert not bank_needed({"methods": {"lcodec": {}, "newton-full": {"hessian": "exact"}}})
    assert bank_needed({"methods": {"lcodec": None}, "unlearning": {"hessian": "finite-difference"}})
    assert not bank_needed({"methods": {"lcodec": {"hessian": "exact"}}, "unlearning": {"hessian": "finite-difference"}})
    assert not bank_needed({})


def test_a_finite_difference_method_gets_the_checkpoints_bank_or_a_clear_error():
    from unlearnbench.newton.gradient_bank import META_KEY, attach_bank

    exact = {"hessian": "exact"}
    attach_bank(exact, {})
    assert META_KEY not in exact
    fd = {"hessian": "finite-difference"}
    attach_bank(fd, {META_KEY: {"format": "x"}})
    assert fd[META_KEY] == {"format": "x"}
    with pytest.raises(ValueError, match="rebuild the pretrained model"):
        attach_bank({"hessian": "finite-difference"}, {})
