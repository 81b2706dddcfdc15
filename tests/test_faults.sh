#!/usr/bin/env bash
# Fault injection, end to end: real emc-coordinator and emc-worker processes,
# real signals, real SQLite files. Every scenario runs the same small
# campaign and must end with the EMCs of an undisturbed run:
#
#   1. workers under fire: workers are SIGKILLed and replaced while they
#      train, and one is SIGSTOPped for longer than its lease, then resumed;
#   2. coordinator crashes: the coordinator is SIGKILLed several times and
#      restarted on the same database; the workers reconnect by themselves;
#   3. partition: a worker in its own network namespace, behind a veth pair,
#      loses its link for longer than its lease (skipped without netns);
#   4. strangers and garbage: CURVE refuses unknown keys and plain text;
#      garbage, truncated, oversized, multipart and forged messages neither
#      crash the coordinator nor reach the database.
#
# Speaks TAP (the plan comes last). Set EMC_FAULT_SEED to replay the random
# choices of a run (its seed is printed first), EMC_FAULT_KEEP=1 to keep the
# logs and databases.
#
# usage: test_faults.sh COORDINATOR WORKER EMCCTL MKIDX
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
ZSEND="$(dirname "$MKIDX")/zsend"
work="$(mktemp -d /tmp/emc-faults-XXXXXX)"
seed="${EMC_FAULT_SEED:-$$}"
RANDOM=$seed
pids=()
netns="" veth=""
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n "$veth" ]]; then ip link del "$veth" 2>/dev/null; fi
  if [[ -n "$netns" ]]; then ip netns del "$netns" 2>/dev/null; fi
  if [[ -n "${EMC_FAULT_KEEP:-}" ]]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

same() { # same DESCRIPTION GOT WANT
  if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}
# Common coordinator options of every campaign run here.
COPTS=(--exit-when-done --heartbeat-ms 200 --lease-ms 2000)

start_coord() { # start_coord LOG ARGS... ; sets $coord
  : >>"$1"
  "$COORD" "${COPTS[@]}" "${@:2}" 2>>"$1" &
  coord=$!
  pids+=("$coord")
}
start_worker() { # start_worker LOG ARGS... ; sets $wpid
  "$WORKER" --slots 1 "${@:2}" 2>>"$1" &
  wpid=$!
  pids+=("$wpid")
}

# The pids of workers training something now, from the database (host:pid).
busy_pids() {
  qd "$1" "SELECT w.host FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.state = 'running'" |
    sed 's/.*://'
}

cells_of() { qd "$1" "SELECT group_concat(idx || ':' || lo || '/' || hi || ':' || state, ' ') FROM (SELECT * FROM cells ORDER BY idx)"; }
finished_rows() { qd "$1" "SELECT id, cell_id, n, state, reason, epochs, steps, loss, accuracy FROM trials WHERE state IN ('fit', 'no_fit') ORDER BY id"; }

# The invariants every finished campaign must meet.
campaign_checks() { # campaign_checks DB LABEL WORKER_LOG...
  local db="$1" label="$2"
  same "$label: the campaign is done" "$(qd "$db" "SELECT group_concat(state) FROM campaigns")" "done"
  same "$label: no trial left pending or running, no attempt left running" \
    "$(qd "$db" "SELECT (SELECT count(*) FROM trials WHERE state IN ('pending', 'running')) + (SELECT count(*) FROM attempts WHERE state = 'running')")" 0
  same "$label: every trial ran its pool's seed (seed = seeds[seed_index], pool [0, 1] or [0])" \
    "$(qd "$db" "SELECT count(*) FROM trials WHERE seed IS NOT seed_index OR seed_index NOT IN (0, 1)")" 0
  same "$label: every fit / no_fit trial has exactly one done attempt, every other trial none" \
    "$(qd "$db" "SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'done') != (t.state IN ('fit', 'no_fit'))")" 0
  # Against the workers' own account: a done attempt is a result one of
  # them finished and sent, with the same n, outcome and epochs.
  check "$label: every done attempt is a result a worker logged sending" all_reported "$db" "${@:3}"
  same "$label: every cell's (lo, hi) equals the undisturbed run's" "$(cells_of "$db")" "$ref_cells"
}

echo "# seed $seed"

# ---- data and spec -----------------------------------------------------------
# Trials are budgeted in optimizer steps with the plateau stop off, so a
# NO_FIT trial trains long enough (about a second) to be hit by a fault,
# and every trial is deterministic.
"$MKIDX" --out "$work/data" --n 500 --classes 4 --rows 6 --cols 6 --seed 7 --noise 0.8 --gzip
cat >"$work/spec.yaml" <<'YAML'
name: faults
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
  batch: 16
