"""Seconds per greedy step of FOCI or L-FOCI on Fig. 3's attribute table: where a selection's time goes.

    python benchmarks/selection_steps.py [--method lfoci] [--rows 202599] [--target Male] [--device cpu]

The table is the suite's labelled STAND-IN for CelebA's attributes
(:func:`unlearnbench.experiments.codec_speed.synthetic_attribute_table`, 202,599 x 40 binary, seed
0; ``--rows`` takes a seeded subsample), the target one attribute, the other 39 the candidates,
as in Fig. 3. Each step is printed as it ends: how many columns are selected before it (the base
of its neighbour searches), how many candidates it scores and its seconds, then the selection.
The whole run is timed too, so the sum of the steps says what the greedy loop itself costs.

A step is timed by wrapping the step scorer that :func:`unlearnbench.dependence.foci.foci` builds
(the module's ``_scorer``): a diagnostic hook for this script only; the selection is unchanged.
Threads: ``--threads`` (default 1) for torch, the compiled kernels and the k-d trees.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

import numpy as np
import torch

from unlearnbench.dependence.knn import STRATEGIES
from unlearnbench.experiments.codec_speed import subsample, synthetic_attribute_table
from unlearnbench.timing import Stopwatch

FULL_ROWS = 202_599
# the module, not the function that the package exports under the same name
foci_module = importlib.import_module("unlearnbench.dependence.foci")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="lfoci", choices=["foci", "lfoci"])
    parser.add_argument(
        "--rows", type=int, default=FULL_ROWS, help="rows of the stand-in table (default all)"
    )
    parser.add_argument("--target", default="Male", help="the target attribute (default Male)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:k")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-features", type=int, default=None, help="stop after this many selected")
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="the neighbour path for every step (default auto)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    table = synthetic_attribute_table(FULL_ROWS, 0)
    if args.rows < FULL_ROWS:
        table = subsample(table, args.rows, None, 0)
    if args.target not in table.names:
        raise SystemExit(f"unknown target {args.target!r}; the table has {', '.join(table.names)}")
    values = torch.as_tensor((table.values > 0).astype(np.float64), device=device)
    target = table.names.index(args.target)
    others = [j for j in range(len(table.names)) if j != target]
    steps: list[dict[str, Any]] = []
    build_scorer = foci_module._scorer

    def timed_scorer(*scorer_args: Any) -> Any:
        score = build_scorer(*scorer_args)

        def timed(r: Any, selected: list[int], remaining: list[int], u: Any) -> Any:
            with Stopwatch(device) as watch:
                out = score(r, selected, remaining, u)
            steps.append(
                {"base": len(selected), "candidates": len(remaining), "seconds": round(watch.seconds, 3)}
            )
            print(
                f"  step with {len(selected)} selected, {len(remaining)} candidates: {watch.seconds:.2f} s",
                flush=True,
            )
            return out

        return timed

    select = foci_module.foci if args.method == "foci" else foci_module.lfoci
    print(
        f"{args.method} on the STAND-IN attribute table, {args.rows} rows, target {args.target}, "
        f"device {args.device}, {args.threads} thread(s), strategy {args.strategy}",
        flush=True,
    )
    foci_module._scorer = timed_scorer
    try:
        with Stopwatch(device) as whole:
            result = select(
                values[:, target],
                values[:, others],
                seed=0,
                max_features=args.max_features,
                strategy=args.strategy,
            )
    finally:
        foci_module._scorer = build_scorer
    selected = [table.names[others[i]] for i in result.selected]
    print(f"total {whole.seconds:.2f} s, {len(steps)} steps, selected {selected}", flush=True)
    return {"seconds": whole.seconds, "steps": steps, "selected": selected}


if __name__ == "__main__":
    main(sys.argv[1:])
