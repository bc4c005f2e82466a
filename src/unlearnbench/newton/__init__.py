"""Newton-type unlearning: slices, L-FOCI selection, block Hessians, noise, gradient bank.

The pieces of L-CODEC's Alg. 1 (Mehta et al., CVPR 2022) and its baselines, each in its
own module so that it can be tested and swapped on its own:

- :mod:`~unlearnbench.newton.slices`: what a slice is, blocks of slices, gather/scatter;
- :mod:`~unlearnbench.newton.activations`: one activation per slice and the loss of each
  perturbed copy of the forget sample (L-FOCI's samples; the copies come from the request's
  :mod:`~unlearnbench.perturbations`);
- :mod:`~unlearnbench.newton.selection`: ``lfoci`` / ``cheap`` / ``random`` / ``full``;
- :mod:`~unlearnbench.newton.hessian`: ``exact`` (HVP + CG), ``dense``,
  ``finite-difference`` (Sherman-Morrison/Woodbury);
- :mod:`~unlearnbench.newton.kfac`: the K-FAC alternative;
- :mod:`~unlearnbench.newton.noise`: the (epsilon, delta) noise, ``paper`` / ``authors-code``;
- :mod:`~unlearnbench.newton.update`: the blockwise Newton removal step;
- :mod:`~unlearnbench.newton.gradient_bank`: what training must record for the
  finite-difference Hessian;
- :mod:`~unlearnbench.newton.settings` and :mod:`~unlearnbench.newton.pipeline`: the
  hyperparameters and the methods end to end.
- :mod:`~unlearnbench.batching` (outside this package: metrics use it too): datasets as tensors, sliced into batches (the
  Hessian-vector products pass over the retain set many times).

The registered methods (``lcodec``, ``newton-full``, ``newton-random``, ``newton-kfac``)
live in :mod:`unlearnbench.unlearning`.
"""

from unlearnbench.newton.gradient_bank import (
    GradientBank,
    GradientBankCallback,
    read_from_meta,
    store_in_meta,
)
from unlearnbench.newton.noise import NoiseScale, noise_scale
from unlearnbench.newton.settings import NewtonSettings
from unlearnbench.newton.slices import Block, SliceLayer, block_from_slices, full_block, slice_layers

__all__ = [
    "Block",
    "GradientBank",
    "GradientBankCallback",
    "NewtonSettings",
    "NoiseScale",
    "SliceLayer",
    "block_from_slices",
    "full_block",
    "noise_scale",
    "read_from_meta",
    "slice_layers",
    "store_in_meta",
]
