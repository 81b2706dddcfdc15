#!/usr/bin/env bash
# End to end: a real emc-coordinator and two real emc-worker processes over
# loopback TCP train a small generated IDX dataset; then the finished
# database is checked, and emcctl's resume, status, results and refusal of
# bad specs are exercised. Speaks TAP.
#
# usage: test_integration.sh COORDINATOR WORKER EMCCTL MKIDX
set -euo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-integration-XXXXXX)"
pids=()
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

q() { sqlite3 -batch -noheader "$work/emc.db" "$1"; }


# ---- data and spec -----------------------------------------------------------
"$MKIDX" --out "$work/data" --n 500 --classes 4 --rows 6 --cols 6 --seed 7 --noise 0.8 --gzip
cat >"$work/spec.yaml" <<'YAML'
name: integration
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[2], [6]]
  activation: relu
optimizer:
  name: adam
  lr: 0.02
  batch: 32
seeds: [0, 1]
search:
  start: 8
  precision: 0.1
budget:
  max_epochs: 2000
  plateau_epochs: 100
YAML

echo "1..49"

# ---- keys: the coordinator, two allowed workers and a stranger -----------------
mkdir -p "$work/keys/workers"
"$EMCCTL" keygen "$work/keys" coordinator >/dev/null
for w in w1 w2 stranger; do
  mkdir -p "$work/$w"
  "$EMCCTL" keygen "$work/$w" worker >/dev/null
  cp "$work/keys/coordinator.pub" "$work/$w/"
done
cp "$work/w1/worker.pub" "$work/keys/workers/w1.pub"
cp "$work/w2/worker.pub" "$work/keys/workers/w2.pub"

# ---- a campaign with a real coordinator and two workers over CURVE ---------------
port="$(free_port)"
"$COORD" --db "$work/emc.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/ctl" --keys "$work/keys" \
  --spec "$work/spec.yaml" --exit-when-done --heartbeat-ms 200 --lease-ms 5000 2>"$work/coord.log" &
coord=$!
pids+=("$coord")
# The strangers come first, and are refused (and logged) before any
# allowed worker starts the campaign, so the log is there whatever the timing.
# One knows the coordinator's public key, but its own is not allow-listed.
"$WORKER" --connect "tcp://127.0.0.1:$port" --keys "$work/stranger" --slots 1 --quiet 2>/dev/null &
stranger=$!
pids+=("$stranger")
# One does not speak CURVE at all.
"$WORKER" --connect "tcp://127.0.0.1:$port" --insecure --slots 1 --quiet 2>/dev/null &
plaintext=$!
pids+=("$plaintext")
both_refused() { grep -q 'refused a worker' "$work/coord.log" && grep -q 'refused a peer on' "$work/coord.log"; }
wait_for 60 both_refused || true

# ---- one coordinator per database and per control endpoint -----------------------
# Each intruder runs under `timeout`: one that was not refused would serve
# (and take over) until killed, and exit 124 instead of 1.
intruder() { # intruder DB CONTROL LOG: a second coordinator, its exit status on stdout
  local rc=0
  timeout 10 "$COORD" --db "$1" --bind "tcp://127.0.0.1:$(free_port)" --control "$2" --insecure 2>"$3" || rc=$?
  echo "$rc"
}
rc="$(intruder "$work/emc.db" "ipc://$work/ctl2" "$work/intruder-db.log")"
check "a second coordinator on the same database exits 1, naming the holder's pid" \
  bash -c "[[ $rc == 1 ]] && grep -q 'in use by another coordinator (pid $coord,' '$work/intruder-db.log'"
rc="$(intruder "$work/other.db" "ipc://$work/ctl" "$work/intruder-ctl.log")"
check "a second coordinator on a live control endpoint exits 1 and creates no database" \
  bash -c "[[ $rc == 1 ]] && grep -q 'served by a running process' '$work/intruder-ctl.log' && [[ ! -e '$work/other.db' ]]"
check "the first coordinator still answers on its control endpoint" "$EMCCTL" workers --coordinator "ipc://$work/ctl"

