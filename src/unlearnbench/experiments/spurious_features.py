"""Experiment kind ``spurious-features``: L-CODEC Fig. 4, gradient-reversal regularisation on CelebA.

A CNN (the AllCNN feature extractor) predicts one CelebA attribute (``target``: "No
Beard" in the paper) while adversarial heads behind a gradient reversal layer (Ganin &
Lempitsky 2015) try to predict a set of other attributes from the same features; the
reversed gradient pushes the features to carry no information about them. One run per
choice of that set (``regularisations``, the method name of the run):

- ``all``: every other attribute (those constant on the training split are left out:
  an adversary for a constant has nothing to learn);
- ``random``: a random subset as large as FOCI's selection (drawn with the seed);
- ``foci``: the Markov blanket of the target among the attributes, by L-FOCI (or FOCI,
  ``selection.method``) on the training split (``selection.max_rows``: a seeded subsample);
- ``none``: no regulariser (a reference the paper does not show).

Each run reports test accuracy overall and, for the attributes most correlated with
the target (``evaluation.attributes``, or the ``top_k`` by absolute correlation on the
training split), the accuracy on test samples with and without that attribute: the
green and red bars of Fig. 4.

Data: CelebA's files read by :mod:`unlearnbench.data.celeba` (images with the target
attribute as label, plus the full attribute table aligned to them), or the CelebA
stand-in of :mod:`unlearnbench.data.celeba_standin` written in the same format (STAND-IN;
in it only Male, No_Beard, Smiling and Eyeglasses vary, so "all" and "random" choose
among three attributes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.metrics.markov_blanket import markov_blanket, subgroup_accuracy
from unlearnbench.provenance import config_hash, provenance
from unlearnbench.storage import load_checkpoint, read_json, save_checkpoint, write_folder_once, write_json
from unlearnbench.training import OptimizerSpec, fit, seed_everything

KIND = "spurious-features"
REGULARISATIONS = ("all", "random", "foci", "none")
STANDIN_FOLDER = "celeba-spurious-standin"
_SELECTION_STREAM, _RANDOM_STREAM = 31, 32


# ---------------------------------------------------------------------------- data


@dataclass
class AttributeData:
    """Images with the target label, and every attribute (+1/-1) of the same images."""

    train_images: torch.Tensor  # uint8 [N, 3, S, S]
    train_target: np.ndarray  # {0, 1}
    train_attributes: np.ndarray  # [N, A] in {-1, 1}
    test_images: torch.Tensor
    test_target: np.ndarray
    test_attributes: np.ndarray
    names: list[str]  # attribute names (the target included)
    stand_in: bool
    description: str


def _current(folder: Path, settings: Mapping[str, Any]) -> bool:
    try:
        return (
            read_json(folder / "manifest.json").get("settings") == dict(settings)
            and (folder / "raw").is_dir()
        )
    except (OSError, ValueError):
        return False


def _standin_raw(data_root: Path, options: Mapping[str, Any]) -> Path:
    """The stand-in's raw CelebA files under ``data_root``, generated once per settings.

    Written to a temporary folder and renamed into place, so parallel runs never read a
    half-written stand-in (the first finished copy wins; identical settings, identical files).
    """
    from unlearnbench.data.celeba_standin import DEFAULTS, write_standin

    settings = {**DEFAULTS, **dict(options)}

    def write(tmp: Path) -> None:
        counts = {split: int(settings[f"n_{split}"]) for split in ("train", "valid", "test")}
        write_standin(tmp / "raw", counts, float(settings["male_fraction"]), int(settings["seed"]))
        write_json(
            tmp / "manifest.json",
            {"dataset": STANDIN_FOLDER, "stand_in": True, "stand_in_for": "CelebA", "settings": settings},
        )

    folder = write_folder_once(data_root / STANDIN_FOLDER, lambda folder: _current(folder, settings), write)
    return folder / "raw"


def load_attribute_data(settings: Mapping[str, Any], data_root: str | Path, target: str) -> AttributeData:
    """The experiment's ``data`` block -> images, target labels and the aligned attribute table."""
    from unlearnbench.data.celeba import (
        Preprocessing,
        locate_sources,
        read_attributes,
        read_celeba,
        read_partition,
    )

    data_root = Path(data_root)
    source = settings.get("source", "standin")
    if source == "standin":
        raw = _standin_raw(data_root, settings.get("standin") or {})
        attributes_file, partition_file, images = (
            raw / "list_attr_celeba.txt",
            raw / "list_eval_partition.txt",
            raw / "img_align_celeba",
        )
        description = "synthetic faces in CelebA's format (STAND-IN for CelebA)"
    elif source == "celeba":
        found = locate_sources(settings.get("celeba") or {}, data_root / "celeba" / "raw")
        attributes_file, partition_file, images = found.attributes, found.partition, found.images
        description = "CelebA aligned"
    else:
        raise ValueError(f"data.source must be standin or celeba, got {source!r}")
    options = Preprocessing(
        attribute=target,
        image_size=int(settings.get("image_size", 32)),
        crop=settings.get("crop", 148),
        limit=settings.get("limit"),
    )
    names, filenames, values = read_attributes(attributes_file)
    if target not in names:
        raise ValueError(f"target {target!r} is not a CelebA attribute; attributes: {', '.join(names)}")
    cache = (
        attributes_file.parent / f"prepared-{target}-{options.image_size}-{options.crop}-{options.limit}.pt"
    )
    key = f"{attributes_file.stat().st_size}:{attributes_file.stat().st_mtime_ns}"
    arrays = None
    if cache.exists():
        try:
            body = load_checkpoint(cache)
            if body.get("key") == key:
                arrays = {
                    split: (body[f"{split}_images"], body[f"{split}_labels"]) for split in ("train", "test")
                }
        except Exception:  # noqa: BLE001 - unreadable cache: rebuild
            arrays = None
    if arrays is None:
        arrays = read_celeba(attributes_file, partition_file, images, options)
        with contextlib.suppress(OSError):
            save_checkpoint(
                cache,
                {
                    "key": key,
                    **{f"{s}_{k}": v for s in arrays for k, v in zip(("images", "labels"), arrays[s])},
                },
            )
    row_of = {name: i for i, name in enumerate(filenames)}
    partition = read_partition(partition_file)
    tables = {}
    for split in ("train", "test"):
        chosen = [name for name in partition if partition[name] == split][: options.limit]
        tables[split] = values[[row_of[name] for name in chosen]].astype(np.int8)
        column = (tables[split][:, names.index(target)] > 0).astype(np.int64)
        if not np.array_equal(column, arrays[split][1].numpy()):
            raise ValueError(f"the attribute table and the images of the {split} split are not aligned")
    return AttributeData(
        arrays["train"][0],
        arrays["train"][1].numpy(),
        tables["train"],
        arrays["test"][0],
        arrays["test"][1].numpy(),
        tables["test"],
        list(names),
        source == "standin",
        description,
    )


