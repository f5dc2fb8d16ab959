#!/usr/bin/env bash
# planrun against ninja and make on the same DAGs, side by side.
#
#   benches/dag.sh [RUNS]        (default RUNS=5)
#
# Needs ninja and GNU make (`apt-get install -y ninja-build make`). Builds planrun in
# release mode, then generates three DAGs whose tasks all run `true`:
#   independent  1000 tasks, no dependencies
#   chain        300 tasks, each needing the one before
#   layered      20 layers x 50 tasks, each needing 3 random tasks of the layer above
# For each DAG and each of -j2 and -j8 it runs ninja, make, and planrun in its
# default journal sync mode and in each other `--journal-sync` mode, in turn, RUNS
# times (interleaved, so machine noise hits them all alike), and prints the median
# wall times and each planrun mode's ratio to ninja and to make. Last, the chain's
# floor in the default mode: ninja's time plus one synced append (measured with dd on
# the same disk) for each step, which waits for its need's end to be durable.
#
# planrun runs as a user would: plan validation, the plan lock, the journal (synced
# as the mode says), the durations of earlier runs read and updated, a log file per
# task that prints, events.jsonl and report.md in its run directory, progress lines
# on stdout (sent to /dev/null, as are ninja's and make's).
set -euo pipefail

RUNS=${1:-5}
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
for tool in ninja make; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y ninja-build make" >&2; exit 2; }
done

# PLANRUN_ARGS="..." passes extra flags to every planrun run (PLANRUN_BIN and
# BENCH_DIR: see benches/common.sh).
planrun_binary
work_dir

# gen NAME: reads "task need need..." lines on stdin, writes NAME/{plan.toml,build.ninja,Makefile}
gen() {
  local dir="$WORK/$1"
  mkdir -p "$dir"
  local task needs
  {
    printf '[plan]\nname = "%s"\n\n' "$1" >"$dir/plan.toml"
    printf 'rule run\n  command = true\n\n' >"$dir/build.ninja"
    printf '.PHONY: all\nall:\n\n' >"$dir/Makefile"
    local all=()
    while read -r task needs; do
      all+=("$task")
      {
        printf '[tasks.%s]\ntype = "exec-script"\ncommand = ["true"]\n' "$task"
        needs_line "$needs"
        printf '\n'
      } >>"$dir/plan.toml"
      if [[ -n $needs ]]; then
        printf 'build %s: run | %s\n' "$task" "$needs" >>"$dir/build.ninja"
      else
        printf 'build %s: run\n' "$task" >>"$dir/build.ninja"
      fi
      printf '.PHONY: %s\n%s: %s\n\t@true\n' "$task" "$task" "$needs" >>"$dir/Makefile"
    done
    printf 'all: %s\n' "${all[*]}" >>"$dir/Makefile"
  }
}

# The three DAGs.
for ((i = 0; i < 1000; i++)); do echo "t$i"; done | gen independent
{
  echo "t0"
  for ((i = 1; i < 300; i++)); do echo "t$i t$((i - 1))"; done
} | gen chain
RANDOM=42
{
  for ((t = 0; t < 50; t++)); do echo "l0_$t"; done
  for ((l = 1; l < 20; l++)); do
    for ((t = 0; t < 50; t++)); do
      picks=()
      while ((${#picks[@]} < 3)); do
        p="l$((l - 1))_$((RANDOM % 50))"
        [[ " ${picks[*]} " == *" $p "* ]] || picks+=("$p")
      done
      echo "l${l}_$t ${picks[*]}"
    done
  done
} | gen layered

"$PLANRUN" validate "$WORK/layered/plan.toml" >/dev/null

# The planrun variants: the default sync mode, then each --journal-sync mode.
MODES=(default always grouped)

# run TOOL DAG JOBS: prints the wall time in nanoseconds. TOOL is ninja, make, or
# planrun-MODE; each planrun mode keeps its own state directory for the whole row, so
# every timed run has the runs before it (and their durations) behind it.
run() {
  local tool=$1 dir="$WORK/$2" jobs=$3 start end mode args=()
  if [[ $tool == planrun-* ]]; then
    mode=${tool#planrun-}
    [[ $mode == default ]] || args=(--journal-sync "$mode")
  fi
  start=$(now)
  case $tool in
    planrun-*) "$PLANRUN" run "$dir/plan.toml" -j "$jobs" --state-dir "$WORK/state-$mode" "${args[@]}" ${PLANRUN_ARGS:-} >/dev/null ;;
    ninja) ninja -C "$dir" -j "$jobs" >/dev/null ;;
    make) make -C "$dir" -j "$jobs" -s >/dev/null ;;
  esac
  end=$(now)
  echo $((end - start))
}

secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A chain_ninja=()
TOOLS=(ninja make)
for mode in "${MODES[@]}"; do TOOLS+=("planrun-$mode"); done

echo "wall times: medians of $RUNS interleaved runs; ratios: planrun / ninja and planrun / make"
printf '%-12s %3s  %7s %7s' dag jobs ninja make
for mode in "${MODES[@]}"; do printf '  %-21s' "planrun $mode"; done
printf '\n'
for dag in independent chain layered; do
  for jobs in 2 8; do
    declare -A times=()
    for tool in "${TOOLS[@]}"; do times[$tool]=""; done
    rm -rf "$WORK"/state-*
    # One warm-up of each, then RUNS interleaved rounds.
    for tool in "${TOOLS[@]}"; do run "$tool" "$dag" "$jobs" >/dev/null; done
    for ((r = 0; r < RUNS; r++)); do
      for tool in "${TOOLS[@]}"; do
        times[$tool]+="$(run "$tool" "$dag" "$jobs") "
      done
    done
    declare -A med=()
    for tool in "${TOOLS[@]}"; do
      med[$tool]=$(tr ' ' '\n' <<<"${times[$tool]}" | grep . | median)
    done
    n=${med[ninja]} m=${med[make]}
    [[ $dag != chain ]] || chain_ninja[$jobs]=$n
    printf '%-12s %3s  %6ss %6ss' "$dag" "$jobs" "$(secs "$n")" "$(secs "$m")"
    for mode in "${MODES[@]}"; do
      p=${med[planrun-$mode]}
      printf '  %6ss %5s %5s    ' "$(secs "$p")" "$(ratio "$p" "$n")" "$(ratio "$p" "$m")"
    done
    printf '\n'
  done
done

# The chain's floor in the default mode: each of its steps waits for one sync (a
# task's end is durable before the task that needs it starts). One synced append on
# the state directory's disk, as dd makes it (O_DSYNC; median of 3 x 300 appends):
sync_ns=$(for _ in 1 2 3; do
  rm -f "$WORK/sync-probe"
  start=$(now)
  dd if=/dev/zero of="$WORK/sync-probe" bs=256 count=300 oflag=dsync,append conv=notrunc status=none
  echo $((($(now) - start) / 300))
done | median)
steps=299
printf '\none synced append on this disk: %s us; the chain waits for %s of them, so the default\n' \
  "$(awk -v ns="$sync_ns" 'BEGIN { printf "%.0f", ns / 1e3 }')" "$steps"
for jobs in 2 8; do
  n=${chain_ninja[$jobs]}
  floor=$((n + steps * sync_ns))
  printf '  cannot beat ninja + those syncs at -j%s: %ss (%s x ninja)\n' "$jobs" "$(secs "$floor")" "$(ratio "$floor" "$n")"
done
