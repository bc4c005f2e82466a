"""Experiment kind ``reid-removal``: L-CODEC Fig. 8/12, unlearning a person from a re-ID model.

A torchreid model (``model.arch``: resnet50, resnet50_fc512, mlfn, mobilenetv2_x1_0, ...)
is trained per seed on the training identities of a torchreid dataset (Market-1501 in
the paper; the quick profile's stand-in in Market-1501's layout), with the gradient bank
of its last two epochs. Each run removes the training images of one identity, one at a
time, with one method (``lcodec``, ``newton-random``, ... : any registered method, which
sees images, so the engine's Gaussian input perturbations apply unchanged) and one
epsilon, and records at every ``checkpoint_every`` removals:

- ``mAP`` and ``rank1`` (torchreid's ``evaluate_rank``, Market-1501 protocol) of the test
  queries against the test gallery: the model's utility on people it never saw;
- ``identity_accuracy``: identity-classifier accuracy on all training images of the
  removed person, ``forget_accuracy`` on those removed so far, ``retain_accuracy`` on
  the other people's training images (``residual_accuracy``: on every training image kept);
- ``identity_mAP`` / ``identity_rank1``: the removed person's training images querying
  all other training images (does the model still recognise them?).
- the standard checkpoint set of every removal kind (``residual_accuracy``, both residual
  gradient norms, ``mia_auc``, ``mia_svc_efficacy``; see :class:`_ReidTask`).

Activation maps (last convolutional stage, :mod:`unlearnbench.metrics.activation_maps`)
of one removed image and one image of another training identity are saved before and
after the removals in ``seed<k>.actmaps.npz`` beside the run JSON, with their change.

Choices the paper leaves open (experiment keys): the removed identity
(``removal.identity``, a training label; ``null``: drawn with the seed) and the other
identity (drawn with the seed); ``removal.removals`` (``null``: every image of the
person); ``unlearning.l2_lambda`` (the ``l2_reg`` of the authors' scripts, 0.01 by
default there) is the damping and strong-convexity constant of the noise, separate from
the training weight decay (torchreid's 5e-4), which would make the noise enormous.
The paper initialises from ImageNet weights; the suite builds torchreid models with
``pretrained=False`` (no download), a documented deviation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from unlearnbench.data.market1501 import ReidData, denormalise, image_tensors, load_reid, normalise
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.method_variants import Variant, find_variant, hyperparameters
from unlearnbench.experiments.removal_engine import (
    Checkpoint,
    Progress,
    Removal,
    RemovalPlan,
    RemovalTask,
    checkpoint_schedule,
    diagnostic_means,
    kept,
    residual_pool,
    run_removals,
)
from unlearnbench.experiments.unchanged import unchanged_summary
from unlearnbench.metrics.activation_maps import activation_maps, map_change
from unlearnbench.metrics.privacy import predicted_class_cross_entropy
from unlearnbench.metrics.reid import extract_features, identity_retrieval, retrieval_metrics
from unlearnbench.metrics.removal import MetricInputs, top_class_confidence
from unlearnbench.models import load_model, save_model
from unlearnbench.models.reid import MODEL_NAME, ReidLoss, ReidNet, ReidRecipe, activation_layer
from unlearnbench.newton.gradient_bank import attach_bank
from unlearnbench.newton.settings import fill_authors_noise_n
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_atomic, write_json
from unlearnbench.training import fit, seed_everything
from unlearnbench.unlearning import get_method

KIND = "reid-removal"
#: Written beside each run JSON: the activation maps that Fig. 8/12 tile (the workflow reads this).
RUN_ARRAYS = (".actmaps.npz",)
_IDENTITY_STREAM, _ORDER_STREAM, _RETAIN_STREAM, _HELDOUT_STREAM, _RESIDUAL_STREAM = 21, 22, 23, 24, 25
DEFAULT_IMAGE_SIZE = (256, 128)


def datasets(settings: Mapping[str, Any]) -> list[str]:
    # Parsed by torchreid from its own folder layout (unlearnbench.data.market1501), not by
    # the image-dataset registry the data rule serves.
    return []


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return [ModelRef("original", seed)]


def variant_of(settings: Mapping[str, Any], name: str) -> Variant:
    return find_variant(settings, name)


def load_data(ctx: RunContext) -> ReidData:
    return load_reid(ctx.settings.get("data") or {}, ctx.data_root)


def _image_size(settings: Mapping[str, Any]) -> tuple[int, int]:
    size = settings.get("image_size") or DEFAULT_IMAGE_SIZE
    return int(size[0]), int(size[1])


def _loss(settings: Mapping[str, Any]) -> ReidLoss:
    return ReidLoss(float(settings["training"].get("label_smoothing", 0.1)))


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    from unlearnbench.newton.gradient_bank import GradientBankCallback, bank_needed, store_in_meta

    if ref.role != "original":
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")
    s = ctx.settings
    data = load_data(ctx)
    images = image_tensors(data, _image_size(s))
    train = TensorDataset(normalise(images["train"]), torch.as_tensor(data.train.pids))
    kwargs = {"arch": str(s["model"]["arch"]), "num_classes": data.num_train_pids}
    seed_everything(ref.seed)
    model = ReidNet(**kwargs)
    loss = _loss(s)
    recipe = ReidRecipe.from_config(s["training"])
    callbacks = [GradientBankCallback(loss, recipe.epochs, ctx.device)] if bank_needed(s) else []
    result = fit(
        model,
        loss,
        train,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.optimizer,
        scheduler=recipe.scheduler,
        augment=recipe.augment(ref.seed),
        drop_last=recipe.drop_last(len(train)),
        seed=ref.seed,
        device=ctx.device,
        callbacks=callbacks,
        resume_path=output.with_name(output.name + ".resume"),
        description=f"{ctx.experiment} re-ID seed {ref.seed}",
    )
    utility = _retrieval(model, data, images, s, ctx.device)
    meta: dict[str, Any] = {
        "experiment": ctx.experiment,
        "role": ref.role,
        "dataset": data.description,
        "stand_in": data.stand_in,
        "n_train": len(train),
        "num_train_pids": data.num_train_pids,
        "image_size": list(_image_size(s)),
        "train_seconds": result.seconds,
        "loss_history": result.history,
        "test_mAP": utility["mAP"],
        "test_rank1": utility["rank1"],
        "provenance": provenance(config=ctx.config, seed=ref.seed, device=ctx.device),
    }
    if callbacks:
        store_in_meta(meta, callbacks[0].bank)
    save_model(output, model, MODEL_NAME, kwargs, meta)


def _batch(settings: Mapping[str, Any]) -> int:
    return int((settings.get("evaluation") or {}).get("batch_size", 128))


def _retrieval(
    model: nn.Module,
    data: ReidData,
    images: Mapping[str, torch.Tensor],
    settings: Mapping[str, Any],
    device: str,
) -> dict[str, float]:
    metric = (settings.get("evaluation") or {}).get("metric", "euclidean")
    qf = extract_features(model, normalise(images["query"]), batch_size=_batch(settings), device=device)
    gf = extract_features(model, normalise(images["gallery"]), batch_size=_batch(settings), device=device)
    return retrieval_metrics(
        qf,
        gf,
        data.query.pids,
        data.gallery.pids,
        data.query.camids,
        data.gallery.camids,
        metric=metric,
        ranks=(1, 5),
    )


def choose_identities(pids: np.ndarray, requested: int | None, seed: int) -> tuple[int, int]:
    """The removed identity (``requested`` or drawn with the seed) and another one for comparison."""
    labels = np.unique(pids)
    rng = np.random.default_rng([seed, _IDENTITY_STREAM])
    if requested is None:
        removed = int(rng.choice(labels))
    else:
        removed = int(requested)
        if removed not in labels:
            raise ValueError(
                f"removal.identity {removed} is not a training identity label (0..{labels.max()})"
            )
    other = int(rng.choice(labels[labels != removed]))
    return removed, other


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: str) -> float | None:
    if len(y) == 0:
        return None
    model.eval()
    hits = sum(
        int((model(x[i : i + batch].to(device)).argmax(1).cpu() == y[i : i + batch]).sum())
        for i in range(0, len(y), batch)
    )
    return hits / len(y)


class _ReidTask(RemovalTask):
    """A re-ID model as the engine's task.

    Standard checkpoint metrics (:mod:`unlearnbench.metrics.removal`) with identity
    classification on the training identities as the score (``forget_accuracy``,
    ``residual_accuracy``; ``test_accuracy`` is None: the test people are not training
    identities, their utility is ``mAP``/``rank1``); the retained images are those of a fixed
    seeded sample of the training set (``evaluation.residual_sample``, null: all). Both membership attacks contrast the
    removed images with unseen people (a seeded subset of the query and gallery images, junk
    ``-1`` left out, ``evaluation.mia_heldout``), who have no label among the classes: they
    score every image by the model's top-class confidence (``-log max softmax`` for the
    loss-threshold attack, ``max softmax`` for the SVC), which is also how a model retrained
    without the person sees that person. The loss of the gradient norms is the training loss,
    the regularised objective has the training weight decay. The kind adds retrieval and
    identity metrics.
    """

    def __init__(
        self,
        ctx: RunContext,
        data: ReidData,
        images: Mapping[str, torch.Tensor],
        train: TensorDataset,
        loss: ReidLoss,
        rows: np.ndarray,
        removed_id: int,
        *,
        seed: int,
        weight_decay: float,
    ) -> None:
        self.ctx, self.data, self.images, self.train, self.loss_fn = ctx, data, images, train, loss
        self.rows, self.removed_id, self.weight_decay = rows, removed_id, weight_decay
        self.other_rows = np.flatnonzero(data.train.pids != removed_id)
        x_train, y_train = train.tensors
        self.no_test = TensorDataset(x_train[:0], y_train[:0])
        evaluation = ctx.settings.get("evaluation") or {}
        self.residual_pool = residual_pool(
            np.arange(len(train)),
            evaluation.get("residual_sample"),
            np.random.default_rng([seed, _RESIDUAL_STREAM]),
        )
        unseen = torch.cat([images["query"], images["gallery"]])
        usable = np.flatnonzero(np.concatenate([data.query.pids, data.gallery.pids]) != -1)
        n_heldout = min(usable.size, int(evaluation.get("mia_heldout", 1000)))
        chosen = np.sort(
            np.random.default_rng([seed, _HELDOUT_STREAM]).choice(usable, n_heldout, replace=False)
        )
        heldout = normalise(unseen[torch.as_tensor(chosen, dtype=torch.long)])
        # no label among the training identities: -1 (a hook that reads labels fails loudly)
        self.heldout = TensorDataset(heldout, torch.full((len(chosen),), -1, dtype=torch.long))

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        return MetricInputs(
            forget=Subset(self.train, list(checkpoint.removed)),
            retain=Subset(self.train, kept(self.residual_pool, checkpoint.retain)),
            test=self.no_test,
            heldout=self.heldout,
            loss_fn=self.loss_fn,
            l2_lambda=self.weight_decay,
            batch_size=_batch(self.ctx.settings),
            sample_losses=predicted_class_cross_entropy,
            confidence=top_class_confidence,
        )

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        s, device, rows, other_rows = self.ctx.settings, self.ctx.device, self.rows, self.other_rows
        model = checkpoint.model
        x_train, y_train = self.train.tensors
        batch = _batch(s)
        row: dict[str, Any] = _retrieval(model, self.data, self.images, s, device)
        row["identity_accuracy"] = _accuracy(model, x_train[rows], y_train[rows], batch, device)
        row["retain_accuracy"] = _accuracy(model, x_train[other_rows], y_train[other_rows], batch, device)
        features = extract_features(model, x_train, batch_size=batch, device=device)
        metric = (s.get("evaluation") or {}).get("metric", "euclidean")
        pids, camids = self.data.train.pids, self.data.train.camids
        found = identity_retrieval(features, pids, camids, self.removed_id, metric=metric)
        row["identity_mAP"] = None if found is None else found["mAP"]
        row["identity_rank1"] = None if found is None else found["rank1"]
        return row

    def summarise_window(self, window: Sequence[Removal], progress: Progress) -> dict[str, Any]:
        return diagnostic_means(window)


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    removal = s.get("removal") or {}
    evaluation = s.get("evaluation") or {}
    variant = variant_of(s, method)
    data = load_data(ctx)
    images = image_tensors(data, _image_size(s))
    x_train, y_train = normalise(images["train"]), torch.as_tensor(data.train.pids)
    train = TensorDataset(x_train, y_train)
    model, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    if int(meta.get("n_train", -1)) != len(train):
        raise ValueError(
            "the pretrained model was trained on another training set; rebuild it (delete the checkpoint)"
        )
    loss = _loss(s)
    weight_decay = float((s["training"].get("optimizer") or {}).get("weight_decay", 5e-4))
    hp = hyperparameters(s, variant, weight_decay)
    # noise: authors-code passes the full training-set size as n (the authors' reid_scrub.py: orig_trainset_size = len(train_data))
    fill_authors_noise_n(hp, len(train))
    attach_bank(hp, meta)
    method_fn = get_method(variant.method)
    removed_id, other_id = choose_identities(data.train.pids, removal.get("identity"), seed)
    rows = np.random.default_rng([seed, _ORDER_STREAM]).permutation(
        np.flatnonzero(data.train.pids == removed_id)
    )
    total = len(rows) if removal.get("removals") is None else min(int(removal["removals"]), len(rows))
    schedule = checkpoint_schedule(total, int(removal.get("checkpoint_every", 1)))
    layer = activation_layer(model, evaluation.get("actmap_layer"))
    probe_other = int(np.flatnonzero(data.train.pids == other_id)[0])
    probes = x_train[[int(rows[0]), probe_other]]
    maps_before = activation_maps(model, probes, layer, device=ctx.device)
    task = _ReidTask(ctx, data, images, train, loss, rows, removed_id, seed=seed, weight_decay=weight_decay)
    plan = RemovalPlan.one_by_one(
        rows,
        len(train),
        schedule,
        seed=seed,
        retain_stream=_RETAIN_STREAM,
        retain_sample=removal.get("retain_sample"),
    )
    result = run_removals(model, task, plan, method_fn, hyperparameters=hp, device=ctx.device)
    model, checkpoints = result.model, result.checkpoints
    maps_after = activation_maps(model, probes, layer, device=ctx.device)
    actmaps_file = output.with_suffix(".actmaps.npz")
    arrays = {
        "images": denormalise(probes).permute(0, 2, 3, 1).numpy().astype(np.float32),
        "before": maps_before,
        "after": maps_after,
    }
    write_atomic(actmaps_file, lambda tmp: _save_npz(tmp, arrays))
    changes = {
        "scrubbed": map_change(maps_before[0], maps_after[0]),
        "not_scrubbed": map_change(maps_before[1], maps_after[1]),
    }
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": variant.name,
        "base_method": variant.method,
        "epsilon": variant.epsilon,
        "arch": str(s["model"]["arch"]),
        "seed": seed,
        "dataset": data.description,
        "dataset_name": data.name,
        "stand_in": data.stand_in,
        "n_train": len(train),
        "removed_identity": removed_id,
        "other_identity": other_id,
        "identity_images": len(rows),
        "settings": dict(s),
        "original_train_seconds": meta.get("train_seconds"),
        "checkpoints": checkpoints,
        "metrics": {k: checkpoints[-1][k] for k in ("removals", "mAP", "rank1", "identity_accuracy")},
        "actmaps_file": actmaps_file.name,
        "actmap_layer": layer,
        "actmap_change": changes,
        **unchanged_summary(result.unchanged),
        "seconds": result.seconds,
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
