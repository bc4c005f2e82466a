"""Experiment kind ``cifar-zoo``: L-CODEC paper Fig. 5 (right) and Fig. 11, CIFAR-10 models.

One experiment block is one model of the zoo (:mod:`unlearnbench.models.zoo`) trained on
CIFAR-10 (or its stand-in) with the paper's recipe (appendix B.2.5: SGD, batch 64, lr 0.1,
0.01 for VGG-11-BN, weight decay 0.01, no augmentation). A run removes random training
samples one at a time with one method, recording metrics every ``checkpoint_every``
removals (or at the explicit ``checkpoints``); ``retrain`` retrains from scratch on the
retain set of every checkpoint (Fig. 11). The protocol is the one of
:mod:`unlearnbench.experiments.sequential_removal` (same training subset and removal order
per seed, same per-checkpoint metrics, same Newton hyperparameter keys), whose functions
this module calls; what it adds:

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
see ``config/schema/cifar-zoo.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from unlearnbench.captions import with_hessian_note
from unlearnbench.experiments import sequential_removal as seq
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.unchanged import unchanged_summary
from unlearnbench.models import load_model
from unlearnbench.models import zoo as _zoo
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.unlearning import UnlearningRequest, get_method

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
        return seq._checkpoint_schedule(total, int(settings.get("checkpoint_every", max(1, total // 10))))
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
    data = seq.load_data(ctx)
    indices = seq.training_indices(data.train.tensors[1], s.get("train_per_class"), seed)
    total = int(s["removals"])
    if not 0 < total < len(indices):
        raise ValueError(
            f"removals must lie in [1, {len(indices) - 1}] for {len(indices)} training samples, got {total}"
        )
    original, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    if int(meta.get("n_train", len(indices))) != len(indices):
        raise ValueError(
            "the pretrained model was trained on a different subset; rebuild it (delete the checkpoint)"
        )
    order = seq.removal_order(indices, seed)
    evaluate = seq._Evaluator(ctx, data, seed)
    points = schedule(s, total)
    batch_size = int(s["training"]["batch_size"])
    if method == "retrain":
        checkpoints, seconds = _run_retrain(
            ctx, data, original, indices, order, points, seed, evaluate, policy
        )
        reverted: list[dict[str, Any]] = []
        unchanged: list[dict[str, Any]] = []
    else:
        checkpoints, reverted, seconds, unchanged = seq._run_sequential(
            ctx, data, original, meta, indices, order, points, method, seed, evaluate
        )
    for row in checkpoints:
        row["final_batch_size"] = final_batch_size(len(indices) - int(row["removals"]), batch_size)
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "model": s["model"]["name"],
        "model_label": model_label(s),
        "n_parameters": int(sum(p.numel() for p in original.parameters())),
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": len(indices),
        "batch_size": batch_size,
        "final_batch": policy,
        "weight_decay": float(s["training"]["optimizer"].get("weight_decay", 0.0)),
        "original_test_accuracy": meta.get("test_accuracy"),
        "original_train_seconds": meta.get("train_seconds"),
        "settings": dict(s),
        "checkpoints": checkpoints,
        "reverted": reverted,
        **unchanged_summary(unchanged),
        "seconds": seconds,
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _check_model(settings: Mapping[str, Any]) -> None:
    name = settings["model"]["name"]
    if name not in _zoo.ZOO:
        raise ValueError(f"model {name!r} is not in the CIFAR-10 zoo; zoo: {', '.join(_zoo.ZOO)}")


def _run_retrain(ctx, data, original, indices, order, points, seed, evaluate, policy):
    """Retrain from scratch on the retain set of every checkpoint; ``skip`` leaves out final batches of 1."""
    retrain = seq._retrainer(ctx, data, seed)
    method = get_method("retrain")
    batch_size = int(ctx.settings["training"]["batch_size"])
    checkpoints: list[dict[str, Any]] = []
    total_seconds = 0.0
    for count in points:
        removed = order[:count].tolist()
        retain = np.setdiff1d(indices, order[:count]).tolist()
        if policy == "skip" and count > 0 and final_batch_size(len(retain), batch_size) == 1:
            checkpoints.append(
                {"removals": count, "skipped": "final training batch of size 1 (final_batch: skip)"}
            )
            continue
        if count == 0:  # the original is the model trained with this recipe and seed on everything
            model, seconds = original, 0.0
        else:
            request = UnlearningRequest(
                forget=Subset(data.train, removed),
                retain=Subset(data.train, retain),
                n_train=len(indices),
                loss_fn=cross_entropy_loss,
                device=torch.device(ctx.device),
                retrain_fn=retrain,
            )
            outcome = method(original, request)
            model, seconds = outcome.model, outcome.seconds
        row = evaluate(model, removed, retain)
        row["retrain_seconds"] = seconds
        total_seconds += seconds
        checkpoints.append(row)
    return checkpoints, total_seconds


# ---------------------------------------------------------------------------- artifacts' helpers


def experiments_for(config: Mapping[str, Any], artifact: str) -> dict[str, Mapping[str, Any]]:
    """``cifar-zoo`` experiments whose ``artifact`` key (a name or a list) names ``artifact``."""
    found = {}
    for name, block in (config.get("experiments") or {}).items():
        if block.get("kind") != KIND:
            continue
        targets = block.get("artifact")
        targets = [targets] if isinstance(targets, str) else list(targets or [])
        if artifact in targets:
            found[name] = block
    return found


def checkpoint_records(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per (run, checkpoint) with the run's identity, before averaging over seeds."""
    metrics = (*seq.CHECKPOINT_METRICS, "reverted_so_far")
    records = []
    for payload in runs:
        for row in payload["checkpoints"]:
            records.append(
                {
                    "experiment": payload["experiment"],
                    "model": payload["model"],
                    "model_label": payload["model_label"],
                    "n_parameters": payload["n_parameters"],
                    "dataset": payload["dataset"],
                    "stand_in": bool(payload["stand_in"]),
                    "weight_decay": payload["weight_decay"],
                    "method": payload["method"],
                    "seed": payload["seed"],
                    "removals": row["removals"],
                    "final_batch_size": row.get("final_batch_size"),
                    "skipped": bool(row.get("skipped")),
                    **{m: row.get(m) for m in metrics},
                }
            )
    return records


