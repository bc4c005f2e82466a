"""The workflow follows the conventions of the snakemake-workflows template: `snakemake --lint` finds
nothing (every rule that runs a command names its conda environment, functions live in common.smk)."""

from __future__ import annotations

import pytest
from fixtures.workflow import run_snakemake


@pytest.mark.parametrize("profile", ["config.yaml", "paper.yaml"])
def test_snakemake_lint_finds_nothing(tmp_path, repo_root, profile):
    result = run_snakemake(
        tmp_path, "--lint", "--configfile", str(repo_root / "config" / profile), timeout=300
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
