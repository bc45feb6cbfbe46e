#!/bin/sh
# One logical backup of the Fieldline database: pg_dump's custom format, written to a temporary
# name and renamed only once pg_restore can read its table of contents, so a half-written dump
# never looks like a backup. Keeps the BACKUP_KEEP newest dumps.
#
# Connection: the standard libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, and PGPASSWORD or
# a ~/.pgpass), never a password on the command line.
#   BACKUP_DIR   where dumps go                 (default: ./backups)
#   BACKUP_KEEP  how many dumps to keep          (default: 14)
#
# compose.yaml's `backup` service runs it every BACKUP_INTERVAL_S; on a host, the
# fieldline-backup.timer unit runs it daily. restore-drill.sh proves a dump restores.
set -eu
dir=${BACKUP_DIR:-./backups}
keep=${BACKUP_KEEP:-14}
db=${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER...)}
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/$db-$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --compress=6 --no-owner --file="$partial" "$db"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$final"
trap - EXIT
# Oldest first by name (the UTC stamp sorts), all but the newest $keep go.
ls -1 "$dir" | grep -E "^$db-[0-9]{8}T[0-9]{6}Z\.dump$" | sort | head -n "-$keep" |
    while read -r old; do rm -f "$dir/$old"; done
size=$(wc -c <"$final" | tr -d ' ')
echo "{\"backup\": \"$final\", \"bytes\": $size, \"at\": \"$stamp\"}"
