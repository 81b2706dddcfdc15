#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2016 # predicates run through wait_for and the trap; bash -c scripts expand their own arguments
# emcctl's views of a small real campaign (two learning rates × two
# widths, three replicate seeds), checked against the database they read:
#
#   a. `emcctl run` in a real terminal (tmux): the status view is redrawn in
#      place (one view on the screen at a time, its clock moving), and the
#      run ends with the results and exit 0;
#   b. `emcctl status --watch` against a coordinator and workers started
#      here: in tmux it redraws in place and ends by itself when the
#      campaign is done; piped, it appends plain views; with --coordinator
#      its workers are the live ones;
#   c. the numbers of results, summary and status (JSON) equal those
#      recomputed from the cells and trials tables, and each JSON validates
#      against its schema in docs/schema (which refuses a tampered one);
#   d. every key the grid varies has its column, named by the spec key.
#
# Speaks TAP (the plan comes last). EMC_VIEWS_KEEP=1 keeps the files.
#
# usage: test_views.sh COORDINATOR WORKER EMCCTL MKIDX
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-views-XXXXXX)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMUX_SOCK="$work/tmux.sock"
tm() { tmux -S "$TMUX_SOCK" "$@"; }
cleanup() {
  tm kill-server 2>/dev/null
  reap_and_clean "${EMC_VIEWS_KEEP:-}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
PY=/usr/bin/python3

"$MKIDX" --out "$work/data" --n 300 --classes 3 --rows 5 --cols 5 --seed 3 --noise 0.8 --gzip
spec() { # spec NAME
  cat <<YAML
name: $1
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[2], [4]]
  activation: relu
optimizer:
  name: sgd
  lr: [0.1, 0.01]
  batch: 16
seeds: 3
search:
  start: 8
  precision: 0.2
budget:
  max_epochs: 2000
  plateau_epochs: 200
YAML
}
spec views >"$work/spec.yaml"

# ---- a: emcctl run in a terminal ------------------------------------------------------------
# A pane wide enough that no line wraps and tall enough for several views:
# its visible screen is captured (tmux keeps a redrawn screen in its
# history when a view clears it from the top: scroll-on-clear), so a view
# appended instead of redrawn shows as a second one on the screen.
tm new-session -d -x 230 -y 60 -s run \
  "cd '$work' && '$EMCCTL' run spec.yaml --db run.db --workers 2 --blas-threads 1 2>run-err.log; echo EXIT=\$?; sleep 600"
views_max=0 clocks=() t0=$SECONDS
while ((SECONDS - t0 < 600)); do
  pane="$(tm capture-pane -p -t run 2>/dev/null)"
  k="$(grep -c '^campaign views: \(running\|done\)' <<<"$pane")"
  ((k > views_max)) && views_max=$k
  clock="$(grep -o '^\[ *[0-9]*s\] emcctl run' <<<"$pane" | head -1)"
  [[ -n "$clock" ]] && ! in_list "$clock" "${clocks[@]}" && clocks+=("$clock")
  [[ "$pane" == *EXIT=* ]] && break
  sleep 0.3
done
note "run in tmux: $((SECONDS - t0)) s, ${#clocks[@]} distinct clocks seen"
check "run in a terminal: the status view is redrawn in place (at most one on the screen, ${#clocks[@]} redraws seen)" \
  test "$views_max" = 1 -a "${#clocks[@]}" -ge 2
check "run in a terminal: it ends with the results, one final view, exit 0" \
  bash -c '[[ "$1" == *"EXIT=0"* && "$1" == *"EMC after"* && "$(grep -c "^campaign views: done" <<<"$1")" == 1 ]]' _ "$pane"

# ---- b: status --watch against a running coordinator ----------------------------------------
db="$work/watch.db"
"$COORD" --db "$db" --bind "ipc://$work/w.sock" --control "ipc://$work/ctl.sock" --insecure --exit-when-done \
  --spec "$work/spec.yaml" 2>>"$work/coord.log" &
coord=$!
pids+=("$coord")
campaign_known() { [[ "$(qd "$db" "SELECT count(*) FROM campaigns")" == 1 ]]; }
wait_for 60 campaign_known
"$EMCCTL" status --db "$db" --watch --interval 0.3 views >"$work/watch-piped.log" 2>&1 &
piped=$!
pids+=("$piped")
tm new-session -d -x 230 -y 60 -s watch \
  "'$EMCCTL' status --db '$db' --watch --interval 0.3 views 2>watch-tty.log; echo EXIT=\$?; sleep 600"
