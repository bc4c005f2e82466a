"""FOCI against the R package FOCI 0.1.3 and against this suite's brute-force path, in one run.

    python benchmarks/dependence.py --foci-src /path/to/FOCI-0.1.3 [--cases 1000x100,celeba,fig3]
        [--r-timeout 1800] [--brute-timeout 600] [--threads 1] [--device cpu]

The issue's whole grid with bounded time (every process is stopped at its timeout; a stopped
R run is a lower bound on R's time, printed ``>= T``, and the ratio then ``>= r``):

    python benchmarks/dependence.py --foci-src /tmp/FOCI-src \
        --cases 1000x100,1000x2000,5000x100,5000x2000,20000x100,20000x2000,celeba,fig3 \
        --r-timeout 900 --brute-timeout 300 --ours-timeout 900 --fig3-timeout 1200 --json out.json

Cases (``--cases``, comma-separated; default all of the issue's): ``NxP`` is the R package's
example, ``X`` standard Gaussian (n x p) and ``y = x1 x10 + x20^2 + 0.1 noise`` (``NxP:SEED`` draws
them with another seed than 0, data no earlier run has seen); ``celeba`` is
a binary table of CelebA's shape (202,599 x 40, the suite's labelled stand-in generator,
:func:`unlearnbench.experiments.codec_speed.synthetic_attribute_table`), target ``Male``, the
other 39 attributes the candidates; ``celeba:N`` subsamples N rows. Every case is full FOCI
with the stopping rule (no ``max_features``), seed 0, standardised as the R package does.

``fig3`` (``fig3:N`` for N rows) is the paper profile's Fig. 3 at full size: the same stand-in
table (202,599 x 40), every one of the 40 attributes in turn the target, FOCI and then L-FOCI,
through the experiment's own code (:func:`unlearnbench.experiments.codec_speed.time_selection`),
each method in its own process with ``--fig3-threads`` threads: with 2 (the default) one after
the other, as the paper profile runs its codec-speed jobs on 2 cores (2 threads each, one job at
a time); with 1 both at once, one core each. The target is both done within 10 minutes of wall
time. No R or brute-force column.

Three timings per case, each in its own process (so a slow one can be stopped):

* ``ours``: :func:`unlearnbench.dependence.foci` (neighbour path chosen by the data's shape);
* ``brute``: the same with ``strategy="dense"`` (every pairwise distance per candidate, the
  plain brute force the other paths must agree with);
* ``R``: ``foci(y, X, numCores = 1)`` of the R package, whose sources (the unpacked CRAN
  tarball: ``DESCRIPTION``, ``R/``) are given with ``--foci-src``; they are sourced, never
  copied. Needs ``Rscript`` with RANN, data.table, proxy and gmp. Only ``foci()`` is timed,
  not the data loading. Without ``--foci-src`` or ``Rscript`` the R column says why.

A process running past its timeout is stopped and the cell says so. "same" compares the
selected columns: with R on continuous data (no ties, so both are deterministic) they must
agree; on the binary table R breaks ties with its own random numbers, so a difference there
is not an error (the column says "ties"). Threads: 1 by default for torch, BLAS and the k-d
tree; R is single-threaded with ``numCores = 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_CASES = "1000x100,1000x2000,5000x100,5000x2000,20000x100,20000x2000,celeba,fig3"
CELEBA_TARGET = "Male"
GRID_EPILOG = """the issue's whole grid, bounded: at most 4.5 h if every timeout is hit, about 1 h expected
(a stopped R run prints '>= T', a lower bound on R's time):
  python benchmarks/dependence.py --foci-src /tmp/FOCI-src \\
      --cases 1000x100,1000x2000,5000x100,5000x2000,20000x100,20000x2000,celeba,fig3 \\
      --r-timeout 900 --brute-timeout 300 --ours-timeout 900 --fig3-timeout 1200 --json dependence.json"""

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]; data <- args[2]; n <- as.integer(args[3]); p <- as.integer(args[4])
suppressPackageStartupMessages({ library(data.table); library(RANN); library(proxy); library(gmp) })
version <- read.dcf(file.path(src, "DESCRIPTION"))[1, "Version"]
if (version != "0.1.3") stop(paste("FOCI sources are version", version, "not 0.1.3"))
for (f in list.files(file.path(src, "R"), pattern = "[.]R$", full.names = TRUE)) source(f)
con <- file(data, "rb"); values <- readBin(con, "double", n * (p + 1)); close(con)
m <- matrix(values, nrow = n, ncol = p + 1, byrow = TRUE)
y <- m[, 1]; X <- m[, -1, drop = FALSE]; colnames(X) <- paste0("x", seq_len(p))
start <- Sys.time()
res <- foci(y, X, stop = TRUE, standardize = "scale", numCores = 1)
seconds <- as.numeric(difftime(Sys.time(), start, units = "secs"))
sel <- if (is.null(res)) integer(0) else res$selectedVar$index - 1L
cat(sprintf("RESULT %.6f %s\n", seconds, paste(sel, collapse = ",")))
"""


def make_case(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(y, X, tied)`` for a case name (``NxP``, ``NxP:SEED``, ``celeba`` or ``celeba:N``)."""
    if name.startswith("celeba"):
        from unlearnbench.experiments.codec_speed import CELEBA_ROWS, synthetic_attribute_table

        rows = int(name.split(":", 1)[1]) if ":" in name else CELEBA_ROWS
        table = synthetic_attribute_table(rows, 0)
        values = (table.values > 0).astype(np.float64)
        t = table.names.index(CELEBA_TARGET)
        return values[:, t], np.delete(values, t, axis=1), True
    shape, _, seed = name.partition(":")
    try:
        n, p = (int(v) for v in shape.lower().split("x"))
        rng = np.random.default_rng(int(seed or 0))
    except ValueError:
        raise SystemExit(
            f"bad case {name!r}: use NxP or NxP:SEED (e.g. 1000x100:7), celeba or celeba:N"
        ) from None
    X = rng.normal(size=(n, p))
    y = X[:, 0] * X[:, 9] + X[:, 19] ** 2 + 0.1 * rng.normal(size=n)
    return y, X, False


def run_ours(case: str, strategy: str, device: str, threads: int) -> dict:
    """Child process body: time ``foci`` on the case and print one JSON line."""
    import torch

    from unlearnbench.dependence.foci import foci
    from unlearnbench.dependence.grid import GRID_MAX_BASE, RankedColumns, grid_neighbours

    if threads > 0:
        torch.set_num_threads(threads)
    y, X, _ = make_case(case)
    yt, Xt = torch.tensor(y, device=device), torch.tensor(X, device=device)
    # warm-up, untimed: every compiled grid kernel (numba's disk cache, or its first compilation,
    # seconds), two steps on a small continuous table and one on the case itself
    ranked = RankedColumns(np.random.default_rng(0).normal(size=(300, GRID_MAX_BASE + 2)))
    for base in range(GRID_MAX_BASE + 1):
        grid_neighbours(ranked, list(range(base)), [GRID_MAX_BASE + 1])
    warm = torch.randn(300, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(device)
    foci(warm[:, 0] + warm[:, 1], warm, max_features=2, seed=0, strategy=strategy)
    foci(yt[:300], Xt[:300, :5], max_features=1, seed=0, strategy=strategy)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = foci(yt, Xt, seed=0, strategy=strategy)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start, "selected": result.selected}


def run_fig3(rows: int, method: str, threads: int) -> dict:
    """Child process body: Fig. 3's selection for all 40 targets with ``method``; one JSON line."""
    import torch

    from unlearnbench.experiments.codec_speed import synthetic_attribute_table, time_selection

    if threads > 0:
        torch.set_num_threads(threads)
    table = synthetic_attribute_table(rows, 0)
    start = time.perf_counter()
    metrics = time_selection(method, table, seed=0, device="cpu")
    per = metrics["per_attribute"]
    return {
        "seconds": time.perf_counter() - start,
        "targets": sum("seconds" in v for v in per.values()),
        "max_target_seconds": max(v["seconds"] for v in per.values() if "seconds" in v),
        "selected": {k: v["selected"] for k, v in per.items() if "selected" in v},
    }


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    if threads > 0:
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[key] = str(threads)
    return env


def timed_ours(case: str, strategy: str, device: str, threads: int, timeout: float) -> dict:
    return _timed_child([case, strategy, device, str(threads)], threads, timeout)


def timed_fig3(rows: int, method: str, threads: int, timeout: float) -> dict:
    return _timed_child(["fig3", str(rows), method, str(threads)], threads, timeout)


def _timed_child(args: list[str], threads: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(threads), check=False
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {timeout:.0f} s", "at_least": timeout}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return {
        "skipped": f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    }


def timed_r(case: str, foci_src: Path | None, timeout: float, workdir: Path) -> dict:
    if foci_src is None:
        return {"skipped": "no --foci-src"}
    if shutil.which("Rscript") is None:
        return {"skipped": "Rscript not found"}
    if not (foci_src / "DESCRIPTION").is_file() or not (foci_src / "R").is_dir():
        return {"skipped": f"{foci_src} has no DESCRIPTION and R/ (unpack the FOCI 0.1.3 tarball)"}
    y, X, _ = make_case(case)
    data = workdir / "case.bin"
    np.column_stack([y, X]).astype("<f8").tofile(data)
    script = workdir / "run_foci.R"
    script.write_text(R_SCRIPT)
    cmd = ["Rscript", str(script), str(foci_src), str(data), str(X.shape[0]), str(X.shape[1])]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(1), check=False
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {timeout:.0f} s (--r-timeout)", "at_least": timeout}
    finally:
        data.unlink(missing_ok=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT"):
            parts = line.split()
            selected = [int(v) for v in parts[2].split(",")] if len(parts) > 2 and parts[2] else []
            return {"seconds": float(parts[1]), "selected": selected}
    tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
    return {"skipped": f"R failed: {tail[0]}"}


def _cell(r: dict) -> str:
    if "seconds" in r:
        return f"{r['seconds']:.2f}"
    return f">= {r['at_least']:.0f}" if "at_least" in r else "-"


def _ratio(slow: dict, fast: dict) -> str:
    """``slow / fast``; a stopped slow run gives a lower bound (``>= r``)."""
    if "seconds" not in fast:
        return "-"
    if "seconds" in slow:
        return f"{slow['seconds'] / fast['seconds']:.1f}x"
    return f">= {slow['at_least'] / fast['seconds']:.1f}x" if "at_least" in slow else "-"


def _same(a: dict, b: dict, tied: bool) -> str:
    if "selected" not in a or "selected" not in b:
        return "-"
    if a["selected"] == b["selected"]:
        return "yes"
    return "no (ties)" if tied else "NO"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=GRID_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--foci-src", type=Path, default=None, help="unpacked FOCI 0.1.3 sources (DESCRIPTION, R/)"
    )
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated (default {DEFAULT_CASES})")
    parser.add_argument(
        "--r-timeout", type=float, default=1800.0, help="seconds per case for R (default 1800)"
    )
    parser.add_argument("--brute-timeout", type=float, default=600.0, help="seconds per case, brute force")
    parser.add_argument("--ours-timeout", type=float, default=1800.0, help="seconds per case, ours")
    parser.add_argument("--no-brute", action="store_true", help="skip the brute-force column")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for torch/BLAS (default 1; 0: library default)"
    )
    parser.add_argument(
        "--fig3-threads",
        type=int,
        default=2,
        help="threads per method in the fig3 case (default 2: FOCI, then L-FOCI; 1: both at once, one core each)",
    )
    parser.add_argument(
        "--fig3-timeout", type=float, default=1200.0, help="seconds per method for the fig3 case"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    from unlearnbench.provenance import device_description

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    fig3 = [c for c in cases if c.split(":", 1)[0] == "fig3"]
    cases = [c for c in cases if c not in fig3]
    print(f"device: {device_description(args.device)}; threads: {args.threads}; R: {shutil.which('Rscript')}")
    header = (
        f"{'case':>14} {'n':>7} {'p':>5} {'R s':>9} {'ours s':>8} {'R/ours':>7} {'brute s':>8} "
        f"{'brute/ours':>10}  same(R)  same(brute)  notes"
    )
    print(header)
    print("-" * len(header))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            y, X, tied = make_case(case)
            ours = timed_ours(case, "auto", args.device, args.threads, args.ours_timeout)
            brute = (
                {"skipped": "--no-brute"}
                if args.no_brute
                else timed_ours(case, "dense", args.device, args.threads, args.brute_timeout)
            )
            ref = timed_r(case, args.foci_src, args.r_timeout, Path(tmp))
            ratio, bratio = _ratio(ref, ours), _ratio(brute, ours)
            notes = "; ".join(
                f"{k}: {r['skipped']}"
                for k, r in (("ours", ours), ("brute", brute), ("R", ref))
                if "skipped" in r
            )
            print(
                f"{case:>14} {X.shape[0]:>7} {X.shape[1]:>5} {_cell(ref):>9} {_cell(ours):>8} {ratio:>7} "
                f"{_cell(brute):>8} {bratio:>10}  {_same(ours, ref, tied):>7}  {_same(ours, brute, False):>11}  {notes}",
                flush=True,
            )
            rows.append(
                {"case": case, "n": X.shape[0], "p": X.shape[1], "ours": ours, "brute": brute, "r": ref}
            )
    for case in fig3:
        rows.append(fig3_rows(case, args.fig3_threads, args.fig3_timeout))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


def fig3_rows(case: str, threads: int, timeout: float) -> dict:
    """Time Fig. 3 on the full-size stand-in: FOCI and L-FOCI (all 40 targets) side by side.

    Each method runs in its own process with ``threads`` threads: one after the other from 2
    threads on (the paper profile's jobs on 2 cores), both at once with 1 (one core each). The
    wall time of the pair is what the 10-minute target is about. A process still running at
    ``timeout`` is stopped.
    """
    from unlearnbench.experiments.codec_speed import CELEBA_ROWS

    rows = int(case.split(":", 1)[1]) if ":" in case else CELEBA_ROWS
    together = threads < 2
    print(
        f"\nFig. 3 ({case}): {rows} x 40 binary STAND-IN table, every attribute the target; "
        f"FOCI and L-FOCI {'at once' if together else 'one after the other'}, {threads} thread(s) each"
    )
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2 if together else 1) as pool:
        futures = {m: pool.submit(timed_fig3, rows, m, threads, timeout) for m in ("foci", "lfoci")}
        results = {m: f.result() for m, f in futures.items()}
    wall = time.perf_counter() - start
    out: dict = {"case": case, "n": rows, "p": 40, "threads_each": threads, **results}
    for method, r in results.items():
        extra = (
            f"{r['targets']} targets, slowest {r['max_target_seconds']:.1f} s"
            if "seconds" in r
            else r["skipped"]
        )
        print(f"{method:>6}: {_cell(r):>9} s  ({extra})", flush=True)
    if all("seconds" in r for r in results.values()):
        out["wall_seconds"] = wall
        print(f"  both: {wall:9.2f} s wall  (target: under 600 s on 2 cores)")
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child" and sys.argv[2] == "fig3":
        rows, method, threads = sys.argv[3:6]
        print(json.dumps(run_fig3(int(rows), method, int(threads))), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        case, strategy, device, threads = sys.argv[2:6]
        print(json.dumps(run_ours(case, strategy, device, int(threads))), flush=True)
    else:
        main()