# ---------------------------------------------------------------------------- model


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward, gradient multiplied by ``-scale`` backward (the gradient reversal layer)."""
    return _ReverseGradient.apply(x, float(scale))


class AdversarialClassifier(nn.Module):
    """AllCNN features -> target logit; each regularised attribute gets an MLP head behind a GRL."""

    def __init__(self, in_channels: int, width: int, n_adversaries: int) -> None:
        super().__init__()
        from unlearnbench.models.classifiers import AllCNN

        self.features = AllCNN(in_channels=in_channels, n_classes=1, width=width).features
        dim = 2 * width
        self.head = nn.Linear(dim, 1)
        self.adversaries = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1)) for _ in range(n_adversaries)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)

    def with_adversaries(self, x: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        f = self.features(x)
        if not self.adversaries:
            return self.head(f).squeeze(1), None
        reversed_f = reverse_gradient(f, scale)
        return self.head(f).squeeze(1), torch.cat([adv(reversed_f) for adv in self.adversaries], dim=1)


class AdversarialLoss:
    """The training step of :class:`AdversarialClassifier` for :func:`unlearnbench.training.fit`.

    ``loss_fn(model, (images, target, adversary_targets))``: BCE(target) + ``weight`` * mean
    BCE(adversaries), the adversaries reading the features through the gradient reversal
    layer (``scale``): minimising it trains the adversaries to predict their attributes and
    the features to defeat them. Images are uint8 and scaled to [0, 1] here.
    """

    def __init__(self, weight: float = 1.0, scale: float = 1.0) -> None:
        self.weight, self.scale = float(weight), float(scale)

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        x, y, a = batch
        logit, adversary = model.with_adversaries(x.float().div(255.0), self.scale)
        loss = F.binary_cross_entropy_with_logits(logit, y.float())
        if adversary is not None:
            loss = loss + self.weight * F.binary_cross_entropy_with_logits(adversary, a.float())
        return loss


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: str, batch_size: int = 512) -> np.ndarray:
    model.eval()
    out = [
        (model(images[i : i + batch_size].to(device).float().div(255.0)) > 0).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy().astype(np.int64)


# ---------------------------------------------------------------------------- the kind protocol


def datasets(settings: Mapping[str, Any]) -> list[str]:
    # The attribute table travels with the images: read by this kind from CelebA's files.
    return []


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return []  # every run trains its own regularised classifier


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    raise ValueError(f"experiment kind {KIND} has no pretrained models (asked for {ref.role!r})")


def regularised_attributes(
    which: str, data: AttributeData, target: str, selection: Mapping[str, Any], seed: int
) -> tuple[list[str], dict[str, Any]]:
    """The attributes whose adversaries a run trains, and how they were chosen."""
    if which not in REGULARISATIONS:
        raise ValueError(f"unknown regularisation {which!r}; use one of {', '.join(REGULARISATIONS)}")
    others = [n for n in data.names if n != target]
    columns = [data.names.index(n) for n in others]
    rows = np.arange(len(data.train_target))
    if selection.get("max_rows") is not None and rows.size > int(selection["max_rows"]):
        rows = np.sort(
            np.random.default_rng([seed, _SELECTION_STREAM]).choice(
                rows, int(selection["max_rows"]), replace=False
            )
        )
    blanket = markov_blanket(
        data.train_target[rows],
        data.train_attributes[rows][:, columns],
        others,
        method=str(selection.get("method", "lfoci")),
        seed=int(np.random.default_rng([seed, _SELECTION_STREAM]).integers(2**31 - 1)),
        max_features=selection.get("max_features"),
    )
    info = {
        "foci_selected": blanket.names,
        "foci_statistics": blanket.statistics,
        "constant_dropped": blanket.dropped_constant,
    }
    if which == "all":
        return list(blanket.candidates), info
    if which == "foci":
        return list(blanket.names), info
    if which == "random":
        rng = np.random.default_rng([seed, _RANDOM_STREAM])
        picked = rng.choice(
            len(blanket.candidates), size=min(len(blanket.names), len(blanket.candidates)), replace=False
        )
        return [blanket.candidates[i] for i in sorted(picked.tolist())], info
    return [], info


def shown_attributes(data: AttributeData, target: str, evaluation: Mapping[str, Any]) -> list[str]:
    """The attributes of the figure: configured, or the ``top_k`` most correlated with the target."""
    if evaluation.get("attributes"):
        unknown = sorted(set(evaluation["attributes"]) - set(data.names))
        if unknown:
            raise ValueError(f"evaluation.attributes {unknown} are not CelebA attributes")
        return list(evaluation["attributes"])
    scores = []
    for j, name in enumerate(data.names):
        column = data.train_attributes[:, j].astype(float)
        if name == target or np.ptp(column) == 0:
            continue
        scores.append((abs(float(np.corrcoef(column, data.train_target)[0, 1])), name))
    return [
        name for _, name in sorted(scores, key=lambda s: (-s[0], s[1]))[: int(evaluation.get("top_k", 6))]
    ]


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    if method not in (s.get("regularisations") or []):
        raise ValueError(
            f"regularisation {method!r} is not configured; configured: {s.get('regularisations')}"
        )
    target = str(s.get("target", "No_Beard"))
    data = load_attribute_data(s.get("data") or {}, ctx.data_root, target)
    chosen, info = regularised_attributes(method, data, target, s.get("selection") or {}, seed)
    columns = [data.names.index(n) for n in chosen]
    adversary_targets = torch.as_tensor((data.train_attributes[:, columns] > 0).astype(np.float32)).reshape(
        len(data.train_target), len(columns)
    )
    seed_everything(seed)
    model = AdversarialClassifier(
        int(data.train_images.shape[1]), int((s.get("model") or {}).get("width", 16)), len(columns)
    )
    training = s["training"]
    result = fit(
        model,
        AdversarialLoss(float(training.get("adversary_weight", 1.0)), float(training.get("reversal", 1.0))),
        TensorDataset(data.train_images, torch.as_tensor(data.train_target), adversary_targets),
        epochs=int(training["epochs"]),
        batch_size=int(training["batch_size"]),
        optimizer=OptimizerSpec.from_config(training["optimizer"]),
        seed=seed,
        device=ctx.device,
        resume_path=output.with_name(output.name + ".resume"),
        description=f"{ctx.experiment} {method} seed {seed}",
        recipe={"settings": config_hash(s), "regularised": chosen},
    )
    predicted = predict(model, data.test_images, ctx.device)
    shown = shown_attributes(data, target, s.get("evaluation") or {})
    groups = subgroup_accuracy(
        predicted, data.test_target, data.test_attributes[:, [data.names.index(n) for n in shown]], shown
    )
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "target": target,
        "dataset": data.description,
        "stand_in": data.stand_in,
        "regularised": chosen,
        **info,
        "accuracy": float((predicted == data.test_target).mean()),
        "metrics": {"accuracy": float((predicted == data.test_target).mean())},
        "subgroups": groups,
        "shown_attributes": shown,
        "n_train": int(len(data.train_target)),
        "n_test": int(len(data.test_target)),
        "train_seconds": result.seconds,
        "loss_history": result.history,
        "settings": dict(s),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def run_names(settings: Mapping[str, Any]) -> Sequence[str]:
    return list(settings.get("regularisations") or [])
