"""Classification metrics of an unlearned model: accuracies, and its distance to a retrained one.

In the sequential-removal experiments the *residual* accuracy is the accuracy on the
retain set (the training points not removed yet), the *forget* (scrubbed) accuracy the
accuracy on the points removed so far, and the test accuracy the validation accuracy of
the paper's figures. Distances to the model retrained from scratch on the same retain
set are reported both in parameter space and as the KL divergence of the predictive
distributions, which does not depend on how the parameters are arranged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from unlearnbench.batching import as_tensors, eval_outputs


@torch.no_grad()
def predict_logits(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu"
) -> torch.Tensor:
    """Logits of every sample of ``dataset`` (model in eval mode), on the CPU."""
    return eval_outputs(model, model, as_tensors(dataset)[0], batch_size=batch_size, device=device)


def accuracy(model: nn.Module, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu") -> float:
    """Fraction of samples whose arg-max prediction equals the label; NaN for an empty set."""
    if len(dataset) == 0:
        return float("nan")
    labels = as_tensors(dataset)[1]
    return top1_accuracy(predict_logits(model, dataset, batch_size=batch_size, device=device), labels)


def top1_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label, from logits already computed."""
    return float((logits.argmax(dim=1) == labels).double().mean())


def parameter_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """Euclidean distance between the two models' parameter vectors (same architecture)."""
    names_a = [name for name, _ in model_a.named_parameters()]
    names_b = [name for name, _ in model_b.named_parameters()]
    if names_a != names_b:
        raise ValueError("parameter_distance needs two models of the same architecture")
    total = 0.0
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        if pa.shape != pb.shape:
            raise ValueError(f"parameter shapes differ: {tuple(pa.shape)} vs {tuple(pb.shape)}")
        total += float((pa.detach().double().cpu() - pb.detach().double().cpu()).pow(2).sum())
    return total**0.5


def output_kl(
    reference: nn.Module, model: nn.Module, dataset: Dataset, *, batch_size: int = 1024, device: str = "cpu"
) -> float:
    """Mean ``KL(p_reference || p_model)`` of the softmax outputs over ``dataset``.

    With ``reference`` the retrained model, this is how much information about the
    retrained predictions the unlearned model loses; 0 when they predict identically.
    """
    if len(dataset) == 0:
        return float("nan")
    return logits_kl(
        predict_logits(reference, dataset, batch_size=batch_size, device=device),
        predict_logits(model, dataset, batch_size=batch_size, device=device),
    )


def logits_kl(reference_logits: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean ``KL(softmax(reference_logits) || softmax(logits))`` over rows, in double precision."""
    log_p = F.log_softmax(reference_logits.double(), dim=1)
    log_q = F.log_softmax(logits.double(), dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum(dim=1).mean())
