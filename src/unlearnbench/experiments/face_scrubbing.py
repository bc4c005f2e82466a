"""Experiment kind ``face-scrubbing``: L-CODEC paper Fig. 7 (left), scrubbing one identity from VGGFace.

Protocol (paper Sec. 7.3 and appendix B.2.7): start from the released VGGFace weights
(a local file, see :mod:`unlearnbench.models.vggface`), fine-tune on the identity-folder
data (4 epochs, SGD lr 1e-4, weight decay 0.01, batch 16; the fine-tuning also records the
gradient bank that the finite-difference Hessian uses: "use the resultant models as
estimates of the Hessian"), then remove the training images of one identity one at a time
in a seeded random order with ``lcodec`` and its ``cheap`` selection (a single slice: the
25088 x 4096 ``fc6`` makes any larger block too big), evaluating every ``checkpoint_every``
(10) removals:

- ``forget_accuracy``: the identity's images removed so far (the scrubbed accuracy);
- ``identity_accuracy`` / ``identity_test_accuracy``: all of the identity's training /
  held-out images;
- ``residual_accuracy``: the retain set (all other training images), or a fixed random
  sample of it of size ``evaluation.residual_sample``;
- ``test_accuracy``: held-out images of the other identities;
- ``mia_auc`` / ``mia_svc_efficacy``: loss-threshold and SVC membership inference of the
  removed images against held-out images of other identities;
- ``residual_gradient_norm_data`` / ``_regularised``: the retain-set gradient norms, on the
  same residual sample (the regularised objective has the training weight decay).

All but the ``identity_*`` accuracies are the standard checkpoint set of every removal kind
(:mod:`unlearnbench.metrics.removal`).

The removal loop is the engine's (:mod:`unlearnbench.experiments.removal_engine`) with
the classifier task of :mod:`unlearnbench.experiments.sequential_removal` (same Newton
hyperparameter keys, ``removal_batch``, ``retain_sample``, ``revert_drop``).

The paper's text gives epsilon 1e-5 (Sec. 7.3, Fig. 7) and 1e-4 (appendix), and 5 or 4
fine-tuning epochs; the config states which is used. ``weights: null`` trains from a
random initialisation (the quick profile's stand-in: no VGGFace weights fit a narrow
network); every run records which weights (path, md5) it started from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Subset

from unlearnbench.data import DatasetSplits, load_dataset
from unlearnbench.experiments import sequential_removal as seq
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.removal_engine import Checkpoint, checkpoint_schedule, kept, residual_pool
from unlearnbench.metrics.classification import accuracy
from unlearnbench.metrics.removal import MetricInputs
from unlearnbench.models import load_model, save_model
from unlearnbench.models.classifiers import cross_entropy_loss
from unlearnbench.models.vggface import VGGFace, load_vggface_weights
from unlearnbench.newton.gradient_bank import GradientBankCallback, bank_needed, store_in_meta
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.training import OptimizerSpec, fit, seed_everything

KIND = "face-scrubbing"
MODEL_NAME = "vggface"
#: ``orig_trainset_size`` of the authors' VGGFace script (``scrub/scrub_scripts/vgg_scrub.sh``:
#: "original taken from 2015 paper"): the n of ``noise: authors-code`` when ``noise_n`` is null.
AUTHORS_NOISE_N = 982803
_ORDER_STREAM, _RESIDUAL_STREAM, _HELDOUT_STREAM = 5, 6, 7


# ---------------------------------------------------------------------------- the kind protocol


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return [settings["dataset"]]


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return [ModelRef("original", seed)]


def load_data(ctx: RunContext) -> DatasetSplits:
    return load_dataset(ctx.settings["dataset"], ctx.config.get("datasets"), ctx.data_root)


def model_kwargs(settings: Mapping[str, Any], data: DatasetSplits) -> dict[str, Any]:
    """``model.kwargs`` plus the class count and input size read off the data (which must agree)."""
    spec = settings["model"]
    if spec.get("name", MODEL_NAME) != MODEL_NAME:
        raise ValueError(f"face-scrubbing uses the model {MODEL_NAME!r}, not {spec.get('name')!r}")
    kwargs = dict(spec.get("kwargs") or {})
    c, h, w = data.image_shape
    if c != 3 or h != w:
        raise ValueError(
            f"VGGFace needs square RGB images; dataset {data.name!r} has shape {data.image_shape}"
        )
    size = kwargs.setdefault("image_size", h)
    if size != h:
        raise ValueError(f"model.kwargs.image_size is {size} but the images of {data.name!r} are {h}x{w}")
    classes = kwargs.setdefault("n_classes", len(data.classes))
    if classes != len(data.classes):
        raise ValueError(
            f"model.kwargs.n_classes is {classes} but dataset {data.name!r} has {len(data.classes)} identities; "
            "give the dataset an identity_order file (e.g. VGGFace's names.txt) or set weights.new_head"
        )
    return kwargs


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    """Load the VGGFace weights (if configured), fine-tune on the identity folders, record the bank."""
    if ref.role != "original":
        raise ValueError(f"experiment kind {KIND} has no model role {ref.role!r}")
    s = ctx.settings
    data = load_data(ctx)
    kwargs = model_kwargs(s, data)
    seed_everything(ref.seed)
    model = VGGFace(**kwargs)
    weights = s.get("weights")
    loaded = None
    if weights is not None:
        loaded = load_vggface_weights(
            model, weights["path"], weights.get("md5"), new_head=bool(weights.get("new_head"))
        )
    train_cfg = s["training"]
    epochs = int(train_cfg["epochs"])
    callbacks = (
        [GradientBankCallback(cross_entropy_loss, epochs, ctx.device)] if bank_needed(s) else []
    )
    result = fit(
        model,
        cross_entropy_loss,
        data.train,
        epochs=epochs,
        batch_size=int(train_cfg["batch_size"]),
        optimizer=OptimizerSpec.from_config(train_cfg["optimizer"]),
        seed=ref.seed,
        device=ctx.device,
        callbacks=callbacks,
        resume_path=output.with_name(output.name + ".resume"),
        description=f"{ctx.experiment} fine-tune seed {ref.seed}",
    )
    model.eval()
    meta: dict[str, Any] = {
        "experiment": ctx.experiment,
        "role": ref.role,
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": len(data.train),
        "weights": loaded,
        "train_seconds": result.seconds,
        "final_loss": result.final_loss,
        "test_accuracy": accuracy(model, data.test, batch_size=_eval_batch(s), device=ctx.device),
        "provenance": provenance(config=ctx.config, seed=ref.seed, device=ctx.device),
    }
    if callbacks:
        store_in_meta(meta, callbacks[0].bank)
    save_model(output, model, MODEL_NAME, kwargs, meta)


# ---------------------------------------------------------------------------- one run


def identity_code(data: DatasetSplits, identity: Any) -> int:
    """The label code of ``identity``: a name among the dataset's identities, or an index into them."""
    names = [str(c) for c in data.classes]
    if isinstance(identity, str) and identity in names:
        return names.index(identity)
    if isinstance(identity, int) and not isinstance(identity, bool) and 0 <= identity < len(names):
        return identity
    shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
    raise ValueError(
        f"forget_identity {identity!r} is neither an identity of {data.name!r} nor an index; identities: {shown}"
    )


