#!/usr/bin/env bash
# shellcheck disable=SC2317 # predicates run through wait_for, and the trap
# Progress survives a lost attempt, exactly: one long trial is run twice
# with real emc-coordinator and emc-worker processes, each on its own fresh
# database:
#
#   a. undisturbed, with checkpoints off (--checkpoint-seconds 0), so that
#      the reference owes nothing to the checkpoint machinery;
#   b. interrupted five times: four times its worker is SIGKILLed (and a
#      fresh one started), once the coordinator is SIGKILLed and restarted
#      with a grace period too short for the worker to reclaim its attempt
#      — each time only after the coordinator kept a checkpoint newer than
#      the last interruption's, so that every retry resumes further on.
#
# Then the trial's outcome, stop reason, epochs, steps, loss, accuracy,
# gradient norm and sample_grads must be identical (the doubles compared
# as SQLite's exact quote() text), every retry must have resumed from a
# checkpoint (the worker says so; it trains from the start only if the
# engine refused one, which it would log), the five lost attempts, which
# all made progress, must not have counted against --max-lost (default
# 5: a sixth counted loss would not fail it, so the log line is checked),
# and the checkpoint must be gone once the trial ended.
#
# The interrupted run has --max-lost 0: a single lost attempt counted
# against the budget would fail the trial. The five losses all made
# progress, so none may count.
#
# Then a result the store refuses is not forgotten either:
#
#   c. a short campaign runs while an SQLite trigger, added behind the
#      coordinator's back, makes every FIT / NO_FIT recording fail; the
#      coordinator does not acknowledge those results, the worker keeps
#      them and sends them again, and once the trigger is dropped they are
#      recorded: every refused attempt ends done, the campaign finishes,
#      and every done attempt is a result the worker logged sending.
#
# Pinned settings, and why: one slot on one worker (the trial under test is
# the first one the campaign makes; no other trial competes with it for the
# single core it is timed on); checkpoints every second and a short lease
# (so that five interruptions fit in a trial of a few seconds, sized by
# calibrate_steps to take about 12 s on the build under test). Everything
# else is the default. BLAS threads are 1, as the outcome depends on the
# thread count; OPENBLAS_CORETYPE is left as the environment has it.
#
# Speaks TAP (the plan comes last). EMC_RESUME_KEEP=1 keeps the logs.
#
# usage: test_resume.sh COORDINATOR WORKER EMCCTL MKIDX
set -uo pipefail

# shellcheck disable=SC2034 # EMCCTL: the fault scripts take the same arguments
COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-resume-XXXXXX)"
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap 'reap_and_clean "${EMC_RESUME_KEEP:-}"' EXIT
trap 'exit 1' INT TERM

start_coord() { # start_coord LOG DB PORT ARGS... ; sets $coord
  "$COORD" --heartbeat-ms 200 --lease-ms 1500 --db "$2" --bind "tcp://127.0.0.1:$3" --control "ipc://$2.ctl" \
    --insecure "${@:4}" 2>>"$1" &
  coord=$!
  pids+=("$coord")
}
start_worker() { # start_worker LOG PORT CHECKPOINT_SECONDS ; sets $wpid
  "$WORKER" --slots 1 --blas-threads 1 --checkpoint-seconds "$3" --connect "tcp://127.0.0.1:$2" --insecure \
    2>>"$1" &
  wpid=$!
  pids+=("$wpid")
}
# The trial under test is the campaign's first.
TRIAL=1
ROW="state, reason, epochs, steps, quote(loss), quote(accuracy), quote(grad_norm), sample_grads"
trial_done() { [[ "$(qd "$1" "SELECT state FROM trials WHERE id = $TRIAL")" =~ ^(fit|no_fit|failed)$ ]]; }
kept_epoch() { qd "$1" "SELECT coalesce((SELECT epoch FROM checkpoints WHERE trial_id = $TRIAL), -1)"; }
newer_or_done() { trial_done "$1" || (($(kept_epoch "$1") > $2)); } # newer_or_done DB EPOCH