ws=()
for _ in 1 2; do
  "$WORKER" --slots 1 --blas-threads 1 --connect "ipc://$work/w.sock" --insecure 2>>"$work/worker.log" &
  ws+=("$!")
  pids+=("$!")
done
two_alive() {
  "$EMCCTL" status --db "$db" --coordinator "ipc://$work/ctl.sock" --format json >"$work/live.json" 2>/dev/null &&
    [[ "$($PY -c 'import json,sys; w=json.load(open(sys.argv[1]))["workers"]; print(w["source"], w["alive"])' \
      "$work/live.json")" == "coordinator 2" ]]
}
check "status --coordinator: the workers are the coordinator's live list (2 alive)" wait_for 30 two_alive
views_max=0 seen=() t0=$SECONDS
while ((SECONDS - t0 < 600)); do
  pane="$(tm capture-pane -p -t watch 2>/dev/null)"
  k="$(grep -c '^trials: ' <<<"$pane")"
  ((k > views_max)) && views_max=$k
  line="$(grep -m1 '^trials: ' <<<"$pane")"
  [[ -n "$line" ]] && ! in_list "$line" "${seen[@]}" && seen+=("$line")
  [[ "$pane" == *EXIT=* ]] && break
  sleep 0.2
done
finish "$coord" 60 "watch"
stop_all "${ws[@]}"
check "status --watch in a terminal: redrawn in place (at most one view on the screen, ${#seen[@]} distinct seen)" \
  test "$views_max" = 1 -a "${#seen[@]}" -ge 2
check "status --watch in a terminal: ends by itself once the campaign is done, exit 0" \
  bash -c '[[ "$1" == *"EXIT=0"* && "$1" == *"campaign views: done"* ]]' _ "$pane"
wait_gone "$piped" 30
wait "$piped"
rc=$?
check "status --watch piped: plain views appended ($(grep -c '^trials: ' "$work/watch-piped.log") of them), no escape codes, exit $rc" \
  bash -c '[[ $1 == 0 && $(grep -c "^trials: " "$2") -ge 2 ]] && ! grep -q $'"'"'\033'"'"' "$2" &&
    [[ "$(tail -n 30 "$2")" == *"campaign views: done"* ]]' _ "$rc" "$work/watch-piped.log"
"$PY" "$root/tests/validate_json.py" "$root/docs/schema" status "$work/live.json" >"$work/v.err" 2>&1
check "status --coordinator --format json validates against status.schema.json" test "$?" = 0

# ---- c: the numbers, recomputed from the tables --------------------------------------------
db="$work/run.db"
for v in results summary status; do
  "$EMCCTL" "$v" --db "$db" --format json >"$work/$v.json"
done
"$EMCCTL" trials --db "$db" --format json views >"$work/trials.json"
for v in results summary status trials; do
  "$PY" "$root/tests/validate_json.py" "$root/docs/schema" "$v" "$work/$v.json" >"$work/v.err" 2>&1
  check "$v --format json validates against $v.schema.json" test "$?" = 0
done
"$PY" - "$work/results.json" "$work/bad.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
rows[0]["emc"] = str(rows[0]["emc"])
json.dump(rows, open(sys.argv[2], "w"))
PY
"$PY" "$root/tests/validate_json.py" "$root/docs/schema" results "$work/bad.json" >"$work/v.err" 2>&1
check "the schema refuses a results document whose emc is a string" \
  bash -c '[[ $1 == 1 ]] && grep -q "0/emc" "$2"' _ "$?" "$work/v.err"