seeds: [0, 1]
search:
  start: 8
  precision: 0.1
budget:
  max_epochs: 0
  max_steps: 200000
  plateau_epochs: 0
YAML
# One long NO_FIT trial (n = 256 for the narrowest model, a large step
# budget) for the reclaim check.
sed -e 's/^name: faults/name: reclaim/' -e 's/widths: \[\[2\], \[6\]\]/widths: [[2]]/' \
    -e 's/^seeds: \[0, 1\]/seeds: [0]/' -e 's/max_steps: 200000/max_steps: 1500000/' \
    -e 's/^  start: 8/  start: 256/' "$work/spec.yaml" >"$work/long.yaml"
# A one-cell campaign for the CURVE checks.
sed -e 's/^name: faults/name: strangers/' -e 's/widths: \[\[2\], \[6\]\]/widths: [[2]]/' \
    -e 's/^seeds: \[0, 1\]/seeds: [0]/' -e 's/max_steps: 200000/max_steps: 20000/' "$work/spec.yaml" >"$work/small.yaml"

# ---- 0. the undisturbed run ------------------------------------------------------
port="$(free_port)"
t0=$SECONDS
start_coord "$work/ref.log" --db "$work/ref.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/ref.ctl" \
  --insecure --spec "$work/spec.yaml"
ref_coord=$coord
ws=()
for i in 1 2 3 4; do start_worker "$work/ref-w.log" --connect "tcp://127.0.0.1:$port" --insecure --quiet; ws+=("$wpid"); done
finish "$ref_coord" 600 "undisturbed run"
stop_all "${ws[@]}"
ref_cells="$(cells_of "$work/ref.db")"
note "undisturbed run: $((SECONDS - t0)) s, cells $ref_cells"
same "undisturbed run: two cells (procedures over the pool [0, 1]), every one done" \
  "$(qd "$work/ref.db" "SELECT count(*) FROM cells WHERE state = 'done'")" 2

# ---- 1. workers under fire ----------------------------------------------------------
# Four workers; every 0.8-1.5 s a busy worker is SIGKILLed and replaced; once, a
# busy worker is SIGSTOPped for longer than its lease and then resumed.
# This coordinator does not exit when the campaign is done: it serves until
# the resumed worker's late result has arrived (and been fenced) or 20 s
# have passed, so the late result is not lost to a coordinator that left.
db="$work/fire.db" clog="$work/fire.log" wlog="$work/fire-w.log"
port="$(free_port)"
t0=$SECONDS
copts_saved=("${COPTS[@]}")
COPTS=()
for o in "${copts_saved[@]}"; do [[ "$o" == --exit-when-done ]] || COPTS+=("$o"); done
start_coord "$clog" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/fire.ctl" \
  --insecure --spec "$work/spec.yaml"
