"""FOCI with all candidates of a greedy step in one batched exact-neighbour call, against one at a time.

    python benchmarks/dependence.py [--quick] [--device cpu|cuda] [--gpu-size] [--steps 3]

Data: ``X`` standard Gaussian (n x p), ``y = x1 x10 + x20^2 + noise`` (the R package's
example). Both implementations run the same greedy steps in the same process with the same
seed: ``foci`` (batched: one call per step to ``candidate_nearest_neighbours``) and
``foci_reference`` (one CODEC evaluation per candidate with its own full distance matrices,
the loop of the L-CODEC authors' ``torch_foci.foci`` with exact neighbours). Both are timed on
a fixed number of greedy steps (``max_features = --steps``) so that the baseline finishes.

When the baseline's estimated time exceeds ``--budget`` seconds, it is not run in full: each
of the batched run's steps is replayed with the baseline on the first ``--sample``
candidates and its time scaled to all candidates (the line says "extrapolated"). Otherwise
the full baseline runs and the two selections are checked to be identical.

``--gpu-size`` times m = 1000 rows x p = 25,000 candidates (only meaningful on a GPU).
``--threads`` defaults to 1, as the suite's profiles do: on a shared, oversubscribed 2-core
machine two torch threads made the batched path's many mid-sized operations 3-7x slower
(the one-at-a-time baseline suffered less), so the ratio depends on it; say which you used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from unlearnbench.dependence.codec import make_generator, rank_counts, tie_uniforms
from unlearnbench.dependence.foci import (
    _one_at_a_time_scorer,
    _prepare,
    foci,
    foci_reference,
)
from unlearnbench.dependence.knn import DEFAULT_MAX_ELEMENTS
from unlearnbench.provenance import device_description


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def make_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X[:, 0] * X[:, 9] + X[:, 19] ** 2 + 0.1 * rng.normal(size=n)
    return y, X


def replay_reference(y, X, selected: list[int], steps: int, sample: int, device: str) -> float:
    """Seconds the one-at-a-time baseline would take on the steps of ``selected``, from ``sample`` candidates."""
    yt, xt = _prepare(y, X, True)
    r, _ = rank_counts(yt)
    gen = make_generator(0)
    score = _one_at_a_time_scorer(DEFAULT_MAX_ELEMENTS)
    total = 0.0
    chosen: list[int] = []
    evaluated = len(selected) + 1 if len(selected) < steps else len(selected)  # a stop costs a step too
    for step in range(evaluated):
        remaining = [j for j in range(xt.shape[1]) if j not in chosen]
        u = tie_uniforms(xt.shape[0], gen, xt.device)
        part = remaining[:sample]
        _, seconds = _timed(lambda part=part, u=u: score(yt, r, xt[:, chosen], xt[:, part], u), device)
        total += seconds * len(remaining) / len(part)
        if step < len(selected):
            chosen.append(selected[step])
    return total


def bench(n: int, p: int, steps: int, device: str, budget: float, sample: int) -> dict:
    y, X = make_data(n, p)
    yt, Xt = torch.tensor(y, device=device), torch.tensor(X, device=device)
    foci(yt[:200], Xt[:200, :20], max_features=1, seed=0)  # warm-up (kernels, allocator)
    fast, t_fast = _timed(lambda: foci(yt, Xt, max_features=steps, seed=0), device)
    # estimate the baseline from a few candidates per step
    estimate = replay_reference(yt, Xt, fast.selected, steps, min(sample, 10), device)
    if estimate <= budget:
        slow, t_slow = _timed(lambda: foci_reference(yt, Xt, max_features=steps, seed=0), device)
        how = "full run"
        same = slow.selected == fast.selected and slow.statistics == fast.statistics
    else:
        t_slow = replay_reference(yt, Xt, fast.selected, steps, sample, device)
        how = f"extrapolated from {sample} of {p} candidates per step"
        same = None
    return {
        "n": n,
        "p": p,
        "steps": len(fast.selected),
        "batched_s": t_fast,
        "reference_s": t_slow,
        "ratio": t_slow / t_fast,
        "same_selection": same,
        "reference": how,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only n=1000, p=2000 (the target case)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--gpu-size", action="store_true", help="add m=1000 x p=25,000")
    parser.add_argument("--steps", type=int, default=3, help="greedy steps timed (max_features) for both")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds allowed for a full baseline run")
    parser.add_argument("--sample", type=int, default=100, help="candidates per step when extrapolating")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1, the suite's default; 0: torch's own choice)",
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cases = [(1000, 2000)] if args.quick else [(1000, 100), (1000, 2000), (5000, 100), (5000, 2000)]
    if args.gpu_size:
        cases.append((1000, 25000))
    print(
        f"device: {device_description(args.device)}; torch {torch.__version__}; "
        f"greedy steps timed: max_features={args.steps} for both implementations"
    )
    header = f"{'n':>6} {'p':>6} {'steps':>5} {'batched s':>10} {'one-at-a-time s':>16} {'ratio':>7}  same  baseline"
    print(header)
    print("-" * len(header))
    for n, p in cases:
        r = bench(n, p, args.steps, args.device, args.budget, args.sample)
        same = "-" if r["same_selection"] is None else ("yes" if r["same_selection"] else "NO")
        print(
            f"{r['n']:>6} {r['p']:>6} {r['steps']:>5} {r['batched_s']:>10.3f} {r['reference_s']:>16.3f} "
            f"{r['ratio']:>6.1f}x  {same:>4}  {r['reference']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