#: Metrics averaged over seeds in the zoo tables (those present in at least one run).
TABLE_METRICS = (*seq.CHECKPOINT_METRICS, "reverted_so_far")


def aggregate_runs(run_files: Sequence[Path], methods: Sequence[str] | None = None):
    """Mean/std over seeds per (experiment, method, removals); ``methods`` keeps only those methods.

    Besides the metrics, each row carries the model label, whether any seed's retraining
    ended on a batch of one sample at that checkpoint (``final_batch_of_one``) and how many
    seeds skipped it (``skipped_seeds``); ``column`` (the model) and ``row`` (method and
    removals) make the table addressable by the comparison report.
    """
    import pandas as pd

    from unlearnbench.artifacts.summaries import summarise

    frame = pd.DataFrame.from_records(checkpoint_records(seq.read_runs(run_files)))
    if methods is not None:
        frame = frame[frame["method"].isin(list(methods))]
    if frame.empty:
        raise ValueError(
            f"no checkpoint of the methods {list(methods or [])} in {len(run_files)} run file(s)"
        )
    metrics = [
        m for m in TABLE_METRICS if m in frame and pd.to_numeric(frame[m], errors="coerce").notna().any()
    ]
    frame[metrics] = frame[metrics].apply(pd.to_numeric, errors="coerce")
    frame["final_batch_of_one"] = frame["final_batch_size"] == 1
    keys = [
        "experiment",
        "model",
        "model_label",
        "n_parameters",
        "dataset",
        "stand_in",
        "weight_decay",
        "method",
        "removals",
    ]
    table = summarise(frame, keys, metrics)
    grouped = frame.groupby(keys, sort=False)
    table["final_batch_of_one"] = grouped["final_batch_of_one"].any().to_numpy()
    table["skipped_seeds"] = grouped["skipped"].sum().to_numpy().astype(int)
    table.insert(0, "row", [f"{m} @ {r}" for m, r in zip(table["method"], table["removals"])])
    table.insert(0, "column", table["model_label"])
    return table


def status(config: Mapping[str, Any], artifact: str, paper_dataset: str = "CIFAR-10") -> str:
    """One line for ``unlearnbench artifacts``: the experiments, their data and sizes."""
    from unlearnbench.data import is_stand_in

    experiments = experiments_for(config, artifact)
    if not experiments:
        return "not configured in this profile"
    parts = []
    for name, s in experiments.items():
        data = (
            f"STAND-IN: {s['dataset']} instead of {paper_dataset}"
            if is_stand_in(s["dataset"], config.get("datasets"))
            else "paper data"
        )
        seeds = seq.seeds_of(config, s)
        parts.append(
            f"{name} ({model_label(s)}; {data}; {s['removals']} removals; {', '.join(s['methods'])}; {len(seeds)} seeds)"
        )
    return with_hessian_note("configured: " + "; ".join(parts), experiments)