# ---- control commands do not hang on a missing or silent coordinator -----------------
# Under `timeout`: the former fixed wait of 60 s would exit 124.
out="$(timeout 9 "$EMCCTL" pause integration --coordinator "ipc://$work/nobody" 2>&1)" && rc=0 || rc=$?
out2="$(timeout 5 "$EMCCTL" workers --coordinator "tcp://127.0.0.1:$(free_port)" --timeout 0.5 2>&1)" && rc2=0 || rc2=$?
if [[ $rc == 1 && "$out" == *"within 5 s"* && $rc2 == 1 && "$out2" == *"within 0.5 s"* ]]; then
  ok "control commands give up on a missing endpoint after 5 s by default, and after --timeout"
else
  not_ok "control commands on a missing or silent endpoint" "exit $rc: $out" "exit $rc2: $out2"
fi
for w in w1 w2; do
  "$WORKER" --connect "tcp://127.0.0.1:$port" --keys "$work/$w" --slots 1 2>>"$work/workers.log" &
  pids+=("$!")
done

deadline=$((SECONDS + 600))
while kill -0 "$coord" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
if kill -0 "$coord" 2>/dev/null; then
  not_ok "coordinator finishes the campaign within 600 s"
  kill -TERM "$coord"
else
  rc=0; wait "$coord" || rc=$?
  if [[ $rc -eq 0 ]]; then ok "coordinator finishes the campaign and exits 0"; else not_ok "coordinator exit status $rc"; fi
fi
for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
pids=()

check "the campaign is done" test "$(q "SELECT state FROM campaigns WHERE name='integration'")" = "done"
check "two cells (procedures), every one done" test "$(q "SELECT count(*) FROM cells WHERE state='done'")" = 2
check "no trial left pending or running" test "$(q "SELECT count(*) FROM trials WHERE state IN ('pending','running')")" = 0
check "every trial ran its pool's seed: seed = seeds[seed_index] for the pool [0, 1]" test "$(q "SELECT count(*) FROM trials WHERE seed IS NOT seed_index OR seed_index NOT IN (0, 1)")" = 0
check "every FIT / NO_FIT trial has exactly one done attempt, and no trial more than one" \
  test "$(q "SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'done') != (t.state IN ('fit', 'no_fit'))")" = 0
check "every done attempt is a result a worker logged sending: the same attempt, n, outcome and epochs" \
  all_reported "$work/emc.db" "$work/workers.log"
check "lo of every cell has a FIT trial (or lo = 0)" \
  test "$(q "SELECT count(*) FROM cells c WHERE c.lo > 0 AND NOT EXISTS (SELECT 1 FROM trials t WHERE t.cell_id = c.id AND t.n = c.lo AND t.state = 'fit')")" = 0
check "hi of every cell has a NO_FIT trial (or the whole set fit)" \
  test "$(q "SELECT count(*) FROM cells c WHERE c.full = 0 AND NOT EXISTS (SELECT 1 FROM trials t WHERE t.cell_id = c.id AND t.n = c.hi AND t.state = 'no_fit')")" = 0
check "the precision is met: hi - lo <= max(1, 0.1 lo)" \
  test "$(q "SELECT count(*) FROM cells WHERE full = 0 AND hi - lo > max(1, 0.1 * lo)")" = 0
# (Under a sanitizer on two cores one allowed worker may start too late to
# get a trial of this small campaign; the fault tests load both.)
check "the allowed workers trained every trial" \
  test "$(q "SELECT count(*) FROM trials t WHERE t.state IN ('fit', 'no_fit') AND NOT EXISTS (SELECT 1 FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.trial_id = t.id AND a.state = 'done' AND w.host NOT LIKE '%:$stranger' AND w.host NOT LIKE '%:$plaintext')")" = 0
check "a stranger with a key not in the allow-list and a plain-text client got no work, and both were logged" \
  bash -c "test \"\$(sqlite3 '$work/emc.db' \"SELECT count(*) FROM workers WHERE host LIKE '%:$stranger' OR host LIKE '%:$plaintext'\")\" = 0 && grep -q 'refused a worker' '$work/coord.log' && grep -q 'refused a peer on' '$work/coord.log'"
check "the wider network has the larger mean EMC" \
  test "$(q "SELECT (SELECT avg(lo) FROM cells WHERE model='mlp[6]') > (SELECT avg(lo) FROM cells WHERE model='mlp[2]')")" = 1

