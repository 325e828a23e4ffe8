#!/usr/bin/env bash
# End-to-end test of hostdev under containerd's CRI plugin, the way a kubelet
# drives it. As root, on Debian 12:
#
#     bash scripts/containerd-e2e.sh
#
# What it does:
#   - installs from Debian what is missing (containerd 1.6, runc,
#     busybox-static, containernetworking-plugins, iproute2, jq, python3-venv)
#     and grpcio + grpcio-tools from PyPI into a private venv in the cache dir
#     ($HOSTDEV_E2E_CACHE, default /var/cache/hostdev-e2e; it stays there);
#   - builds hostdev (release; or set HOSTDEV=/path/to/hostdev to skip the
#     build) and generates Python gRPC stubs from tests/cri/cri_api.proto;
#   - makes a private network namespace that plays the node: containerd runs
#     in it (nsenter --net, so it shares our mounts), and so do the CNI plugins
#     it executes. In it a veth pair hdcXXXX/hdcXXXXp: hdcXXXX carries
#     10.88.N.2/24 and fd00:88:N::2/64, MTU 1400, up. The root namespace is not
#     touched at all (containerd creates the pod namespaces itself, under its
#     own state directory);
#   - starts a PRIVATE containerd (own root, state, socket, config, runc root;
#     native snapshotter; restrict_oom_score_adj) whose CRI plugin has its own
#     CNI conf_dir and bin_dir (hostdev + Debian's plugins, loopback among
#     them) and a pause image packed here from busybox-static
#     (tests/cri/mkpause.py) and loaded with `ctr image import`;
#   - with tests/cri/client.py: RunPodSandbox, PodSandboxStatus (ready, the
#     pod IPs are the veth's addresses), eth0 in the pod namespace is the veth
#     (MAC, addresses, MTU, up), StopPodSandbox (the veth is home, as it was),
#     StopPodSandbox again and RemovePodSandbox (DEL with an empty CNI_NETNS)
#     succeed and leave it intact. bin_dir's `hostdev` is a small wrapper that
#     logs each call (command, CNI_NETNS, stdin, exit code) and runs a copy of
#     the real binary, so the checks can say exactly what containerd sent.
# Prints PASS/FAIL per check and exits 1 if any failed. On exit, pass or fail,
# it removes the pods, containerd and its shims, every mount and file under its
# temporary directory, and the veth pair.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$REPO/scripts/lib.sh"

CACHE_DIR=${HOSTDEV_E2E_CACHE:-/var/cache/hostdev-e2e}
VENV=$CACHE_DIR/venv
PY=/usr/bin/python3     # Debian's python, whatever else is on PATH
PAUSE_IMAGE=localhost/hostdev-e2e/pause:1

# Debian package -> a probe that succeeds when what we need from it is there.
declare -A NEEDED_PACKAGES=(
    [iproute2]='command -v ip'
    [jq]='command -v jq'
    [containerd]='command -v containerd && command -v ctr && command -v containerd-shim-runc-v2'
    [runc]='command -v runc'
    [busybox-static]='test -x /bin/busybox && ! ldd /bin/busybox'
    [containernetworking-plugins]='test -x /usr/lib/cni/loopback'
    [python3-venv]="$PY -c 'import ensurepip, venv'"
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }


# The venv with grpcio and grpcio-tools, made once and kept in the cache.
ensure_venv() {
    mkdir -p "$CACHE_DIR" || die "cannot create $CACHE_DIR"
    (
        flock 9
        if "$VENV/bin/python" -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; then
            exit 0
        fi
        echo "creating $VENV (grpcio, grpcio-tools from PyPI)"
        rm -rf "$VENV"
        "$PY" -m venv "$VENV" &&
            "$VENV/bin/pip" install -q --disable-pip-version-check grpcio grpcio-tools &&
            "$VENV/bin/python" -c 'import grpc, grpc_tools.protoc'
    ) 9>"$CACHE_DIR/.lock" || die "setting up the Python venv in $VENV failed"
}

