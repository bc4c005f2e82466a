"""The gradient bank: what Newton-type unlearning needs to remember from training.

Recorded by :class:`GradientBankCallback` inside :func:`unlearnbench.training.fit`:

- ``final``: the full-batch gradient of the training loss at the trained parameters;
- ``epochs``: for each of the last two epochs, the full-batch gradient and the
  parameters at the end of that epoch. The authors' finite-difference Hessian is
  ``(g_a - g_b)(g_a - g_b)^T / ||w_a - w_b||_1`` from exactly these two points.

Gradients are of the mean data loss (``loss_fn``) without the weight-decay term, which
the Newton step adds analytically. They are exact full-batch gradients (one extra pass
over the training data at each of the last two epoch ends and at the end), unlike the
authors' code, which sums the minibatch gradients seen during the epoch (each taken at a
different parameter value) and divides by the number of samples.

Everything is keyed by qualified parameter name (``named_parameters``), never by the
module's text repr, and stored as plain dicts/lists of tensors so a checkpoint holding it
loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from unlearnbench.training import to_device

BANK_FORMAT = "unlearnbench-gradient-bank-v1"
META_KEY = "gradient_bank"
LossFn = Callable[[nn.Module, Any], torch.Tensor]


@dataclass
class EpochRecord:
    epoch: int
    grads: dict[str, torch.Tensor]
    params: dict[str, torch.Tensor]


@dataclass
class GradientBank:
    final_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    final_params: dict[str, torch.Tensor] = field(default_factory=dict)
    epochs: list[EpochRecord] = field(default_factory=list)
    n_train: int = 0

    def last_two(self) -> tuple[EpochRecord, EpochRecord]:
        """The penultimate and last epoch records (the finite-difference pair)."""
        if len(self.epochs) < 2:
            raise ValueError(
                f"the gradient bank holds {len(self.epochs)} epoch record(s); the finite-difference Hessian "
                "needs the last two epochs (train for at least 2 epochs with GradientBankCallback)"
            )
        return self.epochs[-2], self.epochs[-1]

    def to_payload(self) -> dict[str, Any]:
        """Plain containers and CPU tensors only (``weights_only``-safe)."""
        return {
            "format": BANK_FORMAT,
            "n_train": int(self.n_train),
            "final": {"grads": _cpu(self.final_grads), "params": _cpu(self.final_params)},
            "epochs": [
                {"epoch": int(r.epoch), "grads": _cpu(r.grads), "params": _cpu(r.params)} for r in self.epochs
            ],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GradientBank:
        if not isinstance(payload, Mapping) or payload.get("format") != BANK_FORMAT:
            raise ValueError(f"not a gradient bank payload (expected format {BANK_FORMAT!r})")
        return cls(
            final_grads=dict(payload["final"]["grads"]),
            final_params=dict(payload["final"]["params"]),
            epochs=[
                EpochRecord(int(r["epoch"]), dict(r["grads"]), dict(r["params"])) for r in payload["epochs"]
            ],
            n_train=int(payload["n_train"]),
        )


def _cpu(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: t.detach().cpu().clone() for name, t in tensors.items()}


def bank_needed(settings: Mapping[str, Any]) -> bool:
    """Whether a method of an experiment block uses the finite-difference Hessian.

    Only then does pretraining record the bank (it costs extra passes, and for VGG-16 it
    holds gigabytes). ``methods.<name>.hessian`` overrides the shared ``unlearning.hessian``.
    """
    shared = (settings.get("unlearning") or {}).get("hessian")
    return any(
        ((hp or {}).get("hessian", shared)) == "finite-difference"
        for hp in (settings.get("methods") or {}).values()
    )


def attach_bank(hyperparameters: dict[str, Any], meta: Mapping[str, Any]) -> None:
    """Give a finite-difference method the bank its pretrained checkpoint recorded (else: no-op).

    A checkpoint pretrained without the bank is an error naming the fix, not a KeyError.
    """
    if hyperparameters.get("hessian") != "finite-difference":
        return
    if META_KEY not in meta:
        raise ValueError(
            "hessian: finite-difference needs the gradient bank; rebuild the pretrained model (delete it)"
        )
    hyperparameters[META_KEY] = meta[META_KEY]


def store_in_meta(meta: dict[str, Any], bank: GradientBank) -> dict[str, Any]:
    """Put ``bank`` under ``meta["gradient_bank"]`` (the ``meta`` of :func:`~unlearnbench.models.save_model`)."""
    meta[META_KEY] = bank.to_payload()
    return meta


def read_from_meta(meta: Mapping[str, Any]) -> GradientBank:
    """The bank stored by :func:`store_in_meta`, with a clear error when the checkpoint has none."""
    if META_KEY not in meta:
        raise KeyError("this checkpoint has no gradient bank; pretrain it with GradientBankCallback")
    return GradientBank.from_payload(meta[META_KEY])


def full_gradient(
    model: nn.Module, loss_fn: LossFn, loader: DataLoader, device: str | torch.device
) -> tuple[dict[str, torch.Tensor], int]:
    """Gradient of the sample-weighted mean loss over ``loader`` (every batch, no step)."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    count = 0
    for batch in loader:
        batch = to_device(batch, str(device))
        size = int(batch[0].shape[0])
        grads = torch.autograd.grad(loss_fn(model, batch), list(params.values()), allow_unused=True)
        for (name, _), grad in zip(params.items(), grads, strict=True):
            if grad is not None:
                total[name] += grad.detach() * size
        count += size
    if count == 0:
        raise ValueError("cannot compute a full gradient over an empty loader")
    return {name: g / count for name, g in total.items()}, count


class GradientBankCallback:
    """A :class:`~unlearnbench.training.TrainingCallback` that fills a :class:`GradientBank`.

    ``epochs`` is the total number of training epochs: full gradients are taken only at
    the end of the last two (one extra pass each), not after every epoch.
    """

    def __init__(self, loss_fn: LossFn, epochs: int, device: str | torch.device = "cpu") -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.loss_fn = loss_fn
        self.epochs = epochs
        self.device = device
        self.bank = GradientBank()

    def _gradient(self, model: nn.Module, loader: DataLoader) -> tuple[dict[str, torch.Tensor], int]:
        # A fresh, unshuffled loader: iterating the training loader would draw from its
        # shuffling generator and change the order of later epochs (the recipe must not
        # depend on whether the bank is recorded). Eval mode: no dropout, and batch norm
        # running statistics are not touched by the extra pass.
        plain = DataLoader(loader.dataset, batch_size=loader.batch_size or 256, shuffle=False)
        was_training = model.training
        model.eval()
        try:
            return full_gradient(model, self.loss_fn, plain, self.device)
        finally:
            model.train(was_training)

    def on_epoch_end(self, epoch: int, model: nn.Module, loader: DataLoader) -> None:
        if epoch < self.epochs - 2:
            return
        grads, count = self._gradient(model, loader)
        params = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
        self.bank.epochs.append(EpochRecord(epoch, grads, params))
        self.bank.epochs = self.bank.epochs[-2:]
        self.bank.n_train = count

    def state_dict(self) -> dict[str, Any]:
        """The records so far: a resumed training must not lose the penultimate epoch's."""
        return self.bank.to_payload()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.bank = GradientBank.from_payload(state)

    def on_train_end(self, model: nn.Module, loader: DataLoader) -> None:
        grads, count = self._gradient(model, loader)
        self.bank.final_grads = grads
        self.bank.final_params = {
            name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad
        }
        self.bank.n_train = count
