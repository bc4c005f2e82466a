"""Dataset names, and the two verbs every dataset supports: prepare (once, to disk) and load.

A name resolves to a :class:`DatasetRef`: which folder under the data root holds it
(``base``), which kind of source builds it (``kind``), which classes it keeps and the
kind's settings. Built-in names need no configuration; user datasets (idx files, an image
folder with a label CSV) are entries of the profile's ``datasets:`` mapping.

Preparation and loading are split so that the Snakemake rule that fetches and converts
data runs once per dataset, and every experiment afterwards only reads ``prepared.pt``.

A dataset kind is a module of :mod:`unlearnbench.data` that declares ``KIND`` (found by
:mod:`unlearnbench.plugins`), with ``SETTINGS``, ``REQUIRED``, ``FINGERPRINT`` and
``prepare(ref, folder)``. It may declare ``BUILTIN`` (a dataset name usable with no config
entry), ``BUILTIN_SUBSETS`` (names of class subsets of it), ``USER_KIND = True`` (config
entries may be of this kind), ``LABELS`` and ``STAND_IN``. The tables below are read off the
kind modules (:func:`builtin_kinds`, :func:`builtin_subsets`, :func:`user_kinds`), never by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from unlearnbench import __version__
from unlearnbench.data.download import md5sum
from unlearnbench.data.subsets import class_codes, encode_labels, merge_class_requests, select_classes
from unlearnbench.plugins import Registry, declared_module
from unlearnbench.storage import load_checkpoint, read_json, save_checkpoint, write_json

MANIFEST_NAME = "manifest.json"
PREPARED_NAME = "prepared.pt"
MANIFEST_FORMAT = "unlearnbench-dataset-v1"

#: Every dataset kind: the modules of this package that declare ``KIND``.
REGISTRY: Registry[ModuleType] = Registry("dataset kind", "unlearnbench.data", "KIND", declared_module)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # the name becomes a folder name


class DatasetNotPreparedError(FileNotFoundError):
    """``load_dataset`` found no prepared data: the preparation step has not run (or is stale)."""


@dataclass(frozen=True)
class DatasetRef:
    """A resolved dataset name: where its files live, how they are built, which classes it keeps."""

    name: str
    base: str
    kind: str
    classes: tuple[int | str, ...] | None = None
    settings: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass
class PreparedData:
    """What a kind module's ``prepare`` returns; :func:`prepare_dataset` stores it.

    Images are ``uint8`` (0..255) or ``float32`` in [0, 1], shaped [N, C, H, W]; labels are
    ``int64`` codes into ``label_values`` (the original labels, e.g. digits or CSV strings).
    ``files`` maps each source file to ``{md5, bytes, url}`` and, for files on this machine,
    ``path`` (relative to the dataset folder when inside it), which makes re-preparation
    detectable: a changed source file changes its md5.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    label_values: list[int | str]
    description: str
    source: str
    files: dict[str, dict[str, Any]]
    stand_in: bool = False
    stand_in_for: str | None = None

    @classmethod
    def from_rows(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        train_idx: np.ndarray,
        test_idx: np.ndarray,
        *,
        label_source: str,
        **fields: Any,
    ) -> PreparedData:
        """The rows ``train_idx`` and ``test_idx`` of one array of images and one of labels, the labels
        encoded as codes into the sorted training labels (:func:`encode_labels`; ``label_source``
        names the data in its errors); ``fields`` are the other fields (description, source, ...)."""
        values, train_codes, test_codes = encode_labels(labels[train_idx], labels[test_idx], source=label_source)
        return cls(
            train_images=torch.from_numpy(np.ascontiguousarray(images[train_idx])),
            train_labels=train_codes,
            test_images=torch.from_numpy(np.ascontiguousarray(images[test_idx])),
            test_labels=test_codes,
            label_values=values,
            **fields,
        )


@dataclass
class DatasetSplits:
    """Train and test splits ready for a model, with the metadata captions and reports need."""

    name: str
    train: TensorDataset
    test: TensorDataset
    classes: list[int | str]
    image_shape: tuple[int, int, int]
    stand_in: bool
    description: str


# ---------------------------------------------------------------------------- resolution