# ---- data and spec -----------------------------------------------------------
# A NO_FIT by budget on noisy data, deterministic to the bit.
"$MKIDX" --out "$work/data" --n 1024 --classes 10 --rows 8 --cols 8 --seed 3 --noise 1.0 --gzip
spec() { # spec MAX_STEPS
  cat <<YAML
name: resume
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[32]]
  activation: relu
optimizer:
  name: adam
  lr: 0.003
  batch: 32
seeds: [0]
search:
  start: 1024
budget:
  max_epochs: 0
  max_steps: $1
  plateau_epochs: 0
YAML
}
spec 20000 >"$work/calibrate.yaml"
steps="$(calibrate_steps "$COORD" "$WORKER" "$work/calibrate.yaml" "$work" 12)"
((steps >= 20000)) || steps=20000
note "the trial gets $steps steps (about 12 s here)"
spec "$steps" >"$work/spec.yaml"

# ---- a: undisturbed -------------------------------------------------------------
db="$work/plain.db" port="$(free_port)" t0=$SECONDS
start_coord "$work/plain.log" "$db" "$port" --spec "$work/spec.yaml"
c=$coord
start_worker "$work/plain-w.log" "$port" 0
w=$wpid
wait_for 600 trial_done "$db" || not_ok "undisturbed: trial $TRIAL did not end in 600 s"
want="$(qd "$db" "SELECT $ROW FROM trials WHERE id = $TRIAL")"
stop_all "$w" "$c"
note "undisturbed: $((SECONDS - t0)) s: $want"

# ---- b: interrupted five times ---------------------------------------------------
db="$work/chaos.db" port="$(free_port)" t0=$SECONDS
start_coord "$work/chaos-0.log" "$db" "$port" --spec "$work/spec.yaml" --max-lost 0
start_worker "$work/chaos-w.log" "$port" 1
last=-1 kills=0 ckills=0
while ((kills < 5)) && ! trial_done "$db"; do
  # Wait for a checkpoint newer than the last interruption's.
  if ! wait_for 300 newer_or_done "$db" "$last"; then
    not_ok "interrupted: no newer checkpoint than epoch $last in 300 s"
    break
  fi
  trial_done "$db" && break
  last="$(kept_epoch "$db")"
  kills=$((kills + 1))
  if ((kills == 3)); then
    # The coordinator: its attempt becomes an orphan that nobody reclaims
    # within 300 ms (the worker says hello only after a silent lease), so
    # it is lost and the trial resumes from the kept checkpoint.
    kill -KILL "$coord"
    wait "$coord" 2>/dev/null
    ckills=$((ckills + 1))
    start_coord "$work/chaos-$ckills.log" "$db" "$port" --grace-ms 300 --max-lost 0
  else
    kill -KILL "$wpid"
    wait "$wpid" 2>/dev/null
    start_worker "$work/chaos-w.log" "$port" 1
  fi
  note "interruption $kills at kept epoch $last"
done
wait_for 600 trial_done "$db" || not_ok "interrupted: trial $TRIAL did not end in 600 s"
got="$(qd "$db" "SELECT $ROW FROM trials WHERE id = $TRIAL")"
stop_all "$wpid" "$coord"
note "interrupted: $((SECONDS - t0)) s: $got"

check "interrupted: five interruptions, each after a newer checkpoint (4 workers, 1 coordinator SIGKILLed)" \
  test "$kills/$ckills" = "5/1"
if [[ -n "$want" && "$got" == "$want" ]]; then
  ok "interrupted: the outcome, reason, epochs, steps, loss, accuracy, gradient norm and sample_grads equal the undisturbed trial's, bit for bit"
else
  not_ok "interrupted: the trial differs from the undisturbed one ($ROW)" "want: $want" "got:  $got"
