"""The one training loop of the suite (:func:`fit`), with seeds, resumable state and small hooks.

Why one loop: the original model, the retrain-from-scratch baseline and the evaluation
classifiers must follow exactly the same recipe, and every model family (image
classifiers, VAEs, DistilBERT, torchreid networks, the adversarially regularised CelebA
classifier) needs the same seeding and resume logic. As in torchreid's ``Engine``, the loop
is fixed and what differs per family is plugged in:

- the *step*: ``loss_fn(model, batch)`` is the forward pass and loss of one batch (an
  adversarial head behind a gradient reversal layer is just another loss function);
- the optimiser (:class:`OptimizerSpec`, optionally without weight decay on biases and
  normalisation weights), a learning-rate schedule (:class:`SchedulerSpec`, stepped per
  batch or per epoch) and gradient clipping (:class:`GradientClip`);
- a random batch augmentation with its own generator (:class:`BatchAugment`, e.g. re-ID's
  horizontal flips);
- callbacks at epoch and training end (:class:`TrainingCallback`, e.g. the gradient bank).

Everything with state (model, optimiser, schedule, data order, global RNG, augmentation,
callbacks that keep a ``state_dict``) goes into the resume file, so a killed and resumed
training gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextvars
import copy
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from unlearnbench.provenance import config_hash
from unlearnbench.storage import CorruptCheckpointError, load_checkpoint, save_checkpoint
from unlearnbench.timing import Stopwatch

LossFn = Callable[[nn.Module, Any], torch.Tensor]

#: Settings hash of the job that is training (set by the CLI for a pretraining job): part of every
#: resume recipe, so a resume file never survives a change of any setting the job reads.
_JOB_SETTINGS: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_settings", default=None)


@contextmanager
def job_settings(settings_hash: str) -> Iterator[None]:
    """Within this block, every :func:`fit` keys its resume file on ``settings_hash`` too."""
    token = _JOB_SETTINGS.set(settings_hash)
    try:
        yield
    finally:
        _JOB_SETTINGS.reset(token)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data order and noise."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(requested: str = "auto") -> str:
    """``auto`` picks the first CUDA device when one is visible, else the CPU."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but torch sees no CUDA device")
    return requested


#: How the optimisers are spelt in messages.
_OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}


@dataclass
class OptimizerSpec:
    """The optimiser recipe from config: ``{name: adam|sgd|adamw, lr, weight_decay, momentum}``.

    ``eps`` is Adam's denominator term (torch's default); ``decay_bias_and_norm: False``
    exempts biases and normalisation weights from weight decay (BERT's fine-tuning recipe,
    see :func:`parameter_groups`).
    """

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    eps: float = 1e-8
    decay_bias_and_norm: bool = True

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> OptimizerSpec:
        return cls(**{k: block[k] for k in ("name", "lr", "weight_decay", "momentum") if k in block})

    def tuned(self, block: Mapping[str, Any], recipe: str) -> OptimizerSpec:
        """This optimiser of a fixed recipe with the ``lr`` and ``weight_decay`` a config's ``optimizer``
        block sets; another ``name`` there is an error naming the ``recipe`` (which fixes the optimiser)."""
        if block and block.get("name", self.name) != self.name:
            raise ValueError(
                f"the {recipe} recipe uses {_OPTIMIZER_NAMES[self.name]}; got optimizer {block.get('name')!r}"
            )
        lr = float(block.get("lr", self.lr))
        return replace(self, lr=lr, weight_decay=float(block.get("weight_decay", self.weight_decay)))

    def build(self, params: Sequence[nn.Parameter] | Any) -> torch.optim.Optimizer:
        if self.name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, eps=self.eps)
        if self.name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, eps=self.eps)
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay, momentum=self.momentum)
        raise ValueError(f"unknown optimizer {self.name!r}; use adam, adamw or sgd")

    def build_for(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimiser over all of ``model``'s parameters, grouped as ``decay_bias_and_norm`` says."""
        if self.decay_bias_and_norm:
            return self.build(model.parameters())
        return self.build(parameter_groups(model, self.weight_decay))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: ``weight_decay`` everywhere except biases and LayerNorm weights (no decay).

    Why: BERT-style fine-tuning, and with it the L-CODEC DistilBERT recipe, exempts them
    (decay would pull LayerNorm scales towards zero instead of leaving them near one).
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        (no_decay if exempt else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass
class SchedulerSpec:
    """A learning-rate schedule: ``step`` (torch's StepLR) or ``linear-warmup``.

    ``step`` multiplies the rate by ``gamma`` every ``step_size`` epochs and is stepped once
    per epoch (torchreid's convention); ``linear-warmup`` rises linearly over
    ``warmup_steps`` optimiser steps, then falls linearly to zero at the last step
    (transformers' ``get_linear_schedule_with_warmup``) and is stepped after every batch.
    """

    name: str
    warmup_steps: int = 0
    step_size: int = 1
    gamma: float = 0.1

    @property
    def per_batch(self) -> bool:
        """Whether the schedule counts optimiser steps (else epochs)."""
        return self.name == "linear-warmup"

    def build(
        self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int
    ) -> torch.optim.lr_scheduler.LRScheduler:
        if self.name == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.step_size, gamma=self.gamma)
        if self.name == "linear-warmup":
            from transformers import get_linear_schedule_with_warmup

            return get_linear_schedule_with_warmup(optimizer, self.warmup_steps, epochs * steps_per_epoch)
        raise ValueError(f"unknown scheduler {self.name!r}; use step or linear-warmup")


@dataclass
class GradientClip:
    """Clip the gradient of all parameters to ``max_norm`` in the ``norm_type`` norm before each step."""

    max_norm: float
    norm_type: float = 2.0

    def __call__(self, model: nn.Module) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_norm, norm_type=self.norm_type)


