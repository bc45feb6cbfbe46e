#!/bin/sh
# Restore drill: restores the newest dump in BACKUP_DIR (or the file given) into a scratch
# database next to the live one, checks it is a working Fieldline schema, prints what it holds
# as JSON, and drops the scratch database. Run it after every change to the backup set-up and on
# a schedule (a backup never restored is a hope, not a backup).
#
#   deploy/restore-drill.sh [dump-file]
#
# Connection as for backup.sh (libpq variables); the role needs CREATEDB. The scratch database
# is DRILL_DATABASE (default: <PGDATABASE>_restore_drill), dropped first if a failed drill left
# it behind. Exit status 0 only when the restore and every check passed.
set -eu
dir=${BACKUP_DIR:-./backups}
db=${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER...)}
drill=${DRILL_DATABASE:-${db}_restore_drill}
dump=${1:-$(ls -1 "$dir"/"$db"-*.dump 2>/dev/null | sort | tail -n 1)}
[ -n "$dump" ] && [ -s "$dump" ] || { echo "restore-drill: no dump found in $dir" >&2; exit 1; }

psql_drill() { psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 -d "$drill" "$@"; }
cleanup() { dropdb --if-exists "$drill" >/dev/null 2>&1 || true; }
cleanup
createdb "$drill"
trap cleanup EXIT

pg_restore --no-owner --exit-on-error --dbname="$drill" "$dump"

version=$(psql_drill -c "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version")
[ -n "$version" ] || { echo "restore-drill: no schema version in the restore" >&2; exit 1; }
counts=""
for table in users accounts orders sync_change_log sync_records audit_log; do
    n=$(psql_drill -c "SELECT count(*) FROM $table")
    counts="$counts\"$table\": $n, "
done
# The restore must be usable, not just present: the newest change-log row is readable.
psql_drill -c "SELECT coalesce(max(seq), 0) FROM sync_change_log" >/dev/null
echo "{\"restored\": \"$dump\", \"schema\": \"$version\", ${counts%, }}"
