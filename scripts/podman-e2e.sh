#!/usr/bin/env bash
# End-to-end test of hostdev under podman (4.3, CNI backend). As root, on
# Debian 12:
#
#     bash scripts/podman-e2e.sh
#
# It installs what it needs from Debian (podman, runc, busybox-static,
# containernetworking-plugins, iproute2, jq), builds hostdev (release; or set
# HOSTDEV=/path/to/hostdev to skip the build), and runs podman with a private
# configuration in a temporary directory: its own containers.conf
# (CONTAINERS_CONF: CNI backend, runc, cgroupfs, file events and locks, rlimits
# within this machine's hard limits), storage.conf (CONTAINERS_STORAGE_CONF:
# vfs, private graphroot/runroot), registries.conf, runc state directory,
# network config directory and cgroup parent. The image is built without any
# registry: `podman import` of a tarball holding busybox-static.
#
# podman runs in a private network namespace that plays the node (nsenter
# --net, so mounts are shared): the CNI plugins it executes, and the cleanup
# command conmon runs, are in that namespace too. The "host device" is one end
# of a veth pair made there (hdpXXXX and hdpXXXXp), carrying 10.89.N.2/24,
# fd00:89::2/64 and MTU 1400. The root namespace's links, addresses and routes
# are never touched, and no traffic leaves the pair. Podman 4.3 still writes a few things outside
# its configuration, all removed on exit: the container's network namespace
# under /run/netns (podman removes it on stop), libcni's result cache in
# /var/lib/cni/results, containers/image's blob-info cache in
# /var/lib/containers/cache (only the paths this run created), and cgroups
# under a cgroup parent of our own. The steps:
#
#   podman run -d --network hdnet-XXXX   the veth is eth0 inside, with its
#                                        addresses and MAC; gone from the host
#   podman stop                          home under its own name, as it was
#   podman start                         inside again
#   podman rm -f                         home again, as it was
#
# Everything (containers, conmon, storage, the veth, cgroups, temporary files)
# is removed on exit, pass or fail, and the last check says nothing is left.
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 if any check
# failed. Takes about ten seconds once the packages are installed and hostdev
# is built.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian package -> a probe that succeeds when what we need from it is there.
declare -A NEEDED_PACKAGES=(
    [iproute2]='command -v ip'
    [jq]='command -v jq'
    [podman]='command -v podman'
    [runc]='command -v runc'
    [busybox-static]='test -x /bin/busybox && ! ldd /bin/busybox'
    [containernetworking-plugins]='test -x /usr/lib/cni/loopback'
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }


[[ $(id -u) -eq 0 ]] || die "run as root: the test runs rootful podman and makes a veth pair"
hd_install_packages || die "installing packages failed"

# ---- names -------------------------------------------------------------------
rand4() { od -An -N2 -tx2 /dev/urandom | tr -d ' \n'; }
for _ in 1 2 3 4 5 6 7 8; do
    RAND=$(rand4)
    VETH=hdp$RAND           # the "host device" (7 characters)
    PEER=hdp${RAND}p        # its peer, stays in the node namespace
    ip netns list | grep "^hdpnode-$RAND\b" >/dev/null || break
done
NODE=                       # the node's network namespace, once made
nip() { ip -n "$NODE" "$@"; }
NET=hdnet-$RAND             # the CNI network
CTR=hdpe2e-$RAND            # the container
IMAGE=localhost/hostdev-e2e-$RAND:latest
CGPARENT=/hdpe2e-$RAND      # cgroup parent (cgroupfs), removed on exit
SUBNET=$((RANDOM % 254 + 1))
V4=10.89.$SUBNET.2/24
V6=fd00:89::2/64
MTU=1400

TMP=$(mktemp -d /tmp/hostdev-podman-e2e.XXXXXX)
BIN=$TMP/bin                # hostdev; /usr/lib/cni is the second plugin dir
NETD=$TMP/net.d             # podman's network_config_dir
DATA=$TMP/data              # hostdev's dataDir
SANDBOXES=()                # network namespaces podman made for the container
CONMONS=()                  # conmon processes of the container
VETH_MADE=0
CLEANED=0

# Paths podman writes outside its configuration (see lib.sh) that this run
# creates: removed on exit.
mapfile -t CREATED_PATHS < <(hd_absent_paths "${HD_PODMAN_SYSTEM_PATHS[@]}")

