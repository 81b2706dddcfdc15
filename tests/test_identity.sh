#!/usr/bin/env bash
# The answer does not depend on how the campaign was run: one small real
# campaign (two procedures over a pool of five replicate seeds, the bisect
# method, the defaults users get: several slots, speculation on, no
# --max-probes pin) runs four times, each on its own fresh database, with
# real emc-coordinator and emc-worker processes:
#
#   a. one worker with one slot (the sequential path, nothing speculative);
#   b. one worker with three slots;
#   c. three workers;
#   d. three workers while busy workers are SIGKILLed (and restarted) and
#      the coordinator is SIGKILLed at least twice while trials run (and
#      restarted on the same database), until the campaign is done.
#
# Then, compared with sqlite3 across the four databases, these must be
# identical:
#   - per cell: emc, hi, full, emc_low, emc_high, seeds_used, lo_fits,
#     lo_total, hi_fits, hi_total, hi_plateau, hi_gradnorm, hi_budget,
#     unconverged, plateau_decided, nonmonotone, uncertain, trials_consumed,
#     state;
#   - the decided trials (those `emcctl trials` marks on_path) with their
#     (cell, n, seed_index, state, reason, epochs, steps).
# What may differ is what counts time or speculative work: train_seconds,
# the sample_grads totals, trials recorded off the path (speculative,
# cancelled), trials_recorded, attempts and their numbers.
#
# A trial is deterministic for a given seed, kernel and thread count, so
# every worker trains with --blas-threads 1 and the environment's
# OPENBLAS_CORETYPE (whatever it is) is left alone.
#
# Speaks TAP (the plan comes last). Set EMC_IDENTITY_SEED to replay the
# random choices of the chaos run (its seed is printed first),
# EMC_IDENTITY_KEEP=1 to keep the logs and databases.
#
# usage: test_identity.sh COORDINATOR WORKER EMCCTL MKIDX
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-identity-XXXXXX)"
seed="${EMC_IDENTITY_SEED:-$$}"
RANDOM=$seed
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap 'reap_and_clean "${EMC_IDENTITY_KEEP:-}"' EXIT
trap 'exit 1' INT TERM

# Lost attempts are retried, never given up: a trial given up is FAILED,
# and a FAILED outcome would rightly change what its cell reads next.
COPTS=(--exit-when-done --heartbeat-ms 200 --lease-ms 2000 --max-lost 1000)
start_coord() { # start_coord LOG DB PORT ARGS... ; sets $coord
  : >>"$1"
  "$COORD" "${COPTS[@]}" --db "$2" --bind "tcp://127.0.0.1:$3" --control "ipc://$2.ctl" --insecure "${@:4}" 2>>"$1" &
  coord=$!
  pids+=("$coord")
}
start_worker() { # start_worker LOG PORT SLOTS ; sets $wpid
  "$WORKER" --slots "$3" --blas-threads 1 --connect "tcp://127.0.0.1:$2" --insecure 2>>"$1" &
  wpid=$!
  pids+=("$wpid")
}
# The pids of workers training something now, from the database (host:pid).
busy_pids() {
  qd "$1" "SELECT w.host FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.state = 'running'" | sed 's/.*://'
}
running_attempts() { qd "$1" "SELECT count(*) FROM attempts WHERE state = 'running'"; }

# ---- what is compared --------------------------------------------------------
CELL_COLS="idx, emc, hi, full, emc_low, emc_high, seeds_used, lo_fits, lo_total, hi_fits, hi_total, hi_plateau,"
CELL_COLS+=" hi_gradnorm, hi_budget, unconverged, plateau_decided, nonmonotone, uncertain, trials_consumed, state"
cells_of() { qd "$1" "SELECT $CELL_COLS FROM cells ORDER BY idx"; }
# The trials on the decided path, as emcctl shows them.
decided_of() { # decided_of DB
  "$EMCCTL" trials --db "$1" --format json identity >"$1.trials.json" || return 1
  sqlite3 -batch -noheader :memory: "SELECT json_extract(value, '\$.cell'), json_extract(value, '\$.n'),
      json_extract(value, '\$.seed_index'), json_extract(value, '\$.state'), json_extract(value, '\$.reason'),
      json_extract(value, '\$.epochs'), json_extract(value, '\$.steps')
    FROM json_each(readfile('$1.trials.json')) WHERE json_extract(value, '\$.on_path') = 1
    ORDER BY 1, 2, 3"
}
recorded_of() { qd "$1" "SELECT count(*) FROM trials WHERE state IN ('fit', 'no_fit', 'failed', 'cancelled')"; }

