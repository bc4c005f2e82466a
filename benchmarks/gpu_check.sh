#!/usr/bin/env bash
# One prepared GPU check for the dependence work (issue 13), meant to run once in under 10 minutes:
#
#   1. FOCI on m = 1000 rows x p = 25,000 candidates (the shape of L-FOCI inside lcodec on ResNet-50),
#      on the GPU (batched brute force), greedy steps until the stopping rule;
#   2. one ResNet-50 lcodec removal (CIFAR-sized, random weights), stage by stage
#      (the paper: "about 3 minutes"; the goal here: under 10 s);
#   3. one paper-profile artifact's smoke run: Fig. 3's experiment code path on a full-size
#      (202,599-row) STAND-IN attribute table, three target attributes, FOCI and L-FOCI.
#
#   bash benchmarks/gpu_check.sh [cuda|cpu] [--tiny]
#
# --tiny shrinks every size so that the script can be checked on a CPU in a minute; its figures
# mean nothing. Output: the three results, one after the other, on stdout (and $OUT/gpu_check.txt
# when $OUT is set). Run from the repository root with the project's environment active.
set -euo pipefail
DEVICE="${1:-cuda}"
TINY="${2:-}"
export PYTHONPATH="${PYTHONPATH:-$PWD/src}"
export MPLBACKEND=Agg
LOG="${OUT:-/tmp}/gpu_check.txt"
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }

if [[ "$TINY" == "--tiny" ]]; then
  CASE=300x500; RESNET=(--small --perturbations 40 --train-size 128); ROWS=3000; ATTRS=2
else
  CASE=1000x25000; RESNET=(); ROWS=202599; ATTRS=3
fi

say "== 1. FOCI m x p = $CASE on $DEVICE"
timeout 240 python benchmarks/dependence.py --cases "$CASE" --device "$DEVICE" --no-brute 2>&1 | tee -a "$LOG" \
  || say "(FOCI case stopped or failed: exit $?)"

say "== 2. ResNet-50 lcodec removal on $DEVICE ${RESNET[*]:-}"
timeout 300 python benchmarks/resnet50_lcodec_removal.py --device "$DEVICE" "${RESNET[@]}" 2>&1 | tee -a "$LOG" \
  || say "(removal stopped or failed: exit $?)"

say "== 3. Fig. 3 smoke run (codec-speed, STAND-IN table of $ROWS rows, $ATTRS targets) on $DEVICE"
timeout 240 python - "$DEVICE" "$ROWS" "$ATTRS" <<'EOF' 2>&1 | tee -a "$LOG" || say "(smoke run stopped or failed: exit $?)"
import sys, time
from unlearnbench.experiments.codec_speed import synthetic_attribute_table, time_selection

device, rows, attrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = synthetic_attribute_table(rows, 0)
targets = ["Male", "Smiling", "Young"][:attrs]
for method in ("foci", "lfoci"):
    start = time.perf_counter()
    m = time_selection(method, table, seed=0, device=device, targets=targets)
    cells = {k: (round(v["seconds"], 2), v["selected"]) for k, v in m["per_attribute"].items() if "seconds" in v}
    print(f"{method}: {rows} rows (STAND-IN), total {time.perf_counter() - start:.1f} s: {cells}", flush=True)
EOF
say "== done; log in $LOG"