COPTS=("${copts_saved[@]}")
fire_coord=$coord
live=()
for i in 1 2 3 4; do start_worker "$wlog" --connect "tcp://127.0.0.1:$port" --insecure; live+=("$wpid"); done
kills=0 kills_busy=0 stopped="" stopped_attempt="" stop_ms=0 cont_at=0 resumed=0 resumed_ms=0
next_kill=$(( $(now_ms) + $(rand_ms 800 1500) ))
deadline=$((SECONDS + 600))
late_fenced() { grep -q "result for attempt $stopped_attempt (trial [0-9]*) is stale" "$clog"; }
while kill -0 "$fire_coord" 2>/dev/null && ((SECONDS < deadline)); do
  t=$(now_ms)
  fire_done=0
  [[ "$(qd "$db" "SELECT group_concat(state) FROM campaigns")" == "done" ]] && fire_done=1
  if ((fire_done)) && { [[ -z "$stopped" ]] || { ((resumed)) && { late_fenced || ((t - resumed_ms > 20000)); }; }; }; then
    break
  fi
  if [[ -n "$stopped" && $resumed -eq 0 ]]; then
    # Resume it 0.3 s after the coordinator gave its attempt up.
    if ((cont_at == 0)) && [[ "$(qd "$db" "SELECT state FROM attempts WHERE id = $stopped_attempt")" != running ]]; then
      cont_at=$((t + 300))
    fi
    if ((cont_at > 0 && t >= cont_at)) || ((t - stop_ms > 15000)); then
      kill -CONT "$stopped"; resumed=1 resumed_ms=$t
      note "resumed worker $stopped after $((t - stop_ms)) ms"
    fi
  fi
  if ((kills < 6 && t >= next_kill && !fire_done)); then
    mapfile -t busy < <(busy_pids "$db")
    cands=()
    for p in "${busy[@]}"; do
      if in_list "$p" "${live[@]}" && [[ "$p" != "$stopped" ]]; then cands+=("$p"); fi
    done
    if [[ -z "$stopped" && ${#cands[@]} -ge 1 ]]; then
      # SIGSTOP one busy worker for longer than its lease (2 s); if it was
      # between two trials after all, let it go and try again next time.
      kill -STOP "${cands[0]}"
      sleep 0.3
      stopped_attempt="$(qd "$db" "SELECT a.id FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.state = 'running' AND w.host LIKE '%:${cands[0]}'")"
      if [[ -n "$stopped_attempt" ]]; then
        stopped="${cands[0]}"
        stop_ms=$t
        note "stopped worker $stopped during attempt $stopped_attempt"
      else
        kill -CONT "${cands[0]}"
      fi
      cands=("${cands[@]:1}")
    fi
    if ((${#cands[@]} > 0)); then
      victim="${cands[RANDOM % ${#cands[@]}]}"
      kills_busy=$((kills_busy + 1))
    else
      others=()
      for p in "${live[@]}"; do [[ "$p" != "$stopped" ]] && others+=("$p"); done
      victim="${others[RANDOM % ${#others[@]}]}"
    fi
    kill -KILL "$victim"
    wait "$victim" 2>/dev/null
    kills=$((kills + 1))
    rest=()
    for p in "${live[@]}"; do [[ "$p" != "$victim" ]] && rest+=("$p"); done
    start_worker "$wlog" --connect "tcp://127.0.0.1:$port" --insecure
    live=("${rest[@]}" "$wpid")
    next_kill=$((t + $(rand_ms 800 1500)))
  fi
  sleep 0.1
done
if [[ -n "$stopped" && $resumed -eq 0 ]]; then kill -CONT "$stopped"; note "the stopped worker was never resumed"; fi
if kill -0 "$fire_coord" 2>/dev/null; then
  kill -TERM "$fire_coord"
  rc=0; wait "$fire_coord" || rc=$?
  if [[ $rc -eq 0 ]]; then ok "workers under fire: the coordinator serves to the end and exits 0 on SIGTERM"
  else not_ok "workers under fire: the coordinator exits with status $rc on SIGTERM"; fi
else
  rc=0; wait "$fire_coord" || rc=$?
  not_ok "workers under fire: the coordinator exited by itself (status $rc) before the campaign's end was watched"
fi
stop_all "${live[@]}"
note "workers under fire: $((SECONDS - t0)) s, $kills kills ($kills_busy of busy workers)"
campaign_checks "$db" "workers under fire" "$wlog"
lost="$(qd "$db" "SELECT count(*) FROM attempts WHERE state = 'lost'")"
if ((kills >= 3 && kills_busy >= 1 && lost >= kills_busy)); then
  ok "workers under fire: $kills workers killed, $lost attempts lost and run again"
else
  not_ok "workers under fire: the faults happened" "kills $kills, of busy workers $kills_busy, lost attempts $lost"
fi
if [[ -n "$stopped_attempt" && $resumed -eq 1 ]]; then
  st="$(qd "$db" "SELECT state FROM attempts WHERE id = $stopped_attempt")"
  trial="$(qd "$db" "SELECT trial_id FROM attempts WHERE id = $stopped_attempt")"
  other="$(qd "$db" "SELECT count(*) FROM attempts WHERE trial_id = $trial AND id != $stopped_attempt AND state = 'done'")"
  fenced="$(grep -c "result for attempt $stopped_attempt (trial $trial) is stale" "$clog")"
  rejoined="$(grep -c "($(hostname):$stopped) joined" "$clog")"
  # The resumed worker finishes (or is told to cancel) the attempt and
  # sends its result to a coordinator that is still serving: it must
  # arrive, and be fenced.
  sent="$(grep -c "attempt $stopped_attempt: n=" "$wlog")"
  told="$(grep -c "attempt $stopped_attempt: the coordinator did not record the result" "$wlog")"
  if [[ "$st" == lost && "$other" == 1 && $rejoined -ge 2 && $sent -ge 1 && $fenced -ge 1 ]]; then
    ok "workers under fire: the SIGSTOPped worker's attempt $stopped_attempt was lost and run elsewhere; it said hello again; the result it sent late was fenced ($fenced time(s); the worker heard so $told time(s))"
  else
    not_ok "workers under fire: the SIGSTOPped worker" "attempt $stopped_attempt: $st; other done attempts of trial $trial: $other; joined $rejoined times" \
      "the worker logged sending its result $sent time(s); the coordinator fenced it $fenced time(s)" \
      "$(grep -E "attempt $stopped_attempt|:$stopped\)" "$clog" | head -20)"
  fi
  same "workers under fire: nothing but the resumed worker's own result was fenced" \
    "$(grep 'is stale' "$clog" | grep -vc "attempt $stopped_attempt ")" 0
else
  not_ok "workers under fire: a busy worker was SIGSTOPped past its lease and resumed" "stopped '$stopped' attempt '$stopped_attempt' resumed $resumed"
  skip "no worker was stopped"
fi

# ---- 2. coordinator crashes ------------------------------------------------------------
# Two workers that are never restarted; the coordinator is SIGKILLed at
# random moments and restarted on the same database each time.
db="$work/crash.db" wlog="$work/crash-w.log"
port="$(free_port)"
t0=$SECONDS
: >"$work/crash-before.txt"
: >"$work/crash-kept.txt"
: >"$work/crash-rekilled.txt" # running at a later kill with the short grace: may be lost there
crashes=0 rejoined_all=1
start_coord "$work/crash-0.log" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/crash.ctl" \
  --insecure --grace-ms 1000 --spec "$work/spec.yaml"
ws=()
for i in 1 2; do start_worker "$wlog" --connect "tcp://127.0.0.1:$port" --insecure; ws+=("$wpid"); done
for round in 1 2 3 4 5; do
  # Kill it at a random moment once it has heard from a worker.
  deadline=$((SECONDS + 60))
  while kill -0 "$coord" 2>/dev/null && ! grep -qE ' joined with | n=[0-9]+: (fit|no_fit) ' "$work/crash-$((round - 1)).log" &&
        ((SECONDS < deadline)); do
    sleep 0.1
  done
  sleep_ms "$(rand_ms 200 1000)"
  if ! kill -0 "$coord" 2>/dev/null; then break; fi
  finished_rows "$db" >>"$work/crash-before.txt"
  if ((round % 2 == 0)); then qd "$db" "SELECT id FROM attempts WHERE state = 'running'" >>"$work/crash-kept.txt"
  else qd "$db" "SELECT id FROM attempts WHERE state = 'running'" >>"$work/crash-rekilled.txt"; fi
  kill -KILL "$coord"
  wait "$coord" 2>/dev/null
  crashes=$((crashes + 1))
  sleep_ms "$(rand_ms 0 500)"
  # Odd restarts give orphaned attempts 1 s, shorter than a worker needs to
  # reconnect: they are requeued. Even ones give 6 s: their workers reclaim them.
  start_coord "$work/crash-$round.log" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/crash.ctl" \
    --insecure --grace-ms $((round % 2 ? 1000 : 6000))
done
finish "$coord" 600 "coordinator crashes"
stop_all "${ws[@]}"
reclaimed="$(cat "$work"/crash-*.log | grep -c 'reclaimed by worker')"
orphans_lost="$(cat "$work"/crash-*.log | grep -c 'no worker reclaimed it')"
long_grace_lost=0
for ((k = 2; k <= crashes; k += 2)); do
  long_grace_lost=$((long_grace_lost + $(grep -c 'no worker reclaimed it' "$work/crash-$k.log")))
done
# An attempt kept through a 6 s grace that was still running at the next
# kill (a 1 s grace) may rightly be lost there; it is not counted.
sort -u "$work/crash-kept.txt" >"$work/crash-kept.sorted"
sort -u "$work/crash-rekilled.txt" >"$work/crash-rekilled.sorted"
comm -23 "$work/crash-kept.sorted" "$work/crash-rekilled.sorted" >"$work/crash-kept-only.txt"
kept_ids="$(paste -sd, "$work/crash-kept-only.txt")"
kept_total="$(wc -l <"$work/crash-kept-only.txt")"
# A kept attempt ends done, or cancelled when another probe's result made it
# pointless (parallel probes are on, as users get them); never lost.
kept_done="$(qd "$db" "SELECT count(*) FROM attempts WHERE id IN (${kept_ids:-0}) AND state IN ('done', 'cancelled')")"
kept_cancelled="$(qd "$db" "SELECT count(*) FROM attempts WHERE id IN (${kept_ids:-0}) AND state = 'cancelled'")"
note "coordinator crashes: kept attempts by state: $(qd "$db" "SELECT group_concat(state || ' ' || n, ', ') FROM (SELECT state, count(*) AS n FROM attempts WHERE id IN (${kept_ids:-0}) GROUP BY state)")"
note "coordinator crashes: $((SECONDS - t0)) s, $crashes crashes; $orphans_lost orphans requeued; $reclaimed reclaimed by a Hello; $kept_done of $kept_total running at a kill before a 6 s grace finished by their own worker ($kept_cancelled of them cancelled as pointless)"
if ((crashes >= 3)); then ok "coordinator crashes: the coordinator was killed $crashes times mid-campaign"
else not_ok "coordinator crashes: only $crashes kills landed before the campaign ended"; fi
# Each restarted coordinator heard from the workers: a Hello, or a result
# for an orphaned attempt (which counts even before the Hello).
for ((k = 1; k <= crashes; k++)); do
  grep -qE ' joined with | n=[0-9]+: (fit|no_fit) ' "$work/crash-$k.log" || rejoined_all=0
done
if ((rejoined_all)); then ok "coordinator crashes: the workers reconnected to every restarted coordinator by themselves"
else not_ok "coordinator crashes: some restarted coordinator never heard from a worker"; fi
same "coordinator crashes: with a 6 s grace the attempts running at the kill were kept by their workers ($kept_done of $kept_total)" \
  "$long_grace_lost $kept_done" "0 $kept_total"
sort -u "$work/crash-before.txt" >"$work/crash-before.sorted"
finished_rows "$db" | sort >"$work/crash-after.sorted"
changed="$(comm -23 "$work/crash-before.sorted" "$work/crash-after.sorted")"
if [[ -s "$work/crash-before.sorted" && -z "$changed" ]]; then
  ok "coordinator crashes: the $(wc -l <"$work/crash-before.sorted") results recorded before the crashes are unchanged"
else
  not_ok "coordinator crashes: results recorded before a crash changed (or none was recorded)" "$changed"
fi
campaign_checks "$db" "coordinator crashes" "$wlog"

# ---- 2b. a worker reclaims its attempt from a restarted coordinator -------------------
# A trial longer than a worker needs to reconnect (1 to 2 s: ZeroMQ's
# reconnect interval and its jitter): the coordinator is killed as it
# starts, and restarted with a grace window; the worker lists the attempt in
# its Hello, keeps it, and its result counts.
db="$work/reclaim.db" clog="$work/reclaim.log"
port="$(free_port)"
start_coord "$clog" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/reclaim.ctl" \
  --insecure --spec "$work/long.yaml"
start_worker "$work/reclaim-w.log" --connect "tcp://127.0.0.1:$port" --insecure --drain-seconds 0
rw=$wpid
r_attempt=""
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)) && kill -0 "$coord" 2>/dev/null; do
  r_attempt="$(qd "$db" "SELECT a.id FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE a.state = 'running' AND t.n = 256")"
  [[ -n "$r_attempt" ]] && break
  sleep 0.05
done
if [[ -n "$r_attempt" ]]; then
  kill -KILL "$coord"
  wait "$coord" 2>/dev/null
  start_coord "$work/reclaim-2.log" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/reclaim.ctl" \
    --insecure --grace-ms 10000
  deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)) && kill -0 "$coord" 2>/dev/null &&
        [[ "$(qd "$db" "SELECT state FROM attempts WHERE id = $r_attempt")" == running ]]; do
    sleep 0.1
  done
  how="$(grep -c "attempt $r_attempt reclaimed by worker" "$work/reclaim-2.log")"
  if [[ "$(qd "$db" "SELECT a.state || ' ' || t.state || ' ' || t.attempts FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE a.id = $r_attempt")" == "done no_fit 1" && $how -ge 1 ]]; then
    ok "reclaim: the attempt running when the coordinator died was reclaimed by its worker's Hello and its result counted"
  else
    not_ok "reclaim: the attempt running when the coordinator died is reclaimed" \
      "$(qd "$db" "SELECT * FROM attempts")" "$(grep -v 'INFO: cell' "$work/reclaim-2.log" | head -8)"
  fi
else
  not_ok "reclaim: the long trial never started" "$(tail -3 "$clog")"
fi
stop_all "$coord" "$rw"

# ---- 3. partition -------------------------------------------------------------------------
# One worker in its own network namespace, linked to the coordinator by a
# veth pair with link-local addresses; its link goes down for longer than
# the lease while it trains. Off loopback, the worker socket is CURVE.
partition_checks=11
ns_try="emc-faults-$$"
octet=$((20 + RANDOM % 200))
va="emcf$$a" vb="emcf$$b"
if ip netns add "$ns_try" 2>/dev/null; then
  netns="$ns_try"
  if ip link add "$va" type veth peer name "$vb" 2>/dev/null; then veth="$va"; fi
fi
if [[ -n "$netns" && -n "$veth" ]] &&
   ip link set "$vb" netns "$netns" &&
   ip addr add "169.254.$octet.1/30" dev "$va" &&
   ip link set "$va" up &&
   ip netns exec "$netns" ip addr add "169.254.$octet.2/30" dev "$vb" &&
   ip netns exec "$netns" ip link set "$vb" up &&
   ip netns exec "$netns" ip link set lo up; then
  mkdir -p "$work/pkeys/workers" "$work/pw"
  "$EMCCTL" keygen "$work/pkeys" coordinator >/dev/null
  "$EMCCTL" keygen "$work/pw" worker >/dev/null
  cp "$work/pkeys/coordinator.pub" "$work/pw/"
  cp "$work/pw/worker.pub" "$work/pkeys/workers/pw.pub"
  db="$work/part.db" clog="$work/part.log"
  port="$(free_port)"
  ep="tcp://169.254.$octet.1:$port"
  t0=$SECONDS
  start_coord "$clog" --db "$db" --bind "$ep" --control "ipc://$work/part.ctl" --keys "$work/pkeys" \
    --spec "$work/spec.yaml"
  part_coord=$coord
  ip netns exec "$netns" "$WORKER" --slots 1 --connect "$ep" --keys "$work/pw" 2>>"$work/part-ns.log" &
  nsw=$!
  pids+=("$nsw")
  # Wait until the namespaced worker has trained one attempt for 0.3 s, then
  # cut its link. If the attempt's result got through after all, put the
  # link back and try with the next one.
  p_attempt="" p_trial="" prev="" tries=0
  deadline=$((SECONDS + 120))
  while ((SECONDS < deadline && tries < 10)) && kill -0 "$part_coord" 2>/dev/null; do
    cur="$(qd "$db" "SELECT a.id FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.state = 'running' AND w.host LIKE '%:$nsw'")"
    if [[ -n "$cur" && "$cur" == "$prev" ]]; then
      ip link set "$va" down
      sleep 0.3
      if [[ "$(qd "$db" "SELECT state FROM attempts WHERE id = $cur")" == running ]]; then p_attempt="$cur"; break; fi
      ip link set "$va" up
      tries=$((tries + 1))
    fi
    prev="$cur"
    sleep 0.3
  done
  ws=()
  if [[ -n "$p_attempt" ]]; then
    p_trial="$(qd "$db" "SELECT trial_id FROM attempts WHERE id = $p_attempt")"
    down_at=$SECONDS
    note "partition: link down during attempt $p_attempt (trial $p_trial)"
    for i in 1 2; do start_worker "$work/part-w.log" --connect "$ep" --keys "$work/pw"; ws+=("$wpid"); done
    # Down until the coordinator has given the attempt up (the lease is 2 s).
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && [[ "$(qd "$db" "SELECT state FROM attempts WHERE id = $p_attempt")" == running ]]; do
      sleep 0.1
    done
    sleep 0.5
    ip link set "$va" up
    up_ms=$(now_ms)
    note "partition: link up after $((SECONDS - down_at)) s"
    # Its Hello, queued in the stalled connection, gets through now.
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && kill -0 "$part_coord" 2>/dev/null &&
          (($(grep -c "($(hostname):$nsw) joined" "$clog") < 2)); do
      sleep 0.1
    done
    note "partition: the namespaced worker was welcomed again after $(( $(now_ms) - up_ms )) ms"
  fi
  finish "$part_coord" 600 "partition"
  stop_all "$nsw" "${ws[@]}"
  note "partition: $((SECONDS - t0)) s"
  if [[ -n "$p_attempt" ]]; then
    ok "partition: the namespaced worker trained attempt $p_attempt, then lost its link"
    same "partition: the cut-off attempt was lost" "$(qd "$db" "SELECT state FROM attempts WHERE id = $p_attempt")" lost
    same "partition: its trial was run again and finished by another attempt" \
      "$(qd "$db" "SELECT count(*) FROM attempts WHERE trial_id = $p_trial AND id != $p_attempt AND state = 'done'")" 1
    late="$(grep -c "result for attempt $p_attempt " "$clog")"
    stale="$(grep -c "result for attempt $p_attempt (trial $p_trial) is stale" "$clog")"
    rejoined="$(grep -c "($(hostname):$nsw) joined" "$clog")"
    if ((rejoined >= 2 && late >= 1 && stale == late)); then
      ok "partition: the worker came back after the partition and its late result was fenced"
    else
      not_ok "partition: the worker comes back and its late result is fenced" "joined $rejoined times; results for attempt $p_attempt: $late, fenced: $stale" \
        "$(grep -E "attempt $p_attempt|:$nsw\)" "$clog" | head)"
    fi
  else
    not_ok "partition: the namespaced worker never trained an attempt" "$(tail -5 "$work/part-ns.log")" "$(tail -5 "$clog")"
    skip "no partition happened"; skip "no partition happened"; skip "no partition happened"
  fi
  campaign_checks "$db" "partition" "$work/part-ns.log" "$work/part-w.log"
