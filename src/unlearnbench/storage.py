"""Atomic file writes and checkpoint I/O.

Every file the suite produces is written to a temporary sibling and then renamed into
place, so a run killed half-way never leaves a truncated result that Snakemake (or a
human) would mistake for a finished one. The temporary file gets the permissions the
umask allows (``tempfile`` creates it 0600, which would make a shared results folder
unreadable to colleagues).

Every checkpoint carries a SHA-256 of its content (tensors bytes, shapes, dtypes and
metadata), verified on every load: a file damaged on disk, or edited by hand, is an error
naming the file and what to delete instead of a silently wrong number.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where checkpoints are touched: writing a JSON file stays light
    import torch

CHECKPOINT_FORMAT = "unlearnbench-checkpoint-v2"  # v2: with a content checksum
CHECKSUM_KEY = "checksum"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read back as an unlearnbench checkpoint."""


class CorruptResultError(ValueError):
    """A result file (JSON) exists but cannot be parsed; the message names the file."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shareable_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 minus the umask."""
    return 0o666 & ~_umask()


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
        if tmp.exists():
            os.chmod(tmp, shareable_mode())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_folder_once(
    folder: str | os.PathLike[str], is_current: Callable[[Path], bool], writer: Callable[[Path], None]
) -> Path:
    """``folder`` as ``writer(tmp_folder)`` makes it, unless ``is_current(folder)`` already holds.

    The writer fills a temporary sibling that is then renamed into place, so parallel jobs
    never see a half-written folder: the first finished copy wins (a job that finds a current
    copy after writing its own keeps that one), and a stale copy is moved aside and deleted.
    """
    folder = Path(folder)
    if is_current(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        writer(tmp)
        if not is_current(folder):  # else another job finished first: keep its copy
            old = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            if folder.exists():  # stale (other settings)
                folder.rename(old)
            with suppress(OSError):  # another job renamed its identical copy in between
                tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_text(path, text)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a damaged one is a :class:`CorruptResultError` that names it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptResultError(
            f"{path} is not valid JSON ({exc}); it is damaged or truncated. Delete it and rerun the workflow "
            "to rebuild it."
        ) from exc


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def content_checksum(value: Any) -> str:
    """SHA-256 over a checkpoint body: keys, types, tensor dtypes, shapes and bytes.

    Computed on the objects rather than the file, so it survives torch's container format
    and is checked after ``torch.load`` without a second read of the file.
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{tensor.dtype}{tuple(value.shape)}".encode())
        if tensor.numel():
            digest.update(tensor.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(f"K{key!r}".encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"V{type(value).__name__}:{value!r}".encode())


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Save a checkpoint dict (tensors, numbers, strings, lists, dicts) atomically, with its checksum.

    Only plain containers and tensors are stored so that :func:`load_checkpoint` can use
    ``torch.load(weights_only=True)`` and never unpickle arbitrary code.
    """
    import torch

    body = {"format": CHECKPOINT_FORMAT, **payload}
    body[CHECKSUM_KEY] = content_checksum(body)
    return write_atomic(path, lambda tmp: torch.save(body, tmp))


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", remedy: str | None = None
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` and verify its checksum.

    Any damage is a :class:`CorruptCheckpointError` naming the file and the fix: ``remedy``
    (e.g. "delete data/digits/manifest.json and rerun") or, by default, deleting the file.
    """
    import torch

    path = Path(path)
    fix = remedy or f"Delete {path} and rerun the workflow to rebuild it."
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist; run the rule that produces it first")
    try:
        body = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        # torch's own message suggests weights_only=False; we never do that, so keep only its first line.
        reason = (str(exc).strip().splitlines() or [""])[0][:160]
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or was not written by unlearnbench ({type(exc).__name__}: {reason}). {fix}"
        ) from exc
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        found = body.get("format") if isinstance(body, dict) else type(body).__name__
        raise CorruptCheckpointError(
            f"checkpoint {path} is not an {CHECKPOINT_FORMAT} file (found {found!r}; older files carry no "
            f"checksum). {fix}"
        )
    recorded = body.pop(CHECKSUM_KEY, None)
    if recorded != content_checksum(body):
        raise CorruptCheckpointError(
            f"checkpoint {path} fails its checksum: its content changed after it was written "
            f"(damaged on disk or edited). {fix}"
        )
    return body
