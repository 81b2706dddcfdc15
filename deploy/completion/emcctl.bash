# Bash completion for emcctl, emc-coordinator and emc-worker.
# shellcheck shell=bash
#
# Nothing here lists a command or an option. Each TAB asks the program
# being completed: `emcctl --help` for the commands, the first line of
# `emcctl help CMD` (the command's usage, from the same table that prints
# `--help`) for its options, their arguments and its positional words,
# `emc-coordinator --help` / `emc-worker --help` for theirs. A new command
# or option completes the day it is added, and the completion of an older
# or newer binary is that binary's. Each call costs one run of the
# program, a few milliseconds.
#
# What an argument completes to follows from the word the usage names it
# by: FILE and SPEC are file names, DIR directories, a list such as
# table|csv|json its items, CAMPAIGN the campaigns in the database (the
# first column of `emcctl results --format csv`, the machine-readable view
# that stays put; the database is --db, or the one whose default control
# socket --coordinator names, or ./emc.db).
#
# Load it with `source emcctl.bash`, or install it where bash-completion
# finds it by command name (meson install does: emcctl, with
# emc-coordinator and emc-worker linked to it).

# _emc_options USAGE: one "OPTION ARG" line per option in USAGE, ARG "-"
# for an option that takes none. An argument is the word after the option
# when it is upper case (FILE, N) or a list of lower-case words (a|b|c).
_emc_options() {
  grep -oE -- '--[a-z][a-z0-9-]*( ([A-Z][A-Z_]*|[a-z]+(\|[a-z]+)+))?' <<<"$1" |
    awk '{ print $1, (NF > 1 ? $2 : "-") }' | sort -u -k1,1
}

# _emc_positionals USAGE COMMAND: the positional words of a command's
# usage line, in order (upper-case words that are no option's argument).
_emc_positionals() {
  local line="${1#*"emcctl $2"}" w after_option=0
  for w in ${line//[\[\]()]/ }; do
    if [[ $w == --* ]]; then
      after_option=1
    elif ((after_option)) && [[ $w =~ ^([A-Z][A-Z_]*|[a-z]+(\|[a-z]+)+)$ ]]; then
      after_option=0
    elif [[ $w =~ ^[A-Z][A-Z_]*$ ]]; then
      after_option=0
      echo "$w"
    else
      after_option=0
    fi
  done
}

# _emc_campaigns PROG WORD...: the campaign names of the database the
# command line names.
_emc_campaigns() {
  local prog="$1" db="emc.db" i
  shift
  local -a w=("$@")
  for ((i = 0; i + 1 < ${#w[@]}; i++)); do
    case "${w[i]}" in
      --db) db="${w[i + 1]}" ;;
      --coordinator) [[ ${w[i + 1]} == ipc://*.ctl ]] && db="${w[i + 1]#ipc://}" && db="${db%.ctl}" ;;
    esac
  done
  [[ -r $db ]] || return 0
  "$prog" results --db "$db" --format csv 2>/dev/null | tail -n +2 | cut -d, -f1 | tr -d '"' | sort -u
}

# _emc_value KIND CUR [PROG WORD...]: COMPREPLY for an argument of KIND.
_emc_value() {
  local kind="$1" cur="$2"
  shift 2
  case "$kind" in
    FILE | SPEC)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      ;;
    DIR)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      ;;
    CAMPAIGN)
      mapfile -t COMPREPLY < <(compgen -W "$(_emc_campaigns "$@")" -- "$cur")
      ;;
    *\|*)
      mapfile -t COMPREPLY < <(compgen -W "${kind//|/ }" -- "$cur")
      ;;
    *) COMPREPLY=() ;; # a number, an endpoint, a name: nothing to offer
  esac
}

# _emc_complete_options USAGE CUR PREV: complete an option or its
# argument; 1 when CUR is neither (a positional word).
_emc_complete_options() {
  local usage="$1" cur="$2" prev="$3" opts arg
  shift 3
  opts="$(_emc_options "$usage")"
  arg="$(awk -v o="$prev" '$1 == o { print $2 }' <<<"$opts")"
  if [[ -n $arg && $arg != - ]]; then
    _emc_value "$arg" "$cur" "$@"
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(cut -d' ' -f1 <<<"$opts") --help" -- "$cur" | sort -u)
    return 0
  fi
  return 1
}

_emcctl() {
  local prog="${COMP_WORDS[0]}" cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmd usage opts i k=0
  ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
  COMPREPLY=()
  local commands
  commands="$("$prog" --help 2>/dev/null | awk '/^  [a-z]/ { print $1 }')"
  if ((COMP_CWORD == 1)); then
    mapfile -t COMPREPLY < <(compgen -W "$commands help --help --version" -- "$cur")
    return 0
  fi
  cmd="${COMP_WORDS[1]}"
  if [[ $cmd == help ]]; then
    ((COMP_CWORD == 2)) && mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    return 0
  fi
  usage="$("$prog" help "$cmd" 2>/dev/null | head -1)"
  [[ $usage == "usage: emcctl $cmd"* ]] || return 0
  _emc_complete_options "$usage" "$cur" "$prev" "$prog" "${COMP_WORDS[@]}" && return 0
  # A positional word: which one, counting those before it.
  opts="$(_emc_options "$usage")"
  for ((i = 2; i < COMP_CWORD; i++)); do
    local word="${COMP_WORDS[i]}" a
    if [[ $word == -* ]]; then
      a="$(awk -v o="$word" '$1 == o { print $2 }' <<<"$opts")"
      [[ -n $a && $a != - ]] && ((i++))
    else
      ((k++))
    fi
  done
  local -a pos
  mapfile -t pos < <(_emc_positionals "$usage" "$cmd")
  ((k < ${#pos[@]})) && _emc_value "${pos[k]}" "$cur" "$prog" "${COMP_WORDS[@]}"
  return 0
}

# emc-coordinator and emc-worker: options only, from their --help.
_emc_daemon() {
  local prog="${COMP_WORDS[0]}" cur="${COMP_WORDS[COMP_CWORD]}" prev=""
  ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
  COMPREPLY=()
  _emc_complete_options "$("$prog" --help 2>/dev/null)" "$cur" "$prev" || true
}

complete -F _emcctl emcctl
complete -F _emc_daemon emc-coordinator emc-worker
