#!/usr/bin/env bash
# The man pages say what the programs say: every command `emcctl --help`
# lists has its section (.SS) in emcctl.1, and every long option of a
# command's usage (`emcctl help CMD`) appears in that section; every long
# option `emc-coordinator --help` and `emc-worker --help` print appears in
# their pages; and each built page renders with man(1) without a warning.
# The checks read the roff (fonts stripped), not the rendered text, where
# a line break may split an option. Speaks TAP.
#
# usage: test_man.sh COORDINATOR WORKER EMCCTL [MANDIR]
#   MANDIR holds the built emcctl.1, emc-coordinator.1 and emc-worker.1;
#   without it (no scdoc when the build was configured) the test skips.
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MANDIR="${4:-}"
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -z $MANDIR ]]; then
  skip "the man pages were not built (scdoc missing)"
  echo "1..$n"
  exit 0
fi

# plain PAGE: the page's roff with font escapes and \- undone.
plain() { sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$MANDIR/$1"; }
# section PAGE NAME: the lines of subsection NAME, up to the next heading.
section() { plain "$1" | awk -v s=".SS $2" '$0 == s { on = 1; next } /^\.S[HS] / { on = 0 } on'; }
long_options() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
# names OPTION: stdin names OPTION as a whole word (--cache-mb is not --cache).
names() { grep -q -- "$1\([^a-z0-9-]\|\$\)"; }

# ---- emcctl: a section per command, the command's options in it ---------------
mapfile -t commands < <("$EMCCTL" --help | awk '/^  [a-z]/ { print $1 }')
check "emcctl --help lists commands (${#commands[@]})" test "${#commands[@]}" -gt 5
missing=()
for c in "${commands[@]}"; do
  text="$(section emcctl.1 "$c")"
  if [[ -z $text ]]; then
    missing+=("emcctl.1 has no section for '$c' (.SS $c)")
    continue
  fi
  for o in $("$EMCCTL" help "$c" | head -1 | long_options); do
    names "$o" <<<"$text" || missing+=("emcctl.1, section $c: no $o (emcctl help $c names it)")
  done
done
if ((${#missing[@]} == 0)); then ok "emcctl.1 has a section for every command, naming each of its options"
else not_ok "emcctl.1 against emcctl --help" "${missing[@]}"; fi
missing=()
page_text="$(plain emcctl.1)"
for o in $("$EMCCTL" --help | head -1 | long_options); do
  names "$o" <<<"$page_text" || missing+=("emcctl.1: no $o")
done
if ((${#missing[@]} == 0)); then ok "emcctl.1 names --help and --version"; else not_ok "emcctl.1" "${missing[@]}"; fi

# ---- the daemons: every option of --help in the page ----------------------------
for p in "$COORD" "$WORKER"; do
  name="$(basename "$p")"
  missing=()
  page_text="$(plain "$name.1")"
  for o in $("$p" --help | long_options) --help; do
    names "$o" <<<"$page_text" || missing+=("$name.1: no $o ($name --help names it)")
  done
  if ((${#missing[@]} == 0)); then ok "$name.1 names every option of $name --help"
  else not_ok "$name.1 against $name --help" "${missing[@]}"; fi
done

# ---- each page renders, with the sections a man page has --------------------------
for page in emcctl.1 emc-coordinator.1 emc-worker.1; do
  if ! command -v man >/dev/null; then
    check "$page is roff with a title" grep -q '^\.TH ' "$MANDIR/$page"
    continue
  fi
  out="$(LC_ALL=C MANWIDTH=80 man -l "$MANDIR/$page" 2>/dev/null | col -b)"
  warnings="$(LC_ALL=C MANWIDTH=80 man --warnings -l "$MANDIR/$page" 2>&1 >/dev/null)"
  sections="$(grep -oE '^(NAME|SYNOPSIS|DESCRIPTION|OPTIONS|COMMANDS|EXIT STATUS|EXAMPLES|SEE ALSO)$' <<<"$out" | tr '\n' ,)"
  if [[ -z $warnings && $sections =~ ^NAME,SYNOPSIS,DESCRIPTION,(OPTIONS|COMMANDS),EXIT\ STATUS,EXAMPLES,SEE\ ALSO,$ ]]; then
    ok "man -l $page renders without warnings: $sections"
  else
    not_ok "man -l $page" "sections: $sections" "$warnings"
  fi
done

echo "1..$n"
exit $((failures > 0))