[[ $(id -u) -eq 0 ]] || die "run as root: the test runs containerd and creates interfaces"
hd_install_packages || die "installing packages failed"
ensure_venv

# ---- the throwaway world ---------------------------------------------------
TMP=$(mktemp -d /tmp/hostdev-cri-e2e.XXXXXX)
SOCK=$TMP/containerd.sock
CFG=$TMP/containerd.toml
CLOG=$TMP/containerd.log
BIN=$TMP/cni-bin        # the CRI plugin's bin_dir
CONFD=$TMP/cni-conf     # the CRI plugin's conf_dir
DATA=$TMP/data          # hostdev's dataDir
GEN=$TMP/gen            # generated gRPC stubs
CTRD_PID=
DEV=
PEER=
HOSTNS=
# ip in the node's namespace.
hip() { ip -n "$HOSTNS" "$@"; }
# The v2 shim puts its socket under /run/containerd/s whatever the config says;
# remove that directory afterwards if it was not there before.
RUN_CONTAINERD_EXISTED=0
[[ -d /run/containerd ]] && RUN_CONTAINERD_EXISTED=1
# libcni's result cache is /var/lib/cni whatever the config says: DEL removes
# our entries; cleanup removes any a failure left, and the directory if it was
# not there before.
VAR_LIB_CNI_EXISTED=0
[[ -d /var/lib/cni ]] && VAR_LIB_CNI_EXISTED=1
SANDBOXES=()    # the pod sandbox ids this run made
SHIMS=()        # the pids of their shims

ctr_() { timeout 30 ctr -a "$SOCK" -n k8s.io "$@"; }
cri() { timeout 90 "$VENV/bin/python" "$REPO/tests/cri/client.py" --sock "$SOCK" --gen "$GEN" "$@"; }

# our_shims: "PID ID" of each shim serving our containerd (its command line
# names our socket, which no other containerd uses; ID is the sandbox's).
our_shims() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
        [[ $cmd == *"-address $SOCK "* ]] || continue
        printf '%s %s\n' "${p#/proc/}" "$(sed -n 's/.* -id \([^ ]*\) .*/\1/p' <<<"$cmd")"
    done
}
# shim_socket ID: where the v2 shim of sandbox ID listens: /run/containerd/s/
# and the sha256 of "<containerd address>/<namespace>/<id>". A shim that was
# killed leaves it behind.
shim_socket() {
    printf '/run/containerd/s/%s\n' "$(printf '%s' "$SOCK/k8s.io/$1" | sha256sum | cut -d' ' -f1)"
}

