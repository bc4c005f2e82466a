#!/usr/bin/env bash
# One prepared GPU check for the dependence work (issue 13), meant to run once in under 10 minutes:
#
#   0. the CUDA tests (CODEC and FOCI on the GPU give the CPU's numbers), which CI cannot run;
#   1. FOCI on m = 1000 rows x p = 25,000 candidates (the shape of L-FOCI inside lcodec on ResNet-50),
#      on the GPU (batched brute force), greedy steps until the stopping rule;
#   2. one ResNet-50 lcodec removal (CIFAR-sized, random weights), stage by stage
#      (the paper: "about 3 minutes"; the goal here: under 10 s);
#   3. one paper-profile artifact's smoke run: Fig. 3's experiment code path on a full-size
#      (202,599-row) STAND-IN attribute table, three target attributes, FOCI, each target printed as
#      it ends; then L-FOCI on it for one target, step by step (benchmarks/selection_steps.py);
#   4. L-FOCI on 20,000 rows of that table on the GPU and on the CPU: the same selection;
#   5. L-FOCI, target Male, the first six steps forced through each GPU path for clustered data
#      (``pruned``: n x n base blocks; ``clustered``: brute force within base groups), step by step:
#      where one overtakes the other (knn.CLUSTERED_GAIN); then L-FOCI for Smiling and Young;
#   6. (only when asked: PARTS="6", it alone can take the 10 minutes) Fig. 3's L-FOCI column at full
#      size: every one of the 40 targets in turn, through the experiment's code, each printed as it
#      ends, until all are done or the time limit (FIG3_LIMIT, default 600 s).
#
#   bash benchmarks/gpu_check.sh [cuda|cpu] [--tiny]
#   PARTS="0 3 4" bash benchmarks/gpu_check.sh cuda      # only some parts (default: 0-5)
#
# --tiny shrinks every size so that the script can be checked on a CPU in a minute; its figures
# mean nothing. Output: the results, one after the other, on stdout (and $OUT/gpu_check.txt
# when $OUT is set). Run from the repository root with the project's environment active.
set -euo pipefail
DEVICE="${1:-cuda}"
TINY="${2:-}"
PARTS=" ${PARTS:-0 1 2 3 4 5} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
export PYTHONPATH="${PYTHONPATH:-$PWD/src}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
LOG="${OUT:-/tmp}/gpu_check.txt"
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }

if [[ "$TINY" == "--tiny" ]]; then
  CASE=300x500; RESNET=(--small --perturbations 40 --train-size 128); ROWS=3000; ATTRS=2; SAME_ROWS=2000
else
  CASE=1000x25000; RESNET=(); ROWS=202599; ATTRS=3; SAME_ROWS=20000
fi
# the test suite hides the GPU unless CUDA_VISIBLE_DEVICES is set (tests/conftest.py): show it one
TEST_GPUS="${CUDA_VISIBLE_DEVICES:-0}"

GPU_NAME="$(python -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")')"
if part 0; then
  say "== 0. CUDA tests on $GPU_NAME (skipped where torch sees no GPU)"
  CUDA_VISIBLE_DEVICES="$TEST_GPUS" timeout 90 python -m pytest -q -p no:cacheprovider \
    tests/test_dependence_codec.py tests/test_dependence_foci.py -k cuda -rs 2>&1 | tail -5 | tee -a "$LOG" \
    || say "(tests stopped or failed: exit $?)"
fi

if part 1; then
  say "== 1. FOCI m x p = $CASE on $DEVICE"
  timeout 100 python benchmarks/dependence.py --cases "$CASE" --device "$DEVICE" --no-brute 2>&1 | tee -a "$LOG" \
    || say "(FOCI case stopped or failed: exit $?)"
fi

if part 2; then
  say "== 2. ResNet-50 lcodec removal on $DEVICE ${RESNET[*]:-}"
  timeout 150 python benchmarks/resnet50_lcodec_removal.py --device "$DEVICE" "${RESNET[@]}" 2>&1 | tee -a "$LOG" \
    || say "(removal stopped or failed: exit $?)"
