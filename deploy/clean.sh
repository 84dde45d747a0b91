#!/usr/bin/env bash
# Sweep what the test suites left behind, and nothing else. Test names: netns, cgroups and
# links `t-<hex>-…`; test nodes `t<6 hex>` (a HawserNode's --node-name) and `t-<6 hex>` (a bare
# datapath's). A node whose daemon still runs is never touched: `make clean` leaves a live
# daemon's sandboxes, pins and hooks alone, and never touches a node of another name
# (`hw-main-…` of `make run` included: `hawser system reset` is what removes a real node).
#   - network namespaces t-* (their processes are killed first, by pid)
#   - sandboxes hw-<test node>-* and their /etc/netns folders, of test nodes with no live daemon
#   - cgroup v2 directories t-* at the cgroup root (their processes are killed, then rmdir),
#     and hawser/<test node>/ (container cgroups of test nodes with no live daemon: cgroup.kill)
#   - bpffs pins /sys/fs/bpf/hawser/<test node> of test nodes with no live daemon, and socket
#     hooks whose maps no node has pinned any more
#   - the tests' etcds (data dirs /dev/shm/hawser-etcd-*, testbed/etcd.py) and their data
set -euo pipefail

log() { printf 'clean: %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || {
    echo "clean: ERROR: run as root" >&2
    exit 1
}

TEST_NODE='^t-?[0-9a-f]{6}$'

# --node-name of every running daemon (hawserd, or `hawser daemon` before its exec)
mapfile -t LIVE_NODES < <(/usr/bin/python3 - <<'PY'
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
    except OSError:
        continue
    if not any(a.endswith("/hawserd") or a == "hawserd" for a in argv[:2]) and not (
        any(a.endswith("/hawser") for a in argv[:2]) and "daemon" in argv[1:3]
    ):
        continue
    name = "main"
    for i, a in enumerate(argv):
        if a == "--node-name" and i + 1 < len(argv):
            name = argv[i + 1]
        elif a.startswith("--node-name="):
            name = a.split("=", 1)[1]
    print(name)
PY
)

sweepable() { # a test node without a live daemon
    local node="$1" live
    [[ $node =~ $TEST_NODE ]] || return 1
    for live in "${LIVE_NODES[@]}"; do
        [[ $live == "$node" ]] && return 1
    done
    return 0
}

kill_pids() { # TERM, wait up to 2 s, then KILL; by pid only
    local pid alive
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for _ in {1..20}; do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
}

# --- network namespaces: test topologies, and sandboxes of test nodes ---
while read -r ns _; do
    if [[ $ns == hw-* ]]; then
        node="${ns#hw-}"
        node="${node%-*}"
        if ! sweepable "$node"; then
            continue
        fi
    elif [[ $ns != t-* ]]; then
        continue
    fi
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    if ((${#pids[@]})); then
        log "netns $ns: stopping ${#pids[@]} process(es): ${pids[*]}"
        kill_pids "${pids[@]}"
    fi
    log "deleting netns $ns"
    ip netns delete "$ns" 2>/dev/null || log "could not delete netns $ns"
done < <(ip netns list 2>/dev/null)
for dir in /etc/netns/hw-*/; do
    [[ -d $dir ]] || continue
    name="$(basename "$dir")"
    node="${name#hw-}"
    node="${node%-*}"
    sweepable "$node" || continue
    log "removing /etc/netns/$name"
    rm -rf -- "/etc/netns/$name"
done

# --- test etcds (netns ones went with their netns above) ---
mapfile -t pids < <(pgrep -f -- '^[^ ]*etcd .*--data-dir /dev/shm/hawser-etcd-' || true)
if ((${#pids[@]})); then
    log "stopping ${#pids[@]} test etcd(s): ${pids[*]}"
    kill_pids "${pids[@]}"
fi
for dir in /dev/shm/hawser-etcd-*/; do
    [[ -d $dir ]] || continue
    log "removing ${dir%/}"
    rm -rf -- "$dir"
done

# --- test cgroups ---
cg2=""
for dir in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [[ -d $dir ]] && [[ $(stat -fc %T "$dir") == cgroup2fs ]]; then
        cg2="$dir"
        break
    fi
done
if [[ -n $cg2 ]]; then
    for dir in "$cg2"/t-*/; do
        [[ -d $dir ]] || continue
        dir="${dir%/}"
        mapfile -t pids < <(cat "$dir/cgroup.procs" 2>/dev/null || true)
        ((${#pids[@]})) && kill_pids "${pids[@]}"
        # children first; removing a cgroup detaches the BPF programs attached to it
        find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [[ -d $dir ]] && log "could not remove cgroup $dir" || log "removed cgroup $dir"
    done
    # container cgroups of test nodes (hawser/t<hex>/<id>): cgroup.kill, then rmdir
    for dir in "$cg2"/hawser/t*/; do
        [[ -d $dir ]] || continue
        dir="${dir%/}"
        sweepable "$(basename "$dir")" || continue
        for ctr in "$dir"/*/; do
            [[ -d $ctr ]] || continue
            echo 1 >"${ctr%/}/cgroup.kill" 2>/dev/null || true
        done
        for _ in $(seq 50); do # the kill is asynchronous: until the folders can go
            find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
            [[ -d $dir ]] || break
            sleep 0.1
        done
        [[ -d $dir ]] && log "could not remove cgroup $dir" || log "removed cgroup $dir"
    done
    rmdir "$cg2/hawser" 2>/dev/null || true
fi

# --- bpffs pins of test nodes ---
if [[ -d /sys/fs/bpf/hawser ]]; then
    for pin in /sys/fs/bpf/hawser/t*; do
        [[ -e $pin ]] || continue
        sweepable "$(basename "$pin")" || continue
        log "removing pin $pin"
        rm -rf -- "$pin"
    done
fi
# socket hooks whose maps no node has pinned any more (test daemons killed with -9)
if [[ -x .venv/bin/python ]]; then
    .venv/bin/python - <<'PY' || true
from pathlib import Path
from controller.daemon.main import default_cgroup
from controller.datapath import stale
n = stale.detach_orphans(default_cgroup(), Path("/sys/fs/bpf"))
if n:
    print(f"clean: detached {n} orphan socket hook(s)")
PY
fi

log "done"