def known_datasets(datasets_config: Mapping[str, Any] | None = None) -> list[str]:
    """Every name :func:`resolve_dataset` accepts: built-ins, built-in aliases and config entries."""
    config = _config(datasets_config)
    return sorted(set(builtin_kinds()) | set(builtin_subsets()) | set(config))


def builtin_kinds() -> dict[str, str]:
    """Built-in dataset name -> its kind; its folder under the data root is its name."""
    return {module.BUILTIN: kind for kind, module in REGISTRY.items() if hasattr(module, "BUILTIN")}


def builtin_subsets() -> dict[str, tuple[str, tuple[int | str, ...]]]:
    """Built-in subset name -> (the built-in dataset it is cut from, the classes it keeps)."""
    return {
        name: (module.BUILTIN, tuple(classes))
        for _, module in REGISTRY.items()
        for name, classes in getattr(module, "BUILTIN_SUBSETS", {}).items()
    }


def user_kinds() -> list[str]:
    """The kinds a ``datasets:`` entry of the config may declare."""
    return [kind for kind, module in REGISTRY.items() if getattr(module, "USER_KIND", False)]


def resolve_dataset(name: str, datasets_config: Mapping[str, Any] | None = None) -> DatasetRef:
    """Resolve ``name`` against the built-ins and the profile's ``datasets:`` mapping.

    Config entries take one of three forms: ``{kind: idx | image-folder, <settings>, classes?}``
    for user data, ``{base: <dataset>, classes: [...]}`` for a class subset of another dataset,
    or, under a built-in name (``mnist``, ``digits``), settings of that built-in only (e.g.
    ``mnist: {mirror: /path/to/folder}``). Raises ``KeyError`` for an unknown name and
    ``ValueError`` for a malformed entry.
    """
    return _resolve(name, _config(datasets_config), ())


def dataset_base(name: str, datasets_config: Mapping[str, Any] | None = None) -> str:
    """The folder under the data root that :func:`prepare_dataset` fills for ``name``."""
    return resolve_dataset(name, datasets_config).base


def known_labels(name: str, datasets_config: Mapping[str, Any] | None = None) -> list[int | str] | None:
    """The labels ``name`` will have once prepared, when that is known beforehand (else ``None``).

    A class subset knows its classes; a kind module may declare ``LABELS`` (digits, MNIST).
    Raises ``KeyError`` for an unknown name, so validation can name it before anything runs.
    """
    ref = resolve_dataset(name, datasets_config)
    if ref.classes is not None:
        return list(ref.classes)
    labels = getattr(_kind_module(ref.kind), "LABELS", None)
    return None if labels is None else list(labels)


def is_stand_in(name: str, datasets_config: Mapping[str, Any] | None = None) -> bool:
    """Whether ``name`` is stand-in data, known without preparing it (for captions and listings).

    A kind module may declare ``STAND_IN = True`` (scikit-learn digits); user data says so
    with the ``stand_in`` setting.
    """
    ref = resolve_dataset(name, datasets_config)
    return bool(ref.settings.get("stand_in", getattr(_kind_module(ref.kind), "STAND_IN", False)))


def _config(datasets_config: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if datasets_config is None:
        return {}
    if not isinstance(datasets_config, Mapping):
        raise ValueError(
            f"the datasets config must be a mapping of names to entries, got {type(datasets_config).__name__}"
        )
    config: dict[str, Mapping[str, Any]] = {}
    for name, entry in datasets_config.items():
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise ValueError(
                f"dataset name {name!r} is invalid: use letters, digits, '.', '_' and '-' (it becomes a folder name)"
            )
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"the config entry of dataset {name!r} must be a mapping, got {type(entry).__name__}"
            )
        config[name] = entry
    return config


