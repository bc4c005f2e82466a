"""Experiment kind ``generative-unlearning``: paper 1 (gradient surgery), Table 1 and Figure 1.

A VAE is pretrained on a class subset (MNIST138, or the digits138 stand-in) or on CelebA
with one binary attribute as the label (or the synthetic-faces stand-in); an evaluation
classifier is trained on the same labels; each run removes the forget class or feature
(``forget_class``: ``1``, ``male``) with one method and measures, on N generated samples,
fratio (share the classifier assigns to the forget label), IS (on the classifier's
softmax) and FID, plus wall time. A run also stores a grid of samples decoded from
latents that are fixed per experiment, so before/after grids show the same codes.

Models by column: MNIST138 uses the MLP VAE and AllCNN; CelebA the convolutional VAE
(:mod:`unlearnbench.models.conv_vae`) and ResNet-18 (:mod:`unlearnbench.models.resnet`).
FID features (``evaluation.fid_features``): ``classifier`` — the evaluation classifier's
penultimate features (FID's own convention), ``classifier-logits`` or
``classifier-probabilities`` — its pre-softmax outputs or softmax probabilities (the paper's
MNIST numbers, about 0.03, are plausible only in such a low-dimensional space; the readings
of ``config/readings.yaml`` compare all three) — or ``inception`` — the standard Inception FID of the CelebA column (about 30), from
the local weights file ``evaluation.inception_weights``. The quick profile's CelebA
stand-in uses ``classifier``: there are no Inception weights offline, and its tables say so.

``feature-unlearning`` (Moon et al.) needs implicit feedback on generated samples: every
run hands the methods a :class:`~unlearnbench.unlearning.feature_unlearning.FeedbackRequest`
whose ``feedback`` marks the images the evaluation classifier assigns to the forget label;
the other methods ignore it.

Choices the paper leaves open (configurable in the experiment block):
- the forget set is every training image of ``forget_class`` (CelebA: every training image
  with the attribute); the retain set the rest;
- FID's reference set (``evaluation.fid_reference``): ``all`` real images of the subset
  (train + test, all classes) by default, which matches the pattern of the published
  table (BEFORE is closest to the data, unlearning raises FID); ``retain``-only and
  ``test``-only references are available; ``fid_reference_samples`` caps it at a fixed
  random subset (seed 0, the same for every run), which keeps Inception FID on CelebA's
  200k images affordable;
- the Time column: pretraining seconds for BEFORE, retraining seconds for ``retrain``,
  the unlearning step's seconds for every other method.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset, TensorDataset

from unlearnbench.data import DatasetSplits, load_dataset
from unlearnbench.experiments.base import ModelRef, RunContext, pretraining_owner
from unlearnbench.metrics.generative import (
    CLASSIFIER_FID_SPACES,
    classifier_outputs,
    classify,
    fratio,
    frechet_distance,
    inception_score,
)
from unlearnbench.models import build_model, load_model, save_model
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.models.vae import elbo_loss
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_atomic, write_json
from unlearnbench.training import OptimizerSpec, fit, seed_everything
from unlearnbench.unlearning import get_method
from unlearnbench.unlearning.feature_unlearning import FeedbackRequest

KIND = "generative-unlearning"
#: Written beside each run JSON: the sample grids that Figure 1 tiles (the workflow reads this).
RUN_ARRAYS = (".samples.npz",)


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return [settings["dataset"]]


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    owner = pretraining_owner(settings)  # a reading block reuses its default block's models
    refs = [ModelRef("classifier", int(settings["classifier"]["seed"]), owner)]
    if method != "retrain":
        refs.append(ModelRef("original", seed, owner))
    return refs


#: What pretraining each model role reads of the experiment block; a run reads everything.
PRETRAIN_KEYS = {"original": ("kind", "dataset", "classes", "vae"), "classifier": ("kind", "dataset", "classes", "classifier")}


def pretrain_settings(settings: Mapping[str, Any], role: str) -> dict[str, Any]:
    """The settings pretraining ``role`` depends on, so that editing a method or the
    evaluation never retrains the VAE or the classifier (the workflow keys its cache on this)."""
    keys = PRETRAIN_KEYS.get(role, tuple(settings))
    return {key: settings[key] for key in keys if key in settings}


def load_data(ctx: RunContext) -> DatasetSplits:
    s = ctx.settings
    return load_dataset(s["dataset"], ctx.config.get("datasets"), ctx.data_root, classes=s.get("classes"))


def forget_index(data: DatasetSplits, forget_class: int | str) -> int:
    if forget_class not in data.classes:
        raise ValueError(f"forget_class {forget_class!r} is not among the dataset's classes {data.classes}")
    return data.classes.index(forget_class)


def split_forget_retain(train: TensorDataset, label: int) -> tuple[Subset, Subset]:
    labels = train.tensors[1]
    forget = torch.nonzero(labels == label).flatten().tolist()
    retain = torch.nonzero(labels != label).flatten().tolist()
    return Subset(train, forget), Subset(train, retain)


def _vae_kwargs(settings: Mapping[str, Any], data: DatasetSplits) -> dict[str, Any]:
    vae = settings["vae"]
    return {
        "image_shape": list(data.image_shape),
        "hidden": list(vae["hidden"]),
        "latent_dim": int(vae["latent_dim"]),
    }


def _train_vae(ctx: RunContext, data: DatasetSplits, dataset, seed: int, resume: Path | None, label: str):
    vae_cfg = ctx.settings["vae"]
    kwargs = _vae_kwargs(ctx.settings, data)
    seed_everything(seed)
    model = build_model(vae_cfg["model"], **kwargs)
    result = fit(
        model,
        elbo_loss,
        dataset,
        epochs=int(vae_cfg["epochs"]),
        batch_size=int(vae_cfg["batch_size"]),
        optimizer=OptimizerSpec.from_config(vae_cfg["optimizer"]),
        seed=seed,
        device=ctx.device,
        resume_path=resume,
        description=label,
    )
    return model, kwargs, result


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    data = load_data(ctx)
    meta: dict[str, Any] = {
        "experiment": ctx.experiment,
        "role": ref.role,
        "dataset": data.description,
        "stand_in": data.stand_in,
        "provenance": provenance(config=ctx.config, seed=ref.seed, device=ctx.device),
    }
    resume = output.with_name(output.name + ".resume")
    if ref.role == "original":
        model, kwargs, result = _train_vae(
            ctx, data, data.train, ref.seed, resume, f"{ctx.experiment} VAE seed {ref.seed}"
        )
        meta.update(train_seconds=result.seconds, final_loss=result.final_loss)
        save_model(output, model, ctx.settings["vae"]["model"], kwargs, meta)
    elif ref.role == "classifier":
        cfg = ctx.settings["classifier"]
        kwargs = {
            "in_channels": data.image_shape[0],
            "n_classes": len(data.classes),
            "width": int(cfg["width"]),
        }
        seed_everything(ref.seed)
        model = build_model(cfg["model"], **kwargs)
        result = fit(
            model,
            cross_entropy_loss,
            data.train,
            epochs=int(cfg["epochs"]),
            batch_size=int(cfg["batch_size"]),
            optimizer=OptimizerSpec.from_config(cfg["optimizer"]),
            seed=ref.seed,
            device=ctx.device,
            resume_path=resume,
            description=f"{ctx.experiment} classifier",
        )
        accuracy = _accuracy(model, data.test, ctx.device)
        if accuracy < float(cfg.get("min_accuracy", 0.0)):
            print(
                f"warning: evaluation classifier reaches only {accuracy:.3f} test accuracy "
                f"(the paper asks for >= {cfg['min_accuracy']}); fratio/IS will be less reliable"
            )
        meta.update(train_seconds=result.seconds, test_accuracy=accuracy)
        save_model(output, model, cfg["model"], kwargs, meta)
    else:
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")


@torch.no_grad()
def _accuracy(model: torch.nn.Module, dataset: TensorDataset, device: str) -> float:
    x, y = dataset.tensors
    probs, _ = classify(model, x, device=device)
    return float((torch.as_tensor(probs).argmax(1) == y).double().mean())


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    if fid_features(s["evaluation"]) == "inception":  # fail before unlearning, not after it
        from unlearnbench.metrics.inception_fid import check_weights_file

        check_weights_file(_inception_weights(s["evaluation"]))
    data = load_data(ctx)
    target = forget_index(data, s["forget_class"])
    forget, retain = split_forget_retain(data.train, target)
    classifier, classifier_meta = load_model(
        ctx.model_path(ModelRef("classifier", int(s["classifier"]["seed"]))), ctx.device
    )
    generator = seed_everything(seed)
    loss_generator = torch.Generator(device=ctx.device).manual_seed(seed)

    def loss_fn(model, batch):
        return elbo_loss(model, batch, generator=loss_generator)

    def retrain_fn(retain_set):
        model, _, _ = _train_vae(ctx, data, retain_set, seed, None, f"{ctx.experiment} retrain seed {seed}")
        return model

    if method == "retrain":
        model = build_model(s["vae"]["model"], **_vae_kwargs(s, data))
        base_seconds = None
    else:
        model, original_meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
        base_seconds = float(original_meta["train_seconds"])
    request = FeedbackRequest(
        forget=forget,
        retain=retain,
        n_train=len(data.train),
        loss_fn=loss_fn,
        hyperparameters=dict(s["methods"].get(method) or {}),
        device=torch.device(ctx.device),
        generator=generator,
        retrain_fn=retrain_fn,
        feedback=classifier_feedback(classifier, target, ctx.device),
    )
    outcome = get_method(method)(model, request)
    metrics = evaluate(outcome.model, classifier, data, target, s["evaluation"], seed, ctx.device)
    metrics["unlearn_seconds"] = outcome.seconds
    metrics["time"] = base_seconds if method == "before" else outcome.seconds
    grid = sample_grid(outcome.model, s["evaluation"], ctx.device)
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "paper_column": s.get("paper_column"),
        "dataset": data.description,
        "stand_in": data.stand_in,
        "forget_class": s["forget_class"],
        "fid_features": fid_features(s["evaluation"]),
        "n_forget": len(forget),
        "n_retain": len(retain),
        "metrics": metrics,
        "diagnostics": outcome.diagnostics,
        "classifier_test_accuracy": classifier_meta.get("test_accuracy"),
        "samples_file": output.with_suffix(".samples.npz").name,
        "settings": dict(s),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_atomic(output.with_suffix(".samples.npz"), lambda tmp: _save_npz(tmp, grid))
    write_json(output, payload)
    return payload


def _save_npz(path: Path, images: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, images=images)


def classifier_feedback(classifier: torch.nn.Module, target: int, device: str):
    """Implicit feedback for feature unlearning: which images the classifier assigns to ``target``."""

    @torch.no_grad()
    def feedback(images: torch.Tensor) -> torch.Tensor:
        classifier.eval().to(device)
        return classifier(images.to(device)).argmax(dim=1) == target

    return feedback


FID_FEATURES = (*CLASSIFIER_FID_SPACES, "inception")


def fid_features(evaluation: Mapping[str, Any]) -> str:
    which = evaluation.get("fid_features", "classifier")
    if which not in FID_FEATURES:
        raise ValueError(f"evaluation.fid_features must be one of {', '.join(FID_FEATURES)}; got {which!r}")
    return which


def _inception_weights(evaluation: Mapping[str, Any]) -> str:
    if not evaluation.get("inception_weights"):
        raise ValueError(
            "evaluation.fid_features: inception needs evaluation.inception_weights (a local file path)"
        )
    return str(evaluation["inception_weights"])


def evaluate(
    model, classifier, data: DatasetSplits, target: int, evaluation: Mapping[str, Any], seed: int, device: str
) -> dict[str, float]:
    """fratio and IS (classifier softmax) and FID of ``n_samples`` generated images.

    ``FID`` is computed in the space ``evaluation.fid_features`` names. With a classifier space,
    the FID of every classifier space is recorded too (``FID_penultimate``, ``FID_logits``,
    ``FID_probabilities``; one pass of the classifier serves all three), so the metric-space
    readings read the same runs; an extra space whose square root fails is NaN, while a failure
    in the chosen space raises as pytorch-fid does.
    """
    batch_size = int(evaluation.get("batch_size", 500))
    generator = torch.Generator(device=device).manual_seed(10_000 + seed)
    samples = generate(model, int(evaluation["n_samples"]), batch_size, generator, device)
    outputs = classifier_outputs(classifier, samples, batch_size=batch_size, device=device)
    probs = outputs["probabilities"]
    reference = _reference_images(
        data, target, evaluation.get("fid_reference", "all"), evaluation.get("fid_reference_samples")
    )
    which = fid_features(evaluation)
    metrics = {"fratio": fratio(probs, target), "IS": inception_score(probs)}
    if which == "inception":
        from unlearnbench.metrics.inception_fid import inception_features, load_inception

        network = load_inception(_inception_weights(evaluation), device)
        feats = inception_features(network, samples, batch_size=batch_size, device=device)
        ref_feats = inception_features(network, reference, batch_size=batch_size, device=device)
        metrics["FID"] = frechet_distance(feats, ref_feats)
        return metrics
    ref_outputs = classifier_outputs(classifier, reference, batch_size=batch_size, device=device)
    metrics["FID"] = frechet_distance(outputs[CLASSIFIER_FID_SPACES[which]], ref_outputs[CLASSIFIER_FID_SPACES[which]])
    for space in CLASSIFIER_FID_SPACES.values():
        try:
            metrics[f"FID_{space}"] = frechet_distance(outputs[space], ref_outputs[space])
        except ValueError:
            metrics[f"FID_{space}"] = float("nan")
    return metrics


@torch.no_grad()
def generate(model, n: int, batch_size: int, generator: torch.Generator, device: str) -> torch.Tensor:
    """``n`` samples, latents drawn as ``model.sample`` draws them, decoded in batches (CPU tensor)."""
    model.to(device).eval()
    z = torch.randn(n, model.latent_dim, generator=generator, device=device)
    return torch.cat([model.decode(z[i : i + batch_size]).cpu() for i in range(0, n, batch_size)])


def _reference_images(data: DatasetSplits, target: int, which: str, limit: int | None = None) -> torch.Tensor:
    """The real images FID compares with, train before test; indices are chosen before any copy
    is made, so a capped reference on CelebA never materialises all 200k images twice."""
    if which not in ("all", "retain", "test"):
        raise ValueError(f"fid_reference must be all, retain or test; got {which!r}")
    splits = [data.test] if which == "test" else [data.train, data.test]
    pieces = []
    for split in splits:
        images, labels = split.tensors
        index = (
            torch.nonzero(labels != target).flatten() if which == "retain" else torch.arange(labels.shape[0])
        )
        pieces.append((images, index))
    total = sum(int(index.numel()) for _, index in pieces)
    if limit is not None and int(limit) < total:
        chosen = torch.randperm(total, generator=torch.Generator().manual_seed(0))[: int(limit)].sort().values
        offset, limited = 0, []
        for images, index in pieces:
            n = int(index.numel())
            inside = chosen[(chosen >= offset) & (chosen < offset + n)] - offset
            limited.append((images, index[inside]))
            offset += n
        pieces = limited
    return torch.cat([images[index] for images, index in pieces])


@torch.no_grad()
def sample_grid(model, evaluation: Mapping[str, Any], device: str) -> np.ndarray:
    """Decode the experiment's fixed grid latents (same codes for every method and seed)."""
    n = int(evaluation.get("grid_samples", 64))
    generator = torch.Generator().manual_seed(int(evaluation.get("grid_seed", 0)))
    z = torch.randn(n, model.latent_dim, generator=generator).to(device)
    return model.decode(z).cpu().numpy().astype(np.float32)