else
  note "cannot create a network namespace with a veth pair here"
  for ((i = 0; i < partition_checks; i++)); do skip "no network namespaces"; done
fi
if [[ -n "$netns" ]]; then
  ip link del "$va" 2>/dev/null
  ip netns del "$netns" 2>/dev/null
  netns="" veth=""
fi

# ---- 4a. strangers: CURVE ---------------------------------------------------------------------
mkdir -p "$work/skeys/workers" "$work/good" "$work/stranger"
"$EMCCTL" keygen "$work/skeys" coordinator >/dev/null
for w in good stranger; do
  "$EMCCTL" keygen "$work/$w" worker >/dev/null
  cp "$work/skeys/coordinator.pub" "$work/$w/"
done
cp "$work/good/worker.pub" "$work/skeys/workers/good.pub"
db="$work/curve.db" clog="$work/curve.log"
port="$(free_port)"
start_coord "$clog" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/curve.ctl" \
  --keys "$work/skeys" --spec "$work/small.yaml"
curve_coord=$coord
start_worker "$work/stranger-w.log" --connect "tcp://127.0.0.1:$port" --keys "$work/stranger"
stranger=$wpid
start_worker "$work/plain-w.log" --connect "tcp://127.0.0.1:$port" --insecure
plain=$wpid
out_stranger="" out_good=""
if [[ -x "$ZSEND" ]]; then
  out_stranger="$("$ZSEND" --connect "tcp://127.0.0.1:$port" --keys "$work/stranger" --wait-ms 1500 heartbeat 2>&1)"
  out_good="$("$ZSEND" --connect "tcp://127.0.0.1:$port" --keys "$work/good" --wait-ms 1500 heartbeat 2>&1)"
