#!/usr/bin/env bash
# Hawser's one installer: Debian packages, kernel headers for bcc, bpffs, cgroup v2 check,
# the project venv, and a BPF smoke check. Idempotent; a second run only checks and returns.
#
# Usage: deploy/setup.sh [--bench]     (--bench also installs the benchmark tools)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMP="$VENV/.hawser-pip-stamp"
SYS_PY=/usr/bin/python3 # bcc (python3-bpfcc) is importable only from Debian's own Python

ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
PACKAGES=(
    python3-bpfcc bpfcc-tools "linux-headers-$ARCH" bpftool iproute2 python3-venv python3-pip
    iputils-ping dnsutils ncat socat ethtool iptables nftables prometheus clang-format
    procps psmisc curl etcd-server
    docker.io podman containernetworking-plugins busybox-static
)
# Engines the tests run in their own node netns (issue 10). Installing them must start nothing
# on the host: no daemon, no socket, no bridge, no iptables rule (checked below).
ENGINE_PROCS=(dockerd containerd containerd-shim podman conmon prometheus etcd) # comm names (15 chars)
ENGINE_SOCKETS=(/run/docker.sock /run/containerd/containerd.sock /run/podman/podman.sock)
ENGINE_UNITS=(docker.service docker.socket containerd.service podman.socket podman.service
    podman-restart.service podman-auto-update.timer)
BENCH_PACKAGES=(iperf3 wrk gcc)

log() { printf 'setup: %s\n' "$*"; }
die() {
    printf 'setup: ERROR: %s\n' "$*" >&2
    exit 1
}

with_bench=0
for arg in "$@"; do
    case "$arg" in
    --bench) with_bench=1 ;;
    -h | --help)
        sed -n '2,5p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument: $arg" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "run as root (Hawser needs CAP_NET_ADMIN, CAP_BPF and apt)"
command -v dpkg-query >/dev/null || die "this installer supports Debian 12 (dpkg not found)"

# --- Debian packages ------------------------------------------------------------------------

missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

# Services a postinst starts (prometheus's init script does; docker.io's calls `invoke-rc.d
# docker start`) would bind sockets and, for dockerd, create docker0 and iptables rules on the
# host. A temporary policy-rc.d forbids starting them (invoke-rc.d and deb-systemd-invoke both
# obey it); afterwards a check stops any engine process that slipped by, by pid, and fails if an
# engine socket, a docker0 link or a change of the host's ruleset is left.
host_ruleset() {
    { iptables-save 2>/dev/null || true; iptables-legacy-save 2>/dev/null || true; nft list ruleset 2>/dev/null || true; } |
        grep -v '^#' || true
}

engine_pids() { # daemons a postinst started are children of init (pid 1), not of a test
    local name
    for name in "${ENGINE_PROCS[@]}"; do pgrep -x -P 1 "$name" || true; done | sort -n
}

install_packages() {
    local -a pkgs=("$@")
    local policy=/usr/sbin/policy-rc.d own_policy=0
    local before after pid rules_before sock pkg
    before="$(engine_pids)"
    rules_before="$(host_ruleset)"
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    log "apt-get update"
    apt-get update -qq
    log "installing: ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}"
    if ((own_policy)); then
        rm -f "$policy"
        trap - EXIT
    fi
    if [[ " ${pkgs[*]} " == *" etcd-server "* ]]; then
        # etcd-server's service would listen on localhost:2379; Hawser's tests start their own
        log "disabling the etcd service at boot (Hawser's tests start their own etcd)"
        update-rc.d etcd disable >/dev/null 2>&1 || true
        if [[ -d /run/systemd/system ]]; then
            systemctl disable --now etcd.service >/dev/null 2>&1 || true
        fi
    fi
    after="$(engine_pids)"
    for pid in $after; do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid) started by a package's postinst"
            kill "$pid" 2>/dev/null || true
        fi
    done
    # On a systemd host the postinsts enable the engines' units for the next boot; a dockerd
    # started at boot would program the host's iptables. Hawser installs them as test tools only.
    if [[ -d /run/systemd/system ]]; then
        for pkg in docker.io containerd podman; do
            if printf '%s\n' "${pkgs[@]}" | grep -qx "$pkg"; then
                log "disabling the units $pkg enabled (start them yourself when you want the engine)"
                systemctl disable --quiet "${ENGINE_UNITS[@]}" 2>/dev/null || true
                break
            fi
        done
    fi
    for sock in "${ENGINE_SOCKETS[@]}"; do
        if [[ -S $sock ]] && ! grep -qx "$sock" <<<"$SOCKETS_BEFORE"; then
            die "installing the packages left $sock listening; stop that service and re-run"
        fi
    done
    if ip link show docker0 >/dev/null 2>&1 && [[ $DOCKER0_BEFORE == no ]]; then
        die "installing the packages created docker0 on the host; stop dockerd and delete it"
    fi
    [[ "$(host_ruleset)" == "$rules_before" ]] ||
        die "installing the packages changed the host's iptables/nftables ruleset"
}

