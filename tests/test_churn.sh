#!/usr/bin/env bash
# shellcheck disable=SC2317 # predicates run through wait_for, and the trap
# Continuous churn with the settings users get: one small real campaign
# (a procedure over a pool of five replicate seeds, bisect; test_identity.sh
# covers several procedures) runs twice
# on fresh databases with real emc-coordinator and emc-worker processes:
#
#   a. undisturbed, three workers;
#   b. three workers while, every 2 to 5 s, a worker is SIGKILLed (and a
#      fresh one started) or SIGSTOPped past its lease (and continued), two
#      kills to each stop, and every 10 to 20 s the coordinator is
#      SIGKILLed and restarted on the same database, until the campaign is
#      done.
#
# Then the cell's EMC, interval, flags and counts must equal the
# undisturbed run's, no cell and no trial may have failed, and every
# trial's attempts and checkpoints must add up: one done attempt per
# finished trial and none left running; attempts numbered 1..k; an attempt
# that resumed did so from an epoch an earlier attempt of its trial had
# reached in a checkpoint; no checkpoint left once its trial ended; and
# every done attempt is a result a worker logged sending.
#
# Defaults, and the one scaling: --max-lost (5), --max-probes (16),
# speculation, slots (the number of cores) and --checkpoint-seconds (5) are
# the defaults — they are what the invariant is about. The time-outs are
# the defaults scaled by 1/5 (heartbeat 200 ms, lease 2 s, grace 8 s), so
# that a SIGSTOP past the lease and the coordinator's restarts fit in a
# test of minutes. Trials are sized by calibrate_steps, so that a long
# NO_FIT takes about 2 s alone on the build under test (several times that
# with six slots on the machine's cores), and faults hit them mid-way.
#
# Speaks TAP (the plan comes last). EMC_CHURN_SEED replays the random
# choices (the seed is printed first); EMC_CHURN_KEEP=1 keeps the logs.
#
# usage: test_churn.sh COORDINATOR WORKER EMCCTL MKIDX
set -uo pipefail

# shellcheck disable=SC2034 # EMCCTL: the fault scripts take the same arguments
COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-churn-XXXXXX)"
seed="${EMC_CHURN_SEED:-$$}"
RANDOM=$seed
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap 'reap_and_clean "${EMC_CHURN_KEEP:-}"' EXIT
trap 'exit 1' INT TERM

COPTS=(--exit-when-done --heartbeat-ms 200 --lease-ms 2000 --grace-ms 8000)
LEASE_MS=2000
start_coord() { # start_coord LOG DB PORT ARGS... ; sets $coord
  "$COORD" "${COPTS[@]}" --db "$2" --bind "tcp://127.0.0.1:$3" --control "ipc://$2.ctl" --insecure "${@:4}" 2>>"$1" &
  coord=$!
  pids+=("$coord")
}
start_worker() { # start_worker LOG PORT ; sets $wpid
  "$WORKER" --blas-threads 1 --connect "tcp://127.0.0.1:$2" --insecure 2>>"$1" &
  wpid=$!
  pids+=("$wpid")
}

CELL_COLS="idx, emc, hi, full, emc_low, emc_high, seeds_used, lo_fits, lo_total, hi_fits, hi_total, hi_plateau,"
CELL_COLS+=" hi_gradnorm, hi_budget, unconverged, plateau_decided, nonmonotone, uncertain, trials_consumed, state"
cells_of() { qd "$1" "SELECT $CELL_COLS FROM cells ORDER BY idx"; }

echo "# seed $seed"

# ---- data, spec, trial length ----------------------------------------------------
"$MKIDX" --out "$work/data" --n 500 --classes 4 --rows 6 --cols 6 --seed 7 --noise 0.8 --gzip
spec() { # spec NAME MAX_STEPS START
  cat <<YAML
name: $1
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[8]]
  activation: relu
optimizer:
  name: adam
  lr: 0.02
  batch: 16
seeds: [0, 1, 2, 3, 4]
search:
  start: $3
  precision: 0.1
budget:
  max_epochs: 0
  max_steps: $2
  plateau_epochs: 0
YAML
}
# Trials are budgeted in steps with the plateau stop off: every trial is
# deterministic, and a NO_FIT trains its whole budget.
spec calibrate 20000 256 >"$work/calibrate.yaml"
steps="$(calibrate_steps "$COORD" "$WORKER" "$work/calibrate.yaml" "$work" 2)"
((steps >= 20000)) || steps=20000
note "a NO_FIT trial gets $steps steps (about 2 s alone here)"
spec churn "$steps" 8 >"$work/spec.yaml"

# ---- a: undisturbed --------------------------------------------------------------------
db="$work/plain.db" port="$(free_port)" t0=$SECONDS
start_coord "$work/plain.log" "$db" "$port" --spec "$work/spec.yaml"
c=$coord ws=()
for _ in 1 2 3; do start_worker "$work/plain-w.log" "$port"; ws+=("$wpid"); done
finish "$c" 900 "undisturbed"
stop_all "${ws[@]}"
cells_of "$db" >"$work/plain.cells"
note "undisturbed: $((SECONDS - t0)) s, $(qd "$db" "SELECT count(*) FROM trials") trials"

