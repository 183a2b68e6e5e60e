#!/usr/bin/env bash
# doc_options.sh MONGONORM DOC: every option of every command's option table has a row in
# DOC's section for that command (docs/cli.md: "## mongonorm <command>", then a row
# "| `--name ...` | ..." in an option table).  Called by test_cli.sh.
#
# The commands come from the overview (`mongonorm --help`, the lines under "commands:"),
# the options from `mongonorm <command> --help`, which src/cli/options.c writes from the
# same table the command parses with: an option's line starts "  --name" (or
# "  -x, --name"), two spaces in; the help's other lines are indented further.
# Prints one line per missing option or section; exits 1 if there is any.
set -euo pipefail
bin=$1
doc=$2
missing=0

commands=$("$bin" --help | awk '/^commands:$/ {on = 1; next} on && !NF {exit} on {print $1}')
[ -n "$commands" ] || { echo "mongonorm --help lists no command"; exit 1; }
for cmd in $commands; do
  section=$(awk -v h="## mongonorm $cmd" '$0 == h {on = 1; next} on && /^## / {exit} on' "$doc")
  if [ -z "$section" ]; then
    echo "$cmd: $doc has no section \"## mongonorm $cmd\""
    missing=$((missing + 1))
    continue
  fi
  opts=$("$bin" "$cmd" --help | sed -n -E 's/^  (-[[:alnum:]], )?(--[[:alnum:]-]+).*/\2/p')
  if [ -z "$opts" ]; then
    echo "$cmd: \"mongonorm $cmd --help\" lists no option"
    missing=$((missing + 1))
  fi
  for opt in $opts; do
    # the row's first cell starts with the option, then a space or the closing backquote
    if ! grep -q -E "^\| \`$opt[ \`]" <<<"$section"; then
      echo "$cmd: $opt has no row in $doc"
      missing=$((missing + 1))
    fi
  done
done
[ "$missing" -eq 0 ]