@runtime_checkable
class Resumable(Protocol):
    """A hook with state of its own; :func:`fit` keeps that state in the resume file."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


class BatchAugment(Resumable, Protocol):
    """A random transform of each training batch, drawing from its own (resumed) generator."""

    def __call__(self, batch: Any) -> Any: ...


class TrainingCallback(Protocol):
    """Hook into the fit loop; e.g. the gradient bank records the last epochs' gradients.

    A callback that also has ``state_dict``/``load_state_dict`` (:class:`Resumable`) is
    resumed with the training.
    """

    def on_epoch_end(self, epoch: int, model: nn.Module, loader: DataLoader) -> None: ...

    def on_train_end(self, model: nn.Module, loader: DataLoader) -> None: ...


@dataclass
class FitResult:
    seconds: float
    epochs: int
    final_loss: float
    history: list[float] = field(default_factory=list)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int,
    optimizer: OptimizerSpec,
    seed: int,
    device: str = "cpu",
    scheduler: SchedulerSpec | None = None,
    clip: GradientClip | None = None,
    augment: BatchAugment | None = None,
    callbacks: Sequence[TrainingCallback] = (),
    resume_path: Path | None = None,
    resume_every_s: float = 60.0,
    description: str = "training",
    drop_last: bool = False,
    recipe: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` in place with minibatch ``optimizer`` steps and return timing and losses.

    One step: move the batch to ``device``, ``augment`` it, ``loss_fn(model, batch)``,
    backward, ``clip`` the gradient, optimiser step, then the ``scheduler`` if it counts
    batches; a scheduler that counts epochs steps after each epoch, before the callbacks.

    With ``resume_path`` the loop saves its state at the end of an epoch once
    ``resume_every_s`` seconds of training have passed since the last save (0: after every
    epoch) and picks up from there when restarted, so a killed job loses at most that much
    plus one epoch, and a short training never pays for writing its state. The file is
    removed once training finishes. ``drop_last`` is off by default: no training
    sample is ever silently left out (a final short batch is kept).

    A resume file records the hash of its recipe (:func:`recipe_hash`: epochs, batch size,
    optimiser, schedule, clipping, augmentation, seed, data size, loss, architecture,
    ``recipe`` (any further settings the caller names) and the settings hash of the job, see
    :func:`job_settings`); a file from another recipe (say, a run killed at ``epochs: 1500``
    and restarted with ``epochs: 100``) is ignored with a log line, never resumed.
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"epochs must be >= 0 and batch_size > 0 (got {epochs}, {batch_size})")
    generator = seed_everything(seed)
    model.to(device)
    opt = optimizer.build_for(model)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, drop_last=drop_last)
    schedule = None if scheduler is None else scheduler.build(opt, epochs=epochs, steps_per_epoch=len(loader))
    per_batch = schedule if scheduler is not None and scheduler.per_batch else None
    per_epoch = schedule if scheduler is not None and not scheduler.per_batch else None
    hooks = [hook for hook in (augment, *callbacks) if isinstance(hook, Resumable)]
    state = _LoopState(model, opt, generator, schedule, hooks)
    start_epoch, history, elapsed = 0, [], 0.0
    identity = recipe_hash(model, loss_fn, dataset, {
        "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "scheduler": scheduler, "clip": clip,
        "augment": augment, "seed": seed, "drop_last": drop_last, "extra": recipe,
    })  # fmt: skip
    if resume_path is not None and resume_path.exists():
        start_epoch, history, elapsed = state.restore(resume_path, identity)
    watch = Stopwatch(device)
    last_loss = history[-1] if history else float("nan")
    saved_at = 0.0
    with watch:
        for epoch in tqdm(range(start_epoch, epochs), desc=description, initial=start_epoch, total=epochs, disable=None):
            model.train()
            total, count = 0.0, 0
            for batch in loader:
                batch = _to_device(batch, device)
                if augment is not None:
                    batch = augment(batch)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                loss.backward()
                if clip is not None:
                    clip(model)
                opt.step()
                if per_batch is not None:
                    per_batch.step()
                size = _batch_len(batch)
                total += float(loss.detach()) * size
                count += size
            if per_epoch is not None:
                per_epoch.step()
            last_loss = total / max(count, 1)
            history.append(last_loss)
            for callback in callbacks:
                callback.on_epoch_end(epoch, model, loader)
            if resume_path is not None and epoch + 1 < epochs and watch.elapsed() - saved_at >= resume_every_s:
                state.save(resume_path, identity, epoch + 1, history, elapsed + watch.elapsed())
                saved_at = watch.elapsed()
        model.eval()
        for callback in callbacks:
            callback.on_train_end(model, loader)
    if resume_path is not None and resume_path.exists():
        resume_path.unlink()
    return FitResult(seconds=elapsed + watch.seconds, epochs=epochs, final_loss=last_loss, history=history)


def recipe_hash(model: nn.Module, loss_fn: LossFn, dataset: Dataset, recipe: Mapping[str, Any]) -> str:
    """What a resume state must share with the current call to be continued from: the ``recipe``
    (:func:`fit`'s settings by name: epochs, batch size, optimiser, schedule, clipping, augmentation,
    seed, drop_last, the caller's ``extra`` settings), the data size, the loss, the architecture and
    the job's settings hash."""
    loss_name = getattr(loss_fn, "__qualname__", type(loss_fn).__qualname__)
    optimizer, scheduler, clip, augment = (recipe[key] for key in ("optimizer", "scheduler", "clip", "augment"))
    return config_hash({
        "epochs": int(recipe["epochs"]),
        "batch_size": int(recipe["batch_size"]),
        "optimizer": vars(optimizer),
        "scheduler": None if scheduler is None else vars(scheduler),
        "clip": None if clip is None else vars(clip),
        "augment": None if augment is None else type(augment).__qualname__,
        "seed": int(recipe["seed"]),
        "drop_last": bool(recipe["drop_last"]),
        "n_samples": len(dataset),  # type: ignore[arg-type]
        "loss": f"{getattr(loss_fn, '__module__', '')}.{loss_name}",
        "model": type(model).__qualname__,
        "parameters": {name: list(p.shape) for name, p in model.state_dict().items()},
        "extra": dict(recipe["extra"] or {}),
        "job_settings": _JOB_SETTINGS.get(),
    })


@dataclass
class _LoopState:
    """Everything of a running :func:`fit` that a resume file must carry to continue bit-identically."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    schedule: torch.optim.lr_scheduler.LRScheduler | None
    hooks: list[Resumable]

    def save(self, path: Path, identity: str, epoch: int, history: list[float], elapsed: float) -> None:
        save_checkpoint(path, {
            "role": "resume-state",
            "recipe_hash": identity,
            "epoch": epoch,
            "history": history,
            "elapsed": elapsed,
            **self._state(),
        })

    def restore(self, path: Path, identity: str) -> tuple[int, list[float], float]:
        """Load ``path`` into the loop (epoch, loss history, seconds so far), or start over.

        A file that cannot be continued is deleted with a log line, and the loop is left
        exactly as it was (a state that failed half-way through loading is undone).
        """
        try:
            state = load_checkpoint(path)
        except CorruptCheckpointError as exc:  # a torn write
            return _start_over(path, f"ignoring unusable resume state {path}: {exc}")
        if state.get("recipe_hash") != identity:
            return _start_over(
                path,
                f"ignoring resume state {path}: it was written by another recipe (recipe hash "
                f"{str(state.get('recipe_hash'))[:12]}, now {identity[:12]}); starting over",
            )
        fresh = copy.deepcopy(self._state())
        try:
            self._load(state)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:  # e.g. a file of an older format
            self._load(fresh)
            return _start_over(path, f"ignoring unusable resume state {path}: {exc}")
        print(f"resuming {path.name} at epoch {state['epoch']}")
        return int(state["epoch"]), list(state["history"]), float(state["elapsed"])

    def _state(self) -> dict[str, Any]:
        return {
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": None if self.schedule is None else self.schedule.state_dict(),
            "hook_states": [hook.state_dict() for hook in self.hooks],
            "generator_state": self.generator.get_state(),
            "torch_rng_state": torch.get_rng_state(),
            # dropout on a GPU draws from the CUDA generators, not the CPU one
            "cuda_rng_states": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        if len(state["hook_states"]) != len(self.hooks):
            raise ValueError(f"{len(state['hook_states'])} hook states for {len(self.hooks)} hooks")
        if (state["scheduler_state"] is None) != (self.schedule is None):
            raise ValueError("the file and the recipe disagree on having a learning-rate schedule")
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["scheduler_state"])
        for hook, hook_state in zip(self.hooks, state["hook_states"], strict=True):
            hook.load_state_dict(hook_state)
        self.generator.set_state(state["generator_state"])
        torch.set_rng_state(state["torch_rng_state"])
        if torch.cuda.is_available() and len(state["cuda_rng_states"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng_states"])


def _start_over(path: Path, message: str) -> tuple[int, list[float], float]:
    print(message)
    path.unlink(missing_ok=True)
    return 0, [], 0.0


def _to_device(batch: Any, device: str) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _batch_len(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (list, tuple)) else next(iter(batch.values())) if isinstance(batch, dict) else batch
    return int(first.shape[0])


def to_device(batch: Any, device: str) -> Any:
    """Move a batch (tensor, tuple/list or dict of tensors) to ``device``."""
    return _to_device(batch, device)