# ---- cleanup -----------------------------------------------------------------
# Processes whose command line names our temporary directory: conmon and the
# `podman container cleanup` it runs. Nothing else on the machine matches.
our_pids() { hd_pids_naming "$TMP/"; }

# conmon_alive: true while one of the container's conmons is still in /proc.
# conmon daemonizes; PID 1 reaps it a moment after it exits.
conmon_alive() {
    local pid
    for pid in "${CONMONS[@]}"; do [[ -e /proc/$pid ]] && return 0; done
    return 1
}

cleanup() {
    local pid ns id mnt dir i
    ((CLEANED)) && return 0
    CLEANED=1
    if [[ -d $TMP/storage ]]; then
        pm rm -a -f -t 0 >/dev/null 2>&1
    fi
    # Whatever podman left: containers in our runc root, then our processes.
    if [[ -d $TMP/runc ]]; then
        for id in $(runc --root "$TMP/runc" list -q 2>/dev/null); do
            runc --root "$TMP/runc" kill -a "$id" KILL >/dev/null 2>&1
            runc --root "$TMP/runc" delete -f "$id" >/dev/null 2>&1
        done
    fi
    for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
        conmon_alive || break
        sleep 0.2
    done
    # Network namespaces podman made for our container, if it did not remove them.
    for ns in "${SANDBOXES[@]}"; do
        [[ -e $ns ]] || continue
        umount "$ns" 2>/dev/null
        rm -f "$ns" 2>/dev/null
    done
    # Deleting the peer deletes the pair wherever the other end is.
    if ((VETH_MADE)); then
        nip link del "$PEER" 2>/dev/null
        nip link del "$VETH" 2>/dev/null
    fi
    [[ -n $NODE ]] && ip netns del "$NODE" 2>/dev/null
    # Mounts podman left under the temporary directory (the container's shm).
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null
    done < <(findmnt -rn -o TARGET 2>/dev/null | grep -F -- "$TMP/" | sort -r)
    # Our cgroup parent, in every hierarchy (children first).
    for dir in /sys/fs/cgroup/*/"${CGPARENT#/}" /sys/fs/cgroup/"${CGPARENT#/}"; do
        [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$TMP"
    # libcni's cache entries of our network (its name is ours alone), which
    # podman keeps when a DEL failed.
    rm -f /var/lib/cni/results/"$NET"-*
    hd_remove_paths "${CREATED_PATHS[@]}"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "hdpnode-$RAND" || die "ip netns add hdpnode-$RAND failed"
NODE=hdpnode-$RAND
ip -n "$NODE" link set lo up

# ---- private podman configuration -------------------------------------------
mkdir -p "$BIN" "$NETD" "$DATA" "$TMP/rootfs/bin"
hd_podman_config "$TMP" "
[network]
network_backend = \"cni\"
cni_plugin_dirs = [\"$BIN\", \"/usr/lib/cni\"]
network_config_dir = \"$NETD\"" || die "cannot write the podman configuration"

# pm ARGS...: podman with every location private (the configuration files say
# the same; the flags make sure). Podman copies them into the exit command
# conmon runs (`podman container cleanup`), so its CNI DEL sees them too.
pm() {
    timeout 120 nsenter --net="/run/netns/$NODE" podman \
        --root "$TMP/storage" --runroot "$TMP/run" --storage-driver vfs \
        --tmpdir "$TMP/libpod" --cgroup-manager cgroupfs --events-backend file \
        --network-config-dir "$NETD" --runtime runc \
        "$@"
}

# ---- build -------------------------------------------------------------------
echo "==> building"
built=$(hd_release_bin) || die "cargo build --release failed (or set HOSTDEV=/path/to/hostdev)"
cp "$built" "$BIN/hostdev" || die "cannot copy $built"

echo "==> image $IMAGE (podman import of busybox-static, no registry)"
cp /bin/busybox "$TMP/rootfs/bin/busybox"
for applet in sh sleep ip cat; do ln -s busybox "$TMP/rootfs/bin/$applet"; done
tar -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" . || die "tar of the rootfs failed"
pm import "$TMP/rootfs.tar" "$IMAGE" >"$TMP/out" 2>"$TMP/err" ||
    die "podman import failed: $(tr '\n' ' ' <"$TMP/err")"

echo "==> veth $VETH (peer $PEER) in the node namespace: $V4, $V6, mtu $MTU"
nip link add "$VETH" type veth peer name "$PEER" || die "ip link add $VETH failed"
VETH_MADE=1
{
    nip link set "$VETH" mtu "$MTU" &&
    nip link set "$PEER" mtu "$MTU" &&
    nip addr add "$V4" dev "$VETH" &&
    nip addr add "$V6" dev "$VETH" nodad &&
    nip link set "$PEER" up &&
    nip link set "$VETH" up
} || die "configuring $VETH failed"

jq -n --arg net "$NET" --arg dev "$VETH" --arg dir "$DATA" '{
    cniVersion: "1.0.0", name: $net,
    plugins: [{type: "hostdev", device: $dev, dataDir: $dir}]}' >"$NETD/$NET.conflist"

# ---- helpers -----------------------------------------------------------------
err_text() { tr '\n' ' ' <"$TMP/err" | cut -c1-600; }

# snapshot: the veth's name, MAC, MTU, admin state and global addresses.
snapshot() {
    nip -j addr show dev "$VETH" 2>/dev/null | jq -r '.[0] |
        "name \(.ifname) mac \(.address) mtu \(.mtu) up \(.flags | index("UP") != null) addrs " +
        ([.addr_info[] | select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort | join(","))'
}
in_root() { nip link show dev "$VETH" >/dev/null 2>&1; }
# records: hostdev's attachment records and libcni's cached results (kept by
# podman in /var/lib/cni whatever its configuration) of our network.
records() {
    find "$DATA" -type f -name '*.json' 2>/dev/null
    find /var/lib/cni/results -type f -name "$NET-*" 2>/dev/null
}

# wait_for CONDITION-FUNCTION: poll up to 10 s (conmon's cleanup may lag).
wait_for() {
    local i
    for ((i = 0; i < 50; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}
home_as_before() { [[ $(snapshot) == "$BEFORE" ]]; }
gone_from_root() { ! in_root; }

# remember_sandbox: note the container's network namespace and conmon.
remember_sandbox() {
    local key pid
    key=$(pm inspect --format '{{.NetworkSettings.SandboxKey}}' "$CTR" 2>/dev/null)
    [[ -n $key ]] && SANDBOXES+=("$key")
    pid=$(pm inspect --format '{{.State.ConmonPid}}' "$CTR" 2>/dev/null)
    [[ $pid =~ ^[1-9][0-9]*$ ]] && CONMONS+=("$pid")
}

# expect_inside WHEN: eth0 in the container has the veth's addresses and MAC,
# and the veth is gone from the node namespace.
expect_inside() {
    local when=$1 out
    out=$(pm exec "$CTR" ip addr show eth0 2>&1)
    if grep -qF "inet $V4 " <<<"$out" && grep -qF "inet6 $V6 " <<<"$out" &&
        grep -qF "link/ether $MAC " <<<"$out" && grep -qE "mtu $MTU( |$)" <<<"$out" &&
        grep -qE '<([^>]*,)?UP[,>]' <<<"$out"; then
        pass "$when: podman exec ip addr show eth0: $V4, $V6, $MAC, mtu $MTU, UP"
    else
        fail "$when: podman exec ip addr show eth0: $V4, $V6, $MAC, mtu $MTU, UP" \
            "${out//$'\n'/ | }"
    fi
    if gone_from_root; then
        pass "$when: $VETH is gone from the node namespace"
    else
        fail "$when: $VETH is gone from the node namespace" "root: $(snapshot)"
    fi
    local ip
    ip=$(pm inspect --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$CTR" 2>"$TMP/err")
    if [[ $ip == "${V4%/*}" ]]; then
        pass "$when: podman inspect reports IPAddress ${V4%/*} on $NET"
    else
        fail "$when: podman inspect reports IPAddress ${V4%/*} on $NET" "got: $ip" "$(err_text)"
    fi
}

# expect_home WHEN: the veth is back in the node namespace exactly as it was,
# and hostdev kept no record.
expect_home() {
    local when=$1
    if wait_for home_as_before; then
        pass "$when: $VETH home with its name, MAC, MTU, addresses, up"
    else
        fail "$when: $VETH home with its name, MAC, MTU, addresses, up" \
            "before: $BEFORE" "after:  $(snapshot || true)" \
            "in the node namespace: $(in_root && echo yes || echo no)"
    fi
    local files
    files=$(records)
    if [[ -z $files ]]; then
        pass "$when: no hostdev record or CNI cache entry left"
    else
        fail "$when: no hostdev record or CNI cache entry left" "files: ${files//$'\n'/ }"
    fi
}

BEFORE=$(snapshot)
MAC=$(nip -j link show dev "$VETH" | jq -r '.[0].address')
echo "==> $BEFORE"
echo "==> running (network $NET, container $CTR)"

backend=$(pm info --format '{{.Host.NetworkBackend}}' 2>"$TMP/err")
if [[ $backend == cni ]]; then
    pass "podman info: network backend is cni"
else
    fail "podman info: network backend is cni" "got: $backend" "$(err_text)"
fi

# ---- podman run ----------------------------------------------------------------
if pm run -d --pull never --name "$CTR" --network "$NET" --stop-timeout 2 \
        --cgroup-parent "$CGPARENT" "$IMAGE" sleep 600 >"$TMP/out" 2>"$TMP/err"; then
    pass "run: exit 0"
else
    fail "run: exit 0" "$(err_text)"
fi
remember_sandbox
state=$(pm inspect --format '{{.State.Status}}' "$CTR" 2>"$TMP/err")
if [[ $state == running ]]; then
    pass "run: the container is running"
else
    fail "run: the container is running" "state: $state" "$(err_text)"
fi
expect_inside run

# ---- podman stop ---------------------------------------------------------------
if pm stop "$CTR" >"$TMP/out" 2>"$TMP/err"; then
    pass "stop: exit 0"
else
    fail "stop: exit 0" "$(err_text)"
fi
expect_home stop

# ---- podman start --------------------------------------------------------------
if pm start "$CTR" >"$TMP/out" 2>"$TMP/err"; then
    pass "start: exit 0"
else
    fail "start: exit 0" "$(err_text)"
fi
remember_sandbox
expect_inside start

# ---- podman rm -f --------------------------------------------------------------
if pm rm -f "$CTR" >"$TMP/out" 2>"$TMP/err"; then
    pass "rm -f: exit 0"
else
    fail "rm -f: exit 0" "$(err_text)"
fi
expect_home "rm -f"
# Other tests may make namespaces meanwhile: look only at the container's own.
sandboxes_left() {
    local ns
    for ns in "${SANDBOXES[@]}"; do [[ -e $ns ]] && printf '%s ' "$ns"; done
}
left=$(sandboxes_left)
if ((${#SANDBOXES[@]} == 2)) && [[ -z $left ]]; then
    pass "rm -f: podman removed the container's network namespaces (${#SANDBOXES[@]})"
else
    fail "rm -f: podman removed the container's network namespaces" \
        "seen: ${SANDBOXES[*]:-none}" "left: ${left:-none}"
fi

# ---- cleanup -------------------------------------------------------------------
cleanup
leftovers=()
ip netns list | grep "^hdpnode-$RAND\b" >/dev/null && leftovers+=("netns hdpnode-$RAND")
ip link show dev "$VETH" >/dev/null 2>&1 && leftovers+=("link $VETH")
[[ -e $TMP ]] && leftovers+=("$TMP")
for pid in $(our_pids); do leftovers+=("process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"); done
for dir in /sys/fs/cgroup/*/"${CGPARENT#/}" /sys/fs/cgroup/"${CGPARENT#/}"; do
    [[ -d $dir ]] && leftovers+=("cgroup $dir")
done
for path in "${CREATED_PATHS[@]}"; do [[ -e $path ]] && leftovers+=("$path"); done
conmon_alive && hd_note "(conmon ${CONMONS[*]}: exited, not yet reaped by PID 1)"
left=$(sandboxes_left)
[[ -n $left ]] && leftovers+=("network namespaces: $left")
if ((${#leftovers[@]} == 0)); then
    pass "cleanup: no container, process, veth, cgroup, namespace or file left"
else
    fail "cleanup: no container, process, veth, cgroup, namespace or file left" "${leftovers[@]}"
fi

# ---- verdict -------------------------------------------------------------------
printf '\n%d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
if ((${#FAILED[@]})); then
    printf '\nFAILED: %d check(s)\n' "${#FAILED[@]}"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
printf '\nALL PASSED (%ss)\n' "$SECONDS"