fi

if part 3; then
  say "== 3. Fig. 3 smoke run (codec-speed, STAND-IN table of $ROWS rows) on $DEVICE: FOCI, $ATTRS targets"
  timeout 100 python - "$DEVICE" "$ROWS" "$ATTRS" <<'PY' 2>&1 | tee -a "$LOG" || say "(smoke run stopped or failed: exit $?)"
import sys
from unlearnbench.experiments.codec_speed import synthetic_attribute_table, time_selection

device, rows, attrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = synthetic_attribute_table(rows, 0)
for target in ["Male", "Smiling", "Young"][:attrs]:
    cell = time_selection("foci", table, seed=0, device=device, targets=[target])["per_attribute"][target]
    print(f"foci {target}: {rows} rows (STAND-IN), {cell['seconds']:.2f} s, selected {cell['selected']}")
PY
  say "-- L-FOCI, target Male, step by step"
  timeout 180 python benchmarks/selection_steps.py --method lfoci --rows "$ROWS" --device "$DEVICE" 2>&1 \
    | tee -a "$LOG" || say "(L-FOCI stopped or failed: exit $?)"
fi

if part 4; then
  say "== 4. L-FOCI, target Male, $SAME_ROWS rows of the STAND-IN table: $DEVICE and cpu select the same"
  timeout 120 python - "$DEVICE" "$SAME_ROWS" <<'PY' 2>&1 | tee -a "$LOG" || say "(comparison stopped or failed: exit $?)"
import sys
from unlearnbench.experiments.codec_speed import subsample, synthetic_attribute_table, time_selection

device, rows = sys.argv[1], int(sys.argv[2])
table = subsample(synthetic_attribute_table(202599, 0), rows, None, 0)
cells = {d: time_selection("lfoci", table, seed=0, device=d, targets=["Male"])["per_attribute"]["Male"] for d in (device, "cpu")}
same = cells[device]["selected"] == cells["cpu"]["selected"]
print(f"{device} {cells[device]['seconds']:.2f} s, cpu {cells['cpu']['seconds']:.2f} s, same selection: {same}")
PY
fi
if part 5; then
  for strategy in clustered pruned; do
    say "== 5. L-FOCI, target Male, first 6 steps, every step through '$strategy', $ROWS rows (STAND-IN) on $DEVICE"
    timeout 100 python benchmarks/selection_steps.py --method lfoci --rows "$ROWS" --device "$DEVICE" \
      --strategy "$strategy" --max-features 6 2>&1 | tee -a "$LOG" || say "(stopped or failed: exit $?)"
  done
  for target in Smiling Young; do
    say "-- L-FOCI, target $target, $ROWS rows (STAND-IN) on $DEVICE"
    timeout 100 python benchmarks/selection_steps.py --method lfoci --rows "$ROWS" --device "$DEVICE" \
      --target "$target" 2>&1 | tee -a "$LOG" || say "(stopped or failed: exit $?)"
  done
fi
if part 6; then
  say "== 6. L-FOCI for every target of Fig. 3, $ROWS rows (STAND-IN) on $DEVICE"
  timeout "${FIG3_LIMIT:-600}" python - "$DEVICE" "$ROWS" <<'PY' 2>&1 | tee -a "$LOG" || say "(stopped or failed: exit $?)"
import sys
import time

from unlearnbench.experiments.codec_speed import synthetic_attribute_table, time_selection

device, rows = sys.argv[1], int(sys.argv[2])
table = synthetic_attribute_table(rows, 0)
total, start = 0.0, time.perf_counter()
for done, target in enumerate(table.names, 1):
    cell = time_selection("lfoci", table, seed=0, device=device, targets=[target])["per_attribute"][target]
    total += cell["seconds"]
    print(f"lfoci {target}: {cell['seconds']:.2f} s, {len(cell['selected'])} selected; {done} targets, {total:.1f} s")
print(f"all {len(table.names)} targets: {total:.1f} s selecting, {time.perf_counter() - start:.1f} s wall")
PY
fi
say "== done; log in $LOG"
