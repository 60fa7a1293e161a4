#!/usr/bin/env bash
# Update the "urgentaction" translation catalogs in one go:
#   1. extract every translatable string into translations/urgentaction.pot,
#   2. merge it into every language's urgentaction.po,
#   3. compile every .po into the urgentaction.mo shipped in the package.
#
#   scripts/update-translations.sh                   # the whole update
#   scripts/update-translations.sh --extract-to FILE # only extract (used by the tests)
#
# New or changed strings come out untranslated (or "fuzzy" when Babel guesses
# from a similar old one): translate them, remove every "#, fuzzy" flag, run
# this again, and run tests/test_catalogs.py. See docs/translating.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL=${PYBABEL:-.venv/bin/pybabel}
DIR=src/flask_urgentaction/translations
DOMAIN=urgentaction

extract() {
  # Directories that hold no strings of ours are skipped to keep this fast.
  "$PYBABEL" --quiet extract -F babel.cfg \
    -k gettext -k ngettext:1,2 -k lazy_gettext -k _ \
    --add-comments=TRANSLATORS: --sort-by-file --add-location=file \
    --ignore-dirs='.* _* node_modules widget tests docs bench examples scripts migrations' \
    --project=flask-urgentaction --copyright-holder="flask-urgentaction contributors" \
    -o "$1" .
}

if [ "${1:-}" = "--extract-to" ]; then
  extract "$2"
  exit 0
fi

# Keep the old template when only its date would change, so that a run with no
# new strings leaves every file as it was.
new=$(mktemp)
trap 'rm -f "$new"' EXIT
extract "$new"
if ! diff -q <(grep -v '^"POT-Creation-Date:' "$new") \
             <(grep -sv '^"POT-Creation-Date:' "$DIR/$DOMAIN.pot") >/dev/null; then
  cp "$new" "$DIR/$DOMAIN.pot"
fi
"$PYBABEL" --quiet update -i "$DIR/$DOMAIN.pot" -d "$DIR" -D "$DOMAIN" --ignore-obsolete
"$PYBABEL" compile -d "$DIR" -D "$DOMAIN" --statistics