recompute() { # recompute VIEW: the view's numbers against SQL over the tables; prints the differences
  "$PY" - "$1" "$db" "$work" <<'PY'
import json, sqlite3, sys
view, db, work = sys.argv[1], sys.argv[2], sys.argv[3]
con = sqlite3.connect(db)
q = lambda sql, *a: con.execute(sql, a).fetchall()
TERMINAL = "('fit', 'no_fit', 'failed', 'cancelled')"
bad = []
def same(what, got, want):
    if (abs(got - want) > 1e-6 * max(1, abs(want))) if isinstance(want, float) else got != want:
        bad.append(f"{what}: view {got!r}, tables {want!r}")
cells = {r[0]: r for r in q(f"""SELECT ce.idx, ce.params, ce.state, ce.lo,
    (SELECT count(*) FROM trials t WHERE t.cell_id = ce.id AND t.state IN {TERMINAL}),
    (SELECT coalesce(sum(t.sample_grads), 0) FROM trials t WHERE t.cell_id = ce.id AND t.state IN {TERMINAL}),
    (SELECT coalesce(sum(t.train_seconds), 0.0) FROM trials t WHERE t.cell_id = ce.id AND t.state IN {TERMINAL}),
    ce.lr FROM cells ce ORDER BY ce.idx""")}
if view == "results":
    rows = json.load(open(f"{work}/results.json"))
    same("rows", len(rows), len(cells))
    for r in rows:
        idx, params, state, lo, trials, grads, secs, lr = cells[r["cell"]]
        same(f"cell {idx} params", r["params"], params)
        same(f"cell {idx} state", r["state"], state)
        same(f"cell {idx} emc", r["emc"], lo if state == "done" else None)
        same(f"cell {idx} trials", r["trials"], trials)
        same(f"cell {idx} sample_grads", r["sample_grads"], grads)
        same(f"cell {idx} train_seconds", r["train_seconds"], float(secs))
        same(f"cell {idx} config lr", r["config"]["optimizer"]["lr"], lr)
elif view == "summary":
    groups = json.load(open(f"{work}/summary.json"))
    lrs = sorted({c[7] for c in cells.values()})
    same("groups (one per lr)", len(groups), len(lrs))
    for g, lr in zip(groups, lrs):
        mine = [c for c in cells.values() if c[7] == lr]
        same(f"group lr={lr} key", float(g["group"]["optimizer.lr"]), lr)
        same(f"group lr={lr} cells", g["n_cells"], len(mine))
        same(f"group lr={lr} trials", g["trials"], sum(c[4] for c in mine))
        same(f"group lr={lr} sample_grads", g["sample_grads"], sum(c[5] for c in mine))
        same(f"group lr={lr} cells by params", [c["params"] for c in g["cells"]], sorted(c[1] for c in mine))
elif view == "status":
    st = json.load(open(f"{work}/status.json"))["campaigns"][0]
    for state in ("fit", "no_fit", "failed", "cancelled"):
        same(f"trials {state}", st["trials"][state], q("SELECT count(*) FROM trials WHERE state = ?", state)[0][0])
    same("trials queued", st["trials"]["queued"], q("SELECT count(*) FROM trials WHERE state = 'pending'")[0][0])
    same("cells done", st["cells_done"], q("SELECT count(*) FROM cells WHERE state IN ('done', 'failed')")[0][0])
    same("sample_grads", st["sample_grads"], sum(c[5] for c in cells.values()))
    same("cell list", [(c["cell"], c["lo"], c["trials_done"]) for c in st["cell_list"]],
         [(c[0], c[3], c[4]) for c in sorted(cells.values())])
print("\n".join(bad))
PY
}
for v in results summary status; do
  diff="$(recompute "$v")"
  if [[ -z "$diff" ]]; then ok "$v: every number equals the one recomputed from the cells and trials tables"
  else mapfile -t lines <<<"$diff"; not_ok "$v: numbers differ from the tables" "${lines[@]}"; fi
done

# ---- d: the axes the grid varies --------------------------------------------------------------
check "results: a column optimizer.lr in the table and the CSV, none for a key that does not vary" \
  bash -c '"$1" results --db "$2" | head -1 | grep -q " optimizer.lr " &&
    "$1" results --db "$2" --format csv | head -1 | grep -q ",seeds,optimizer.lr,params," &&
    ! "$1" results --db "$2" --format csv | head -1 | grep -q "optimizer.batch"' _ "$EMCCTL" "$db"
check "summary --by model: one group per width, its rows the two learning rates" \
  bash -c '"$1" summary --db "$2" --by model --format csv | awk -F, "NR > 1 {g[\$2]++} END {print length(g), g[\"mlp[2]\"], g[\"mlp[4]\"]}" |
    grep -qx "2 2 2"' _ "$EMCCTL" "$db"

no_sanitizer_reports

echo "1..$n"
exit $((failures > 0))