# The invariants of every finished campaign, whatever happened to it.
campaign_checks() { # campaign_checks DB LABEL
  local db="$1" label="$2"
  check "$label: the campaign is done, both cells decided" \
    test "$(qd "$db" "SELECT group_concat(state) FROM campaigns") $(qd "$db" "SELECT count(*) FROM cells WHERE state = 'done'")" = "done 2"
  check "$label: no trial left pending or running, no attempt left running" \
    test "$(qd "$db" "SELECT (SELECT count(*) FROM trials WHERE state IN ('pending', 'running')) + (SELECT count(*) FROM attempts WHERE state = 'running')")" = 0
  check "$label: every fit / no_fit trial has exactly one done attempt, every other trial none" \
    test "$(qd "$db" "SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'done') != (t.state IN ('fit', 'no_fit'))")" = 0
  check "$label: every trial ran its pool's seed, and none failed" \
    test "$(qd "$db" "SELECT count(*) FROM trials WHERE seed IS NOT seed_index OR seed_index NOT BETWEEN 0 AND 4 OR state = 'failed'")" = 0
}

echo "# seed $seed"

# ---- data and spec -----------------------------------------------------------
# Trials are budgeted in optimizer steps with the plateau stop off, so every
# trial is deterministic and a NO_FIT trains for a while (0.1 to 1 s) and can
# be hit by a fault. Near capacity the five seeds disagree, so the
# sequential rule reads more than min_seeds (3) of them.
"$MKIDX" --out "$work/data" --n 500 --classes 4 --rows 6 --cols 6 --seed 7 --noise 0.8 --gzip
cat >"$work/spec.yaml" <<'YAML'
name: identity
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[3], [8]]
  activation: relu
optimizer:
  name: adam
  lr: 0.02
  batch: 16
seeds: [0, 1, 2, 3, 4]
search:
  start: 8
  precision: 0.1
budget:
  max_epochs: 0
  max_steps: 40000
  plateau_epochs: 0
YAML

# ---- a, b, c: undisturbed runs -------------------------------------------------
# Undisturbed, a run takes about 10 s (a minute under sanitizers on a busy
# machine); one that hangs fails after 150 s.
run_plain() { # run_plain NAME WORKERS SLOTS LABEL
  local db="$work/$1.db" port ws=() i t0=$SECONDS
  port="$(free_port)"
  start_coord "$work/$1.log" "$db" "$port" --spec "$work/spec.yaml"
  local c=$coord
  for ((i = 0; i < $2; i++)); do start_worker "$work/$1-w.log" "$port" "$3"; ws+=("$wpid"); done
  finish "$c" 150 "$4"
  stop_all "${ws[@]}"
  note "$4: $((SECONDS - t0)) s, $(recorded_of "$db") trials recorded"
}
run_plain one 1 1 "1 worker x 1 slot"
run_plain slots 1 3 "1 worker x 3 slots"
run_plain three 3 1 "3 workers"