fi
sleep 2
if kill -0 "$curve_coord" 2>/dev/null && [[ "$(qd "$db" "SELECT count(*) FROM workers") $(qd "$db" "SELECT count(*) FROM attempts")" == "0 0" ]] &&
   grep -q 'refused a worker' "$clog" && ! grep -q welcomed "$work/stranger-w.log" "$work/plain-w.log"; then
  ok "strangers: a worker with a key not allow-listed and a plain-text worker get no work; the refusal is logged"
else
  not_ok "strangers: refused" "workers: $(qd "$db" "SELECT count(*) FROM workers"), attempts: $(qd "$db" "SELECT count(*) FROM attempts")" \
    "$(grep -i refused "$clog" | head -3)" "$(grep -h welcomed "$work/stranger-w.log" "$work/plain-w.log")"
fi
# libzmq turns a plain-text client away before the ZAP handler sees it, so
# that refusal may not be logged; say whether it was.
if ! grep -q 'not a CURVE handshake' "$clog"; then note "the plain-text worker's refusal was not logged by the coordinator"; fi
if [[ -x "$ZSEND" ]]; then
  if [[ "$out_stranger" == "replies 0" && "$out_good" == *"error unknown worker"* ]]; then
    ok "strangers: a raw CURVE peer with an unknown key hears nothing; with an allowed key it is answered"
  else
    not_ok "strangers: raw CURVE peers" "stranger: $out_stranger" "allowed: $out_good"
  fi