# ---- emcctl on the finished database ----------------------------------------------
trials_before="$(q "SELECT count(*) FROM trials")"
out="$("$EMCCTL" run "$work/spec.yaml" --workers 1 --db "$work/emc.db" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 0 && "$(q "SELECT count(*) FROM trials")" = "$trials_before" ]]; then
  ok "emcctl run on the finished database resumes and re-runs nothing"
else
  not_ok "emcctl run resume (exit $rc)" "$out"
fi
check "emcctl results prints EMC rows" bash -c "'$EMCCTL' results --db '$work/emc.db' | grep -q 'mlp\[6\]'"
json="$("$EMCCTL" results --db "$work/emc.db" --format json)"
check "emcctl results --format json is valid JSON with two rows" \
  test "$(sqlite3 :memory: "SELECT json_valid('$json') AND json_array_length('$json') = 2")" = 1
check "emcctl status shows both cells done" bash -c "'$EMCCTL' status --db '$work/emc.db' | grep -cE '^ +[0-9]+ .* done +\\[' | grep -qx 2"

# ---- a crashed coordinator: resume loses nothing and re-runs nothing ---------------------
cp "$work/spec.yaml" "$work/resume.yaml" # the same campaign in another database
rq() { sqlite3 -batch -noheader "$work/resume.db" "$1" 2>/dev/null || true; }
finished() { local v; v="$(rq "SELECT count(*) FROM trials WHERE state IN ('fit','no_fit')")"; echo "${v:-0}"; }
# --verbose: the workers log what they report.
"$EMCCTL" run "$work/resume.yaml" --workers 2 --db "$work/resume.db" --verbose >"$work/resume1.log" 2>&1 &
runner=$!
deadline=$((SECONDS + 120))
while (( $(finished) < 6 )) && ((SECONDS < deadline)); do
  sleep 0.02
done
pkill -KILL -f "emc-coordinator --db $work/resume.db" || true
rc=0; wait "$runner" || rc=$?
rq "SELECT id, cell_id, n, state, reason, epochs, loss FROM trials WHERE state IN ('fit','no_fit')" | sort >"$work/before.txt"
cells_left="$(rq "SELECT count(*) FROM cells WHERE state = 'searching'")"
if [[ $rc -ne 0 && "${cells_left:-0}" -gt 0 && -s "$work/before.txt" ]]; then
  ok "emcctl run reports a coordinator killed mid-campaign ($(wc -l <"$work/before.txt") trials recorded, $cells_left cells unfinished)"
else
  not_ok "coordinator killed mid-campaign (emcctl exit $rc, $cells_left cells unfinished)" "$(tail -20 "$work/resume1.log")"
fi
"$EMCCTL" run "$work/resume.yaml" --workers 2 --db "$work/resume.db" --verbose >"$work/resume2.log" 2>&1 && rc=0 || rc=$?
out="$(tail -20 "$work/resume2.log")"
if [[ $rc -eq 0 && "$(rq "SELECT count(*) FROM cells WHERE state = 'done'")" = 2 ]]; then
  ok "the same command resumes the campaign to the end"
else
  not_ok "resume after the crash (exit $rc)" "$out"
fi
rq "SELECT id, cell_id, n, state, reason, epochs, loss FROM trials WHERE state IN ('fit','no_fit')" | sort >"$work/after.txt"
check "every trial finished before the crash is unchanged afterwards" \
  test -z "$(comm -23 "$work/before.txt" "$work/after.txt")"
check "across the crash: every FIT / NO_FIT trial has exactly one done attempt, every other none; none left behind" \
  test "$(rq "SELECT (SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'done') != (t.state IN ('fit', 'no_fit'))) + (SELECT count(*) FROM trials WHERE state IN ('pending','running')) + (SELECT count(*) FROM attempts WHERE state = 'running')")" = 0
check "across the crash: every done attempt is a result a worker of either run logged sending" \
  all_reported "$work/resume.db" "$work/resume1.log" "$work/resume2.log"
check "the resumed campaign's EMCs equal the undisturbed run's" \
  test "$(rq "ATTACH '$work/emc.db' AS u; SELECT count(*) FROM cells c JOIN u.cells d ON d.model = c.model WHERE d.lo = c.lo AND d.hi = c.hi")" = 2