# ---- d: three workers under SIGKILL, and the coordinator too ------------------------
db="$work/chaos.db" wlog="$work/chaos-w.log"
port="$(free_port)"
t0=$SECONDS
start_coord "$work/chaos-0.log" "$db" "$port" --spec "$work/spec.yaml"
live=()
for i in 1 2 3; do start_worker "$wlog" "$port" 1; live+=("$wpid"); done
wkills=0 ckills=0 lost_at_kill=0
next_w=$(($(now_ms) + $(rand_ms 600 1200)))
next_c=$(($(now_ms) + $(rand_ms 1500 2500)))
deadline=$((SECONDS + 240))
while kill -0 "$coord" 2>/dev/null && ((SECONDS < deadline)); do
  t=$(now_ms)
  # A busy worker, SIGKILLed and replaced by a fresh one.
  if ((wkills < 5 && t >= next_w)); then
    mapfile -t busy < <(busy_pids "$db")
    cands=()
    for p in "${busy[@]}"; do in_list "$p" "${live[@]}" && cands+=("$p"); done
    if ((${#cands[@]} > 0)); then
      victim="${cands[RANDOM % ${#cands[@]}]}"
      kill -KILL "$victim"
      wait "$victim" 2>/dev/null
      wkills=$((wkills + 1))
      rest=()
      for p in "${live[@]}"; do [[ "$p" != "$victim" ]] && rest+=("$p"); done
      start_worker "$wlog" "$port" 1
      live=("${rest[@]}" "$wpid")
      next_w=$((t + $(rand_ms 800 1500)))
    else
      next_w=$((t + 100))
    fi
  fi
  # The coordinator, SIGKILLed while attempts run and restarted on the same
  # database. Odd restarts give orphaned attempts 1 s (they are requeued),
  # even ones 4 s (their workers reclaim them).
  if ((ckills < 3 && t >= next_c)); then
    running="$(running_attempts "$db")"
    if ((${running:-0} > 0)); then
      kill -KILL "$coord"
      wait "$coord" 2>/dev/null
      ckills=$((ckills + 1))
      lost_at_kill=$((lost_at_kill + running))
      sleep_ms "$(rand_ms 0 400)"
      start_coord "$work/chaos-$ckills.log" "$db" "$port" --grace-ms $((ckills % 2 ? 1000 : 4000))
      next_c=$((t + $(rand_ms 2000 3500)))
    else
      next_c=$((t + 100))
    fi
  fi
  sleep 0.1
done
finish "$coord" 5 "under SIGKILL"
stop_all "${live[@]}"
lost="$(qd "$db" "SELECT count(*) FROM attempts WHERE state = 'lost'")"
note "under SIGKILL: $((SECONDS - t0)) s, $(recorded_of "$db") trials recorded; $wkills busy workers killed," \
  "$ckills coordinator kills with $lost_at_kill attempts running; $lost attempts lost and run again"
if ((wkills >= 1 && ckills >= 2 && lost >= 1)); then
  ok "under SIGKILL: the chaos bit: $wkills busy workers and $ckills coordinators killed while trials ran"
else
  not_ok "under SIGKILL: the chaos did not bite" "busy workers killed $wkills (want >= 1)," \
    "coordinator kills while attempts ran $ckills (want >= 2), lost attempts $lost (want >= 1)"
fi
# Each restarted coordinator heard from the workers again by itself.
heard=0
for ((k = 1; k <= ckills; k++)); do
  grep -qE ' joined with | n=[0-9]+: (fit|no_fit) ' "$work/chaos-$k.log" && heard=$((heard + 1))
done
check "under SIGKILL: the workers reconnected to every restarted coordinator" test "$heard" = "$ckills"

# ---- the comparison -------------------------------------------------------------
names=(one slots three chaos)
labels=("1 worker x 1 slot" "1 worker x 3 slots" "3 workers" "under SIGKILL")
for i in 0 1 2 3; do campaign_checks "$work/${names[i]}.db" "${labels[i]}"; done

ref="$work/one.db"
cells_of "$ref" >"$work/one.cells"
decided_of "$ref" >"$work/one.decided"
note "1 worker x 1 slot, per cell ($CELL_COLS):"
while read -r l; do note "  $l"; done <"$work/one.cells"
# The decided path: at each probed size, the seeds read in pool order
# (F fit, N no fit).
note "its decided path, seeds in pool order (F fit, N no fit):"
path="$(awk -F'|' '{k = "cell " $1 " n=" $2; if (k != last) { if (last != "") print last ": " s; last = k; s = "" }
  s = s ($4 == "fit" ? "F" : "N")} END {if (last != "") print last ": " s}' "$work/one.decided")"
while read -r l; do note "  $l"; done <<<"$path"

# The spec does what this test needs: several probes per cell, more than
# min_seeds seeds at some probe, seeds that disagree.
probes_min="$(awk -F'|' '{print $1 " " $2}' "$work/one.decided" | sort -u | awk '{c[$1]++} END {m = 1e9; for (k in c) if (c[k] < m) m = c[k]; print m}')"
mixed="$(grep -c 'F.*N\|N.*F' <<<"$path")"
check "the spec exercises the sequential rule: >= 3 probes in every cell ($probes_min), seeds disagree at $mixed probes" \
  test "$probes_min" -ge 3 -a "$mixed" -ge 1

for i in 1 2 3; do
  db="$work/${names[i]}.db" label="${labels[i]}"
  got="$(cells_of "$db")"
  if [[ "$got" == "$(cat "$work/one.cells")" ]]; then
    ok "$label: every cell's EMC, interval, flags and counts equal the 1-slot run's"
  else
    mapfile -t want <"$work/one.cells"
    mapfile -t have <<<"$got"
    not_ok "$label: cells differ from the 1-slot run's ($CELL_COLS)" "want:" "${want[@]}" "got:" "${have[@]}"
  fi
  decided_of "$db" >"$work/${names[i]}.decided"
  if cmp -s "$work/${names[i]}.decided" "$work/one.decided" && [[ -s "$work/one.decided" ]]; then
    ok "$label: the $(wc -l <"$work/one.decided") decided trials (cell, n, seed, state, reason, epochs, steps) equal the 1-slot run's"
  else
    not_ok "$label: the decided trials differ from the 1-slot run's (< 1 slot, > this run)" \
      "$(diff "$work/one.decided" "$work/${names[i]}.decided" | head -20)"
  fi
  note "$label: $(($(recorded_of "$db") - $(wc -l <"$work/${names[i]}.decided"))) trials recorded off the path"
done
# The defaults ran: the parallel runs did speculative work, and the one
# worker with three slots trained several trials at once.
off=0
for i in 1 2; do
  off=$((off + $(recorded_of "$work/${names[i]}.db") - $(wc -l <"$work/${names[i]}.decided")))
done
overlap="$(qd "$work/slots.db" "SELECT count(*) FROM attempts a JOIN attempts b ON a.id < b.id
  AND a.started_at < b.finished_at AND b.started_at < a.finished_at")"
check "speculation ran: $off trials off the path in the parallel runs; $overlap overlapping attempts on 3 slots" \
  test "$off" -ge 1 -a "${overlap:-0}" -ge 1

# ---- sanitizers -------------------------------------------------------------------------
# Processes killed with SIGKILL report nothing, but every coordinator that
# finished and every worker stopped with SIGTERM does.
no_sanitizer_reports

echo "1..$n"
exit $((failures > 0))
