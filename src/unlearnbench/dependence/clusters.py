"""Rows grouped by the clusters of their base columns: where a neighbour search may stay on clustered data.

L-FOCI jitters discrete columns (CelebA's binary attributes) with noise of scale 1e-3, so every
value sits in a tight cluster around its level and the levels are far apart. Cut each base
column at its wide gaps into clusters and group the rows by the cluster of every base column.
Two rows in different groups differ in some base column by at least that column's gap between
clusters, so their squared distance, in any space that contains the base columns, is at least
:attr:`BaseClusters.bound`, the smallest such gap squared. A row whose nearest row within its
own group is nearer than that bound has found its nearest row among all rows: a search within
groups is exact, whatever the cut, and costs ``sum_g g^2`` distances instead of ``n^2`` (on the
full-size stand-in CelebA table, with the columns L-FOCI selects for Male: 4.6x fewer with 4
selected columns, 20x with 8, 45x with 12, 114x with 16). A poor cut only leaves more rows
uncertified.

Floating point: a computed squared distance adds non-negative squares, each correctly rounded,
so it is at least the square of that one gap up to a few ulps; the bound is shrunk by the
relative margin of :mod:`.kdtree` (1e-9), far above that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from unlearnbench.dependence.groups import SAMPLE_ROWS
from unlearnbench.dependence.kdtree import MARGIN  # a relative margin far above rounding (~1e-16)

Tensor = torch.Tensor

# A column is cut into clusters where its sorted values jump by more than this share of its range;
# clustered data have at most MAX_CLUSTERS clusters, and in looks_clustered's sample they cover at
# most CLUSTER_COVER of the range.
MAX_CLUSTERS = 16
CUT_SHARE = 1 / (4 * MAX_CLUSTERS)
CLUSTER_COVER = 0.01
# Groups up to this many rows are padded to a power of two and searched many per batch.
SMALL_GROUP = 1024


def looks_clustered(column: np.ndarray) -> bool:
    """A cheap guess: the first rows' values sit in a few tight clusters far apart.

    That is discrete data plus a little noise (L-FOCI's jittered binary attributes): the values
    are all distinct, yet a row's neighbours are confined to the rows sharing its levels. Only the
    choice of path depends on it (see :func:`unlearnbench.dependence.grid.grid_serves`), never
    an answer. The sample is cut as :func:`column_clusters` cuts; it is clustered when it has at
    most :data:`MAX_CLUSTERS` clusters and together they cover at most :data:`CLUSTER_COVER` of
    the range (a continuous sample covers nearly all of it).
    """
    head = np.sort(column[:SAMPLE_ROWS])
    span = float(head[-1] - head[0])
    if not span > 0:
        return False
    gaps = np.diff(head)
    cuts = gaps > span * CUT_SHARE
    return int(cuts.sum()) + 1 <= MAX_CLUSTERS and float(gaps[~cuts].sum()) <= CLUSTER_COVER * span


def column_clusters(column: Tensor) -> tuple[Tensor, float] | None:
    """Each row's cluster ``(n,)`` int64 and the smallest gap between clusters, or None.

    A column is cut where its sorted values jump by more than :data:`CUT_SHARE` of its range;
    more than :data:`MAX_CLUSTERS` clusters is not clustered data (None). A constant column is
    one cluster, with no gap (``inf``).
    """
    values, order = torch.sort(column)
    span = float(values[-1] - values[0])
    if span == 0.0:
        return torch.zeros_like(order), float("inf")
    gaps = values[1:] - values[:-1]
    cuts = gaps > span * CUT_SHARE
    count = int(cuts.sum()) + 1
    if count > MAX_CLUSTERS:
        return None
    sorted_codes = torch.cat([torch.zeros(1, dtype=torch.long, device=column.device), cuts.cumsum(0)])
    codes = torch.empty_like(sorted_codes)
    codes[order] = sorted_codes
    return codes, float(gaps[cuts].min()) if count > 1 else float("inf")


@dataclass
class BaseClusters:
    """Rows grouped by their base columns' clusters.

    ``order`` lists the rows group by group, each group in increasing row index (the tie rule's
    order); group ``g`` holds ``order[starts[g] : starts[g] + sizes[g]]``. A row's nearest row
    within its group is its nearest among all rows when it is strictly nearer than ``bound``.
    """

    order: Tensor
    starts: list[int]
    sizes: list[int]
    bound: float

    @classmethod
    def of(cls, base: Tensor) -> BaseClusters | None:
        """The grouping of ``base`` ``(n, s)``, ``s >= 1``; None when a column is not clustered."""
        n, s = base.shape
        if s == 0:
            raise ValueError("base clusters need at least one base column")
        key = torch.zeros(n, dtype=torch.long, device=base.device)
        gap = float("inf")
        for col in range(s):
            found = column_clusters(base[:, col])
            if found is None:
                return None
            codes, column_gap = found
            key = key * MAX_CLUSTERS + codes
            if col % 8 == 7:  # keep the mixed-radix key far below 2**63
                key = torch.unique(key, return_inverse=True)[1]
            gap = min(gap, column_gap)
        groups, key = torch.unique(key, return_inverse=True)
        order = torch.sort(key, stable=True)[1]  # by group, then by row index
        sizes = torch.bincount(key, minlength=groups.numel())
        starts = torch.cumsum(sizes, 0) - sizes
        return cls(order, starts.tolist(), sizes.tolist(), gap * gap * (1.0 - MARGIN))

    def pairs(self) -> int:
        """Distances a search within groups computes: ``sum_g g^2``."""
        return sum(g * g for g in self.sizes)

    def alone(self) -> Tensor:
        """Rows alone in their group (their nearest row is in another group)."""
        firsts = [start for start, size in zip(self.starts, self.sizes, strict=True) if size == 1]
        return self.order[torch.tensor(firsts, dtype=torch.long, device=self.order.device)]

    def batches(self, max_pairs: int) -> Iterator[Tensor]:
        """Groups of two or more rows as ``(m, P)`` row-index matrices padded with ``-1``.

        Groups of up to :data:`SMALL_GROUP` rows are padded to a power of two and stacked, at most
        ``max_pairs`` ``m P^2`` per batch (one launch for many small groups on a GPU); larger
        groups come one at a time, unpadded. Rows alone in their group are in no batch.
        """
        order = self.order.cpu().numpy()  # the padded matrices are built on the host, sent once each
        by_size = sorted(
            (size, start) for size, start in zip(self.sizes, self.starts, strict=True) if size > 1
        )
        at = 0
        while at < len(by_size):
            size = by_size[at][0]
            width = size if size > SMALL_GROUP else 1 << (size - 1).bit_length()
            count = 1 if size > SMALL_GROUP else max(1, max_pairs // (width * width))
            chunk = [g for g in by_size[at : at + count] if g[0] <= width]
            at += len(chunk)
            members = np.full((len(chunk), width), -1, dtype=np.int64)
            for row, (g_size, start) in enumerate(chunk):
                members[row, :g_size] = order[start : start + g_size]
            yield torch.from_numpy(members).to(self.order.device)
