"""The compiled search on jittered binary data (patterns.py) against every pairwise distance."""

from __future__ import annotations

import numpy as np
import pytest
from jittered_data import dense_answers, jittered_table

from unlearnbench.dependence import patterns as patterns_module
from unlearnbench.dependence.patterns import LevelPatterns, split_levels


@pytest.mark.parametrize(("n", "s", "seed"), [(300, 1, 0), (800, 4, 1), (800, 9, 2), (500, 14, 3)])
def test_every_pair_is_the_dense_answer_or_flagged(n: int, s: int, seed: int) -> None:
    x = jittered_table(n, s + 5, seed)
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    c = x.shape[1] - s
    cand_idx, row_idx = np.repeat(np.arange(c), n), np.tile(np.arange(n), c)
    found, flagged = patterns.search(cand_idx, row_idx)
    dense, tied = dense_answers(x, s)
    assert np.array_equal(flagged, tied.reshape(-1))  # ties flagged, and nothing else on this data
    ok = ~flagged
    assert np.array_equal(found[ok], dense.reshape(-1)[ok])
    alone = patterns.group_sizes() == 1
    assert s < 9 or alone.any()  # the cross-pattern search really ran


def test_level_split_rejects_data_that_are_not_two_clusters() -> None:
    rng = np.random.default_rng(0)
    assert split_levels(rng.normal(size=(200, 2))) is None
    three = rng.integers(0, 3, size=(200, 1)).astype(float) + 1e-3 * rng.normal(size=(200, 1))
    assert split_levels(three) is None
    levels, gaps2 = split_levels(np.array([[0.0, 5.0], [1.0, 5.0], [0.001, 5.0]]))
    assert levels[:, 0].tolist() == [0, 1, 0] and gaps2[0] == pytest.approx(0.999**2)
    assert gaps2[1] == np.inf  # constant: one level, nothing differs there
    assert LevelPatterns.of(rng.normal(size=(50, 2)), rng.normal(size=(50, 1))) is None


def test_an_answer_within_the_subgroup_counts_only_below_the_gap() -> None:
    """Rows A and B share every level but sit at opposite ends of their clusters (0.3 apart in
    each of 8 columns: 0.72 squared); C differs from A in one level only, by the gap (0.7: 0.49
    squared), and equals it elsewhere. A's nearest row is C: the search must not settle on the
    subgroup's answer B, whose distance is above the gap, but walk on to C's group."""
    s = 8
    a = np.full(s, 0.15)
    rows = [a, -a, np.r_[0.85, a[1:]], np.full(s, 1.15), np.full(s, 0.85)]  # the last two: level 1
    x = np.column_stack([np.array(rows), np.zeros(len(rows))])  # one constant candidate
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    found, flagged = patterns.search(np.zeros(len(rows), dtype=np.int64), np.arange(len(rows)))
    dense, _ = dense_answers(x, s)
    assert dense[0, 0] == 2 and found[0] == 2 and not flagged[0]  # C is A's nearest, not B
    assert np.array_equal(found[~flagged], dense[0][~flagged])


def test_a_walk_cut_short_leaves_its_open_pairs_flagged(monkeypatch) -> None:
    """With room for one base group per walk, a row alone in its subgroup finds only rows at the
    candidate's other level, farther than the next base group's bound (the candidates' gaps are
    the widest): its pair is flagged for the dense repair, never answered from a partial walk."""
    x = jittered_table(600, 9, 4)[:, ::-1].copy()  # common base levels, rare candidate ones: wide gaps
    s = 6
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    monkeypatch.setattr(patterns_module, "MAX_PATTERNS", 1)
    c, n = x.shape[1] - s, x.shape[0]
    cand_idx, row_idx = np.repeat(np.arange(c), n), np.tile(np.arange(n), c)
    found, flagged = patterns.search(cand_idx, row_idx)
    dense, tied = dense_answers(x, s)
    assert np.array_equal(found[~flagged], dense.reshape(-1)[~flagged])
    levels, _ = split_levels(x)
    keys = [tuple(row) for row in levels[:, :s]]
    with_company = np.array(
        [
            sum(keys[i] == keys[r] and levels[i, s + j] == levels[r, s + j] for i in range(n)) > 1
            for j, r in zip(cand_idx, row_idx, strict=True)
        ]
    )
    alone_in_subgroup = ~with_company & (patterns.group_sizes()[row_idx] > 1)
    assert alone_in_subgroup.any() and flagged[alone_in_subgroup].all()
