# lib.sh — what the end-to-end test scripts share: TAP output and ports.
# Source it after setting nothing; it defines n and failures.
# shellcheck shell=bash

n=0
failures=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # check DESCRIPTION COMMAND...: ok if COMMAND succeeds, else not ok with its output
  local desc="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then ok "$desc"; else not_ok "$desc" "$out"; fi
}
wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds; 1 on time-out
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# A port nobody listens on, below the ephemeral range (32768 and up on
# Linux): there, an outgoing connection's source port could take it before
# the coordinator binds, and a socket connecting to an unbound port can end
# up connected to itself.
free_port() {
  local p
  for p in $(shuf -i 20000-32000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo 25556
}

# What the workers said and what the database kept, one attempt a line as
# "ATTEMPT N OUTCOME EPOCHS", sorted: the results the workers' logs say they
# sent (every FIT / NO_FIT a worker finished, whether or not it counted), and
# the attempts a database recorded as done with their trial's outcome.
worker_reported() { # worker_reported LOG...
  sed -nE 's/.*attempt ([0-9]+): n=([0-9]+) (fit|no_fit) \([a-z_]+\) after ([0-9]+) epochs.*/\1 \2 \3 \4/p' "$@" | sort -u
}
db_recorded() { # db_recorded DB
  sqlite3 -batch -noheader "$1" "SELECT a.id || ' ' || t.n || ' ' || t.state || ' ' || ifnull(t.epochs, '?') FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE a.state = 'done'" | sort
}
# Done attempts that no worker reported so: a result recorded that nobody
# sent, or recorded otherwise than sent. Empty when all is well.
unreported() { # unreported DB LOG...
  comm -23 <(db_recorded "$1") <(worker_reported "${@:2}")
}
all_reported() { # all_reported DB LOG...: 1, with the culprits, when unreported finds any
  local u
  u="$(unreported "$@")"
  [[ -z "$u" ]] || { echo "recorded but never reported so:"; head -20 <<<"$u"; return 1; }
}

# ---- for the scripts that start, kill and wait for processes ----
note() { echo "# $*"; }
qd() { sqlite3 -batch -noheader "$1" "$2" 2>/dev/null; }
now_ms() { date +%s%3N; }
rand_ms() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); } # rand_ms LO HI
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# Wait until process $1 has exited, at most $2 seconds; 0 if it did.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  ! kill -0 "$1" 2>/dev/null
}

# The coordinator $1 must finish by itself within $2 seconds and exit 0.
finish() { # finish PID SECONDS LABEL
  local rc=0
  if wait_gone "$1" "$2"; then
    wait "$1" || rc=$?
    if [[ $rc -eq 0 ]]; then ok "$3: the coordinator finishes the campaign and exits 0"
    else not_ok "$3: the coordinator exits with status $rc"; fi
  else
    not_ok "$3: the coordinator did not finish within $2 s"
    kill -TERM "$1" 2>/dev/null
    wait_gone "$1" 10 || kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
  fi
}

stop_all() { # stop_all PID... : SIGTERM, then SIGKILL whatever is left
  local p
  for p in "$@"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
in_list() { local x="$1"; shift; local y; for y in "$@"; do [[ "$x" == "$y" ]] && return 0; done; return 1; }

# How many optimizer steps of the spec's first trial take about SECONDS on
# this build and machine (a sanitizer build trains several times slower
# than a plain one): the spec's first trial is run alone with its own
# max_steps, and that is scaled. Scripts whose faults must hit trials
# of a given length size their step budgets with it, so that they take
# about as long under sanitizers as without.
first_trial_done() { [[ "$(qd "$1" "SELECT count(*) FROM trials WHERE id = 1 AND state IN ('fit', 'no_fit')")" == 1 ]]; }
calibrate_steps() { # calibrate_steps COORDINATOR WORKER SPEC DIR SECONDS
  local port db="$4/calibrate.db" c w steps secs
  port="$(free_port)"
  "$1" --db "$db" --bind "tcp://127.0.0.1:$port" --control "ipc://$db.ctl" --insecure --spec "$3" 2>>"$4/calibrate.log" &
  c=$!
  "$2" --slots 1 --blas-threads 1 --connect "tcp://127.0.0.1:$port" --insecure 2>>"$4/calibrate.log" &
  w=$!
  wait_for 600 first_trial_done "$db"
  steps="$(qd "$db" "SELECT steps FROM trials WHERE id = 1")"
  secs="$(qd "$db" "SELECT train_seconds FROM trials WHERE id = 1")"
  stop_all "$w" "$c"
  awk -v s="${steps:-0}" -v t="${secs:-0}" -v want="$5" 'BEGIN { if (s < 1 || t <= 0) { print 0; exit }
    printf "%d\n", s * want / t }'
}

# The EXIT trap of the process scripts: every process in the array pids is
# continued (it may be stopped) and killed, and the directory $work removed
# unless KEEP is non-empty.
# shellcheck disable=SC2154 # pids and work are the sourcing script's
reap_and_clean() { # reap_and_clean KEEP
  local p
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n "$1" ]]; then echo "# kept $work"; else rm -rf "$work"; fi
}

# One check: no process whose log is in $work reported a sanitizer error
# (SIGKILLed processes report nothing; those that exited do).
# shellcheck disable=SC2154 # work is the sourcing script's
no_sanitizer_reports() {
  local reports
  mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work"/*.log 2>/dev/null)
  if ((${#reports[@]} == 0)); then ok "no sanitizer report in any process's log"
  else not_ok "sanitizer reports" "${reports[@]}" \
    "$(grep -hE -A8 'ERROR: (Address|Leak)Sanitizer|runtime error:' "${reports[@]}" | head -40)"; fi
}
