"""Run metadata recorded in every result file: what produced this number, exactly.

A result is only reproducible if we know the config it came from (its hash), the seed, the
package versions, the device and the code version (git commit, and whether the tree had
uncommitted changes).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

#: Every distribution whose code computes or reads a number in a result (or, for snakemake,
#: decides which jobs ran): models and autograd, data decoding (pillow, datasets), tokenisation,
#: re-ID evaluation, FID, statistics and tables. Looked up by distribution metadata, never imported.
TRACKED_PACKAGES = (
    "unlearnbench",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "numba",
    "scikit-learn",
    "pandas",
    "pillow",
    "transformers",
    "tokenizers",
    "datasets",
    "torchreid",
    "pytorch-fid",
    "snakemake",
)
NOT_INSTALLED = "not installed"


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of a config mapping (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed version of each distribution, ``not installed`` for an absent one.

    Read from the installed metadata, so an optional package that is absent (or slow or
    broken to import, as torchreid can be) costs nothing and raises nothing.
    """
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


@lru_cache(maxsize=1)
def git_state(root: str | None = None) -> dict[str, Any]:
    """The commit of the code that ran, or ``unknown`` outside a git checkout."""
    cwd = root or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def device_description(device: str) -> str:
    """Human-readable device, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu (x86_64, 2 threads)``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        return f"{device} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(*, config: Mapping[str, Any], seed: int | None, device: str) -> dict[str, Any]:
    """The block stored under ``"provenance"`` in every run JSON and checkpoint."""
    return {
        "config_hash": config_hash(config),
        "seed": seed,
        "device": device_description(device),
        "versions": package_versions(),
        "git": git_state(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }
