#!/usr/bin/env bash
# bisect_vs_grid.sh BUILD [DIR] — what adaptivity saves. Runs
# bench/specs/fmnist-bisect.yaml (replicated bisection to 2 %) and
# bench/specs/fmnist-grid.yaml (the authors' 20-point grid) one after the
# other on this machine, same models, seeds and budgets, each with emcctl
# run's default workers, and prints one table: per model and method the
# EMC and its bracket [lo, hi), the bracket's relative width, trials, compute
# (sample-gradients: rows over all steps of every recorded trial,
# speculative ones included), training seconds and wall seconds, and the
# ratios bisect / grid.
#
# Long: about an hour on 2 cores. The databases stay in DIR (default
# bench-out/); running the script again resumes or reprints them.
set -euo pipefail

build="${1:?usage: bisect_vs_grid.sh BUILD [DIR]}"
out="${2:-bench-out}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"

for method in bisect grid; do
  # a finished run leaves METHOD.wall; an interrupted one is resumed, and
  # then the wall time is that of the run which finished it
  [[ -f "$out/$method.wall" ]] && continue
  start=$(date +%s.%N)
  "$build/coordinator/emcctl" run "$here/specs/fmnist-$method.yaml" --db "$out/$method.db" >"$out/$method.log" 2>&1
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$out/$method.wall"
done

sqlite3 -separator ' ' "$out/bisect.db" \
  "ATTACH '$out/grid.db' AS g;
   SELECT b.model, b.params, b.emc, b.emc_low, b.emc_high, b.hi, b.full,
          (SELECT count(*) FROM trials t WHERE t.cell_id = b.id AND t.state IN ('fit', 'no_fit', 'failed')),
          b.sample_grads, b.train_seconds,
          x.emc, x.emc_low, x.emc_high, x.hi, x.full,
          (SELECT count(*) FROM g.trials t WHERE t.cell_id = x.id AND t.state IN ('fit', 'no_fit', 'failed')),
          x.sample_grads, x.train_seconds
   FROM cells b JOIN g.cells x ON x.idx = b.idx ORDER BY b.idx" |
awk -v wb="$(cat "$out/bisect.wall")" -v wg="$(cat "$out/grid.wall")" '
function bracket(lo, hi, full) { return full ? "full" : (hi > 0 && lo > 0 ? sprintf("%.3f", (hi - lo) / lo) : "-") }
BEGIN {
  print "| model | params | method | EMC | hi | (hi − lo)/lo | trials | sample-grads | train s |"
  print "|---|---|---|---|---|---|---|---|---|"
}
{
  printf "| %s | %d | bisect | %d | %d | %s | %d | %.3g | %.0f |\n", $1, $2, $3, $6, bracket($3, $6, $7), $8, $9, $10
  printf "| %s | %d | grid | %d | %d | %s | %d | %.3g | %.0f |\n", $1, $2, $11, $14, bracket($11, $14, $15), $16, $17, $18
  sb += $9; sg += $17; tb += $10; tg += $18
  ratio[NR] = sprintf("%s: compute %.2f×, training time %.2f×", $1, $9 / $17, $10 / $18)
}
END {
  printf "\nbisect / grid, per model: "
  for (i = 1; i <= NR; i++) printf "%s%s", ratio[i], i < NR ? "; " : "\n"
  printf "all models: compute %.2f× (%.3g / %.3g sample-grads), training time %.2f×, wall %.2f× (%.0f s / %.0f s)\n",
    sb / sg, sb, sg, tb / tg, wb / wg, wb, wg
}'
