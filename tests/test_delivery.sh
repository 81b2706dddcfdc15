#!/usr/bin/env bash
# Dataset delivery with real processes: a worker that may not read the
# spec's files fetches the dataset from the coordinator by content hash,
# caches it, reuses the cache after a restart, fetches again when the cached
# copy is corrupt, and resumes a transfer cut by killing the coordinator.
# Speaks TAP.
#
# usage: test_delivery.sh COORDINATOR WORKER EMCCTL MKIDX
set -euo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-delivery-XXXXXX)"
pids=()
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

q() { sqlite3 -batch -noheader "$work/emc.db" "$1" 2>/dev/null || true; }
spec() { # spec NAME: a tiny campaign on the shared data
  cat >"$work/$1.yaml" <<YAML
name: $1
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model: {family: mlp, widths: [[4]], activation: relu}
optimizer: {name: adam, lr: 0.02, batch: 32}
seeds: [0]
search: {start: 8, precision: 0.5, max_n: 64}
budget: {max_epochs: 100, plateau_epochs: 20}
YAML
}
campaign_done() { test "$(q "SELECT state FROM campaigns WHERE name='$1'")" = "done"; }
start_coordinator() {
  "$COORD" --db "$work/emc.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/ctl" --insecure \
    --heartbeat-ms 200 --lease-ms 2000 --grace-ms 5000 2>>"$work/coord.log" &
  coord=$!
  pids+=("$coord")
}
start_worker() { # start_worker LOG [extra options]
  local log="$1"; shift
  "$WORKER" --connect "tcp://127.0.0.1:$port" --insecure --slots 1 --no-local-data \
    --cache-dir "$work/cache" "$@" 2>"$work/$log" &
  worker=$!
  pids+=("$worker")
}
stop_worker() { kill -TERM "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true; }
launch() { "$EMCCTL" launch "$work/$1.yaml" --coordinator "ipc://$work/ctl" >/dev/null; }

echo "1..9"

# 20000 images of 28×28: about 63 MB to transfer.
"$MKIDX" --out "$work/data" --n 20000 --classes 4 --rows 28 --cols 28 --seed 3 --noise 0.5 --gzip
port="$(free_port)"
start_coordinator
wait_for 30 test -S "$work/ctl"

# ---- 1. an empty cache: fetch, verify, keep ------------------------------------
spec first
start_worker w1.log
launch first
if wait_for 300 campaign_done first; then ok "a worker with an empty cache trains the campaign"; else not_ok "first campaign finished"; fi
stop_worker
size="$(sed -n 's/.*fetched \([0-9]*\) bytes.*/\1/p' "$work/w1.log" | head -1)"
cached=("$work"/cache/*.emcd)
check "it fetched the dataset from the coordinator and kept it in its cache" \
  test -n "$size" -a "${#cached[@]}" = 1 -a "$(stat -c %s "${cached[0]}" 2>/dev/null)" = "$size"
hash="$(q "SELECT hex(dataset_hash) FROM campaigns WHERE name='first'" | tr 'A-F' 'a-f')"
check "the cache file is named by the dataset's content hash" test "$(basename "${cached[0]}" .emcd)" = "$hash"

# ---- 2. a restarted worker reuses the cache -------------------------------------
spec second
start_worker w2.log
launch second
if wait_for 300 campaign_done second; then ok "a restarted worker trains the next campaign"; else not_ok "second campaign finished"; fi
stop_worker
check "it used its cache without any transfer" bash -c "! grep -q 'fetching dataset' '$work/w2.log'"

# ---- 3. a corrupt cache file is fetched again -------------------------------------
printf 'garbage!' | dd of="${cached[0]}" bs=1 seek=4096 conv=notrunc status=none
spec third
start_worker w3.log
launch third
if wait_for 300 campaign_done third; then ok "with a corrupt cache file the campaign still finishes"; else not_ok "third campaign finished"; fi
stop_worker
check "the corrupt file was detected by its hash and fetched again" \
  bash -c "grep -q 'content hash mismatch' '$work/w3.log' && grep -q 'fetched' '$work/w3.log'"

# ---- 4. a transfer cut by killing the coordinator resumes ----------------------------
rm -f "$work"/cache/*.emcd
spec fourth
start_worker w4.log --fetch-mbps 20
launch fourth
part_started() { local f=("$work"/cache/*.part); [[ -f "${f[0]}" ]] && (($(stat -c %s "${f[0]}") > 2000000)); }
if wait_for 60 part_started; then
  kill -KILL "$coord"
  wait "$coord" 2>/dev/null || true
  sleep 1
  start_coordinator
  if wait_for 300 campaign_done fourth; then ok "after the coordinator was killed mid-transfer the campaign finishes"
  else not_ok "fourth campaign finished" "$(tail -5 "$work/w4.log")"; fi
  check "the worker resumed the transfer where it stopped, and the copy verified" \
    bash -c "grep -q 'resuming the dataset transfer at byte [1-9]' '$work/w4.log' && grep -q 'fetched' '$work/w4.log' && ! grep -q 'mismatch' '$work/w4.log'"
else
  not_ok "the transfer started" "$(tail -5 "$work/w4.log")"
  not_ok "the transfer resumed"
fi
stop_worker
kill -TERM "$coord" 2>/dev/null || true
wait "$coord" 2>/dev/null || true

exit $((failures > 0))
