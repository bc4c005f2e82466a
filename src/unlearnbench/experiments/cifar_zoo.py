"""Experiment kind ``cifar-zoo``: L-CODEC paper Fig. 5 (right) and Fig. 11, CIFAR-10 models.

One experiment block is one model of the zoo (:mod:`unlearnbench.models.zoo`) trained on
CIFAR-10 (or its stand-in) with the paper's recipe (appendix B.2.5: SGD, batch 64, lr 0.1,
0.01 for VGG-11-BN, weight decay 0.01, no augmentation). A run removes random training
samples one at a time with one method, recording metrics every ``checkpoint_every``
removals (or at the explicit ``checkpoints``); ``retrain`` retrains from scratch on the
retain set of every checkpoint (Fig. 11). The protocol is the one of
:mod:`unlearnbench.experiments.sequential_removal` (same training subset and removal order
per seed, same per-checkpoint metrics, same Newton hyperparameter keys), whose functions
this module calls (the removal loop itself is :mod:`unlearnbench.experiments.removal_engine`);
what it adds:

- the zoo models are registered (``cifar-resnet18`` ... ``mlp``), and each run records the
  model's name, display label and parameter count for the figures;
- the batch-norm effect of the paper's appendix B.2.4.2 is handled explicitly. Training
  never drops samples (``training.fit`` keeps a final short batch), so a retain set of
  ``k * batch_size + 1`` samples ends every retraining epoch on a batch of ONE sample,
  whose batch statistics make the retrained model's accuracy dip (the paper's Fig. 11
  "dips occur at removal counts where the modulus equals 1"). Every checkpoint records
  ``final_batch_size`` (the size of that last batch), the figure marks the checkpoints
  where it is 1, and ``final_batch`` chooses what ``retrain`` does there: ``keep``
  (default, the paper's behaviour: train anyway, the dip is visible and marked) or
  ``skip`` (the paper's "skip removals": no retraining at that checkpoint, the row says
  so and holds no metrics). No sample is ever silently dropped.

Choices the paper leaves open (epochs, momentum, which samples) are keys of the block;
see ``unlearnbench/schemas/kinds/cifar-zoo.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unlearnbench.experiments import sequential_removal as seq
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.removal_engine import SkipHook, checkpoint_schedule
from unlearnbench.models import zoo as _zoo
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json

KIND = "cifar-zoo"
FINAL_BATCH_POLICIES = ("keep", "skip")


# ---------------------------------------------------------------------------- the kind protocol


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return [settings["dataset"]]


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return [ModelRef("original", seed)]


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    """The original model of a seed: the zoo model trained with the recipe, plus the gradient bank."""
    if ref.role != "original":
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")
    _check_model(ctx.settings)
    seq.pretrain(ctx, ref, output)


def model_label(settings: Mapping[str, Any]) -> str:
    """The curve label: ``label`` from the config, else the zoo's display name."""
    name = settings["model"]["name"]
    return str(settings.get("label") or _zoo.ZOO.get(name, name))


def final_batch_size(n: int, batch_size: int) -> int:
    """Size of the last minibatch of an epoch over ``n`` samples (never dropped)."""
    if n <= 0 or batch_size <= 0:
        raise ValueError(f"n and batch_size must be positive (got {n}, {batch_size})")
    return n % batch_size or batch_size


def schedule(settings: Mapping[str, Any], total: int) -> list[int]:
    """Removal counts at which a run evaluates: 0, the explicit ``checkpoints`` or every ``checkpoint_every``, total."""
    explicit = settings.get("checkpoints")
    if explicit is None:
        return checkpoint_schedule(total, int(settings.get("checkpoint_every", max(1, total // 10))))
    points = sorted({int(c) for c in explicit} | {0, total})
    if points[0] < 0 or points[-1] > total:
        raise ValueError(f"checkpoints must lie in [0, removals={total}], got {sorted(explicit)}")
    return points


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    _check_model(s)
    policy = s.get("final_batch", "keep")
    if policy not in FINAL_BATCH_POLICIES:
        raise ValueError(f"final_batch must be one of {', '.join(FINAL_BATCH_POLICIES)}; got {policy!r}")
    original = seq.load_original(ctx, seed)
    data, indices = original.data, original.indices
    task = seq.ClassifierTask(
        data, ctx.device, seq.ClassifierEvaluation(ctx, data, seed), seq.retrainer(ctx, data, seed)
    )
    plan = seq.classifier_plan(s, original.order, indices, schedule(s, original.total), seed)
    batch_size = int(s["training"]["batch_size"])
    skip = skip_final_batch_of_one(batch_size) if policy == "skip" else None
    result = seq.classifier_run(ctx, method, original.model, original.meta, task, plan, skip=skip)
    for row in result.checkpoints:
        row["final_batch_size"] = final_batch_size(len(indices) - int(row["removals"]), batch_size)
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "model": s["model"]["name"],
        "model_label": model_label(s),
        "n_parameters": int(sum(p.numel() for p in original.model.parameters())),
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": len(indices),
        "batch_size": batch_size,
        "final_batch": policy,
        "weight_decay": float(s["training"]["optimizer"].get("weight_decay", 0.0)),
        "original_test_accuracy": original.meta.get("test_accuracy"),
        "original_train_seconds": original.meta.get("train_seconds"),
        "settings": dict(s),
        **result.fields(),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _check_model(settings: Mapping[str, Any]) -> None:
    name = settings["model"]["name"]
    if name not in _zoo.ZOO:
        raise ValueError(f"model {name!r} is not in the CIFAR-10 zoo; zoo: {', '.join(_zoo.ZOO)}")


def skip_final_batch_of_one(batch_size: int) -> SkipHook:
    """``final_batch: skip``: leave out the retrains whose epochs would end on a batch of one sample."""

    def skip(count: int, retain: Sequence[int]) -> str | None:
        if count > 0 and final_batch_size(len(retain), batch_size) == 1:
            return "final training batch of size 1 (final_batch: skip)"
        return None

    return skip
