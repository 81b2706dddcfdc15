#!/usr/bin/env bash
# Run a libFuzzer target for a bounded time, from a copy of its seed
# corpus (the source tree is never written), and report one TAP check named
# after the target.
#
#   fuzz_run.sh FUZZER CORPUS_DIR ARTIFACT_DIR [SECONDS]
#
# A crash, leak, timeout or out-of-memory leaves the input in ARTIFACT_DIR
# as TARGET-crash-*, -leak-*, -timeout-* or -oom-* (TARGET the fuzzer's
# file name), prints it in hex, and fails the check. An input is a timeout
# after 30 s: the largest spec grid takes several seconds under the
# sanitizers and coverage, on a loaded machine.
set -euo pipefail

fuzzer="$1" corpus="$2" artifacts="$3" seconds="${4:-60}"
name="$(basename "$fuzzer")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/"

echo "1..1"
rc=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$artifacts/$name-" "$work/corpus" >"$work/log" 2>&1 || rc=$?
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/log" | sed 's/^/# /' || true

if [[ $rc -eq 0 ]]; then
  echo "ok 1 - $name: no crash in ${seconds} s"
  exit 0
fi
tail -n 60 "$work/log" | sed 's/^/# /'
artifact="$(grep -oE "Test unit written to [^ ]+" "$work/log" | tail -n 1 | cut -d' ' -f5 || true)"
if [[ -n "$artifact" && -f "$artifact" ]]; then
  echo "# input ($artifact):"
  od -An -tx1 -v "$artifact" | sed 's/^/#/'
fi
echo "not ok 1 - $name: libFuzzer exited with status $rc"
exit 1
