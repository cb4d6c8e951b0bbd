#!/usr/bin/env bash
# The shell completion scripts checked in under completions/ are exactly what
# `meterctl completion SHELL` prints, load in their shell without error, and complete
# subcommands and option values.
#
# Usage: completions_test.sh METERCTL COMPLETIONS_DIR
#
# The scripts run by bash -c, zsh -c and fish -c are single-quoted on purpose.
# shellcheck disable=SC2016
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 METERCTL COMPLETIONS_DIR" >&2
  exit 2
fi
# Absolute, since the completion checks run in a scratch directory.
meterctl=$(realpath -- "$1")
completions=$(realpath -- "$2")
trap 'echo "completions_test: unexpected failure at line $LINENO" >&2' ERR
if [[ ! -x $meterctl ]]; then
  echo "FAIL: $meterctl is not an executable meterctl (build it first)" >&2
  exit 1
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

for shell in bash zsh fish; do
  if ! command -v "$shell" >/dev/null; then
    echo "FAIL: $shell is not installed (scripts/install-deps --with-tests installs it)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The shells write history, dumps and universal variables under HOME: keep them here.
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_DATA_HOME=$work/home/.local/share
mkdir -p "$HOME"

declare -A files=([bash]=meterctl.bash [zsh]=_meterctl [fish]=meterctl.fish)

# 1. No drift: the checked-in scripts are byte for byte what this meterctl generates.
for shell in bash zsh fish; do
  file=$completions/${files[$shell]}
  if [[ ! -f $file ]]; then
    fail "$file is missing; generate it with: meterctl completion $shell > $file"
    continue
  fi
  status=0
  "$meterctl" completion "$shell" >"$work/generated.$shell" || status=$?
  if ((status != 0)); then
    fail "meterctl completion $shell exited with status $status"
    continue
  fi
  if ! cmp -s "$work/generated.$shell" "$file"; then
    fail "$file differs from \`meterctl completion $shell\`; regenerate it with:" \
      "meterctl completion $shell > $file"
    diff -u "$file" "$work/generated.$shell" | head -40 >&2 || true
  fi
done

if "$meterctl" completion powershell >/dev/null 2>&1; then
  fail "meterctl completion accepted an unknown shell"
fi

# 2. Each script loads in its shell without an error or a message.
bash_file=$completions/meterctl.bash
zsh_file=$completions/_meterctl
fish_file=$completions/meterctl.fish

check_loads() {  # NAME COMMAND...
  local name=$1
  shift
  local output
  if ! output=$("$@" 2>&1); then
    fail "$name does not load: $output"
  elif [[ -n $output ]]; then
    fail "$name prints while loading: $output"
  fi
}
check_loads "bash: source $bash_file" \
  bash --norc --noprofile -c 'source "$1" && complete -p meterctl | grep -q -- "-F _meterctl"' bash "$bash_file"
check_loads "zsh: source $zsh_file after compinit" \
  zsh -f -c 'autoload -U compinit && compinit -u -D && source "$1" && [[ $_comps[meterctl] == _meterctl ]]' \
  zsh "$zsh_file"
# As installed: found on $fpath by compinit through its #compdef line.
mkdir -p "$work/fpath"
cp "$zsh_file" "$work/fpath/_meterctl"
check_loads "zsh: $zsh_file from \$fpath" \
  zsh -f -c 'fpath=("$1" $fpath) && autoload -U compinit && compinit -u -D && [[ $_comps[meterctl] == _meterctl ]]' \
  zsh "$work/fpath"
check_loads "fish: source $fish_file" \
  fish --no-config -c 'source $argv[1]; and complete -c meterctl | string match -q "*__fish_seen_subcommand_from*"' \
  "$fish_file"

# 3. What each shell offers for a command line (the cursor at its end), one word a line.
bash_offers() {
  bash --norc --noprofile -c '
    source "$1"
    line=$2
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    _meterctl meterctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' bash "$bash_file" "$1" 2>/dev/null
}

fish_offers() {
  # `string replace` fails when no candidate has a description; that is no error here.
  fish --no-config -c 'source $argv[1]; complete -C $argv[2] | string replace -r "\t.*" ""; true' \
    "$fish_file" "$1" 2>/dev/null
}

# zsh completes only inside its line editor: drive an interactive zsh on a pseudo-terminal,
# record what the completion system adds, and stop after the first completion.
cat >"$work/zsh_capture.zsh" <<'EOF'
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) || return 1
  builtin compadd "$@"
  print -r -l -- "<offer>"${^__hits}"</offer>"
}
__stop() { print -r -- '<done/>'; exit }
comppostfuncs=(__stop)
EOF
cat >"$work/zsh_drive.zsh" <<'EOF'
zmodload zsh/zpty
zpty shell zsh -f -i
zpty -w shell "PS1='' RPROMPT=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; source $2"
zpty -n -w shell "$3"$'\t'
zpty -r shell output '*<done/>*'
zpty -d shell
print -r -- "$output" | tr -d '\r' | grep -o '<offer>[^<]*</offer>' | sed 's/<[/]*offer>//g'
EOF
zsh_offers() {
  timeout 30 zsh -f "$work/zsh_drive.zsh" "$work/fpath" "$work/zsh_capture.zsh" "$1" || true
}

expect() {  # SHELL LINE [!]WORD...: offered (or, with !, not offered)
  local shell=$1 line=$2
  shift 2
  local offered flat
  offered=$("${shell}_offers" "$line") || fail "$shell: completing '$line' failed"
  flat=$(tr '\n' ' ' <<<"$offered")
  for word in "$@"; do
    if [[ $word == !* ]]; then
      if grep -qxF -- "${word#!}" <<<"$offered"; then
        fail "$shell: '$line<TAB>' offers '${word#!}'; it should not (offered: $flat)"
      fi
    elif ! grep -qxF -- "$word" <<<"$offered"; then
      fail "$shell: '$line<TAB>' does not offer '$word' (offered: $flat)"
    fi
  done
}

# Where the shells look for files when a word is no path: an empty place.
cd "$work"
touch "$work/ready-file.json"
for shell in bash fish zsh; do
  expect "$shell" "meterctl modbus r" read
  expect "$shell" "meterctl modbus read --word-order " big little
  # Hidden subcommands are not offered, but still complete their own arguments.
  expect "$shell" "meterctl " modbus '!completion'
  expect "$shell" "meterctl completion " bash zsh fish
  # Global options are valid after any subcommand, and before one.
  expect "$shell" "meterctl modbus read --" --zero-based --word-order --output --meter '!--model'
  expect "$shell" "meterctl -o json modbus read --type " u16 float32 string
  expect "$shell" "meterctl modbus id --category " basic regular extended
  # An option without fixed values takes a file name (zsh lists it without its directory).
  file_offer=$work/ready-file.json
  [[ $shell == zsh ]] && file_offer=ready-file.json
  expect "$shell" "meterctl modbus read --rtu $work/ready-f" "$file_offer"
done
# Only bash has to find its way through `--option=value` split by COMP_WORDBREAKS.
expect bash "meterctl modbus read --word-order=l" --word-order=little
expect bash "meterctl modbus read --count 3 --parity " N E O

if ((failures > 0)); then
  echo "completions_test: $failures check(s) failed" >&2
  exit 1
fi
echo "completions_test: all checks passed"
