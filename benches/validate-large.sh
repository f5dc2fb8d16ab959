#!/usr/bin/env bash
# Benchmark: `planrun validate` on a generated plan of N tasks (default 10,000), each
# needing up to three earlier tasks, with variables interpolated in every task.
# Prints the median wall time (hyperfine) and the peak resident memory (GNU time).
#
#   bash benches/validate-large.sh [N]
#
# Needs: hyperfine and GNU time (apt-get install -y hyperfine time).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build --release --quiet
bin=target/release/planrun
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
plan=$dir/large.toml
awk -v n="$n" 'BEGIN {
  srand(42)
  print "[plan]\nname = \"large\"\n\n[vars]\nns = \"bench\"\nimage = \"v1.2.3\"\n"
  for (i = 0; i < n; i++) {
    printf "[tasks.t%05d]\n", i
    if (i % 3 == 0) {
      print "type = \"exec-script\""
      printf "command = [\"echo\", \"{{ ns }}\", \"%d\"]\ntimeout = \"30s\"\n", i
    } else if (i % 3 == 1) {
      print "type = \"wait-absent\"\nkind = \"Namespace\""
      printf "name = \"{{ ns }}-%d\"\n", i
    } else {
      print "type = \"kube-delete\"\nkind = \"CustomResourceDefinition\""
      print "name_pattern = '\''\\.toolkit\\.fluxcd\\.io$'\''"
    }
    if (i > 0) {
      k = int(rand() * 3) + 1
      printf "needs = ["
      for (j = 0; j < k; j++) {
        d = int(rand() * i)
        if (j > 0) printf ", "
        printf "\"t%05d\"", d
      }
      print "]"
    }
    print ""
  }
}' | awk '
  # drop duplicate needs entries the random draw may produce
  /^needs = / {
    line = $0; sub(/^needs = \[/, "", line); sub(/\]$/, "", line)
    split(line, parts, ", "); delete seen; out = ""
    for (p in parts) if (!(parts[p] in seen)) { seen[parts[p]] = 1; out = out (out == "" ? "" : ", ") parts[p] }
    print "needs = [" out "]"; next
  }
  { print }' > "$plan"

"$bin" validate "$plan"
echo "plan: $n tasks, $(wc -c < "$plan") bytes"
hyperfine --warmup 2 --runs 10 --style basic "$bin validate $plan" 2>&1 | grep -E "Time|Range"
/usr/bin/time -f "peak memory: %M KiB" "$bin" validate "$plan" > /dev/null