# ---- bad specs leave the database untouched ------------------------------------------
sum_before="$(sha256sum "$work/emc.db" | cut -d' ' -f1)"
sed 's/lr: 0.02/lr: fast/' "$work/spec.yaml" >"$work/bad.yaml"
out="$("$EMCCTL" run "$work/bad.yaml" --db "$work/emc.db" 2>&1)" && rc=0 || rc=$?
sed 's/^  batch: 32/  batch: 32\n  learning_rate: 0.1/' "$work/spec.yaml" >"$work/unknown.yaml"
out3="$("$EMCCTL" run "$work/unknown.yaml" --db "$work/emc.db" 2>&1)" && rc3=0 || rc3=$?
sed 's#images: data/images.idx.gz#images: data/missing.idx.gz#' "$work/spec.yaml" >"$work/missing.yaml"
out2="$("$EMCCTL" run "$work/missing.yaml" --db "$work/emc.db" 2>&1)" && rc2=0 || rc2=$?
sum_after="$(sha256sum "$work/emc.db" | cut -d' ' -f1)"
if [[ $rc -ne 0 && "$out" == *"optimizer.lr"* && "$out" == *":12"* && $rc2 -ne 0 && "$out2" == *"missing.idx.gz"* &&
      $rc3 -ne 0 && "$out3" == *"optimizer.learning_rate"* && "$out3" == *":14"* && "$sum_before" = "$sum_after" ]]; then
  ok "a wrong type, an unknown key and a missing dataset file are refused by key, line and file; the database is unchanged"
else
  not_ok "bad specs refused cleanly" "exit $rc: $out" "exit $rc2: $out2" "exit $rc3: $out3" "db $sum_before -> $sum_after"
fi

# ---- a cell that fails: run says which, exits 1, and leaves no temporary directory --------
# The second model has 10^10 parameters: its lower bound (149 GiB) passes the
# launch check of a coordinator no worker has told its memory yet, but every
# attempt fails on the worker ("model too large"), so its cell fails while
# the first one is measured.
sed -e 's/widths: \[\[2\], \[6\]\]/widths: [[2], [1000000, 10000]]/' -e 's/^name: integration/name: failing/' \
  "$work/spec.yaml" >"$work/failing.yaml"
mkdir "$work/tmp"
out="$(TMPDIR="$work/tmp" "$EMCCTL" run "$work/failing.yaml" --workers 1 --db "$work/failing.db" 2>&1)" && rc=0 || rc=$?
failed_named() {
  [[ $rc == 1 ]] && grep -qF 'cell 1 (mlp[1000000,10000]) failed' <<<"$out" &&
    [[ "$(sqlite3 "$work/failing.db" "SELECT group_concat(state) FROM (SELECT state FROM cells ORDER BY idx)")" == done,failed ]]
}
if failed_named; then ok "emcctl run exits 1 and names the failed cell when one failed; the other cell is done"
else not_ok "emcctl run with a failing cell (exit $rc)" "$out"; fi
check "emcctl run removes its temporary directory" test -z "$(ls -A "$work/tmp")"

# ---- emcctl launch against a coordinator that keeps running ----------------------------
port="$(free_port)"
"$COORD" --db "$work/served.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/served.ctl" \
  --insecure --heartbeat-ms 200 --lease-ms 5000 --quiet &
coord=$!
pids+=("$coord")
"$WORKER" --connect "tcp://127.0.0.1:$port" --insecure --slots 2 --quiet &
pids+=("$!")
out="$("$EMCCTL" launch "$work/spec.yaml" --coordinator "ipc://$work/served.ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 0 && "$out" == *submitted* ]]; then ok "emcctl launch submits a campaign"; else not_ok "emcctl launch (exit $rc)" "$out"; fi
deadline=$((SECONDS + 300))
while [[ "$(sqlite3 "$work/served.db" "SELECT state FROM campaigns" 2>/dev/null)" != "done" ]] && ((SECONDS < deadline)); do sleep 0.2; done
check "the launched campaign finishes on the served coordinator" \
  test "$(sqlite3 "$work/served.db" "SELECT state FROM campaigns WHERE name='integration'")" = "done"
