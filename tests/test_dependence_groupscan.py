"""The pass within base groups shared by all candidates (groupscan.py) against every pairwise distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from jittered_data import dense_answers, jittered_table

from unlearnbench.dependence import groupscan, knn
from unlearnbench.dependence.patterns import LevelPatterns


@pytest.mark.parametrize(("s", "k"), [(2, 4), (3, 32), (6, 2), (6, 32)])
def test_certified_answers_are_the_dense_ones(s: int, k: int) -> None:
    """Short lists (k = 2, 4) leave most pairs to the second pass over the group; every certified
    pair is the dense answer, ties are never certified, and almost every other pair is."""
    n = 1500
    x = jittered_table(n, s + 6, s + k)
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    rows = np.flatnonzero(patterns.group_sizes() >= k + 2)[::2]  # some rows, in increasing order
    found, certified = groupscan.nearest_in_groups(patterns, rows, k)
    dense, tied = dense_answers(x, s)
    assert np.array_equal(found[certified], dense[:, rows][certified])
    assert not (certified & tied[:, rows]).any()
    assert certified.mean() > 0.9


def test_a_list_answer_counts_only_below_the_next_base_distance(monkeypatch) -> None:
    """Row 0's two nearest base rows (1, 2) are far from it in the candidate; row 3, third in the
    base space, is nearest in full. With a list of two, the list's best must not be certified on
    its own: the second pass over the group finds row 3."""
    base = np.array([[0.0], [0.01], [0.02], [0.03], [1.0]]) + np.array([[0.0, 0.0]])
    base = np.column_stack([base[:, 0], np.zeros(5)])  # two base columns, one constant
    cand = np.array([[0.0], [0.05], [0.05], [0.0], [1.0]])  # one candidate, rows 0-3 at level 0
    patterns = LevelPatterns.of(base, cand)
    assert patterns is not None
    shortlist_only = []
    real = groupscan._scan_kernel

    def no_second_pass(*args):  # record what the first pass certified
        shortlist_only.append(args[7].size)
        return real(*args)

    monkeypatch.setattr(groupscan, "_scan_kernel", no_second_pass)
    found, certified = groupscan.nearest_in_groups(patterns, np.array([0]), k=2)
    assert shortlist_only == [1]  # the list did not certify row 0's answer
    assert certified[0, 0] and found[0, 0] == 3


def test_the_full_size_path_choice_by_group_size(monkeypatch) -> None:
    """knn's jittered-binary path: the group pass and the k-d trees give the dense answers."""
    rng = np.random.default_rng(5)
    n = knn.TREE_SHORTLIST_ROWS + 500
    s = knn.SUBGROUP_GRID_MAX_BASE + 1  # with fewer base columns: the grid per subgroup
    x = jittered_table(n, s + 5, 5)
    base, cands = torch.tensor(x[:, :s]), torch.tensor(x[:, s:])
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    calls: list[int] = []
    real = groupscan.nearest_in_groups

    def spy(patterns, rows, k=groupscan.SHORTLIST):
        calls.append(rows.size)
        return real(patterns, rows, k)

    monkeypatch.setattr(groupscan, "nearest_in_groups", spy)
    assert torch.equal(knn.candidate_nearest_neighbours(base, cands, u), dense)
    assert calls  # small groups: the group pass
    monkeypatch.setattr(knn, "GROUP_PASS_MAX_ROWS", 0)
    calls.clear()
    asked = torch.from_numpy(np.flatnonzero(rng.random(n) < 0.5))
    got = knn.candidate_nearest_neighbours(base, cands, u, asked=asked)
    assert not calls and torch.equal(got[:, asked], dense[:, asked])  # the k-d trees


@pytest.mark.parametrize(("s", "share"), [(3, 0.5), (6, 0.05)])
def test_decided_classes_are_the_dense_neighbours_classes(s: int, share: float) -> None:
    """A two-class target: every decided answer is of the class of the dense nearest neighbour;
    a tie between the classes is never decided."""
    n = 1500
    x = jittered_table(n, s + 6, 40 + s)
    upper = np.random.default_rng(s).random(n) < share
    patterns = LevelPatterns.of(x[:, :s], x[:, s:])
    assert patterns is not None
    rows = np.arange(0, n, 3)
    found, decided = groupscan.neighbour_classes(patterns, rows, upper)
    dense, tied = dense_answers(x, s)
    truth = dense[:, rows]
    assert decided.mean() > 0.9 and tied[:, rows].any()  # the duplicates tie, within one class
    assert np.array_equal(upper[found[decided]], upper[truth[decided]])
    xt = torch.from_numpy(x)
    for j in range(x.shape[1] - s):  # a tie between the classes is never decided
        pts = xt[:, list(range(s)) + [s + j]]
        d = knn.squared_distances(pts[rows], pts)
        d[torch.arange(rows.size), torch.from_numpy(rows)] = float("inf")
        at_best = (d == d.min(dim=1).values[:, None]).numpy()
        both = np.array([len(set(upper[row])) > 1 for row in at_best])
        assert not (decided[j] & both).any()


def test_knn_settles_two_class_rows_by_class(monkeypatch) -> None:
    """candidate_nearest_neighbours with ``classes``: the answers' classes are the dense
    neighbours' classes, through the class search (thresholds lowered to reach it at this size)."""
    rng = np.random.default_rng(6)
    n = knn.TREE_SHORTLIST_ROWS + 500
    x = jittered_table(n, 12, 6)
    base, cands = torch.tensor(x[:, :6]), torch.tensor(x[:, 6:])
    u = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    upper = torch.from_numpy(rng.random(n) < 0.9)
    dense = knn.candidate_nearest_neighbours(base, cands, u, strategy="dense")
    calls: list[int] = []
    real = groupscan.neighbour_classes

    def spy(patterns, rows, classes):
        calls.append(rows.size)
        return real(patterns, rows, classes)

    monkeypatch.setattr(groupscan, "neighbour_classes", spy)
    monkeypatch.setattr(knn, "GROUP_PASS_MAX_ROWS", 0)
    monkeypatch.setattr(knn, "CLASS_SEARCH_MAX_WORK", 10**9)
    asked = upper.nonzero(as_tuple=True)[0]
    got = knn.candidate_nearest_neighbours(base, cands, u, asked=asked, classes=upper)
    assert calls and calls[0] == asked.numel()
    assert torch.equal(upper[got[:, asked]], upper[dense[:, asked]])
    with pytest.raises(ValueError, match="classes"):
        knn.candidate_nearest_neighbours(base, cands, u, classes=upper[:-1])
