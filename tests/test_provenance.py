"""Provenance names the version of every package that produces a number, and never fails for an absent one."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

from unlearnbench.provenance import NOT_INSTALLED, TRACKED_PACKAGES, package_versions, provenance

PRODUCE_NUMBERS = {
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "transformers",
    "tokenizers",
    "torchreid",
    "pytorch-fid",
    "snakemake",
}


def test_every_package_that_produces_a_number_is_recorded():
    versions = package_versions()
    missing = PRODUCE_NUMBERS - set(TRACKED_PACKAGES), PRODUCE_NUMBERS - set(versions)
    assert missing == (set(), set())
    assert versions["python"] == f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    assert versions["torch"] == metadata.version("torch")


def test_an_absent_package_is_recorded_as_absent():
    versions = package_versions(("numpy", "no-such-distribution-unlearnbench-test"))
    assert versions["no-such-distribution-unlearnbench-test"] == NOT_INSTALLED
    assert versions["numpy"] == metadata.version("numpy")


def test_recording_versions_imports_none_of_the_packages():
    """Metadata only: recording torchreid's version must not import it (slow, and absent on some installs)."""
    code = (
        "import sys; from unlearnbench.provenance import package_versions; package_versions(); "
        "print(sorted(m for m in ('torchreid', 'transformers', 'pytorch_fid', 'snakemake', 'datasets') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_provenance_block_is_plain_json():
    block = provenance(config={"b": 1, "a": [1, 2]}, seed=3, device="cpu")
    assert json.loads(json.dumps(block)) == block
    assert block["seed"] == 3 and set(TRACKED_PACKAGES) <= set(block["versions"])
