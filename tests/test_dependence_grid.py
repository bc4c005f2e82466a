"""The compiled grid path (dependence/grid.py) against the dense definition, on shapes that make
it search many shells: skewed and heavy-tailed columns, exact duplicates, rows on a lattice."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from unlearnbench.dependence import knn
from unlearnbench.dependence.grid import (
    GRID_MAX_BASE,
    RankedColumns,
    base_grid_neighbours,
    candidate_grid_neighbours,
    grid_neighbours,
    outputs,
)


def _table(n: int, p: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    x[:, ::3] = rng.standard_cauchy(size=(n, len(range(0, p, 3))))  # heavy tails: empty outer slabs
    x[:, 1] = np.exp(2 * x[:, 1])  # skewed
    x[n // 2 : n // 2 + 40] = x[:40]  # exact duplicates (distance-0 ties)
    x[-60:] = np.round(x[-60:] * 2) / 2  # a lattice: equidistant neighbours
    return x


@pytest.mark.parametrize("base_dims", range(GRID_MAX_BASE + 1))
def test_grid_answers_are_the_dense_ones_and_flags_every_tie(base_dims: int) -> None:
    n = 1500
    x = _table(n, base_dims + 6, base_dims)
    ranked = RankedColumns(x)
    cands = list(range(base_dims, x.shape[1]))
    found, tied = grid_neighbours(ranked, list(range(base_dims)), cands)  # the path FOCI takes
    xt = torch.from_numpy(x)
    for a, j in enumerate(cands):
        pts = xt[:, list(range(base_dims)) + [j]]
        d = knn.squared_distances(pts, pts)
        d.fill_diagonal_(float("inf"))
        best = d.min(dim=1).values
        ties = (d == best[:, None]).sum(dim=1) > 1
        assert torch.equal(torch.from_numpy(tied[a]), ties), j  # every tie seen, no other row flagged
        ok = ~ties
        assert torch.equal(torch.from_numpy(found[a])[ok], d.argmin(dim=1)[ok]), j
    assert tied.any()  # the duplicates and the lattice really made ties
    if base_dims > 0:  # both grids, whichever FOCI takes at this size
        base = list(range(base_dims))
        for other, other_tied in [base_grid_neighbours(ranked, base, cands)] + (
            [candidate_grid_neighbours(ranked, base, cands)] if base_dims == 1 else []
        ):  # the same ties flagged, the same answers elsewhere (a tied row's answer is the tie rule's)
            assert np.array_equal(other_tied, tied) and np.array_equal(other[~tied], found[~tied])


@pytest.mark.parametrize("base_dims", [0, 1, 2])
def test_grid_writes_into_given_arrays(base_dims: int) -> None:
    """FOCI passes one pair of arrays for all its steps: the answers are those of new arrays, in
    the pair's first rows, whatever the previous step left there."""
    x = _table(600, base_dims + 5, base_dims)
    ranked = RankedColumns(x)
    base, cands = list(range(base_dims)), list(range(base_dims, x.shape[1]))
    fresh = grid_neighbours(ranked, base, cands)
    buffers = outputs(len(cands) + 2, ranked.n)
    buffers[0].fill(-7)
    buffers[1].fill(True)
    found, tied = grid_neighbours(ranked, base, cands, buffers)
    assert np.shares_memory(found, buffers[0]) and np.shares_memory(tied, buffers[1])
    assert np.array_equal(found, fresh[0]) and np.array_equal(tied, fresh[1])
    with pytest.raises(ValueError, match="cannot hold"):
        grid_neighbours(ranked, base, cands, outputs(len(cands) - 1, ranked.n))


def test_the_candidate_grid_answers_unasked_rows_with_themselves() -> None:
    """Rows FOCI does not need (least rank) are skipped; the asked rows' answers are unchanged."""
    x = _table(900, 6, 9)
    ranked = RankedColumns(x)
    cands = list(range(1, 6))
    full, full_tied = candidate_grid_neighbours(ranked, [0], cands)
    asked = np.random.default_rng(9).random(900) < 0.3
    found, tied = grid_neighbours(ranked, [0], cands, asked=asked)
    assert np.array_equal(found[:, asked], full[:, asked]) and np.array_equal(
        tied[:, asked], full_tied[:, asked]
    )
    assert (found[:, ~asked] == np.flatnonzero(~asked)).all() and not tied[:, ~asked].any()


def test_grid_rejects_too_many_base_columns() -> None:
    ranked = RankedColumns(np.random.default_rng(0).normal(size=(50, GRID_MAX_BASE + 2)))
    with pytest.raises(ValueError, match="base columns"):
        base_grid_neighbours(ranked, list(range(GRID_MAX_BASE + 1)), [GRID_MAX_BASE + 1])
    with pytest.raises(ValueError, match="1 base column"):
        candidate_grid_neighbours(ranked, [0, 1], [GRID_MAX_BASE + 1])


def test_ranked_columns_sort_every_column() -> None:
    x = _table(400, 5, 0)
    ranked = RankedColumns(x)
    assert np.array_equal(ranked.sorted, np.sort(x.T, axis=1))
    assert np.array_equal(np.take_along_axis(x.T, ranked.order, axis=1), ranked.sorted)


def test_a_grid_call_leaves_torchs_thread_count_as_it_was() -> None:
    """Numba's OpenMP pool, when it starts, sets the count torch reads too: left alone, a 1-thread
    run went on with 2 torch threads after its first selection (and later results changed in their
    last digits). A fresh process, so that the pool really starts inside the check."""
    script = (
        "import numpy as np, torch\n"
        "from unlearnbench.dependence.grid import RankedColumns, base_grid_neighbours, candidate_grid_neighbours\n"
        "from unlearnbench.dependence.grid import sorted_neighbours\n"
        "torch.set_num_threads(1)\n"
        "torch.get_num_threads()\n"  # torch's pool started first, as in a run (the pool then follows numba's)
        "ranked = RankedColumns(np.random.default_rng(0).normal(size=(300, 6)))\n"
        "print(torch.get_num_threads())\n"
        "sorted_neighbours(ranked, [0, 1])\n"
        "base_grid_neighbours(ranked, [0], [1])\n"
        "candidate_grid_neighbours(ranked, [0], [1])\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}  # a pool of two, even on a one-core machine
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip().splitlines() == ["1", "1"]  # after the columns' sort, after the searches
