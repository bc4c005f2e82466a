"""One fit loop for every model the suite trains, with seeds, resumable checkpoints and callbacks.

Why one loop: the original model, the retrain-from-scratch baseline and the evaluation
classifiers must follow exactly the same recipe, and the Newton-type methods need a
"gradient bank" recorded at the end of training; a callback hook serves them all.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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


@dataclass
class OptimizerSpec:
    """The optimiser recipe from config: ``{name: adam|sgd|adamw, lr, weight_decay, momentum}``."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> OptimizerSpec:
        return cls(**{k: block[k] for k in ("name", "lr", "weight_decay", "momentum") if k in block})

    def build(self, params: Sequence[nn.Parameter] | Any) -> torch.optim.Optimizer:
        if self.name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay, momentum=self.momentum)
        raise ValueError(f"unknown optimizer {self.name!r}; use adam, adamw or sgd")


class TrainingCallback(Protocol):
    """Hook into the fit loop; e.g. the gradient bank records the last epochs' gradients."""

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
    callbacks: Sequence[TrainingCallback] = (),
    resume_path: Path | None = None,
    resume_every: int = 1,
    description: str = "training",
    drop_last: bool = False,
    recipe: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` in place with minibatch ``optimizer`` steps and return timing and losses.

    With ``resume_path`` the loop saves its state every ``resume_every`` epochs and picks
    up from there when restarted, so a killed pretraining job does not start over. The
    file is removed once training finishes. ``drop_last`` is off by default: no training
    sample is ever silently left out (a final short batch is kept).

    A resume file records the hash of its recipe (:func:`recipe_hash`: epochs, batch size,
    optimiser, seed, data size, loss, architecture, ``recipe`` (any further settings the
    caller names) and the settings hash of the job, see :func:`job_settings`); a file from another recipe (say, a run killed at ``epochs: 1500`` and
    restarted with ``epochs: 100``) is ignored with a log line, never resumed.
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"epochs must be >= 0 and batch_size > 0 (got {epochs}, {batch_size})")
    generator = seed_everything(seed)
    model.to(device)
    opt = optimizer.build(model.parameters())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, drop_last=drop_last)
    start_epoch, history, elapsed = 0, [], 0.0
    identity = recipe_hash(
        model, loss_fn, dataset, epochs=epochs, batch_size=batch_size, optimizer=optimizer, seed=seed,
        drop_last=drop_last, extra=recipe,
    )
    if resume_path is not None and resume_path.exists():
        start_epoch, history, elapsed = _restore(resume_path, model, opt, generator, identity)
    watch = Stopwatch(device)
    last_loss = history[-1] if history else float("nan")
    with watch:
        for epoch in tqdm(range(start_epoch, epochs), desc=description, initial=start_epoch, total=epochs, disable=None):
            model.train()
            total, count = 0.0, 0
            for batch in loader:
                batch = _to_device(batch, device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                loss.backward()
                opt.step()
                size = _batch_len(batch)
                total += float(loss.detach()) * size
                count += size
            last_loss = total / max(count, 1)
            history.append(last_loss)
            for callback in callbacks:
                callback.on_epoch_end(epoch, model, loader)
            if resume_path is not None and (epoch + 1) % resume_every == 0 and epoch + 1 < epochs:
                _save_resume(
                    resume_path, model, opt, generator, epoch + 1, history, elapsed + watch.elapsed(), identity
                )
        model.eval()
        for callback in callbacks:
            callback.on_train_end(model, loader)
    if resume_path is not None and resume_path.exists():
        resume_path.unlink()
    return FitResult(seconds=elapsed + watch.seconds, epochs=epochs, final_loss=last_loss, history=history)


def recipe_hash(
    model: nn.Module,
    loss_fn: LossFn,
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int,
    optimizer: OptimizerSpec,
    seed: int,
    drop_last: bool,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """What a resume state must share with the current call to be continued from."""
    loss_name = getattr(loss_fn, "__qualname__", type(loss_fn).__qualname__)
    return config_hash({
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "optimizer": vars(optimizer),
        "seed": int(seed),
        "drop_last": bool(drop_last),
        "n_samples": len(dataset),  # type: ignore[arg-type]
        "loss": f"{getattr(loss_fn, '__module__', '')}.{loss_name}",
        "model": type(model).__qualname__,
        "parameters": {name: list(p.shape) for name, p in model.state_dict().items()},
        "extra": dict(extra or {}),
        "job_settings": _JOB_SETTINGS.get(),
    })


def _save_resume(path: Path, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                 epoch: int, history: list[float], elapsed: float, identity: str) -> None:
    save_checkpoint(path, {
        "role": "resume-state",
        "recipe_hash": identity,
        "epoch": epoch,
        "history": history,
        "elapsed": elapsed,
        "model_state": model.state_dict(),
        "optimizer_state": opt.state_dict(),
        "generator_state": gen.get_state(),
        "torch_rng_state": torch.get_rng_state(),
    })


def _restore(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, identity: str
) -> tuple[int, list[float], float]:
    try:
        state = load_checkpoint(path)
        if state.get("recipe_hash") != identity:
            print(f"ignoring resume state {path}: it was written by another recipe "
                  f"(recipe hash {str(state.get('recipe_hash'))[:12]}, now {identity[:12]}); starting over")
            path.unlink(missing_ok=True)
            return 0, [], 0.0
        model.load_state_dict(state["model_state"])
        opt.load_state_dict(state["optimizer_state"])
    except (CorruptCheckpointError, KeyError, RuntimeError) as exc:
        # A resume file from a different recipe or a torn write: start over rather than fail.
        print(f"ignoring unusable resume state {path}: {exc}")
        path.unlink(missing_ok=True)
        return 0, [], 0.0
    gen.set_state(state["generator_state"])
    torch.set_rng_state(state["torch_rng_state"])
    print(f"resuming {path.name} at epoch {state['epoch']}")
    return int(state["epoch"]), list(state["history"]), float(state["elapsed"])


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
