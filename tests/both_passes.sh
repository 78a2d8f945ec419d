#!/bin/sh
# The suite's two passes at the same time, each in its own temporary tree: on SQLite with the
# host's counter file, and on PostgreSQL and Redis servers the tests start (tests marked postgres
# already ran on PostgreSQL in the first pass; those marked sqlite use SQLite in either pass). Much of a pass is waiting (servers starting,
# subprocesses, a browser), so two at once take little longer than one. Each pass's output is
# printed whole once both have ended; the exit status fails if either failed.
#
#   tests/both_passes.sh .venv/bin/python [pytest arguments for both passes]
set -u
python=$1
shift
logs=$(mktemp -d /tmp/authserver-passes-XXXXXX)
# The suite starts some hundreds of Python processes (servers, their workers, CLI commands). With
# PYTHONDONTWRITEBYTECODE set (as on CI machines) none of them would write the bytecode it compiles,
# so each compiled the whole package again: about a fifth of a process's start. Compiled once here.
"$python" -m compileall -q authserver packages/authserver-verify/src tests > /dev/null
started=$(date +%s)

"$python" -m pytest -p no:cacheprovider --durations=10 --basetemp="$logs/sqlite" "$@" \
    > "$logs/sqlite.log" 2>&1 &
sqlite=$!
AUTHSERVER_TEST_BACKEND=postgresql "$python" -m pytest -p no:cacheprovider --durations=10 \
    --basetemp="$logs/postgresql" -m "not postgres and not sqlite" --ignore=tests/soak "$@" \
    > "$logs/postgresql.log" 2>&1 &
postgresql=$!

wait $sqlite
sqlite_status=$?
wait $postgresql
postgresql_status=$?

echo "=== pass 1: SQLite (exit $sqlite_status)"
cat "$logs/sqlite.log"
echo "=== pass 2: PostgreSQL and Redis (exit $postgresql_status)"
cat "$logs/postgresql.log"
echo "=== both passes: $(( $(date +%s) - started )) s"
rm -rf "$logs"
[ "$sqlite_status" -eq 0 ] && [ "$postgresql_status" -eq 0 ]
