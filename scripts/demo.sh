#!/usr/bin/env bash
# Run the demo site: a local mail catcher, the sample campaigns, the outbox
# worker and the web app. Safe to run again; Ctrl-C stops everything.
#
#   scripts/demo.sh                 # http://127.0.0.1:5000/
#   PORT=8000 scripts/demo.sh       # another web port
#   DEMO_SMTP_PORT=2525 scripts/demo.sh   # another port for the mail catcher
#   RESET=1 scripts/demo.sh         # start afresh: no actions, no subscribers, no mail
#
# The demo keeps its data between runs: the SQLite database (actions, subscribers,
# the outbox) in examples/demo/instance/ and the caught mail in
# examples/demo/mailbox/. RESET=1 deletes both before starting; deleting them by
# hand does the same.
#
# The campaign pages under /actions/ are the extension's own, drawn in the demo's
# layout (its navigation) by the template override in
# examples/demo/templates/urgentaction/base.html; see docs/templates.md.
#
# Organisers sign in at /login (any name, the password "demo" or
# $DEMO_ORGANISER_PASSWORD) and find the dashboard at /actions/manage/; the
# command line does the same work, e.g.
#   .venv/bin/flask --app examples/demo/app.py urgentaction campaigns list
set -euo pipefail

cd "$(dirname "$0")/.."

PORT="${PORT:-5000}"
DEMO_SMTP_PORT="${DEMO_SMTP_PORT:-1025}"
# app.py reads both: the SMTP port to send to, the web port for links in mail.
export PORT DEMO_SMTP_PORT

APP=examples/demo/app.py
MAILBOX=examples/demo/mailbox
INSTANCE=examples/demo/instance
FLASK=(.venv/bin/flask --app "$APP")

if [ ! -x .venv/bin/python ]; then
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "The demo needs Python 3.11 or newer as python3." >&2
        exit 1
    fi
    echo "Creating a virtual environment in .venv"
    if ! python3 -m venv .venv; then
        # Debian ships venv separately.
        echo "Could not create .venv. On Debian: sudo apt-get install python3-venv" >&2
        rm -rf .venv
        exit 1
    fi
fi

echo "Installing flask-urgentaction and aiosmtpd into .venv"
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e . aiosmtpd

port_open() {
    .venv/bin/python - "$1" <<'EOF'
import socket
import sys

try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
EOF
}

# Whatever we start in the background is stopped when this script ends, however
# it ends (Ctrl-C, an error, the web server stopping).
pids=()
cleanup() {
    trap - INT TERM
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    # Give them a few seconds to finish what they are doing, then insist.
    for _ in $(seq 50); do
        alive=0
        for pid in ${pids[@]+"${pids[@]}"}; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Checked first: a catcher left over from an earlier run would take our mail.
if port_open "$DEMO_SMTP_PORT"; then
    echo "Port $DEMO_SMTP_PORT is already in use. Stop what runs there, or choose" \
        "another port: DEMO_SMTP_PORT=2525 scripts/demo.sh" >&2
    exit 1
fi

# After the port check: a demo still running there keeps its data.
if [ "${RESET:-}" = 1 ]; then
    echo "RESET=1: deleting the demo's data ($INSTANCE/, $MAILBOX/)"
    rm -rf -- "$INSTANCE" "$MAILBOX"
fi

.venv/bin/python examples/demo/mailcatcher.py --port "$DEMO_SMTP_PORT" --dir "$MAILBOX" &
pids+=("$!")
for _ in $(seq 50); do
    port_open "$DEMO_SMTP_PORT" && break
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
        echo "The mail catcher did not start." >&2
        exit 1
    fi
    sleep 0.1
done

# Insert or update by slug, so loading again is harmless.
"${FLASK[@]}" urgentaction campaigns load examples/demo/campaigns/*.toml
# A few approved solidarity messages for the home page (once: a run after that
# leaves them as they are). Taken through the JSON API, approved as an organiser would.
"${FLASK[@]}" demo seed-messages

# Mail is sent right after each action; the worker retries whatever failed.
"${FLASK[@]}" urgentaction worker &
pids+=("$!")

cat <<EOF

  The demo is running. Open http://127.0.0.1:$PORT/
    campaigns:   http://127.0.0.1:$PORT/actions/
    embed demo:  http://127.0.0.1:$PORT/embed-demo
    mailbox:     http://127.0.0.1:$PORT/mailbox/
    organisers:  http://127.0.0.1:$PORT/actions/manage/  (any name; password "demo" unless DEMO_ORGANISER_PASSWORD is set)
  Press Ctrl-C to stop. RESET=1 scripts/demo.sh starts afresh.

EOF

# In the background and waited for, so a signal to this script alone (not just
# Ctrl-C, which reaches every process) still runs the cleanup at once.
"${FLASK[@]}" run --port "$PORT" &
pids+=("$!")
wait "$!"
