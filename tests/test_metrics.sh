#!/usr/bin/env bash
# /metrics scraped by a real Prometheus: a real emc-coordinator with
# --metrics and two real workers run a small campaign; a Prometheus this
# script configures scrapes the coordinator every second; once the
# campaign is done and Prometheus has scraped after that, its HTTP API must
# show the target up and series that agree with the database: trials by
# state summed is the trial count and fit / no_fit are the database's,
# results committed are the FIT + NO_FIT count, and the histograms count
# what was dispatched and recorded. Then /metrics itself: another path is
# 404, a POST 405, and a second coordinator on the same metrics port exits
# 1 naming the address; restarted, the coordinator reports the database's
# trials by state at once. Speaks TAP.
#
# usage: test_metrics.sh COORDINATOR WORKER EMCCTL MKIDX
# shellcheck disable=SC2317 # the predicates are called through wait_for
set -euo pipefail

COORD="$1" WORKER="$2" MKIDX="$4" # $3, emcctl, is not needed here
work="$(mktemp -d /tmp/emc-metrics-XXXXXX)"
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# (its kills of processes already gone fail: that is not the script's status)
trap 'rc=$?; reap_and_clean "${EMC_METRICS_KEEP:-}" || true; exit $rc' EXIT

echo "1..15"

PROMETHEUS="$(command -v prometheus || true)"
if [[ -z "$PROMETHEUS" ]]; then
  for _ in $(seq 1 15); do skip "prometheus is not installed (scripts/setup.sh installs it)"; done
  exit 0
fi

q() { qd "$work/emc.db" "$1"; }

"$MKIDX" --out "$work/data" --n 300 --classes 3 --rows 6 --cols 6 --seed 5 --noise 0.8 --gzip
cat >"$work/spec.yaml" <<'YAML'
name: metrics
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model: {family: mlp, widths: [[2], [6]], activation: relu}
optimizer: {name: adam, lr: 0.02, batch: 32}
seeds: [0]
search: {start: 8, precision: 0.25}
budget: {max_epochs: 400, plateau_epochs: 50}
YAML

port="$(free_port)"
mport="$(free_port)"
pport="$(free_port)"
while [[ "$mport" == "$port" ]]; do mport="$(free_port)"; done
while [[ "$pport" == "$port" || "$pport" == "$mport" ]]; do pport="$(free_port)"; done

# ---- the coordinator, two workers and Prometheus -------------------------------
"$COORD" --db "$work/emc.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/ctl" --insecure \
  --spec "$work/spec.yaml" --metrics "127.0.0.1:$mport" --heartbeat-ms 200 --lease-ms 2000 \
  2>"$work/coord.log" &
coord=$!
pids+=("$coord")
for w in 1 2; do
  "$WORKER" --connect "tcp://127.0.0.1:$port" --insecure --slots 1 --blas-threads 1 2>"$work/worker$w.log" &
  pids+=("$!")
done

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: emc
    static_configs:
      - targets: ['127.0.0.1:$mport']
YAML
"$PROMETHEUS" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" 2>"$work/prometheus.log.txt" &
pids+=("$!")

metrics_up() { curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null; }
if wait_for 30 metrics_up; then ok "the coordinator serves /metrics on 127.0.0.1:$mport"
else not_ok "/metrics answered" "$(tail -5 "$work/coord.log")"; fi

campaign_done() { [[ "$(q "SELECT state FROM campaigns WHERE name = 'metrics'")" == "done" ]]; }
if wait_for 120 campaign_done; then ok "the campaign finished"
else not_ok "the campaign finished" "$(tail -5 "$work/coord.log")"; fi

