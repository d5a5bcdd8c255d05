#!/usr/bin/env bash
# Runs `make STAGE` for each stage in order and prints how long each took
# (also when one fails: the table shows where the time went up to it).
set -uo pipefail
declare -a rows=()
status=0
report() {
  echo "== stage times (seconds) =="
  printf '%s\n' "${rows[@]}"
}
trap report EXIT
for stage in "$@"; do
  start=$(date +%s)
  make --no-print-directory "$stage"
  status=$?
  rows+=("$(printf '%-10s %6d%s' "$stage" "$(( $(date +%s) - start ))" "$([ $status -ne 0 ] && echo '  FAILED')")")
  [ $status -ne 0 ] && exit $status
done
exit 0
