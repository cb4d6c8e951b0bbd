#!/usr/bin/env bash
# The man pages document what the programs really have, and render cleanly:
#   - every visible meterctl command has its page meterctl-COMMAND.1, and every
#     subcommand of it a subsection there;
#   - every page builds with scdoc and renders at 80 columns without a warning;
#   - command pages have NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES,
#     SEE ALSO, in that order;
#   - the OPTIONS of meterctl(1), meterctl-COMMAND(1) and meterd(8) list exactly the
#     options the programs' --help prints;
#   - the exit statuses match cli/exit_codes.hpp and firmware/daemon.hpp;
#   - the register map in meterctl-modbus(1) is what `meterctl modbus map --all` prints;
#   - every project page named in a page exists.
#
# Usage: man_pages_test.sh METERCTL METERD SOURCE_DIR [BUILT_MAN_DIR]
# BUILT_MAN_DIR, where the build put the roff pages, is rendered too when given.
set -euo pipefail

if (($# < 3 || $# > 4)); then
  echo "usage: $0 METERCTL METERD SOURCE_DIR [BUILT_MAN_DIR]" >&2
  exit 2
fi
meterctl=$1
meterd=$2
source_dir=$3
built_dir=${4:-}
man_dir=$source_dir/man
trap 'echo "man_pages_test: unexpected failure at line $LINENO" >&2' ERR
# One collation for sort and comm; rendering sets its own UTF-8 locale.
export LC_ALL=C

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

for program in "$meterctl" "$meterd"; do
  if [[ ! -x $program ]]; then
    echo "FAIL: $program is not executable (build it first)" >&2
    exit 1
  fi
done
for tool in scdoc man groff python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is not installed (scripts/install-deps --with-tests installs it)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The lines of one top-level section ("# NAME") of an scdoc page, without its heading.
section() {  # PAGE NAME
  awk -v heading="# $2" '$0 == heading { inside = 1; next } /^# / { inside = 0 } inside' "$1"
}

# The long options a CLI11 --help prints (its option lines start "  -").
help_options() {  # COMMAND...
  "$@" --help | awk '/^  -/ { print $1 }' | tr ',' '\n' | grep -E '^--[A-Za-z0-9]' | sort -u
}

# The long options an scdoc page lists as items of its OPTIONS section ("*--name* ...").
page_options() {  # PAGE
  section "$1" OPTIONS | grep -E '^\*-' | grep -oE '\*--[A-Za-z0-9-]+\*' | tr -d '*' | sort -u
}

# 1. Every page builds with scdoc and renders at 80 columns without a warning.
shopt -s nullglob
sources=("$man_dir"/*.scd)
if ((${#sources[@]} == 0)); then
  fail "no man page sources in $man_dir"
fi
mkdir -p "$work/man"
for source in "${sources[@]}"; do
  page=$(basename "$source" .scd)
  if ! scdoc <"$source" >"$work/man/$page" 2>"$work/scdoc.err"; then
    fail "$source does not build with scdoc: $(cat "$work/scdoc.err")"
    rm -f "$work/man/$page"
  fi
done

render_check() {  # ROFF_PAGE
  local page=$1 messages width
  messages=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >"$work/rendered")
  if [[ -n $messages ]]; then
    fail "man --warnings -l $page warns: $messages"
  fi
  messages=$(LC_ALL=C.UTF-8 groff -man -ww -z "$page" 2>&1)
  if [[ -n $messages ]]; then
    fail "groff -man -ww -z $page warns: $messages"
  fi
  width=$(LC_ALL=C.UTF-8 wc -L <"$work/rendered")
  if ((width > 80)); then
    fail "$page renders $width columns wide at MANWIDTH=80; its longest lines:" \
      "$(LC_ALL=C.UTF-8 awk 'length($0) > 80' "$work/rendered" | head -3)"
  fi
}
for page in "$work"/man/*; do
  render_check "$page"
done
if [[ -n $built_dir ]]; then
  for source in "${sources[@]}"; do
    page=$built_dir/$(basename "$source" .scd)
    if [[ -f $page ]]; then
      render_check "$page"
    else
      fail "$page was not built (the man target builds it)"
    fi
  done
fi

# 2. Every visible meterctl command has its page, and each of its subcommands a
#    subsection there (hidden commands such as `completion` are documented in meterctl(1)).
subcommands() {  # COMMAND...: the names under "Subcommands:" in --help
  "$@" --help | awk '/^Subcommands:/ { inside = 1; next } inside && /^  [a-z]/ { print $1 }'
}
commands=$(subcommands "$meterctl")
if [[ -z $commands ]]; then
  fail "meterctl --help lists no subcommands"
fi
for command in $commands; do
  page=$man_dir/meterctl-$command.1.scd
  if [[ ! -f $page ]]; then
    fail "meterctl $command has no man page $page"
    continue
  fi
  for sub in $(subcommands "$meterctl" "$command"); do
    if ! grep -qxF "## $sub" "$page"; then
      fail "$page has no subsection '## $sub' for meterctl $command $sub"
    fi
  done
done

# 3. Command pages have the house layout, in order.
required=("NAME" "SYNOPSIS" "DESCRIPTION" "OPTIONS" "EXIT STATUS" "EXAMPLES" "SEE ALSO")
for source in "$man_dir"/meterctl*.1.scd "$man_dir"/meterd*.8.scd; do
  previous=0
  for name in "${required[@]}"; do
    line=$(grep -nxF "# $name" "$source" | head -1 | cut -d: -f1 || true)
    if [[ -z $line ]]; then
      fail "$source has no section '# $name'"
    elif ((line < previous)); then
      fail "$source: section '# $name' is out of order (expected: ${required[*]})"
    else
      previous=$line
    fi
  done
done

# 4. OPTIONS lists exactly the options the programs have.
compare_options() {  # PAGE HELP_OPTIONS_FILE WHAT
  local page=$1 expected=$2 what=$3
  page_options "$page" >"$work/documented"
  comm -23 "$expected" "$work/documented" | while read -r option; do
    echo "FAIL: $option of $what is not an item of OPTIONS in $page" >&2
    echo x >>"$work/option_failures"
  done
  comm -13 "$expected" "$work/documented" | while read -r option; do
    echo "FAIL: $page documents $option, which $what does not have" >&2
    echo x >>"$work/option_failures"
  done
}
: >"$work/option_failures"
help_options "$meterctl" >"$work/expected"
compare_options "$man_dir/meterctl.1.scd" "$work/expected" "meterctl --help"
for command in $commands; do
  page=$man_dir/meterctl-$command.1.scd
  [[ -f $page ]] || continue
  {
    help_options "$meterctl" "$command"
    for sub in $(subcommands "$meterctl" "$command"); do help_options "$meterctl" "$command" "$sub"; done
  } | sort -u >"$work/expected"
  compare_options "$page" "$work/expected" "meterctl $command and its subcommands"
done
help_options "$meterd" >"$work/expected"
compare_options "$man_dir/meterd.8.scd" "$work/expected" "meterd --help"
failures=$((failures + $(wc -l <"$work/option_failures")))

# 5. EXIT STATUS matches the exit codes in the source.
codes_in() {  # HEADER: the values of "name = N," enumerators
  grep -oE '^[[:space:]]*exit_[a-z_]+ = [0-9]+' "$1" | awk '{ print $3 }' | sort -u
}
documented_codes() {  # PAGE: "*N*" items and "|  N" table rows of EXIT STATUS
  section "$1" "EXIT STATUS" | sed -nE 's/^\*([0-9]+)\*$/\1/p; s/^\|[ [-]+([0-9]+)$/\1/p' | sort -u
}
check_codes() {  # PAGE HEADER EXACT(yes|no)
  local page=$1 header=$2 exact=$3
  codes_in "$header" >"$work/codes"
  documented_codes "$page" >"$work/documented"
  if [[ ! -s $work/codes ]]; then
    fail "no exit codes found in $header"
    return
  fi
  for code in $(comm -13 "$work/codes" "$work/documented"); do
    fail "$page documents exit status $code, which $header does not define"
  done
  if [[ $exact == yes ]]; then
    for code in $(comm -23 "$work/codes" "$work/documented"); do
      fail "$page does not document exit status $code of $header"
    done
  fi
}
check_codes "$man_dir/meterctl.1.scd" "$source_dir/cli/exit_codes.hpp" yes
for page in "$man_dir"/meterctl-*.1.scd; do
  check_codes "$page" "$source_dir/cli/exit_codes.hpp" no
done
check_codes "$man_dir/meterd.8.scd" "$source_dir/firmware/daemon.hpp" yes

# 6. The register map in meterctl-modbus(1) is the one meterctl prints.
modbus_page=$man_dir/meterctl-modbus.1.scd
if [[ -f $modbus_page ]]; then
  awk '/^; BEGIN REGISTER MAP/ { inside = 1; next } /^; END REGISTER MAP/ { inside = 0 } inside' \
    "$modbus_page" | sed -e '1{/^$/d;}' -e '${/^$/d;}' >"$work/map.page"
  python3 "$source_dir/tests/docs/register_map.py" "$meterctl" >"$work/map.generated"
  if [[ ! -s $work/map.page ]]; then
    fail "$modbus_page has no register map between '; BEGIN REGISTER MAP' and '; END REGISTER MAP'"
  elif ! cmp -s "$work/map.page" "$work/map.generated"; then
    fail "the register map in $modbus_page differs from \`meterctl modbus map --all\`;" \
      "regenerate it with tests/docs/register_map.py (see its header)"
    diff -u "$work/map.page" "$work/map.generated" | head -30 >&2 || true
  fi
fi

# 7. Every project page a page names exists.
for source in "${sources[@]}"; do
  for reference in $(grep -oE '\*(meterctl|meterd|meter-)[a-z-]*\*\([0-9]\)' "$source" | tr -d '*' | sort -u); do
    name=${reference%(*}
    number=${reference#*(}
    number=${number%)}
    if [[ ! -f $man_dir/$name.$number.scd ]]; then
      fail "$source refers to $reference, but there is no $man_dir/$name.$number.scd"
    fi
  done
done

if ((failures > 0)); then
  echo "man_pages_test: $failures check(s) failed" >&2
  exit 1
fi
echo "man_pages_test: all checks passed"
