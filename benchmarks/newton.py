"""Block Newton step: Hessian-vector products + conjugate gradients (``exact``) against a dense solve.

    python benchmarks/newton.py [--sizes 1000 10000 100000] [--device cpu|cuda] [--samples 2000]

The model is a multinomial logistic regression with 999 inputs and 100 classes, so one
slice (an output unit: 999 weights and a bias) is 1000 parameters and blocks of 1, 10 and
100 slices have 1e3, 1e4 and 1e5 parameters. One sample is removed with ``noise: none``
and the weight decay 0.01; both solvers take the same block step, so the printed
relative difference of the two steps checks that they agree.

Each (size, solver) runs in a fresh child process, so peak memory is its own: on the CPU
the rise of the peak resident set size over the process's size after setup
(``resource.getrusage``; tracemalloc does not see torch's allocations), on CUDA
``torch.cuda.max_memory_allocated`` above the allocation after setup. The dense solver is
skipped (and the line says so) when its ``p x p`` float32 matrix and Cholesky factor
would exceed ``--max-dense-gib``. Building the dense 1e4 block takes 1e4 Hessian-vector
products: about 15 minutes on 2 busy CPU cores, most of the script's run time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.data import Subset, TensorDataset

IN_FEATURES, CLASSES, SLICE = 999, 100, 1000
LAMBDA = 0.01


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(solver: str, size: int, samples: int, device: str, out: Path) -> None:
    from unlearnbench.batching import as_tensors
    from unlearnbench.models.classifiers import LogisticRegression, cross_entropy_loss
    from unlearnbench.newton.hessian import BlockLoss
    from unlearnbench.newton.settings import NewtonSettings
    from unlearnbench.newton.slices import block_from_slices, slice_layers
    from unlearnbench.newton.update import block_newton_step
    from unlearnbench.timing import Stopwatch

    torch.manual_seed(0)
    x = torch.randn(samples, IN_FEATURES)
    teacher = torch.randn(IN_FEATURES, CLASSES)
    data = TensorDataset(x, (x @ teacher).argmax(1))
    model = LogisticRegression(IN_FEATURES, CLASSES).to(device)
    block = block_from_slices(slice_layers(model), range(size // SLICE))
    forget = as_tensors(Subset(data, [0]), device)
    retain = as_tensors(Subset(data, list(range(1, samples))), device)
    settings = NewtonSettings(hessian=solver, noise="none", l2_lambda=LAMBDA, cg_tol=1e-5, batch_size=samples)
    theta = BlockLoss(model, cross_entropy_loss, block).theta()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_mib()
    with Stopwatch(device) as watch:
        report = block_newton_step(
            model, cross_entropy_loss, block, forget, retain, samples, settings, torch.Generator()
        )
    if device.startswith("cuda"):
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = _peak_rss_mib() - base
    step = BlockLoss(model, cross_entropy_loss, block).theta() - theta
    torch.save(step.cpu(), out)
    print(
        json.dumps(
            {
                "seconds": watch.seconds,
                "peak_mib": peak,
                "params": int(theta.numel()),
                "cg_iterations": report.cg_iterations,
            }
        )
    )


def run_child(solver: str, size: int, samples: int, device: str, step_file: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        solver,
        str(size),
        "--samples",
        str(samples),
        "--device",
        device,
        "--step-file",
        str(step_file),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{solver} at {size} parameters failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-dense-gib", type=float, default=4.0)
    parser.add_argument("--child", nargs=2, metavar=("SOLVER", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--step-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.samples, args.device, args.step_file)
        return
    for size in args.sizes:
        if size % SLICE or not SLICE <= size <= SLICE * CLASSES:
            raise SystemExit(
                f"sizes must be multiples of {SLICE} between {SLICE} and {SLICE * CLASSES}; got {size}"
            )
    print(
        f"device {args.device}; logistic regression {IN_FEATURES}->{CLASSES}, {args.samples} samples, "
        f"one removal, lambda {LAMBDA}; each measurement in its own process"
    )
    print(
        f"{'params':>8} {'cg s':>9} {'cg MiB':>9} {'cg it':>6} {'dense s':>9} {'dense MiB':>10} "
        f"{'time dense/cg':>14} {'mem dense/cg':>13} {'rel. diff':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            cg_file, dense_file = Path(tmp) / f"cg{size}.pt", Path(tmp) / f"dense{size}.pt"
            cg = run_child("exact", size, args.samples, args.device, cg_file)
            dense_gib = 2 * size * size * 4 / 2**30  # matrix + Cholesky factor, float32
            line = f"{size:>8} {cg['seconds']:>9.3f} {cg['peak_mib']:>9.1f} {cg['cg_iterations']:>6}"
            if dense_gib > args.max_dense_gib:
                print(
                    f"{line}   dense skipped: its matrix and factor need {dense_gib:.0f} GiB > --max-dense-gib "
                    f"{args.max_dense_gib:g}"
                )
                continue
            dense = run_child("dense", size, args.samples, args.device, dense_file)
            a, b = torch.load(cg_file), torch.load(dense_file)
            diff = float((a - b).norm() / b.norm())
            print(
                f"{line} {dense['seconds']:>9.3f} {dense['peak_mib']:>10.1f} "
                f"{dense['seconds'] / cg['seconds']:>14.1f} {dense['peak_mib'] / max(cg['peak_mib'], 1e-3):>13.1f} "
                f"{diff:>10.2e}"
            )


if __name__ == "__main__":
    main()
