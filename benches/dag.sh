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
# For each DAG and each of -j2 and -j8 it runs planrun, ninja and make in turn, RUNS
# times (interleaved, so machine noise hits all three alike), and prints the median
# wall times and planrun's ratio to ninja and to make.
#
# planrun runs as a user would: plan validation, the plan lock, the journal (every
# state change synced to disk before planrun acts on it), a log file per task,
# events.jsonl and report.md in its run directory, progress lines on stdout (sent to
# /dev/null, as are ninja's and make's).
set -euo pipefail

RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in ninja make; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y ninja-build make" >&2; exit 2; }
done

# PLANRUN_ARGS="--journal-sync grouped" passes extra flags to every planrun run.
# PLANRUN_BIN=path benchmarks that binary instead (e.g. an older build, to compare).
if [[ -n ${PLANRUN_BIN:-} ]]; then
  PLANRUN=$PLANRUN_BIN
else
  echo "building planrun (release)..." >&2
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  PLANRUN="$ROOT/target/release/planrun"
fi

# BENCH_DIR=DIR keeps the generated DAGs there for a closer look.
if [[ -n ${BENCH_DIR:-} ]]; then
  WORK=$BENCH_DIR
  rm -rf "$WORK" && mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

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
        if [[ -n $needs ]]; then
          printf 'needs = [%s]\n' "$(sed 's/\([^ ]*\)/"\1"/g; s/ /, /g' <<<"$needs")"
        fi
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

now() { date +%s%N; }

# run TOOL DAG JOBS: prints the wall time in nanoseconds
run() {
  local tool=$1 dir="$WORK/$2" jobs=$3 start end
  start=$(now)
  case $tool in
    planrun) "$PLANRUN" run "$dir/plan.toml" -j "$jobs" --state-dir "$WORK/state" ${PLANRUN_ARGS:-} >/dev/null ;;
    ninja) ninja -C "$dir" -j "$jobs" >/dev/null ;;
    make) make -C "$dir" -j "$jobs" -s >/dev/null ;;
  esac
  end=$(now)
  echo $((end - start))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '%-12s %3s  %9s %9s %9s  %14s %13s\n' dag jobs planrun ninja make planrun/ninja planrun/make
for dag in independent chain layered; do
  for jobs in 2 8; do
    declare -A times=([planrun]="" [ninja]="" [make]="")
    # One warm-up of each, then RUNS interleaved rounds.
    for tool in planrun ninja make; do run "$tool" "$dag" "$jobs" >/dev/null; done
    for ((r = 0; r < RUNS; r++)); do
      for tool in planrun ninja make; do
        times[$tool]+="$(run "$tool" "$dag" "$jobs") "
      done
      rm -rf "$WORK/state"
    done
    p=$(tr ' ' '\n' <<<"${times[planrun]}" | grep . | median)
    n=$(tr ' ' '\n' <<<"${times[ninja]}" | grep . | median)
    m=$(tr ' ' '\n' <<<"${times[make]}" | grep . | median)
    printf '%-12s %3s  %8ss %8ss %8ss  %14s %13s\n' "$dag" "$jobs" "$(secs "$p")" "$(secs "$n")" "$(secs "$m")" "$(ratio "$p" "$n")" "$(ratio "$p" "$m")"
  done
done