check "it reaches the same EMC as the embedded run" \
  test "$(sqlite3 "$work/served.db" "SELECT group_concat(lo || '/' || hi, ' ') FROM (SELECT lo, hi FROM cells ORDER BY idx)")" = \
       "$(q "SELECT group_concat(lo || '/' || hi, ' ') FROM (SELECT lo, hi FROM cells ORDER BY idx)")"
sed 's/precision: 0.1/precision: 0.2/' "$work/spec.yaml" >"$work/changed.yaml"
out="$("$EMCCTL" launch "$work/changed.yaml" --coordinator "ipc://$work/served.ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -ne 0 && "$out" == *"already exists"* ]]; then
  ok "the coordinator refuses the same campaign name with a different spec"
else
  not_ok "changed spec refused (exit $rc)" "$out"
fi
# ---- control: workers, pause, resume, cancel -----------------------------------------
ctl="ipc://$work/served.ctl"
check "emcctl workers lists the connected worker with its slots" \
  bash -c "'$EMCCTL' workers --coordinator '$ctl' | grep -Eq '^ +[0-9]+ +[^ ]+ +2 '"
check "emcctl workers --format json parses: one worker, its slots" \
  bash -c "'$EMCCTL' workers --coordinator '$ctl' --format json | python3 -c 'import json, sys; w = json.load(sys.stdin); sys.exit(not (len(w) == 1 and w[0][\"slots\"] == 2 and w[0][\"busy\"] <= 2))'"
out="$("$EMCCTL" workers --coordinator "$ctl" --format csv 2>&1)" || true
check "emcctl workers --format csv: the header, then one row per worker" \
  test "$(head -1 <<<"$out")/$(wc -l <<<"$out")/$(tail -1 <<<"$out" | cut -d, -f3)" = \
       "worker,host,slots,busy,last_heartbeat_s,trials_done,blas_core/2/2"
sq() { sqlite3 -batch -noheader "$work/served.db" "$1" 2>/dev/null || true; }
of_campaign() { # of_campaign NAME: the join that restricts trials (t) to campaign NAME
  echo "trials t JOIN cells c ON c.id = t.cell_id JOIN campaigns p ON p.id = c.campaign_id WHERE p.name = '$1'"
}
# Pause, on a campaign of many short trials: random labels from n = 256 on,
# 2 000 epochs of at most 500 samples, so no trial takes more than about
# 0.4 s and, unpaused, the worker's two slots would start attempts all
# through the 3 s watched below.
sed 's/^name: integration/name: pausing/; s/^seeds: \[0, 1\]/seeds: [0, 1, 2, 3, 4, 5, 6, 7]/; s/plateau_epochs: 100/plateau_epochs: 0/; s/  start: 8/  start: 256/' \
  "$work/spec.yaml" >"$work/pausing.yaml"
printf 'variant:\n  labels: random\n' >>"$work/pausing.yaml"
"$EMCCTL" launch "$work/pausing.yaml" --coordinator "$ctl" >/dev/null
out="$("$EMCCTL" pause pausing --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 0 && "$(sq "SELECT state FROM campaigns WHERE name='pausing'")" = paused ]]; then
  ok "emcctl pause marks the campaign paused"
else
  not_ok "pause (exit $rc)" "$out"
fi
# Paused: what runs finishes, nothing new starts. Watched once the attempts
# under way have ended, for far longer than any trial takes, and only while
# the campaign still has work (cells searching) that a running campaign
# would hand to the idle slots.
p_attempts() { sq "SELECT count(*) FROM attempts a JOIN $(of_campaign pausing) AND t.id = a.trial_id"; }
p_idle() { test "$(sq "SELECT count(*) FROM attempts a JOIN $(of_campaign pausing) AND t.id = a.trial_id AND a.state = 'running'")" = 0; }
wait_for 30 p_idle && idle=1 || idle=0
started_before="$(p_attempts)"
sleep 3
started_after="$(p_attempts)"
searching="$(sq "SELECT count(*) FROM cells c JOIN campaigns p ON p.id = c.campaign_id WHERE p.name = 'pausing' AND c.state = 'searching'")"
if ((idle)) && [[ "$started_before" = "$started_after" && "${searching:-0}" -gt 0 ]]; then
  ok "no attempt starts while the campaign is paused ($started_before attempts, $searching cells still searching)"