else
  skip "zsend not built"
fi
start_worker "$work/good-w.log" --connect "tcp://127.0.0.1:$port" --keys "$work/good"
good=$wpid
finish "$curve_coord" 300 "strangers"
stop_all "$stranger" "$plain" "$good"
same "strangers: only the allowed worker is known and every cell is done" \
  "$(qd "$db" "SELECT (SELECT count(*) FROM workers) || ' ' || (SELECT group_concat(state) FROM cells)")" "1 done"

# ---- 4b. garbage --------------------------------------------------------------------------------
if [[ -x "$ZSEND" ]]; then
  db="$work/garbage.db" clog="$work/garbage.log"
  port="$(free_port)"
  ep="tcp://127.0.0.1:$port"
  start_coord "$clog" --db "$db" --bind "$ep" --control "ipc://$work/garbage.ctl" --insecure --spec "$work/spec.yaml"
  gcoord=$coord
  z() { "$ZSEND" --connect "$ep" --wait-ms 700 --seed "$RANDOM" "$@" 2>&1; }
  bad=()
  expect() { # expect ACTION... -- PATTERN : zsend's output must match the glob
    local args=() out
    while [[ "$1" != -- ]]; do args+=("$1"); shift; done
    out="$(z "${args[@]}")"
    # shellcheck disable=SC2053 # $2 is a glob, matched on purpose
    if [[ "$out" != $2 ]]; then bad+=("${args[*]}: $out"); fi
  }
  expect garbage:1 -- '*error wire:*'
  expect garbage:1000 -- '*error wire:*'
  expect garbage:65536 -- '*error wire:*'
  expect empty -- '*error wire:*'
  expect truncated-hello -- '*error wire:*'
  expect version:3 -- '*error wire: protocol version 3*'
  expect multipart:3 -- 'replies 0'
  expect oversized:$((4 * 1024 * 1024 + 1)) -- 'replies 0'
  expect oversized:$((4 * 1024 * 1024 + 1)) sleep:1200 heartbeat -- '*error unknown worker*'
  expect hello:4294967295 -- '*error hello: slots out of range*'
  expect hello:0 -- '*error hello: slots out of range*'
  expect hello:2:1000 -- '*error hello: more running attempts than slots*'
  expect hello:1:100000 -- '*error*'
  # A Result from a peer that never said hello holds nothing: it is told
  # to say hello, not acknowledged.
  expect result:999999:1 -- '*error unknown worker*'
  expect result:1:999999 -- '*error unknown worker*'
  expect ready:1000000 -- '*error unknown worker*'
  expect heartbeat:1 -- '*error unknown worker*'
  expect welcome -- '*error unexpected message*'
  if kill -0 "$gcoord" 2>/dev/null && ((${#bad[@]} == 0)); then
    ok "garbage: garbage, empty, truncated, wrong-version, multipart, oversized and out-of-range frames are refused; the coordinator lives"
  else
    not_ok "garbage: refused frames" "coordinator alive: $(kill -0 "$gcoord" 2>/dev/null && echo yes || echo no)" "${bad[@]}"
  fi
  if grep -q 'multipart message dropped' "$clog" && grep -q 'is not an emc message' "$clog"; then
    ok "garbage: the refusals are logged"
  else
    not_ok "garbage: the refusals are logged" "$(tail -5 "$clog")"
  fi
  same "garbage: nothing of it reached the database" \
    "$(qd "$db" "SELECT (SELECT count(*) FROM workers) + (SELECT count(*) FROM attempts)")" 0
  # One real worker; then a forged Result for the attempt it trains, from
  # another peer and from a peer that takes the worker's routing id.
  start_worker "$work/garbage-w.log" --connect "$ep" --insecure
  real=$wpid
  g_attempt="" g_trial="" prev=""
  deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)) && kill -0 "$gcoord" 2>/dev/null; do
    cur="$(qd "$db" "SELECT id || ' ' || trial_id FROM attempts WHERE state = 'running'")"
    if [[ -n "$cur" && "$cur" == "$prev" ]]; then read -r g_attempt g_trial <<<"$cur"; break; fi
    prev="$cur"
    sleep 0.2
  done
  if [[ -n "$g_attempt" ]]; then
    forged="$(z "result:$g_attempt:$g_trial")"
    ident="$(qd "$db" "SELECT identity FROM workers" | xxd -r -p)"
    spoofed="$("$ZSEND" --connect "$ep" --identity "$ident" --wait-ms 700 "result:$g_attempt:$g_trial" 2>&1)"
    if [[ "$forged" == *"error unknown worker"* && "$forged" != *"result_ack"* ]]; then
      ok "garbage: a forged Result for a running attempt from another peer is refused, not acknowledged"
    else
      not_ok "garbage: forged Result" "$forged"
    fi
    same "garbage: a peer that takes the real worker's routing id is not heard" "$spoofed" "replies 0"
  else
    not_ok "garbage: the real worker never trained an attempt"
    skip "no attempt was attacked"
  fi
  finish "$gcoord" 600 "garbage"
  stop_all "$real"
  same "garbage: the workers table holds only the real worker" "$(qd "$db" "SELECT count(*) FROM workers")" 1
  same "garbage: no forged result was recorded" \
    "$(qd "$db" "SELECT count(*) FROM trials WHERE epochs = 424242 OR steps = 424242")" 0
  if [[ -n "$g_attempt" ]]; then
    same "garbage: the attacked attempt was finished by the real worker" \
      "$(qd "$db" "SELECT state FROM attempts WHERE id = $g_attempt")" "done"
  else
    skip "no attempt was attacked"
  fi
  campaign_checks "$db" "garbage" "$work/garbage-w.log"
else
  note "zsend is not built next to mkidx"
  for i in $(seq 15); do skip "zsend not built"; done
fi

# ---- sanitizers -------------------------------------------------------------------------
# Under AddressSanitizer / UndefinedBehaviorSanitizer builds, every report
# of every process ends up in these logs (processes killed with SIGKILL
# report nothing, but every coordinator that finished and every worker
# stopped with SIGTERM does).
no_sanitizer_reports

echo "1..$n"
exit $((failures > 0))