fi
attempts="$(qd "$db" "SELECT group_concat(state || ':' || resumed_epoch || ':' || checkpoints, ' ')
  FROM (SELECT * FROM attempts WHERE trial_id = $TRIAL ORDER BY id)")"
note "attempts (state:resumed_epoch:checkpoints delivered): $attempts"
check "interrupted: 6 attempts, the first 5 lost after delivering checkpoints, each retry resumed further on" \
  test "$(qd "$db" "SELECT count(*) = 6
      AND sum(state = 'lost' AND checkpoints > 0) = 5 AND sum(state = 'done') = 1
      AND (SELECT count(*) FROM attempts a JOIN attempts b ON b.trial_id = a.trial_id AND b.number = a.number + 1
           WHERE a.trial_id = $TRIAL AND b.resumed_epoch <= a.resumed_epoch) = 0
      AND min(resumed_epoch) = 0
    FROM attempts WHERE trial_id = $TRIAL")" = 1
resumed="$(grep -c "resuming from a checkpoint" "$work/chaos-w.log")"
refused="$(grep -c "checkpoint was refused" "$work/chaos-w.log")"
check "interrupted: every retry trained on from its checkpoint ($resumed resumed, $refused refused)" \
  test "$resumed/$refused" = "5/0"
uncounted="$(cat "$work"/chaos-*.log | grep -c "had made progress: not counted")"
check "interrupted: with --max-lost 0 the trial did not fail: none of the 5 lost attempts counted ($uncounted logged so)" \
  test "$(qd "$db" "SELECT state IN ('fit', 'no_fit') FROM trials WHERE id = $TRIAL")/$uncounted" = "1/5"
check "interrupted: the trial's checkpoint is gone once it ended" \
  test "$(qd "$db" "SELECT count(*) FROM checkpoints")" = 0

# ---- c: the store refuses results for a while ---------------------------------------
db="$work/refuse.db" port="$(free_port)" wlog="$work/refuse-w.log" clog="$work/refuse.log"
sed 's/^name: resume/name: refuse/; s/^  start: 1024/  start: 16/' "$work/calibrate.yaml" >"$work/refuse.yaml"
start_coord "$clog" "$db" "$port" --spec "$work/refuse.yaml" --exit-when-done
c=$coord
start_worker "$wlog" "$port" 0
w=$wpid
running() { [[ "$(qd "$1" "SELECT count(*) FROM attempts WHERE state = 'running'")" -gt 0 ]]; }
refused() { grep -q "not stored; its worker will send it again" "$clog"; }
wait_for 120 running "$db"
sqlite3 -batch "$db" ".timeout 10000" "CREATE TRIGGER refuse BEFORE UPDATE OF state ON trials
  WHEN NEW.state IN ('fit', 'no_fit') BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
wait_for 120 refused
sleep 2 # a few more refusals, and resends refused again
sqlite3 -batch "$db" ".timeout 10000" "DROP TRIGGER refuse"
finish "$c" 300 "store refusing"
stop_all "$w"
mapfile -t unstored < <(sed -nE 's/.*result for attempt ([0-9]+) not stored.*/\1/p' "$clog" | sort -u)
note "store refusing: ${#unstored[@]} result(s) refused, then recorded from the worker's resends"
ids="$(IFS=,; echo "${unstored[*]:-0}")"
check "store refusing: every refused result was recorded once its worker sent it again (${#unstored[@]} refused)" \
  test "${#unstored[@]}" -ge 1 -a "$(qd "$db" "SELECT count(*) FROM attempts WHERE id IN ($ids) AND state = 'done'")" = "${#unstored[@]}"
check "store refusing: every fit / no_fit trial has exactly one done attempt, the campaign is done" \
  test "$(qd "$db" "SELECT (SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id
    AND a.state = 'done') != (t.state IN ('fit', 'no_fit'))) || (SELECT state FROM campaigns)")" = "0done"
check "store refusing: every done attempt is a result the worker logged sending" all_reported "$db" "$wlog"

no_sanitizer_reports

echo "1..$n"
exit $((failures > 0))