cleanup() {
    local id pid child mnt alive
    trap - EXIT INT TERM
    echo
    hd_header "cleaning up"
    mapfile -t -O "${#SHIMS[@]}" SHIMS < <(our_shims | cut -d' ' -f1)
    if [[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2>/dev/null; then
        # Pods first, through CRI, so that hostdev's DEL runs as it would.
        for id in $(cri list 2>/dev/null | jq -r '.[].id' 2>/dev/null); do
            cri stop "$id" >/dev/null 2>&1
            cri remove "$id" >/dev/null 2>&1
        done
        # Whatever CRI could not remove: kill its tasks.
        for id in $(ctr_ task ls -q 2>/dev/null); do
            ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1
            sleep 0.2
            ctr_ task delete -f "$id" >/dev/null 2>&1
        done
        kill -TERM "$CTRD_PID" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$CTRD_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    # Shims (and their containers) that outlived containerd: ours only, by pid.
    while read -r pid id; do
        [[ -n $id ]] && SANDBOXES+=("$id")
        for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null; done
        kill -KILL "$pid" 2>/dev/null
    done < <(our_shims)
    # Every mount under TMP (pod netns, shm, rootfs), deepest first.
    awk -v t="$TMP/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r mnt; do umount -l "$mnt" 2>/dev/null; done
    # Deleting one end deletes the pair, wherever the other end is.
    [[ -n $PEER ]] && hip link del "$PEER" 2>/dev/null
    [[ -n $HOSTNS ]] && ip netns del "$HOSTNS" 2>/dev/null
    for id in "${SANDBOXES[@]}"; do
        rm -f /var/lib/cni/results/*-"$id"-* "$(shim_socket "$id")" 2>/dev/null
    done
    rm -rf --one-file-system "$TMP"
    ((RUN_CONTAINERD_EXISTED)) || rmdir /run/containerd/s /run/containerd 2>/dev/null
    ((VAR_LIB_CNI_EXISTED)) || rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
    # Exited shims are reparented to init, which reaps them a moment later.
    for _ in $(seq 25); do
        alive=0
        for pid in "${SHIMS[@]}"; do [[ -e /proc/$pid ]] && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    echo "done"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BIN" "$CONFD" "$GEN" || die "mkdir under $TMP"

hd_header "building"
if [[ -n ${HOSTDEV:-} ]]; then
    cp "$HOSTDEV" "$TMP/hostdev" || die "cannot copy HOSTDEV=$HOSTDEV"
else
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo not found (or set HOSTDEV=/path/to/hostdev)"
    # Ask cargo where the binary is: .cargo/config may name a build target,
    # which moves it from target/release/ to target/<triple>/release/.
    exe=$(cd "$REPO" && cargo build --release --quiet --message-format=json |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "hostdev"
                      and (.target.kind | index("bin"))) | .executable' | tail -1)
    [[ -n $exe && -x $exe ]] || die "cargo build --release failed (no hostdev binary)"
    cp "$exe" "$TMP/hostdev" || die "cannot copy $exe"
    hd_note "hostdev: $exe"
fi
# bin_dir/hostdev records each call (command, CNI_NETNS, stdin, exit code) in
# $CALLS and runs the copy of the real binary with the same env, stdin and
# stdout: the checks below can then say which DEL containerd sent.
CALLS=$TMP/calls
mkdir -p "$CALLS" || die "mkdir $CALLS"
cat >"$BIN/hostdev" <<WRAPPER || die "writing $BIN/hostdev"
#!/bin/sh
n=\$(ls "$CALLS" | grep -c 'stdin\$')
cat >"$CALLS/\$n.stdin"
"$TMP/hostdev" <"$CALLS/\$n.stdin"
rc=\$?
printf '%s %s netns=%s rc=%s\n' "\$n" "\$CNI_COMMAND" "\${CNI_NETNS:-<empty>}" "\$rc" >>"$CALLS/log"
exit \$rc
WRAPPER
chmod 0755 "$BIN/hostdev"
# containerd's CRI runs `loopback` for the pod's lo itself: Debian's plugins.
for p in /usr/lib/cni/*; do
    [[ -e $BIN/${p##*/} ]] || ln -s "$p" "$BIN/${p##*/}"
done
"$VENV/bin/python" -m grpc_tools.protoc -I "$REPO/tests/cri" --python_out="$GEN" \
    --grpc_python_out="$GEN" "$REPO/tests/cri/cri_api.proto" || die "protoc failed"
"$PY" "$REPO/tests/cri/mkpause.py" "$TMP/pause.tar" "$PAUSE_IMAGE" /bin/busybox ||
    die "packing the pause image failed"

