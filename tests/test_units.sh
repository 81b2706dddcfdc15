#!/usr/bin/env bash
# The systemd units in deploy/systemd/ start, talk and stop as they say.
#
# Each unit's ExecStart is run the way systemd would run it: its ${VAR}s
# replaced from an environment file, the process given that file's
# variables and the unit's Environment= lines and nothing else. The
# environment files are the shipped examples with their directories moved
# under a temporary one and their endpoints onto a free loopback port, so
# an example that lacks a variable fails here too. Then: the worker joins,
# a campaign launched with emcctl on the unit's control endpoint finishes,
# and the worker, sent SIGTERM in the middle of a trial, says bye within
# its unit's TimeoutStopSec. A worker whose key is not allow-listed logs
# the refusal once and retries slowly. Also read from the files: every
# variable ExecStart uses is set by the example, the stop timeout exceeds
# the drain, and every path the programs write is one the hardening leaves
# writable. `systemd-analyze verify` runs where it can. Speaks TAP.
#
# usage: test_units.sh COORDINATOR WORKER EMCCTL MKIDX
set -euo pipefail

# Absolute: systemd-analyze wants ExecStart's binary so.
COORD="$(realpath "$1")" WORKER="$(realpath "$2")" EMCCTL="$3" MKIDX="$4"
units="${EMC_SOURCE_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}/deploy/systemd"
work="$(mktemp -d /tmp/emc-units-XXXXXX)"
pids=()
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ -n "${EMC_KEEP_TEST_DIR:-}" ]]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Seconds the worker may take after its drain: the flush of unacknowledged
# results (FLUSH_MS in worker/worker.c) and a margin for the goodbye.
STOP_MARGIN_S=5

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# gone PID SECONDS: wait for a child to exit; 1 on time-out.
gone() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# unit_get FILE KEY: the last value of KEY= in FILE (systemd: the last wins).
unit_get() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
# env_get FILE KEY: the value of KEY in an environment file.
env_get() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

# exec_line UNIT ENVFILE: ExecStart's words, one a line, with the binary
# replaced by the one under test and ${VAR} / $VAR taken from ENVFILE
# (unset is empty, as systemd does).
exec_line() {
  local word name
  # shellcheck disable=SC2046 # systemd splits ExecStart on whitespace too
  for word in $(unit_get "$1" ExecStart); do
    case "$word" in
      */emc-coordinator) word="$COORD" ;;
      */emc-worker) word="$WORKER" ;;
    esac
    while [[ "$word" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*) ]]; do
      name="${BASH_REMATCH[1]:-${BASH_REMATCH[2]}}"
      word="${word/"${BASH_REMATCH[0]}"/$(env_get "$2" "$name")}"
    done
    echo "$word"
  done
}

