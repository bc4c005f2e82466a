"""Shared test setup: CPU only, one thread, the repository root and the shared data mirror."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

os.environ.setdefault("MPLBACKEND", "Agg")
# CPU only, as CI: the GPU stays hidden unless CUDA_VISIBLE_DEVICES is set explicitly, which is how
# the CUDA tests are run where there is one (benchmarks/gpu_check.sh sets it for them).
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(1)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
