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