# ---- b: churn --------------------------------------------------------------------------------
db="$work/churn.db" wlog="$work/churn-w.log" port="$(free_port)" t0=$SECONDS
start_coord "$work/churn-0.log" "$db" "$port" --spec "$work/spec.yaml"
live=()
for _ in 1 2 3; do start_worker "$wlog" "$port"; live+=("$wpid"); done
faults=0 kills=0 stops=0 ckills=0 stopped="" cont_at=0
next_w=$(($(now_ms) + $(rand_ms 2000 5000)))
next_c=$(($(now_ms) + $(rand_ms 10000 20000)))
deadline=$((SECONDS + 1500))
while kill -0 "$coord" 2>/dev/null && ((SECONDS < deadline)); do
  t=$(now_ms)
  if [[ -n "$stopped" ]] && ((t >= cont_at)); then
    kill -CONT "$stopped"
    stopped=""
  fi
  if ((t >= next_w)); then
    # Faults go kill, kill, stop (a stop only when no worker is stopped),
    # each on a random worker that is not stopped, so that every run has
    # both kinds whatever the seed and however long the campaign lasts.
    faults=$((faults + 1))
    pool=()
    for p in "${live[@]}"; do [[ "$p" != "$stopped" ]] && pool+=("$p"); done
    victim="${pool[RANDOM % ${#pool[@]}]}"
    if [[ -z "$stopped" ]] && ((faults % 3 == 0)); then
      # Past its lease: its attempts are lost, and it comes back to find
      # it was forgotten.
      kill -STOP "$victim"
      stopped="$victim" cont_at=$((t + LEASE_MS + $(rand_ms 500 1500)))
      stops=$((stops + 1))
    else
      kill -KILL "$victim"
      wait "$victim" 2>/dev/null
      kills=$((kills + 1))
      rest=()
      for p in "${live[@]}"; do [[ "$p" != "$victim" ]] && rest+=("$p"); done
      start_worker "$wlog" "$port"
      live=("${rest[@]}" "$wpid")
    fi
    next_w=$((t + $(rand_ms 2000 5000)))
  fi
  if ((t >= next_c)); then
    kill -KILL "$coord"
    wait "$coord" 2>/dev/null
    ckills=$((ckills + 1))
    sleep_ms "$(rand_ms 0 500)"
    start_coord "$work/churn-$ckills.log" "$db" "$port"
    next_c=$((t + $(rand_ms 10000 20000)))
  fi
  sleep 0.1
done
[[ -n "$stopped" ]] && kill -CONT "$stopped"
finish "$coord" 5 "churn"
stop_all "${live[@]}"
note "churn: $((SECONDS - t0)) s; $kills workers SIGKILLed, $stops SIGSTOPped past the lease, $ckills coordinator kills"

lost="$(qd "$db" "SELECT count(*) FROM attempts WHERE state IN ('lost', 'preempted')")"
resumed="$(qd "$db" "SELECT count(*) FROM attempts WHERE resumed_epoch > 0")"
note "churn: $lost attempts lost, $resumed resumed from a checkpoint," \
  "$(qd "$db" "SELECT coalesce(sum(checkpoints), 0) FROM attempts") checkpoints kept"
check "churn: the churn bit ($kills kills, $stops stops, $ckills coordinator kills, $lost lost attempts, $resumed resumed)" \
  test "$kills" -ge 3 -a "$stops" -ge 1 -a "$ckills" -ge 1 -a "$lost" -ge 3 -a "$resumed" -ge 1

got="$(cells_of "$db")"
if [[ -s "$work/plain.cells" && "$got" == "$(cat "$work/plain.cells")" ]]; then
  ok "churn: every cell's EMC, interval, flags and counts equal the undisturbed run's"
else
  mapfile -t want <"$work/plain.cells"
  mapfile -t have <<<"$got"
  not_ok "churn: cells differ from the undisturbed run's ($CELL_COLS)" "want:" "${want[@]}" "got:" "${have[@]}"
fi
check "churn: the campaign is done, its cell decided, no trial failed" \
  test "$(qd "$db" "SELECT (SELECT group_concat(state) FROM campaigns) || ' ' ||
    (SELECT count(*) FROM cells WHERE state = 'done') || ' ' || (SELECT count(*) FROM trials WHERE state = 'failed')")" = "done 1 0"
check "churn: no trial pending or running, no attempt running, every fit / no_fit trial with exactly one done attempt" \
  test "$(qd "$db" "SELECT (SELECT count(*) FROM trials WHERE state IN ('pending', 'running'))
    + (SELECT count(*) FROM attempts WHERE state = 'running')
    + (SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id
         AND a.state = 'done') != (t.state IN ('fit', 'no_fit')))")" = 0
check "churn: each trial's attempts are numbered 1..k" \
  test "$(qd "$db" "SELECT count(*) FROM (SELECT trial_id, count(*) k, min(number) lo, max(number) hi
    FROM attempts GROUP BY trial_id) WHERE lo != 1 OR hi != k")" = 0
check "churn: every resumed attempt follows an attempt of its trial that delivered a checkpoint" \
  test "$(qd "$db" "SELECT count(*) FROM attempts a WHERE a.resumed_epoch > 0 AND NOT EXISTS (SELECT 1 FROM attempts b
    WHERE b.trial_id = a.trial_id AND b.number < a.number AND b.checkpoints > 0)")" = 0
check "churn: no checkpoint left behind a finished trial" test "$(qd "$db" "SELECT count(*) FROM checkpoints")" = 0
check "churn: every done attempt is a result a worker logged sending" all_reported "$db" "$wlog"

no_sanitizer_reports

echo "1..$n"
exit $((failures > 0))
