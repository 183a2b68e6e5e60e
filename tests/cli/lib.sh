# Shared helpers for the scripted tests (sourced).  Environment from ctest:
# MN_BIN (the mongonorm executable), MN_SOURCE_DIR, MN_BUILD_DIR; from scripts/test.sh:
# MN_TEST_PG_DSN (a throwaway server) and MN_TEST_MONGODB_URI (the wire test server).
set -euo pipefail

: "${MN_BIN:?}" "${MN_SOURCE_DIR:?}" "${MN_BUILD_DIR:?}"
failures=0
passes=0

skip_all() { # a service the test needs is missing: skipped (77), a failure under CI=true
  if [ "${CI:-}" = true ]; then
    echo "not ok - $* (a failure under CI=true: the test command starts every service)"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# The live MongoDB part of a test runs when the wire test server is up
# (MN_TEST_MONGODB_URI); without it that part is skipped, and under CI=true it fails.
have_wire_server() {
  [ -n "${MN_TEST_MONGODB_URI:-}" ] && return 0
  if [ "${CI:-}" = true ]; then
    fail "MN_TEST_MONGODB_URI is not set under CI=true (the test command starts the wire test server)"
  else
    echo "# SKIP the live MongoDB part: MN_TEST_MONGODB_URI not set"
  fi
  return 1
}

pass() { passes=$((passes + 1)); echo "ok - $*"; }
fail() { failures=$((failures + 1)); echo "not ok - $*"; }

finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# fresh_db NAME: drop and create a database, print its connection string.
fresh_db() {
  psql "$MN_TEST_PG_DSN" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$1\"" \
    -c "CREATE DATABASE \"$1\"" >/dev/null 2>&1
  echo "$MN_TEST_PG_DSN dbname=$1"
}

# dump_tables DSN: every mapped table's rows in a stable order, as text.
dump_tables() {
  local dsn=$1 t
  for t in users patient_medical_info allergies medications medical_history \
           emergency_contacts conversations messages symptoms attachments prescriptions \
           activity_logs; do
    echo "== $t"
    psql "$dsn" -qXAt -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM $t ORDER BY id) TO STDOUT"
  done
}
