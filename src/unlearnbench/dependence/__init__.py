"""Conditional dependence: CODEC / L-CODEC, FOCI / L-FOCI, conditional-independence tests, 3D-Bullseye.

This is the selection step of L-CODEC unlearning (Mehta et al., CVPR 2022): L-FOCI picks the
slices whose activations are sufficient for the loss of a sample to forget. The modules:

- :mod:`.knn`: exact nearest neighbours, batched over candidate columns, chunked, in torch;
- :mod:`.codec`: :func:`codec` (Azadkia & Chatterjee's T_n) and :func:`lcodec` (eq. 8);
- :mod:`.foci`: :func:`foci`, :func:`lfoci` (batched) and their one-at-a-time references;
- :mod:`.cit`: permutation CI tests (L-CODEC statistic; the kNN-CMI baseline of Yang et al. 2020)
  and the Markov-blanket search that uses them;
- :mod:`.bullseye`: the 3D-Bullseye generator of Yang et al. 2020 and its learned feature maps.
"""

from unlearnbench.dependence.codec import codec, lcodec
from unlearnbench.dependence.foci import FociResult, foci, foci_reference, lfoci, lfoci_reference

__all__ = ["FociResult", "codec", "foci", "foci_reference", "lcodec", "lfoci", "lfoci_reference"]
