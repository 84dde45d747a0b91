#!/usr/bin/env bash
# Sweep what tests left behind. Touches only things carrying a test or Hawser name:
#   - network namespaces named t-* or hw-* (their processes are killed first, by pid)
#   - cgroup v2 directories named t-* at the cgroup root (their processes are killed, then rmdir),
#     and hawser/t*/ (test nodes' container cgroups: cgroup.kill, then rmdir)
#   - bpffs pins under /sys/fs/bpf/hawser/t*
#   - links in the root netns named hawser*/hw* of kind bridge, veth, vxlan or dummy, and only
#     while no `hawser daemon` runs in the root netns (those would be its live links)
#   - the tests' etcds (data dirs /dev/shm/hawser-etcd-*, testbed/etcd.py) and their data
set -euo pipefail

log() { printf 'clean: %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || {
    echo "clean: ERROR: run as root" >&2
    exit 1
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

# --- network namespaces ---
while read -r ns _; do
    [[ $ns == t-* || $ns == hw-* ]] || continue
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    if ((${#pids[@]})); then
        log "netns $ns: stopping ${#pids[@]} process(es): ${pids[*]}"
        kill_pids "${pids[@]}"
    fi
    log "deleting netns $ns"
    ip netns delete "$ns" 2>/dev/null || log "could not delete netns $ns"
done < <(ip netns list 2>/dev/null)

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

# --- bpffs pins ---
if [[ -d /sys/fs/bpf/hawser ]]; then
    for pin in /sys/fs/bpf/hawser/t*; do
        [[ -e $pin ]] || continue
        log "removing pin $pin"
        rm -rf -- "$pin"
    done
fi
# socket hooks whose maps no node has pinned any more (daemons killed with -9)
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

# --- Hawser links in the root netns ---
self_ns="$(readlink /proc/self/ns/net)"
daemon_here=0
for pid in $(pgrep -f -- 'hawser daemon|/hawserd( |$)' || true); do  # hawser daemon execs hawserd
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) == "$self_ns" ]] && daemon_here=1
done
while read -r name kind; do
    [[ $name == hawser* || $name == hw* ]] || continue
    case "$kind" in bridge | veth | vxlan | dummy) ;; *) continue ;; esac
    if ((daemon_here)); then
        log "keeping link $name: a hawser daemon runs in this netns"
        continue
    fi
    log "deleting $kind link $name"
    ip link delete "$name" 2>/dev/null || true # a veth peer may have gone with its partner
done < <(ip -d -j link show 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for link in json.load(sys.stdin):
    print(link["ifname"], link.get("linkinfo", {}).get("info_kind", "-"))
')

log "done"