# One value of a PromQL query through Prometheus's HTTP API ("" if none).
promql() {
  curl -sf --get "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# Prometheus has scraped the target since the campaign ended (the time of
# its last sample is later than now_done) and the scrape is up.
done_at="$(date +%s)"
scraped_after() {
  local t
  t="$(curl -sf --get "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=timestamp(up{job="emc"})' |
    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(int(float(r[0]["value"][1])) if r else 0)')"
  # one more second: the gauges are read at most once a second
  ((t >= done_at + 2))
}
if wait_for 30 scraped_after; then ok "Prometheus scraped the coordinator after the campaign ended"
else not_ok "Prometheus scraped after the end" "$(tail -5 "$work/prometheus.log.txt")"; fi

check "the target is up" test "$(promql 'up{job="emc"}')" = 1

trials="$(q "SELECT count(*) FROM trials")"
fit="$(q "SELECT count(*) FROM trials WHERE state = 'fit'")"
nofit="$(q "SELECT count(*) FROM trials WHERE state = 'no_fit'")"
note "database: $trials trials, $fit fit, $nofit no_fit"
check "trials by state sum to the database's $trials trials" \
  test "$(promql 'sum(emc_trials{job="emc"})')" = "$trials"
check "every trial state is a series, zeros included" test "$(promql 'count(emc_trials{job="emc"})')" = 6
check "fit and no_fit are the database's ($fit, $nofit)" test \
  "$(promql 'emc_trials{job="emc",state="fit"}') $(promql 'emc_trials{job="emc",state="no_fit"}')" = "$fit $nofit"
check "results committed (fit + no_fit) equal the database's $((fit + nofit))" test \
  "$(promql 'sum(emc_results_committed_total{job="emc",outcome=~"fit|no_fit"})')" = "$((fit + nofit))"

check "both workers alive, none busy once the campaign is done" test \
  "$(promql 'emc_workers{job="emc",state="alive"}') $(promql 'emc_workers{job="emc",state="busy"}')" = "2 0"

recorded="$(promql 'sum(emc_results_committed_total{job="emc"})')"
dcount="$(promql 'emc_dispatch_latency_seconds_count{job="emc"}')"
dinf="$(promql 'emc_dispatch_latency_seconds_bucket{job="emc",le="+Inf"}')"
tcount="$(promql 'emc_trial_duration_seconds_count{job="emc"}')"
tinf="$(promql 'emc_trial_duration_seconds_bucket{job="emc",le="+Inf"}')"
note "recorded $recorded, dispatched $dcount (+Inf $dinf), durations $tcount (+Inf $tinf)"
check "the histograms count: every recorded result has a duration, and was dispatched" \
  test "${tcount:-0}" -gt 0 -a "${tcount:-0}" = "${recorded:-x}" -a "${dcount:-0}" -ge "${tcount:-1}"
check "the +Inf buckets equal the _counts" test "${dinf:-x} ${tinf:-y}" = "${dcount:-0} ${tcount:-0}"

# ---- /metrics itself ----------------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "another path is 404, a POST is 405" test \
  "$(code "http://127.0.0.1:$mport/") $(code "http://127.0.0.1:$mport/metricsx") $(code -X POST "http://127.0.0.1:$mport/metrics")" \
  = "404 404 405"

port2="$(free_port)"
rc=0
timeout 20 "$COORD" --db "$work/second.db" --bind "tcp://127.0.0.1:$port2" --control "ipc://$work/ctl2" --insecure \
  --metrics "$mport" 2>"$work/second.log" || rc=$?
check "a second coordinator on the same metrics port exits 1 naming 127.0.0.1:$mport" \
  bash -c "test $rc = 1 && grep -q '127.0.0.1:$mport.*in use' '$work/second.log' && test ! -e '$work/second.db'"

# ---- a restarted coordinator: gauges from the database, counters from zero ---------
kill -TERM "$coord"
wait_gone "$coord" 20 || true
"$COORD" --db "$work/emc.db" --bind "tcp://127.0.0.1:$port" --control "ipc://$work/ctl" --insecure \
  --metrics "127.0.0.1:$mport" 2>"$work/restart.log" &
pids+=("$!")
scrape() { curl -sf "http://127.0.0.1:$mport/metrics"; }
sample() { scrape | awk -v s="$1" '$1 == s { print $2 }'; }
if wait_for 30 metrics_up; then
  check "after a restart, on the same port: fit $fit, no_fit $nofit, $trials trials; no results counted yet" test \
    "$(sample 'emc_trials{state="fit"}') $(sample 'emc_trials{state="no_fit"}') $(scrape | awk '$1 ~ /^emc_trials[{]/ { n += $2 } END { print n }') $(sample 'emc_results_committed_total{outcome="fit"}')" \
    = "$fit $nofit $trials 0"
else
  not_ok "the restarted coordinator serves /metrics" "$(tail -5 "$work/restart.log")"
fi

stop_all "${pids[@]}" || true # the statuses of processes already reaped
no_sanitizer_reports

exit $((failures > 0))