else
  not_ok "paused: attempts ran on or started" "idle within 30 s: $idle; attempts $started_before -> $started_after; cells searching: $searching"
fi
out="$("$EMCCTL" resume pausing --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
resumed_started() { (($(p_attempts) > started_after)); }
if [[ $rc -eq 0 ]] && wait_for 30 resumed_started; then ok "emcctl resume starts trials again"
else not_ok "resume (exit $rc)" "$out"; fi
"$EMCCTL" cancel pausing --coordinator "$ctl" >/dev/null || not_ok "emcctl cancel pausing"
# A campaign slow enough to act on: many seeds, a long budget.
# Random labels from n = 256 on: no trial fits, every one trains long.
sed 's/^name: integration/name: control/; s/^seeds: \[0, 1\]/seeds: [0, 1, 2, 3, 4, 5, 6, 7]/; s/max_epochs: 2000/max_epochs: 30000/; s/plateau_epochs: 100/plateau_epochs: 0/; s/  start: 8/  start: 256/' \
  "$work/spec.yaml" >"$work/control.yaml"
printf 'variant:\n  labels: random\n' >>"$work/control.yaml"
"$EMCCTL" launch "$work/control.yaml" --coordinator "$ctl" >/dev/null
running_or_pending() { test "$(sq "SELECT count(*) FROM $(of_campaign control) AND t.state IN ('running', 'pending')")" "$1" 0; }
# SIGTERM drains a worker: a trial that cannot finish in --drain-seconds is
# reported PREEMPTED and runs again elsewhere.
"$WORKER" --connect "tcp://127.0.0.1:$port" --insecure --slots 1 --drain-seconds 1 2>"$work/drainer.log" &
drainer=$!
pids+=("$drainer")
drainer_busy() { test "$(sq "SELECT count(*) FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE w.host LIKE '%:$drainer' AND a.state = 'running'")" -gt 0; }
if wait_for 60 drainer_busy; then
  t0=$SECONDS
  kill -TERM "$drainer"
  rc=0; wait "$drainer" || rc=$?
  preempted="$(sq "SELECT a.trial_id FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE w.host LIKE '%:$drainer' AND a.state = 'preempted' LIMIT 1")"
  # Back in the queue (the other worker's slots are busy with long trials).
  requeued() { test "$(sq "SELECT state FROM trials WHERE id = ${preempted:-0}")" = pending -o \
    "$(sq "SELECT count(*) FROM attempts WHERE trial_id = ${preempted:-0} AND state != 'preempted'")" -gt 0; }
  elapsed=$((SECONDS - t0))
  if [[ $rc -eq 0 && $elapsed -le 10 && -n "$preempted" ]] && requeued; then
    ok "SIGTERM drains a worker: its unfinished trial is reported PREEMPTED and queued again"
  else
    not_ok "drain (exit $rc after ${elapsed} s, preempted trial '${preempted}')" "$(tail -5 "$work/drainer.log")"
  fi
else
  not_ok "the draining worker got a trial"
fi
out="$("$EMCCTL" cancel control --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 0 ]] && wait_for 30 running_or_pending = &&
   [[ "$(sq "SELECT state FROM campaigns WHERE name='control'")" = cancelled ]]; then
  ok "emcctl cancel ends the campaign: cancelled, nothing left pending or running"
else
  not_ok "cancel (exit $rc)" "$out" "$(sq "SELECT state, count(*) FROM trials GROUP BY state")"
fi
out="$("$EMCCTL" pause no-such-campaign --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -ne 0 && "$out" == *no-such-campaign* ]]; then ok "control of an unknown campaign is refused by name"
else not_ok "unknown campaign (exit $rc)" "$out"; fi

# ---- lifecycle: cancelled cells, reopen, memory, spec identity ----------------------------
cells_of() { sq "SELECT count(*) FROM cells c JOIN campaigns p ON p.id = c.campaign_id WHERE p.name = '$1' AND c.state = '$2'"; }
if [[ "$(cells_of control searching)" = 0 && "$(cells_of control cancelled)" -gt 0 ]]; then
  ok "a cancelled campaign's undecided cells are cancelled in the database, none left searching"