def _eval_batch(settings: Mapping[str, Any]) -> int:
    return int((settings.get("evaluation") or {}).get("batch_size", 256))


class _FaceEvaluator:
    """What the checkpoint metrics use; the identity's splits and the residual sample are fixed per run.

    The standard set reads the removed images, the retained images of the residual sample,
    the held-out images of the other identities (test) and a seeded subset of them (both
    membership attacks); the regularised objective has the training weight decay. The kind
    adds the accuracies on all of the identity's training and held-out images.
    """

    def __init__(self, ctx: RunContext, data: DatasetSplits, code: int, seed: int) -> None:
        self.ctx, self.data = ctx, data
        evaluation = ctx.settings.get("evaluation") or {}
        self.batch_size = _eval_batch(ctx.settings)
        self.l2_lambda = float(ctx.settings["training"]["optimizer"].get("weight_decay", 0.0))
        train_labels, test_labels = data.train.tensors[1].numpy(), data.test.tensors[1].numpy()
        self.identity_train = np.flatnonzero(train_labels == code)
        self.identity_test = np.flatnonzero(test_labels == code)
        others_test = np.flatnonzero(test_labels != code)
        if self.identity_test.size == 0 or others_test.size == 0:
            raise ValueError("the test split needs images of the scrubbed identity and of at least one other")
        self.residual_pool = residual_pool(
            np.flatnonzero(train_labels != code),
            evaluation.get("residual_sample"),
            np.random.default_rng([seed, _RESIDUAL_STREAM]),
        )
        n_heldout = min(others_test.size, int(evaluation.get("mia_heldout", 1000)))
        self.heldout = Subset(
            data.test,
            np.sort(
                np.random.default_rng([seed, _HELDOUT_STREAM]).choice(others_test, n_heldout, replace=False)
            ).tolist(),
        )
        self.others_test = Subset(data.test, others_test.tolist())

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        return MetricInputs(
            forget=Subset(self.data.train, list(checkpoint.removed)),
            retain=Subset(self.data.train, kept(self.residual_pool, checkpoint.retain)),
            test=self.others_test,
            heldout=self.heldout,
            loss_fn=cross_entropy_loss,
            l2_lambda=self.l2_lambda,
            batch_size=self.batch_size,
        )

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        model, train, test, bs = checkpoint.model, self.data.train, self.data.test, self.batch_size
        device = self.ctx.device

        def acc(dataset) -> float | None:
            value = accuracy(model, dataset, batch_size=bs, device=device)
            return None if np.isnan(value) else value

        return {
            "identity_accuracy": acc(Subset(train, self.identity_train.tolist())),
            "identity_test_accuracy": acc(Subset(test, self.identity_test.tolist())),
        }


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    s = ctx.settings
    if method == "retrain":
        raise ValueError(
            "face-scrubbing compares no retraining (the paper's Fig. 7 has none); use an unlearning method"
        )
    data = load_data(ctx)
    code = identity_code(data, s["forget_identity"])
    original, meta = load_model(ctx.model_path(ModelRef("original", seed)), ctx.device)
    n_train = len(data.train)
    if int(meta.get("n_train", n_train)) != n_train:
        raise ValueError(
            "the pretrained model was fine-tuned on other data; rebuild it (delete the checkpoint)"
        )
    identity = np.flatnonzero(data.train.tensors[1].numpy() == code)
    total = int(s.get("removals") or identity.size)
    if not 0 < total <= identity.size:
        raise ValueError(
            f"removals must lie in [1, {identity.size}] (training images of the identity), got {total}"
        )
    order = np.random.default_rng([seed, _ORDER_STREAM]).permutation(identity)
    task = seq.ClassifierTask(data, ctx.device, _FaceEvaluator(ctx, data, code, seed))
    points = checkpoint_schedule(total, int(s.get("checkpoint_every", 10)))
    plan = seq.classifier_plan(s, order, np.arange(n_train), points, seed)
    result = seq.classifier_run(ctx, method, original, meta, task, plan, authors_noise_n=AUTHORS_NOISE_N)
    payload = {
        "experiment": ctx.experiment,
        "kind": KIND,
        "method": method,
        "seed": seed,
        "identity": str(data.classes[code]),
        "identity_train_images": int(identity.size),
        "dataset": data.description,
        "stand_in": bool(data.stand_in),
        "n_train": n_train,
        "n_identities": len(data.classes),
        "weights": meta.get("weights"),
        "original_test_accuracy": meta.get("test_accuracy"),
        "weight_decay": float(s["training"]["optimizer"].get("weight_decay", 0.0)),
        "settings": dict(s),
        **result.fields(),
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload
