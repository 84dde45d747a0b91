#!/usr/bin/env bash
# What `make install` puts on the machine outside the repository, and takes back on uninstall:
#   - $PREFIX/bin/hawser and $PREFIX/bin/hawserd: links to this checkout's venv entry points
#     (the systemd unit's ExecStart is $PREFIX/bin/hawserd);
#   - the `hawser` group, which owns the daemon's API socket (mode 0660);
#   - the CNI plugin launchers (/usr/lib/cni and /opt/cni/bin: where runtimes look);
#   - on a systemd host, the unit deploy/hawser.service in /etc/systemd/system.
# Each entry is written to a manifest ($PREFIX/share/hawser/installed) when it is made, and
# `uninstall` removes only what the manifest lists (a group that existed before stays).
# Idempotent: a second install changes nothing and prints nothing.
#
# Usage: deploy/system.sh install|uninstall
# Environment (tests): HAWSER_PREFIX (/usr/local), HAWSER_GROUP (hawser),
#   HAWSER_CNI_DIRS ("/usr/lib/cni /opt/cni/bin"), HAWSER_UNIT_DIR (/etc/systemd/system)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PREFIX="${HAWSER_PREFIX:-/usr/local}"
GROUP="${HAWSER_GROUP:-hawser}"
read -r -a CNI_DIRS <<<"${HAWSER_CNI_DIRS:-/usr/lib/cni /opt/cni/bin}"
UNIT_DIR="${HAWSER_UNIT_DIR:-/etc/systemd/system}"
MANIFEST="$PREFIX/share/hawser/installed"

log() { printf 'setup: %s\n' "$*"; }
die() {
    printf 'setup: ERROR: %s\n' "$*" >&2
    exit 1
}

record() { # record "kind path": once
    mkdir -p "$(dirname "$MANIFEST")"
    grep -qxF -- "$1" "$MANIFEST" 2>/dev/null || printf '%s\n' "$1" >>"$MANIFEST"
}

install_links() {
    local cmd link target
    for cmd in hawser hawserd; do
        link="$PREFIX/bin/$cmd"
        target="$VENV/bin/$cmd"
        [[ -x $target ]] || die "$target is missing: the venv is not installed"
        if [[ -L $link && $(readlink "$link") == "$target" ]]; then
            record "link $link"
            continue
        fi
        if [[ -e $link && ! -L $link ]]; then
            die "$link exists and is not Hawser's link: remove it, or install with HAWSER_PREFIX=DIR"
        fi
        if [[ -L $link ]]; then
            log "re-pointing $link at $target (was $(readlink "$link"))"
        else
            log "linking $link -> $target"
        fi
        mkdir -p "$PREFIX/bin"
        ln -sfn "$target" "$link.tmp"
        mv -Tf "$link.tmp" "$link"
        record "link $link"
    done
}

install_group() {
    if getent group "$GROUP" >/dev/null; then
        return
    fi
    log "creating the system group $GROUP (it owns the daemon's API socket)"
    groupadd --system "$GROUP"
    record "group $GROUP"
}

install_cni() {
    # Runtimes exec plugins from /opt/cni/bin (containerd, CRI-O) or /usr/lib/cni (Debian's
    # podman). A three-line launcher with this venv's interpreter (absolute; -IS: no PYTHON*
    # variables of the runtime leak in, no site: controller/plugins/cni/launcher.py says why)
    # rather than a symlink to the pip wrapper. The launcher module writes it only when it differs.
    local dir written
    for dir in "${CNI_DIRS[@]}"; do
        written="$(cd "$REPO" && "$VENV/bin/python3" -m controller.plugins.cni.launcher "$dir")"
        if [[ -n $written ]]; then
            log "installing $written"
        fi
        record "file $dir/hawser-cni"
    done
}

install_unit() {
    if [[ -z ${HAWSER_UNIT_DIR:-} && ! -d /run/systemd/system ]]; then
        return 0 # systemd is not this machine's init: copy deploy/hawser.service where it is
    fi
    local unit="$UNIT_DIR/hawser.service"
    local text
    text="$(sed "s#/usr/local/bin/hawserd#$PREFIX/bin/hawserd#" "$REPO/deploy/hawser.service")"
    if [[ "$(cat "$unit" 2>/dev/null)" != "$text" ]]; then
        log "installing $unit (enable it with: systemctl enable --now hawser)"
        mkdir -p "$UNIT_DIR"
        printf '%s\n' "$text" >"$unit"
        if [[ -z ${HAWSER_UNIT_DIR:-} ]]; then
            systemctl daemon-reload || true
        fi
    fi
    record "file $unit"
}

uninstall() {
    [[ -f $MANIFEST ]] || {
        log "nothing installed under $PREFIX (no $MANIFEST)"
        return 0
    }
    local kind path
    while read -r kind path; do
        case "$kind" in
        link) [[ -L $path ]] && rm -f -- "$path" && log "removed $path" ;;
        file) [[ -f $path ]] && rm -f -- "$path" && log "removed $path" ;;
        group)
            if getent group "$path" >/dev/null; then
                groupdel "$path" && log "removed the group $path"
            fi
            ;;
        esac
    done <"$MANIFEST"
    if grep -q "^file /etc/systemd/system/hawser.service$" "$MANIFEST" && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload || true
    fi
    rm -f -- "$MANIFEST"
    rmdir -- "$(dirname "$MANIFEST")" 2>/dev/null || true
}

case "${1:-}" in
install)
    install_links
    install_group
    install_cni
    install_unit
    ;;
uninstall) uninstall ;;
*) die "usage: $0 install|uninstall" ;;
esac