# ---- the node's namespace and the veth in it ------------------------------------
hd_header "creating the node namespace and the test interface"
# HOSTNS is set only once the namespace exists, so that cleanup never
# deletes one it did not make.
name=$(hd_unique hdc-node)
ip netns add "$name" || die "ip netns add $name"
HOSTNS=$name
hip link set lo up || die "lo up in $HOSTNS"
name=$(printf 'hdc%04x' $((RANDOM)))
N=$((RANDOM % 254 + 1))
V4=10.88.$N.2
V6=fd00:88:$N::2
hip link add "$name" type veth peer name "${name}p" || die "ip link add $name"
DEV=$name
PEER=${name}p
{
    hip link set "$DEV" mtu 1400 &&
    hip link set "$PEER" mtu 1400 &&
    hip addr add "$V4/24" dev "$DEV" &&
    hip addr add "$V6/64" dev "$DEV" nodad &&
    hip link set "$PEER" up &&
    hip link set "$DEV" up
} || die "configuring $DEV failed"
hd_note "$DEV (peer $PEER): $V4/24, $V6/64, mtu 1400"

# ---- the private containerd --------------------------------------------------
cat >"$CFG" <<EOF || die "writing $CFG"
version = 2
root = "$TMP/root"
state = "$TMP/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = ""

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$TMP/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$TMP/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$BIN"
    conf_dir = "$CONFD"
    max_conf_num = 1
EOF

# The conflist is the shipped conf/k8s/containerd.conflist (its cniVersion
# must be one containerd 1.6 reads) with the test's device, and dataDir and
# logFile in the temporary directory. Written atomically: containerd reloads
# on file events.
jq --arg dev "$DEV" --arg dir "$DATA" --arg log "$TMP/hostdev.log" \
    '.plugins[0] += {device: $dev, dataDir: $dir, logFile: $log}' "$REPO/conf/k8s/containerd.conflist" \
    >"$CONFD/.10-hostdev-e2e.tmp" &&
    mv "$CONFD/.10-hostdev-e2e.tmp" "$CONFD/10-hostdev-e2e.conflist" ||
    die "writing the conflist failed"

hd_header "starting containerd ($SOCK)"
# In the node's network namespace only: its mounts (pod netns bind mounts)
# stay visible to this script.
nsenter --net="/run/netns/$HOSTNS" containerd --config "$CFG" >"$CLOG" 2>&1 &
CTRD_PID=$!

