"""Model registry and checkpoints that rebuild the right architecture.

A model is a constructor named in the ``MODELS`` mapping of a module of this package (see
:mod:`unlearnbench.plugins`). A checkpoint stores the architecture's name and constructor
arguments next to the weights, so ``load_model`` needs nothing but the file (and can use
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from unlearnbench.plugins import Registry
from unlearnbench.storage import CorruptCheckpointError, load_checkpoint, save_checkpoint

REGISTRY: Registry[Callable[..., nn.Module]] = Registry("model", __name__, "MODELS")


def build_model(name: str, **kwargs: Any) -> nn.Module:
    return REGISTRY.get(name)(**kwargs)


def save_model(path: str | Path, model: nn.Module, name: str, kwargs: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write weights + architecture + metadata (training seconds, provenance...) atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint(path, {"model": {"name": name, "kwargs": dict(kwargs)}, "state_dict": state, "meta": dict(meta)})


def load_model(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored at ``path``; return it (in eval mode) and its metadata."""
    body = load_checkpoint(path)
    try:
        spec = body["model"]
        model = build_model(spec["name"], **spec["kwargs"])
        model.load_state_dict(body["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CorruptCheckpointError(f"checkpoint {path} does not describe a loadable model: {exc}") from exc
    return model.to(device).eval(), dict(body.get("meta", {}))