def _resolve(name: str, config: dict[str, Mapping[str, Any]], chain: tuple[str, ...]) -> DatasetRef:
    if name in chain:
        raise ValueError(f"dataset aliases form a cycle: {' -> '.join((*chain, name))}")
    entry = dict(config[name]) if name in config else None

    subsets, builtins = builtin_subsets(), builtin_kinds()
    if name in subsets:
        base, classes = subsets[name]
        if entry:
            raise ValueError(
                f"{name!r} is a built-in alias of {base!r} with classes {list(classes)}; "
                f"put its settings under {base!r} instead"
            )
        return replace(_resolve(base, config, (*chain, name)), name=name, classes=classes)

    if name in builtins:
        kind = builtins[name]
        entry = entry or {}
        declared = entry.pop("kind", kind)
        if declared != kind:
            raise ValueError(
                f"{name!r} is a built-in dataset of kind {kind!r}; its config entry may only add settings, "
                f"not change the kind to {declared!r}. Choose another name for your own data."
            )
        for key in ("base", "classes"):
            if key in entry:
                raise ValueError(
                    f"the config entry of the built-in dataset {name!r} may only add settings, not {key!r}; "
                    f"define a new name such as {{'{name}-subset': {{'base': '{name}', 'classes': [...]}}}}"
                )
        return DatasetRef(name, name, kind, None, _check_settings(name, kind, entry))

    if entry is None:
        raise KeyError(
            f"unknown dataset {name!r}; known datasets: {', '.join(known_datasets(config))}. "
            "Declare your own under `datasets:` in the config with kind 'idx' or 'image-folder'."
        )

    classes = _classes_tuple(name, entry.pop("classes", None))
    if "base" in entry:
        base = entry.pop("base")
        if entry:
            raise ValueError(
                f"dataset {name!r} is an alias of {base!r}: it takes only 'base' and 'classes', "
                f"not {sorted(entry)}"
            )
        ref = _resolve(str(base), config, (*chain, name))
        merged = merge_class_requests(ref.classes, classes, dataset=name)
        return replace(ref, name=name, classes=None if merged is None else tuple(merged))

    kind = entry.pop("kind", None)
    kinds = user_kinds()
    if kind is None:
        raise ValueError(
            f"the config entry of dataset {name!r} needs 'kind' (one of {', '.join(kinds)}) "
            "or 'base' (another dataset) with 'classes'"
        )
    if kind not in kinds:
        raise ValueError(
            f"dataset {name!r} has unknown kind {kind!r}; user datasets are of kind {', '.join(kinds)}"
        )
    return DatasetRef(name, name, kind, classes, _check_settings(name, kind, entry))