# ---- helpers ---------------------------------------------------------------
# check STEP DETAIL CMD...: PASS if CMD succeeds, else FAIL with DETAIL.
verdict() {
    printf '\n%d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
    if ((${#FAILED[@]})); then
        printf '  - %s\n' "${FAILED[@]}"
        printf '\ncontainerd log (errors and CNI lines, last 40):\n'
        grep -i -E 'level=(error|warn)|cni|network' "$CLOG" | tail -40 | cut -c1-400
        exit 1
    fi
    exit 0
}
# abort STEP DETAIL...: a failure the rest cannot go on from.
abort() { fail "$@"; verdict; }
err() { tr '\n' ' ' <"$TMP/err" | cut -c1-400; }

# snapshot: what "nothing is lost" means for the veth in the node namespace.
# pod_snapshot NETNS: the same for eth0 inside the pod (name aside).
snap_filter='.[0] | "mac \(.address) mtu \(.mtu) up \(.flags | index("UP") != null) addrs " +
    ([.addr_info[] | select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort | join(","))'
snapshot() {
    hip -j addr show dev "$DEV" 2>/dev/null | jq -r '"name \(.[0].ifname) " + ('"$snap_filter"')'
}
pod_snapshot() {
    nsenter --net="$1" ip -j addr show dev eth0 2>/dev/null | jq -r "$snap_filter"
}
records() { find "$DATA" -name '*.json' 2>/dev/null | wc -l; }

# The calls containerd made to hostdev since the last mark_calls, one a line:
# "N COMMAND netns=PATH|<empty> rc=CODE"; N.stdin in $CALLS is the config.
mark_calls() { MARK=$(cat "$CALLS/log" 2>/dev/null | wc -l); }
new_calls() { tail -n +"$((MARK + 1))" "$CALLS/log" 2>/dev/null; }
# expect_calls STEP PATTERN: the new calls are exactly one line matching the
# extended regex PATTERN (anchored; netns paths hold no regex specials).
expect_calls() {
    local got
    got=$(new_calls)
    if [[ $(wc -l <<<"$got") -eq 1 ]] && grep -qE "^[0-9]+ $2\$" <<<"$got"; then
        pass "$1"
    else
        fail "$1" "calls: $(tr '\n' ';' <<<"${got:-<none>}")"
    fi
}
# has_prev N: call N's config carries a prevResult.
has_prev() { jq -e '.prevResult | type == "object"' "$CALLS/$1.stdin" >/dev/null 2>&1; }
last_call() { new_calls | tail -1 | cut -d' ' -f1; }
MARK=0

# ---- containerd up, pause image in -----------------------------------------
if cri wait-ready 60 >"$TMP/out" 2>"$TMP/err"; then
    pass "containerd ready (runtime and network): $(jq -c . "$TMP/out")"
else
    abort "containerd ready (runtime and network)" "$(err)" "$(tail -5 "$CLOG")"
fi
# The list goes to a file first: with pipefail, `grep -q` closing the pipe
# early would fail the whole pipeline at random.
if ctr_ image import --snapshotter native "$TMP/pause.tar" >"$TMP/out" 2>"$TMP/err" &&
    ctr_ image ls -q >"$TMP/images" 2>>"$TMP/err" && grep -qxF "$PAUSE_IMAGE" "$TMP/images"; then
    pass "pause image imported as $PAUSE_IMAGE"
else
    abort "pause image imported as $PAUSE_IMAGE" "$(err)" "$(tr '\n' ' ' <"$TMP/out")"
fi

BEFORE=$(snapshot)
WANT_POD=${BEFORE#name "$DEV" }
hd_note "before: $BEFORE"

# ---- RunPodSandbox --------------------------------------------------------------
hd_header "RunPodSandbox"
mark_calls
if cri run "hostdev-e2e-$$" "uid-$$-$RANDOM" default >"$TMP/out" 2>"$TMP/err"; then
    ID=$(jq -r .id "$TMP/out")
    SANDBOXES+=("$ID")
    mapfile -t -O "${#SHIMS[@]}" SHIMS < <(our_shims | cut -d' ' -f1)
    pass "RunPodSandbox: ${ID:0:12}"
else
    abort "RunPodSandbox" "$(err)"
fi

if cri status "$ID" >"$TMP/status" 2>"$TMP/err"; then
    pass "PodSandboxStatus answers"
else
    abort "PodSandboxStatus answers" "$(err)"
fi
state=$(jq -r .state "$TMP/status")
check "PodSandboxStatus: state SANDBOX_READY" "state: $state" [ "$state" = SANDBOX_READY ]
ip_=$(jq -r .ip "$TMP/status")
check "PodSandboxStatus: network.ip is $V4" "network.ip: $ip_" [ "$ip_" = "$V4" ]
extra=$(jq -r '.additional_ips | join(",")' "$TMP/status")
check "PodSandboxStatus: additional_ips is $V6" "additional_ips: $extra" [ "$extra" = "$V6" ]
NETNS=$(jq -r .netns "$TMP/status")
if [[ -n $NETNS && -e $NETNS ]] && nsenter --net="$NETNS" true; then
    pass "the pod's network namespace: $NETNS"
else
    abort "the pod's network namespace" "netns from verbose info: '${NETNS}'"
fi

in_pod=$(pod_snapshot "$NETNS")
if [[ $in_pod == "$WANT_POD" ]]; then
    pass "pod eth0 is $DEV: $in_pod"
else
    fail "pod eth0 is $DEV (same MAC, MTU, addresses, up)" "want: $WANT_POD" "got:  ${in_pod:-<no eth0>}"
fi
others=$(nsenter --net="$NETNS" ip -j link show | jq -r '[.[].ifname] | sort | join(",")')
check "pod namespace holds eth0 and lo only" "links: $others" [ "$others" = "eth0,lo" ]
if hip link show dev "$DEV" >/dev/null 2>&1; then
    fail "$DEV gone from the node namespace" "$(hip -br link show dev "$DEV")"
else
    pass "$DEV gone from the node namespace"
fi
n=$(records)
check "hostdev wrote one attachment record" "records in $DATA: $n" [ "$n" -eq 1 ]
expect_calls "containerd called hostdev once: ADD in the pod namespace, exit 0" \
    "ADD netns=$NETNS rc=0"

# expect_home STEP: the veth is back in the node namespace exactly as it was.
expect_home() {
    local now
    now=$(snapshot)
    if [[ $now == "$BEFORE" ]]; then
        pass "$1"
    else
        fail "$1" "before: $BEFORE; now: ${now:-<$DEV missing>}"
    fi
}

# ---- StopPodSandbox (DEL with the namespace and prevResult) ----------------------
hd_header "StopPodSandbox"
mark_calls
if cri stop "$ID" >/dev/null 2>"$TMP/err"; then
    pass "StopPodSandbox"
else
    fail "StopPodSandbox" "$(err)"
fi
expect_calls "stop: one DEL in the pod namespace, exit 0" "DEL netns=$NETNS rc=0"
n=$(last_call)
check "stop: the DEL carried prevResult" "stdin: $(cat "$CALLS/$n.stdin" 2>/dev/null)" has_prev "$n"
expect_home "after stop: $DEV home with its name, MAC, MTU, addresses, up"
if cri status "$ID" >"$TMP/status" 2>"$TMP/err"; then
    state=$(jq -r .state "$TMP/status")
    check "after stop: state SANDBOX_NOTREADY" "state: $state" [ "$state" = SANDBOX_NOTREADY ]
else
    fail "after stop: PodSandboxStatus answers" "$(err)"
fi
if [[ -e $NETNS ]] && nsenter --net="$NETNS" ip link show dev eth0 >/dev/null 2>&1; then
    fail "after stop: no eth0 left in the pod namespace" "$(nsenter --net="$NETNS" ip -br link)"
else
    pass "after stop: no eth0 left in the pod namespace"
fi
n=$(records)
check "after stop: hostdev's record removed" "records in $DATA: $n" [ "$n" -eq 0 ]

# ---- StopPodSandbox again, RemovePodSandbox (DEL with an empty CNI_NETNS) ----------
hd_header "StopPodSandbox again, RemovePodSandbox"
mark_calls
if cri stop "$ID" >/dev/null 2>"$TMP/err"; then
    pass "StopPodSandbox again"
else
    fail "StopPodSandbox again" "$(err)"
fi
expect_calls "second stop: one DEL with an empty CNI_NETNS, exit 0" "DEL netns=<empty> rc=0"
expect_home "after the second stop: $DEV unchanged"
mark_calls
if cri remove "$ID" >/dev/null 2>"$TMP/err"; then
    pass "RemovePodSandbox"
else
    fail "RemovePodSandbox" "$(err)"
fi
expect_calls "remove: one DEL with an empty CNI_NETNS, exit 0" "DEL netns=<empty> rc=0"
expect_home "after remove: $DEV unchanged"
left=$(cri list 2>/dev/null | jq -r --arg id "$ID" '[.[] | select(.id == $id)] | length')
check "after remove: the sandbox is gone" "ListPodSandbox still has it ($left)" [ "$left" = 0 ]
if hip link show dev "$PEER" >/dev/null 2>&1 &&
    [[ $(hip -j link show dev "$DEV" | jq -r '.[0].link') == "$PEER" ]]; then
    pass "after remove: $DEV still paired with $PEER"
else
    fail "after remove: $DEV still paired with $PEER" "$(hip -br link show dev "$DEV" 2>&1)"
fi
errs=$(grep -i -E 'level=error' "$CLOG" | grep -i -E 'cni|network|sandbox' | tail -5 | cut -c1-300)
check "containerd logged no network or sandbox errors" "$errs" [ -z "$errs" ]

verdict
