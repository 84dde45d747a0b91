#!/usr/bin/env bash
# `make uninstall`: leave the node as it was before Hawser.
#   1. stop the daemon (systemd's unit, when it runs one);
#   2. `hawserd reset` for the node (default `main`, or HAWSER_* / /etc/default/hawser):
#      containers, sandboxes, bridges, programs, socket hooks, pins, state, socket; it asks
#      first (FORCE=1 does not ask);
#   3. deploy/system.sh uninstall: the PATH entries, the group, the CNI launchers, the unit.
# The repository and its .venv stay (delete the checkout to remove them).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HAWSERD="$REPO/.venv/bin/hawserd"

log() { printf 'uninstall: %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || {
    echo "uninstall: ERROR: run as root" >&2
    exit 1
}

if [[ -d /run/systemd/system ]] && systemctl is-active --quiet hawser.service 2>/dev/null; then
    log "stopping hawser.service"
    systemctl disable --now hawser.service
fi

if [[ -x $HAWSERD ]]; then
    if [[ -r /etc/default/hawser ]]; then
        set -a
        # shellcheck disable=SC1091
        . /etc/default/hawser
        set +a
    fi
    "$HAWSERD" reset ${FORCE:+--force}
else
    log "no $HAWSERD: skipping the node reset (run it from a checkout with its venv)"
fi

"$REPO/deploy/system.sh" uninstall
log "done"
