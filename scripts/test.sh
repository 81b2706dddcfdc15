#!/usr/bin/env bash
# Build emc twice (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and run every test in both builds. Installs what it needs first.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

export OPENBLAS_NUM_THREADS=1
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0 failed=0 skipped=0

run_build() {
  local dir="$1"; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  local out rc=0
  out="$(mktemp)"
  meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$out" || rc=$?
  # meson's summary counts every TAP subtest (each cmocka test, each check
  # of the integration scripts).
  local ok fail skip xfail xpass timeout
  ok=$(awk '/^Ok:/ {print $2}' "$out"); ok=${ok:-0}
  fail=$(awk '/^Fail:/ {print $2}' "$out"); fail=${fail:-0}
  skip=$(awk '/^Skipped:/ {print $2}' "$out"); skip=${skip:-0}
  xfail=$(awk '/^Expected Fail:/ {print $3}' "$out"); xfail=${xfail:-0}
  xpass=$(awk '/^Unexpected Pass:/ {print $3}' "$out"); xpass=${xpass:-0}
  timeout=$(awk '/^Timeout:/ {print $2}' "$out"); timeout=${timeout:-0}
  rm -f "$out"
  passed=$((passed + ok))
  failed=$((failed + fail + xpass + timeout))
  skipped=$((skipped + skip + xfail))
  if [[ $rc -ne 0 && $((fail + xpass + timeout)) -eq 0 ]]; then
    failed=$((failed + 1)) # meson failed without a counted failure
  fi
}

build_ok=1
run_build build || build_ok=0
run_build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false || build_ok=0
if [[ $build_ok -eq 0 && $failed -eq 0 ]]; then
  failed=1
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $failed -eq 0 ]]
