"""Atomic file writes and checkpoint I/O.

Every file the suite produces is written to a temporary sibling and then renamed into
place, so a run killed half-way never leaves a truncated result that Snakemake (or a
human) would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = "unlearnbench-checkpoint-v1"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read back as an unlearnbench checkpoint."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_text(path, text)


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Save a checkpoint dict (tensors, numbers, strings, lists, dicts) atomically.

    Only plain containers and tensors are stored so that :func:`load_checkpoint` can use
    ``torch.load(weights_only=True)`` and never unpickle arbitrary code.
    """
    body = {"format": CHECKPOINT_FORMAT, **payload}
    return write_atomic(path, lambda tmp: torch.save(body, tmp))


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with a clear error when it is damaged."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist; run the rule that produces it first")
    try:
        body = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        # torch's own message suggests weights_only=False; we never do that, so keep only its first line.
        reason = (str(exc).strip().splitlines() or [""])[0][:160]
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or was not written by unlearnbench ({type(exc).__name__}: {reason}). "
            "Delete it and rerun the workflow to rebuild it."
        ) from exc
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise CorruptCheckpointError(
            f"checkpoint {path} is not an {CHECKPOINT_FORMAT} file. Delete it and rerun the workflow to rebuild it."
        )
    return body