SOCKETS_BEFORE="$(for sock in "${ENGINE_SOCKETS[@]}"; do [[ -S $sock ]] && echo "$sock"; done || true)"
DOCKER0_BEFORE="$(ip link show docker0 >/dev/null 2>&1 && echo yes || echo no)"
wanted=("${PACKAGES[@]}")
((with_bench)) && wanted+=("${BENCH_PACKAGES[@]}")
mapfile -t missing < <(missing_packages "${wanted[@]}")
if ((${#missing[@]})); then
    install_packages "${missing[@]}"
    mapfile -t still < <(missing_packages "${wanted[@]}")
    ((${#still[@]} == 0)) || die "packages still missing after apt-get install: ${still[*]}"
fi

# --- kernel headers for bcc -----------------------------------------------------------------

KDIR="/lib/modules/$(uname -r)"
if [[ ! -e $KDIR/build/Makefile ]]; then
    hdr="$(find /usr/src -maxdepth 1 -type d -name "linux-headers-*-$ARCH" | sort -V | tail -n1)"
    [[ -n $hdr ]] || die "no kernel headers: /usr/src/linux-headers-*-$ARCH not found (install linux-headers-$ARCH)"
    common="${hdr%-"$ARCH"}-common"
    [[ -d $common ]] || die "kernel headers $hdr found but $common is missing"
    if [[ -d $KDIR/build && ! -L $KDIR/build ]]; then
        die "$KDIR/build is a directory without a Makefile; fix or remove it, then re-run"
    fi
    log "kernel $(uname -r) ships no headers; linking $KDIR/build -> $hdr"
    mkdir -p "$KDIR"
    ln -sfn "$hdr" "$KDIR/build"
    ln -sfn "$common" "$KDIR/source"
fi

# --- bpffs and cgroup v2 --------------------------------------------------------------------

if ! mountpoint -q /sys/fs/bpf || [[ $(stat -fc %T /sys/fs/bpf) != bpf_fs ]]; then
    log "mounting bpffs at /sys/fs/bpf"
    mkdir -p /sys/fs/bpf
    mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs at /sys/fs/bpf (is CONFIG_BPF_SYSCALL set?)"
fi

cgroup2=""
for dir in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [[ -d $dir ]] && [[ $(stat -fc %T "$dir") == cgroup2fs ]]; then
        cgroup2="$dir"
        break
    fi
done
if [[ -z $cgroup2 ]]; then
    cgroup2="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)"
fi
[[ -n $cgroup2 ]] || die "cgroup v2 is not mounted (looked at /sys/fs/cgroup/unified, /sys/fs/cgroup and /proc/self/mounts); mount it with: mount -t cgroup2 none /sys/fs/cgroup/unified"

# --- venv -----------------------------------------------------------------------------------

venv_ok() {
    [[ -x $VENV/bin/python ]] &&
        grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg" 2>/dev/null &&
        grep -qx 'home = /usr/bin' "$VENV/pyvenv.cfg" 2>/dev/null
}
if ! venv_ok; then
    if [[ -e $VENV ]]; then
        log "$VENV was not made from $SYS_PY with system site packages; recreating it"
        rm -rf "$VENV"
    fi
    log "creating $VENV"
    "$SYS_PY" -m venv --system-site-packages "$VENV"
fi

extras="dev"
((with_bench)) && extras="dev,bench"
want_stamp="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1) $extras"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [[ $want_stamp != "$have_stamp" || ! -x $VENV/bin/hawser ]]; then
    log "pip install -e '.[$extras]'"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$REPO[$extras]"
    printf '%s\n' "$want_stamp" >"$STAMP"
fi

# --- on the machine: PATH entries, the socket's group, CNI launchers, the systemd unit ------

"$REPO/deploy/system.sh" install

# --- BPF smoke check ------------------------------------------------------------------------

timeout 60 "$SYS_PY" "$REPO/deploy/bpf_smoke.py" ||
    die "BPF smoke check failed (see the message above); Hawser cannot run on this machine yet"

log "ready (cgroup v2 at $cgroup2; CLI at $(command -v hawser || echo "$VENV/bin/hawser"))"