def _classes_tuple(name: str, classes: Any) -> tuple[int | str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise ValueError(f"'classes' of dataset {name!r} must be a list of labels, got {classes!r}")
    return tuple(classes)


def _kind_module(kind: str) -> ModuleType:
    try:
        return REGISTRY.get(kind)
    except KeyError as exc:
        raise ValueError(str(exc)) from None


def _check_settings(name: str, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    module = _kind_module(kind)
    unknown = sorted(set(settings) - set(module.SETTINGS))
    if unknown:
        allowed = ", ".join(sorted(module.SETTINGS)) or "none"
        raise ValueError(f"dataset {name!r} (kind {kind}) has unknown settings {unknown}; allowed: {allowed}")
    missing = sorted(set(module.REQUIRED) - set(settings))
    if missing:
        raise ValueError(f"dataset {name!r} (kind {kind}) lacks required settings {missing}")
    return dict(settings)


# ---------------------------------------------------------------------------- preparation


def prepare_dataset(name: str, datasets_config: Mapping[str, Any] | None, data_root: str | Path) -> Path:
    """Make ``data_root/<base>/`` ready (raw files, ``prepared.pt``, ``manifest.json``).

    Idempotent: when the manifest, the prepared file and every recorded source file still
    have the recorded md5s (and the content-relevant settings are unchanged), nothing is
    done. Returns the manifest's path.
    """
    ref = resolve_dataset(name, datasets_config)
    ref = replace(ref, name=ref.base, classes=None)  # the base is prepared whole; subsets are cut at load
    module = _kind_module(ref.kind)
    folder = Path(data_root) / ref.base
    manifest_path = folder / MANIFEST_NAME
    fingerprint = _normalise({key: ref.settings.get(key) for key in module.FINGERPRINT})
    # Kinds whose sources are too many to list file by file (an image folder) hash them as one digest.
    digest = module.source_digest(ref) if hasattr(module, "source_digest") else None
    if _is_current(manifest_path, ref.kind, fingerprint, digest):
        return manifest_path

    folder.mkdir(parents=True, exist_ok=True)
    data: PreparedData = module.prepare(ref, folder)
    _validate_prepared(ref.base, data)
    prepared_path = folder / PREPARED_NAME
    save_checkpoint(
        prepared_path,
        {
            "dataset": ref.base,
            "train_images": data.train_images.contiguous(),
            "train_labels": data.train_labels.contiguous(),
            "test_images": data.test_images.contiguous(),
            "test_labels": data.test_labels.contiguous(),
            "classes": list(data.label_values),
        },
    )
    k = len(data.label_values)
    manifest = {
        "format": MANIFEST_FORMAT,
        "dataset": ref.base,
        "kind": ref.kind,
        "stand_in": bool(data.stand_in),
        "stand_in_for": data.stand_in_for,
        "description": data.description,
        "source": data.source,
        "files": data.files,
        "n_train": int(data.train_labels.numel()),
        "n_test": int(data.test_labels.numel()),
        "classes": list(data.label_values),
        "class_counts": {
            "train": torch.bincount(data.train_labels, minlength=k).tolist(),
            "test": torch.bincount(data.test_labels, minlength=k).tolist(),
        },
        "image_shape": list(data.train_images.shape[1:]),
        "image_dtype": str(data.train_images.dtype).removeprefix("torch."),
        "settings": fingerprint,
        "source_digest": digest,
        "prepared": {
            "file": PREPARED_NAME,
            "md5": md5sum(prepared_path),
            "bytes": prepared_path.stat().st_size,
        },
        "unlearnbench_version": __version__,
    }
    write_json(manifest_path, manifest)
    return manifest_path


def _normalise(value: Any) -> Any:
    """JSON round trip, so that a fingerprint compares equal to the one read back from disk."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _is_current(manifest_path: Path, kind: str, fingerprint: Any, digest: str | None) -> bool:
    folder = manifest_path.parent
    try:
        manifest = read_json(manifest_path)
        prepared = manifest["prepared"]
        if manifest.get("format") != MANIFEST_FORMAT or manifest.get("kind") != kind:
            return False
        if manifest.get("settings") != fingerprint or manifest.get("source_digest") != digest:
            return False
        if md5sum(folder / prepared["file"]) != prepared["md5"]:
            return False
        for entry in manifest["files"].values():
            if "path" in entry and md5sum(folder / entry["path"]) != entry["md5"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):  # absent, unreadable or foreign manifest: rebuild
        return False
    return True


def _validate_prepared(name: str, data: PreparedData) -> None:
    """Catch a kind module's bug here rather than as a shape error deep inside training."""
    k = len(data.label_values)
    if k == 0 or len(set(map(str, data.label_values))) != k:
        raise ValueError(f"{name}: label values must be non-empty and distinct, got {data.label_values}")
    shapes = set()
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        if images.ndim != 4 or images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(
                f"{name}: {split} images must be uint8 or float32 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        if labels.dtype != torch.int64 or labels.ndim != 1 or labels.numel() != images.shape[0]:
            raise ValueError(f"{name}: {split} labels must be int64 [N] with N = {images.shape[0]}")
        if labels.numel() == 0:
            raise ValueError(f"{name}: the {split} split is empty")
        if int(labels.min()) < 0 or int(labels.max()) >= k:
            raise ValueError(f"{name}: {split} label codes must lie in 0..{k - 1}")
        if images.dtype == torch.float32 and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
            raise ValueError(f"{name}: float {split} images must lie in [0, 1]")
        shapes.add(tuple(images.shape[1:]))
    if len(shapes) != 1:
        raise ValueError(f"{name}: train and test images differ in shape: {sorted(shapes)}")


# ---------------------------------------------------------------------------- loading


def load_dataset(
    name: str,
    datasets_config: Mapping[str, Any] | None,
    data_root: str | Path,
    classes: Sequence[int | str] | None = None,
) -> DatasetSplits:
    """Load prepared splits as float32 images in [0, 1] and labels remapped to 0..k-1.

    ``classes`` (e.g. an experiment's ``classes: [1, 3, 8]``) selects a subset of the
    original labels, in the order given; with an alias such as ``mnist138`` it must be a
    subset of the alias's classes.
    """
    ref = resolve_dataset(name, datasets_config)
    folder = Path(data_root) / ref.base
    manifest_path, prepared_path = folder / MANIFEST_NAME, folder / PREPARED_NAME
    hint = (
        f"Run `unlearnbench prepare-data` for dataset {name!r} (or unlearnbench.data.prepare_dataset) first."
    )
    if not manifest_path.exists():
        raise DatasetNotPreparedError(f"dataset {name!r} is not prepared: {manifest_path} does not exist. {hint}")
    if not prepared_path.exists():
        raise DatasetNotPreparedError(f"{prepared_path} does not exist. {rebuild_hint(folder)}")
    body = _verified_prepared(name, ref, folder)
    manifest = read_json(manifest_path)
    label_values: list[int | str] = list(body["classes"])
    requested = merge_class_requests(ref.classes, classes, dataset=name)

    splits = {}
    if requested is None:
        kept = label_values
        for split in ("train", "test"):
            splits[split] = (body[f"{split}_images"], body[f"{split}_labels"])
    else:
        codes = class_codes(requested, label_values, dataset=name)
        kept = [label_values[c] for c in codes]
        for split in ("train", "test"):
            splits[split] = select_classes(
                body[f"{split}_images"], body[f"{split}_labels"], codes, what=f"the {split} split of {name!r}"
            )
    train, test = (
        TensorDataset(_unit_float(x), y.to(torch.int64)) for x, y in (splits["train"], splits["test"])
    )
    shape = tuple(int(s) for s in body["train_images"].shape[1:])
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        classes=kept,
        image_shape=(shape[0], shape[1], shape[2]),
        stand_in=bool(manifest.get("stand_in", False)),
        description=_describe(manifest, kept, subset=requested is not None),
    )


def rebuild_hint(folder: Path) -> str:
    """The fix that works: without its manifest the workflow prepares the dataset again (raw files are kept)."""
    return (
        f"Delete {folder / MANIFEST_NAME} and rerun the workflow (or `unlearnbench prepare-data`): the dataset is "
        "prepared again from its raw files, which are kept."
    )


def _verified_prepared(name: str, ref: DatasetRef, folder: Path) -> dict[str, Any]:
    """Load ``prepared.pt`` after checking it against its manifest and the current settings.

    The manifest records the settings that produced the prepared file and its md5; the file
    itself carries a content checksum. Any mismatch (a changed ``test_fraction``, bytes
    overwritten on disk, a truncated file) stops the run with the file and the fix.
    """
    manifest_path, prepared_path = folder / MANIFEST_NAME, folder / PREPARED_NAME
    fix = rebuild_hint(folder)
    try:
        manifest = read_json(manifest_path)
    except ValueError as exc:
        raise DatasetNotPreparedError(f"{exc} {fix}") from exc
    if not isinstance(manifest, Mapping) or manifest.get("format") != MANIFEST_FORMAT:
        raise DatasetNotPreparedError(f"{manifest_path} is not an {MANIFEST_FORMAT} manifest. {fix}")
    if manifest.get("kind") != ref.kind:
        raise DatasetNotPreparedError(
            f"{manifest_path} describes a dataset of kind {manifest.get('kind')!r}, but {name!r} is now of kind "
            f"{ref.kind!r}. {fix}"
        )
    module = _kind_module(ref.kind)
    fingerprint = _normalise({key: ref.settings.get(key) for key in module.FINGERPRINT})
    if manifest.get("settings") != fingerprint:
        raise DatasetNotPreparedError(
            f"{folder} was prepared with the settings {manifest.get('settings')}, but the config now says "
            f"{fingerprint} for dataset {name!r}. {fix}"
        )
    recorded = (manifest.get("prepared") or {}).get("md5")
    if recorded is None or md5sum(prepared_path) != recorded:
        raise DatasetNotPreparedError(
            f"{prepared_path} does not match the md5 its manifest records ({recorded}): it was damaged or "
            f"replaced after preparation. {fix}"
        )
    return load_checkpoint(prepared_path, remedy=fix)


def _unit_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255.0)
    return images.to(torch.float32)


def _describe(manifest: Mapping[str, Any], kept: list[int | str], *, subset: bool) -> str:
    """e.g. "scikit-learn digits 8x8, classes 1, 3, 8 (stand-in for MNIST138)"."""
    base = manifest.get("description") or manifest.get("dataset", "dataset")
    text = f"{base}, classes {', '.join(map(str, kept))}" if subset else f"{base}, {len(kept)} classes"
    if manifest.get("stand_in"):
        target = manifest.get("stand_in_for")
        if target:
            suffix = "".join(map(str, kept)) if subset and all(len(str(c)) == 1 for c in kept) else ""
            text += f" (stand-in for {target}{suffix})"
        else:
            text += " (stand-in data)"
    return text
