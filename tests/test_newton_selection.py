"""Slice selection when L-FOCI selects nothing (``empty_selection``), on data where that happens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.dependence import lcodec, lfoci
from unlearnbench.newton.selection import best_single_slice, select_slices
from unlearnbench.newton.settings import NewtonSettings


def _anti_dependent(n: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row's nearest neighbour in each column has the other label: T_n(y, x_j) < 0 for all j."""
    x = torch.arange(n, dtype=torch.float64)
    features = torch.stack([x, 3.0 * x + 1.0, -x], dim=1)
    losses = (torch.arange(n) % 2).to(torch.float64)
    return features, losses


def test_lfoci_selects_nothing_on_anti_dependent_data() -> None:
    features, losses = _anti_dependent()
    assert lfoci(losses.numpy(), features.numpy(), seed=0).selected == []
    assert all(lcodec(losses.numpy(), features[:, j].numpy(), seed=0) < 0 for j in range(3))


@pytest.mark.parametrize("strategy", ["lfoci", "cheap", "random"])
def test_keep_best_keeps_one_slice_and_allow_empty_none(strategy: str) -> None:
    features, losses = _anti_dependent()
    kept = select_slices(strategy, 3, torch.Generator().manual_seed(0), features, losses)
    assert len(kept.indices) == 1 and kept.note is not None and "keep-best" in kept.note
    empty = select_slices(
        strategy, 3, torch.Generator().manual_seed(0), features, losses, empty_selection="allow-empty"
    )
    assert empty.indices == [] and "allow-empty" in empty.note


def test_the_kept_slice_is_the_best_scoring_one() -> None:
    features, losses = _anti_dependent()
    X = features.numpy().copy()
    X[:, 2] = np.where(np.arange(60) % 4 < 2, 0.0, 1.0) + 1e-3 * np.arange(60)  # pairs: nearer to its label
    best, value = best_single_slice(losses.numpy(), X, seed=0)
    values = [lcodec(losses.numpy(), X[:, j], seed=0) for j in range(3)]
    assert best == int(np.argmax(values)) and value == pytest.approx(max(values))


def test_settings_validate_the_new_keys() -> None:
    with pytest.raises(ValueError, match="empty_selection"):
        NewtonSettings.from_hyperparameters({"l2_lambda": 0.1, "empty_selection": "skip"})
    with pytest.raises(ValueError, match="noise_n"):
        NewtonSettings.from_hyperparameters({"l2_lambda": 0.1, "noise_n": 0})
    default = NewtonSettings.from_hyperparameters({"l2_lambda": 0.1})
    assert default.empty_selection == "keep-best" and default.noise_n is None
    assert default.noise_sample_size(80) == 80
    assert NewtonSettings.from_hyperparameters({"l2_lambda": 0.1, "noise": "authors-code"}).noise_sample_size(80) == 50000


def test_fill_authors_noise_n_only_fills_a_null_authors_code_n() -> None:
    from unlearnbench.newton.settings import fill_authors_noise_n

    assert fill_authors_noise_n({"noise": "authors-code"}, 120)["noise_n"] == 120
    assert fill_authors_noise_n({"noise": "authors-code", "noise_n": 7}, 120)["noise_n"] == 7
    assert "noise_n" not in fill_authors_noise_n({"noise": "paper"}, 120)