else
  not_ok "cells of the cancelled campaign" "$(sq "SELECT c.state, count(*) FROM cells c JOIN campaigns p ON p.id = c.campaign_id WHERE p.name = 'control' GROUP BY c.state")"
fi
# Cancel a campaign, be refused at launch (naming reopen), reopen it: it
# finishes with the EMCs of the undisturbed run.
sed 's/^name: integration/name: reopened/' "$work/spec.yaml" >"$work/reopened.yaml"
"$EMCCTL" launch "$work/reopened.yaml" --coordinator "$ctl" >/dev/null
"$EMCCTL" cancel reopened --coordinator "$ctl" >/dev/null || true
out="$("$EMCCTL" launch "$work/reopened.yaml" --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
reopen() { "$EMCCTL" reopen reopened --coordinator "$ctl" >"$work/reopen.out" 2>&1; }
reopened_done() { test "$(sq "SELECT state FROM campaigns WHERE name = 'reopened'")" = "done"; }
emcs_of() { sq "SELECT group_concat(c.lo || '/' || c.hi, ' ') FROM (SELECT lo, hi FROM cells c JOIN campaigns p ON p.id = c.campaign_id WHERE p.name = '$1' ORDER BY c.idx) c"; }
if [[ $rc -ne 0 && "$out" == *"emcctl reopen reopened"* ]] && wait_for 30 reopen && wait_for 300 reopened_done &&
   [[ "$(emcs_of reopened)" = "$(emcs_of integration)" ]]; then
  ok "emcctl reopen goes on with a cancelled campaign, which finishes with the undisturbed run's EMCs"
else
  not_ok "reopen (launch exit $rc)" "$out" "$(cat "$work/reopen.out")" "$(emcs_of reopened) vs $(emcs_of integration)"
fi
# The 10^12-parameter MLP: refused at launch against the memory the worker
# announced, nothing written.
sed 's/^name: integration/name: huge/; s/widths: \[\[2\], \[6\]\]/widths: [1000000, 1000000]/' "$work/spec.yaml" >"$work/huge.yaml"
out="$("$EMCCTL" launch "$work/huge.yaml" --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -ne 0 && "$out" == *"cell 0 (mlp[1000000,1000000]): needs at least"* && "$out" == *"the largest worker announces"* &&
      "$(sq "SELECT count(*) FROM campaigns WHERE name = 'huge'")" = 0 ]]; then
  ok "a model too large for any worker's announced memory is refused at launch, naming it and both sizes"
else
  not_ok "huge model (exit $rc)" "$out"
fi
# The same spec reworded (a comment, keys reordered) is the same campaign:
# already done, not "already exists".
{ echo "# the integration campaign, reworded"
  printf 'search:\n  precision: 0.1  # one in ten\n  start: 8\n'
  sed '/^search:$/,/^  precision:/d' "$work/spec.yaml"; } >"$work/reworded.yaml"
out="$("$EMCCTL" launch "$work/reworded.yaml" --coordinator "$ctl" 2>&1)" && rc=0 || rc=$?
if [[ $rc -ne 0 && "$out" == *"already done"* ]]; then ok "a reworded spec (comment, key order) is the same campaign"
else not_ok "reworded spec (exit $rc)" "$out" "$(cat "$work/reworded.yaml")"; fi
# A changed value under the name is refused before emcctl run prints or starts anything.
out="$("$EMCCTL" run "$work/changed.yaml" --workers 1 --db "$work/emc.db" 2>&1)" && rc=0 || rc=$?
if [[ $rc -eq 2 && "$(printf '%s\n' "$out" | head -1)" == *"search.precision (0.1, now 0.2) differs"* &&
      "$out" != *"cell(s) on"* ]]; then
  ok "emcctl run refuses a changed spec under the same name first, naming the key"
else
  not_ok "emcctl run with a changed spec (exit $rc)" "$out"
fi

kill -TERM "$coord"
rc=0; wait "$coord" || rc=$?
if [[ $rc -eq 0 ]]; then ok "the coordinator shuts down cleanly on SIGTERM"; else not_ok "coordinator exit $rc on SIGTERM"; fi
for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
pids=()

exit $((failures > 0))
