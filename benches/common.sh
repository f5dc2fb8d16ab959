# shellcheck shell=bash
# What the DAG benchmarks share; sourced by benches/dag.sh and benches/sleep-dag.sh.
#
#   PLANRUN_BIN=path  benchmarks that binary (e.g. an older build, to compare)
#                     instead of building planrun in release mode
#   BENCH_DIR=DIR     keeps the generated plans there for a closer look, instead of
#                     a temporary directory removed at the end

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Sets PLANRUN to the binary to benchmark (for the script that sources this).
# shellcheck disable=SC2034
planrun_binary() {
  if [[ -n ${PLANRUN_BIN:-} ]]; then
    PLANRUN=$PLANRUN_BIN
  else
    echo "building planrun (release)..." >&2
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
    PLANRUN="$ROOT/target/release/planrun"
  fi
}

# Sets WORK to an empty directory for the generated plans.
work_dir() {
  if [[ -n ${BENCH_DIR:-} ]]; then
    WORK=$BENCH_DIR
    rm -rf "$WORK" && mkdir -p "$WORK"
  else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
  fi
}

# needs_line "a b": prints `needs = ["a", "b"]` (nothing for no needs).
needs_line() {
  [[ -z $1 ]] || printf 'needs = [%s]\n' "$(sed 's/\([^ ]*\)/"\1"/g; s/ /, /g' <<<"$1")"
}

# Now, in nanoseconds.
now() { date +%s%N; }

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
