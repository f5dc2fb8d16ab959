#!/usr/bin/env bash
# Critical path first, learned from history: planrun twice against ninja on a DAG
# of `sleep` tasks whose durations neither tool is told.
#
#   benches/sleep-dag.sh [RUNS]        (default RUNS=5; SEED=N picks another DAG)
#
# Needs ninja (`apt-get install -y ninja-build`). Builds planrun in release mode,
# then generates (seeded, below) 30 tasks of 0.10-0.50 s, each needing up to two of
# the five tasks before it. At -j2 it runs, RUNS times interleaved: ninja; planrun
# in a fresh state directory (its first run: it knows no durations, so the longest
# chain of tasks goes first); planrun again in that directory (its second run: each
# task expected to take what it took, the longest expected path goes first). It
# prints the critical path (no schedule ends sooner), the work shared by two slots,
# and the median makespan of each, against the critical path.
set -euo pipefail

RUNS=${1:-5}
SEED=${SEED:-5200}
TASKS=30
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
command -v ninja >/dev/null || { echo "missing ninja: apt-get install -y ninja-build" >&2; exit 2; }

planrun_binary
work_dir

# The generator: a 31-bit linear congruential generator in shell arithmetic, so a
# seed gives the same DAG on every machine. Prints "task seconds need need..." lines,
# needs before the tasks that need them.
rng=$SEED
rand() {
  rng=$(((rng * 1103515245 + 12345) % 2147483648))
  R=$((rng >> 16))
}
generate() {
  local i j k lo p d needs
  for ((i = 0; i < TASKS; i++)); do
    rand
    d=$((10 + R % 41))
    needs=()
    if ((i > 0)); then
      rand
      k=$((R % 4 == 0 ? 0 : 1 + R % 2))
      for ((j = 0; j < k; j++)); do
        rand
        lo=$((i > 5 ? i - 5 : 0))
        p=$((lo + R % (i - lo)))
        [[ " ${needs[*]} " == *" t$p "* ]] || needs+=("t$p")
      done
    fi
    printf 't%d 0.%02d %s\n' "$i" "$d" "${needs[*]}"
  done
}
generate >"$WORK/dag.txt"

# The plan and the ninja file.
{
  printf '[plan]\nname = "sleep-dag"\n'
  while read -r task secs needs; do
    printf '\n[tasks.%s]\ntype = "exec-script"\ncommand = ["sleep", "%s"]\n' "$task" "$secs"
    needs_line "$needs"
  done <"$WORK/dag.txt"
} >"$WORK/plan.toml"
{
  printf 'rule sleep\n  command = sleep $secs\n'
  while read -r task secs needs; do
    if [[ -n $needs ]]; then
      printf 'build %s: sleep | %s\n  secs = %s\n' "$task" "$needs" "$secs"
    else
      printf 'build %s: sleep\n  secs = %s\n' "$task" "$secs"
    fi
  done <"$WORK/dag.txt"
} >"$WORK/build.ninja"
"$PLANRUN" validate "$WORK/plan.toml" >/dev/null

# The critical path and the work, from the durations.
read -r CRITICAL WORK_ALL < <(awk '{
  start = 0
  for (i = 3; i <= NF; i++) if (end[$i] > start) start = end[$i]
  end[$1] = start + $2
  if (end[$1] > cp) cp = end[$1]
  work += $2
} END { printf "%.2f %.2f\n", cp, work }' "$WORK/dag.txt")

# run WHAT: prints the wall time in nanoseconds
run() {
  local start end
  start=$(now)
  case $1 in
    ninja) ninja -C "$WORK" -j 2 >/dev/null ;;
    first)
      rm -rf "$WORK/state"
      "$PLANRUN" run "$WORK/plan.toml" -j 2 --state-dir "$WORK/state" >/dev/null
      ;;
    second) "$PLANRUN" run "$WORK/plan.toml" -j 2 --state-dir "$WORK/state" >/dev/null ;;
  esac
  end=$(now)
  echo $((end - start))
}

declare -A times=([ninja]="" [first]="" [second]="")
for ((r = 0; r < RUNS; r++)); do
  for what in ninja first second; do
    times[$what]+="$(run "$what") "
  done
done

echo "sleep DAG (seed $SEED): $TASKS tasks of 0.10-0.50 s, -j2; medians of $RUNS interleaved runs"
printf '%-40s %8s %9s\n' "" makespan "/critical"
row() { awk -v name="$1" -v s="$2" -v cp="$CRITICAL" 'BEGIN { printf "%-40s %7.2fs %9.3f\n", name, s, s / cp }'; }
row "critical path (no schedule ends sooner)" "$CRITICAL"
row "the work shared by 2 slots" "$(awk -v w="$WORK_ALL" 'BEGIN { print w / 2 }')"
for what in ninja first second; do
  ns=$(tr ' ' '\n' <<<"${times[$what]}" | grep . | median)
  case $what in
    ninja) name="ninja $(ninja --version)" ;;
    first) name="planrun, first run (knows nothing)" ;;
    second) name="planrun, second run (learned)" ;;
  esac
  row "$name" "$(awk -v ns="$ns" 'BEGIN { print ns / 1e9 }')"
done