# run_unit UNIT ENVFILE LOG: start ExecStart in the background with only
# the environment systemd would give it; its pid in $unit_pid.
run_unit() {
  local -a argv envv
  mapfile -t argv < <(exec_line "$1" "$2")
  mapfile -t envv < <(sed -n 's/^Environment=//p' "$1"; grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$2")
  env -i PATH="$PATH" HOME="$work/home" "${envv[@]}" "${argv[@]}" 2>"$3" &
  unit_pid=$!
  pids+=("$unit_pid")
}

# relocate ENVFILE: the example with its directories under $work and its
# endpoints on the test's port.
relocate() {
  sed -e "s#/var/lib/emc#$work/var/lib/emc#g" -e "s#/var/cache/emc#$work/var/cache/emc#g" \
    -e "s#/etc/emc#$work/etc/emc#g" -e "s#tcp://[^/]*:5555#tcp://127.0.0.1:$port#g" "$1"
}

# under PATH DIR...: PATH is one of the DIRs or inside one.
under() {
  local p="$1" d; shift
  for d in "$@"; do [[ -n "$d" && ( "$p" == "$d" || "$p" == "$d"/* ) ]] && return 0; done
  return 1
}

# writable UNIT: the directories the unit leaves writable under
# ProtectSystem=strict, one a line.
writable() {
  local d
  for d in $(unit_get "$1" ReadWritePaths); do echo "${d#-}"; done
  for d in $(unit_get "$1" StateDirectory); do echo "/var/lib/$d"; done
  for d in $(unit_get "$1" CacheDirectory); do echo "/var/cache/$d"; done
}

cunit="$units/emc-coordinator.service" wunit="$units/emc-worker.service"
cenv="$units/emc-coordinator.env" wenv="$units/emc-worker.env"

echo "1..12"

# ---- what the files say ----------------------------------------------------------
missing=""
for pair in "$cunit:$cenv" "$wunit:$wenv"; do
  # shellcheck disable=SC2016 # the $ and { are meant literally
  for v in $(unit_get "${pair%%:*}" ExecStart | grep -oE '\$\{?[A-Za-z_][A-Za-z0-9_]*' | tr -d '${'); do
    [[ -n "$(env_get "${pair##*:}" "$v")" ]] || missing+=" $v (${pair##*/})"
  done
done
for u in "$cunit" "$wunit"; do
  [[ "$(unit_get "$u" ExecStart)" == *"--keys "* ]] || missing+=" --keys (${u##*/})"
done
if [[ -z "$missing" ]]; then
  ok "every variable ExecStart uses is set by the example environment file, and both pass --keys"
else
  not_ok "ExecStart uses what the environment files do not set:$missing"
fi

stop_s="$(unit_get "$wunit" TimeoutStopSec)" drain_s="$(env_get "$wenv" EMC_DRAIN_SECONDS)"
if [[ "$stop_s" =~ ^[0-9]+$ && "$drain_s" =~ ^[0-9]+$ ]] && ((stop_s >= drain_s + STOP_MARGIN_S)); then
  ok "the worker's TimeoutStopSec ($stop_s s) exceeds its drain ($drain_s s) by at least $STOP_MARGIN_S s"
else
  not_ok "the worker's TimeoutStopSec ('$stop_s') must exceed EMC_DRAIN_SECONDS ('$drain_s') by $STOP_MARGIN_S s"
fi

mapfile -t cw < <(writable "$cunit")
mapfile -t ww < <(writable "$wunit")
db="$(env_get "$cenv" EMC_DB)" ctl="$(env_get "$cenv" EMC_CONTROL)" cache="$(env_get "$wenv" EMC_CACHE_DIR)"
bad=""
[[ "$(unit_get "$cunit" ProtectSystem)" == strict && "$(unit_get "$wunit" ProtectSystem)" == strict ]] ||
  bad+=" ProtectSystem is not strict;"
under "$(dirname "$db")" "${cw[@]}" || bad+=" the database directory $(dirname "$db") is read-only;"
[[ "$ctl" != ipc://* ]] || under "$(dirname "${ctl#ipc://}")" "${cw[@]}" || bad+=" the control socket's directory is read-only;"
under "$cache" "${ww[@]}" || bad+=" the worker cache $cache is read-only;"
if [[ -z "$bad" ]]; then
  ok "ProtectSystem=strict leaves the database, the control socket and the cache writable"
else
  not_ok "hardening forbids what the programs need:$bad"
fi

# ---- systemd-analyze verify, where it can run ------------------------------------
# A known-good unit first: where even that fails (no systemd, a container
# without what verify needs), the check is skipped, never passed.
mkdir -p "$work/verify" "$work/probe"
printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' >"$work/probe/emc-probe.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  skip "systemd-analyze verify: systemd-analyze is not installed"
elif ! probe="$(systemd-analyze verify "$work/probe/emc-probe.service" 2>&1)" || [[ -n "$probe" ]]; then
  skip "systemd-analyze verify: it cannot verify even a trivial unit here (${probe//$'\n'/ })"
else
  for u in "$cunit" "$wunit"; do
    sed -e "s#^ExecStart=/usr/local/bin/emc-coordinator#ExecStart=$COORD#" \
      -e "s#^ExecStart=/usr/local/bin/emc-worker#ExecStart=$WORKER#" "$u" >"$work/verify/${u##*/}"
  done
  check "systemd-analyze verify is clean for both units" \
    bash -c "out=\$(systemd-analyze verify '$work/verify/emc-coordinator.service' '$work/verify/emc-worker.service' 2>&1) && [[ -z \$out ]] || { echo \"\$out\"; false; }"
fi

# ---- keys, data, environment files -------------------------------------------------
port="$(free_port)"
relocate "$cenv" >"$work/coordinator.env"
relocate "$wenv" >"$work/worker.env"
keys="$(env_get "$work/coordinator.env" EMC_KEYS)" wkeys="$(env_get "$work/worker.env" EMC_KEYS)"
control="$(env_get "$work/coordinator.env" EMC_CONTROL)" db="$(env_get "$work/coordinator.env" EMC_DB)"
# What StateDirectory= and CacheDirectory= would have created.
mkdir -p "$work/home" "$work/var/lib/emc" "$work/var/cache/emc" "$keys/workers" "$wkeys" "$work/stranger"
"$EMCCTL" keygen "$keys" coordinator >/dev/null
"$EMCCTL" keygen "$wkeys" worker >/dev/null
"$EMCCTL" keygen "$work/stranger" worker >/dev/null
cp "$keys/coordinator.pub" "$wkeys/"
cp "$keys/coordinator.pub" "$work/stranger/"
cp "$wkeys/worker.pub" "$keys/workers/node1.pub"
sed "s#^EMC_KEYS=.*#EMC_KEYS=$work/stranger#" "$work/worker.env" >"$work/stranger.env"

"$MKIDX" --out "$work/data" --n 300 --classes 3 --rows 5 --cols 5 --seed 3 --noise 0.8
spec() { # spec NAME WIDTH LR MAX_EPOCHS PLATEAU
  cat <<YAML
name: $1
dataset:
  format: idx
  images: $work/data/images.idx
  labels: $work/data/labels.idx
model:
  family: mlp
  widths: [[$2]]
  activation: relu
optimizer:
  name: adam
  lr: $3
  batch: 32
seeds: [0]
search:
  start: 8
  precision: 0.25
budget:
  max_epochs: $4
  plateau_epochs: $5
YAML
}
spec small 4 0.02 1000 50 >"$work/small.yaml"
# One trial that trains (and cannot stop by plateau) far longer than the drain.
spec long 1 0.000000001 100000000 0 >"$work/long.yaml"

# ---- the two units, started as systemd would -------------------------------------
run_unit "$cunit" "$work/coordinator.env" "$work/coord.log"
coord=$unit_pid
# The stranger first, so that its refusal does not depend on timing.
run_unit "$wunit" "$work/stranger.env" "$work/stranger.log"
stranger=$unit_pid
stranger_started=$SECONDS
run_unit "$wunit" "$work/worker.env" "$work/worker.log"
worker=$unit_pid

# The slot count the log shows is the one the environment file set.
slots="$(env_get "$work/worker.env" EMC_SLOTS)"
joined() { grep -q "joined with $slots slot" "$work/coord.log" && "$EMCCTL" workers --coordinator "$control" | grep -q .; }
if wait_for 30 joined; then
  ok "both units start from their ExecStart lines, and the worker joins (coordinator log, emcctl workers)"
else
  not_ok "the worker did not join within 30 s" "coordinator: $(tail -n 5 "$work/coord.log")" \
    "worker: $(tail -n 5 "$work/worker.log")"
fi

check "emcctl launch on the unit's control endpoint is accepted" \
  "$EMCCTL" launch "$work/small.yaml" --coordinator "$control"
q() { sqlite3 -batch -noheader "$db" "$1" 2>/dev/null; }
done_small() { [[ "$(q "SELECT state FROM campaigns WHERE name = 'small'")" == "done" ]]; }
# Give up at once when the worker has exited.
done_or_dead() { done_small || ! kill -0 "$worker" 2>/dev/null; }
wait_for 300 done_or_dead || true
if done_small; then
  ok "the campaign finishes, in the database the environment file names ($(q "SELECT count(*) FROM trials WHERE state IN ('fit', 'no_fit')") trials)"
else
  not_ok "campaign 'small' not done (within 300 s, or the worker exited)" "$(q "SELECT state, count(*) FROM trials GROUP BY state")"
fi

# ---- the refused worker ------------------------------------------------------------
# It has run since the start; give it time for a retry or two.
while ((SECONDS - stranger_started < 14)); do sleep 0.5; done
kill -TERM "$stranger" 2>/dev/null || true
wait "$stranger" 2>/dev/null || true
refusals="$(grep -c "refused this worker's key" "$work/stranger.log" || true)"
sendfail="$(grep -c 'send failed' "$work/stranger.log" || true)"
retries="$(grep -c 'refused a worker' "$work/coord.log" || true)"
if [[ $refusals == 1 && $sendfail == 0 ]]; then
  ok "a worker whose key is not allow-listed says so once, and no 'send failed'"
else
  not_ok "the refused worker logged the refusal $refusals time(s) and 'send failed' $sendfail time(s)" \
    "$(head -n 8 "$work/stranger.log")"
fi
# Over about 14 s: the first try and one or two retries 10 s apart (not
# libzmq's one a second, nor none at all).
if ((retries >= 2 && retries <= 3)); then
  ok "the refused worker keeps trying, slowly ($retries handshakes in about 14 s)"
else
  not_ok "the refused worker tried $retries time(s) in about 14 s (want 2-3)"
fi

# ---- SIGTERM in the middle of a trial ------------------------------------------------
"$EMCCTL" launch "$work/long.yaml" --coordinator "$control" >/dev/null
running() { [[ "$(q "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id JOIN cells c ON c.id = t.cell_id JOIN campaigns g ON g.id = c.campaign_id WHERE g.name = 'long' AND a.state = 'running'")" -ge 1 ]]; }
running_or_dead() { running || ! kill -0 "$worker" 2>/dev/null; }
wait_for 60 running_or_dead || true
if running; then
  sleep 1
  t0=$(now_ms)
  kill -TERM "$worker"
  rc=0
  gone "$worker" "$((stop_s + 5))" || rc=$?
  elapsed_ms=$(($(now_ms) - t0))
  if [[ $rc == 0 ]] && ((elapsed_ms < stop_s * 1000)) && grep -q 'said bye' "$work/coord.log"; then
    ok "SIGTERM mid-trial: the worker says bye after $((elapsed_ms / 1000)) s, within TimeoutStopSec=$stop_s"
  else
    not_ok "SIGTERM mid-trial: the worker took $((elapsed_ms / 1000)) s (TimeoutStopSec=$stop_s) or never said bye" \
      "$(tail -n 5 "$work/worker.log")"
  fi
  check "its trial was reported preempted" \
    bash -c "[[ \$(sqlite3 '$db' \"SELECT count(*) FROM attempts WHERE state = 'preempted'\") -ge 1 ]]"
else
  not_ok "the long trial never started"
  not_ok "no trial to preempt"
fi

kill -TERM "$coord"
check "the coordinator stops on SIGTERM" gone "$coord" 30

exit $((failures > 0))
