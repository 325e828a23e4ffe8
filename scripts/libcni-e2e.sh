#!/usr/bin/env bash
# End-to-end test of hostdev through libcni, the library containerd, podman's
# CNI backend and cnitool share (result cache, prevResult on CHECK and DEL,
# reordered config keys). As root, on Debian 12:
#
#     bash scripts/libcni-e2e.sh
#
# It installs what it needs from Debian (golang-go, golang-github-appc-cni-dev,
# containernetworking-plugins for the static IPAM, iproute2, jq), builds hostdev
# (release; or set HOSTDEV=/path/to/hostdev to skip the build) and the driver in
# tests/libcni/ into a temporary directory, makes two throwaway namespaces (a
# "host" with a veth h1 carrying 10.77.0.2/24 and fd00:77::2/64, and a
# container) and runs the driver inside the host namespace. Nothing outside
# those namespaces and the temporary directory is touched; all of it is removed
# on exit, pass or fail. Prints PASS/FAIL per step; exits 1 if any step failed.
#
# Debian's libcni (1.1.2) has no GCNetworkList/GetStatusNetworkList and no 1.1.0
# result type: the conflist is cniVersion 1.0.0, and the gc/status steps use
# the driver's re-creation of libcni 1.2's plugin GC/STATUS call (see
# tests/libcni/main.go).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$REPO/scripts/lib.sh"

# Debian package -> a probe that succeeds when what we need from it is there.
declare -A NEEDED_PACKAGES=(
    [iproute2]='command -v ip'
    [jq]='command -v jq'
    [containernetworking-plugins]='test -x /usr/lib/cni/static'
    [golang-go]='command -v go'
    [golang-github-appc-cni-dev]='test -f /usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go'
    [python3-yaml]='/usr/bin/python3 -c "import yaml"'
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }


[[ $(id -u) -eq 0 ]] || die "run as root: the test creates network namespaces"
hd_install_packages || die "installing packages failed"

# ---- the throwaway world -------------------------------------------------
TMP=$(mktemp -d /tmp/hostdev-libcni-e2e.XXXXXX)
HOST=hde2e-host-$$-$RANDOM
CTR=hde2e-ctr-$$-$RANDOM
cleanup() {
    ip netns del "$CTR" 2>/dev/null
    ip netns del "$HOST" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=$TMP/bin            # hostdev alone; /usr/lib/cni supplies static
DATA=$TMP/data          # hostdev's dataDir
CACHE=$TMP/cache        # libcni's result cache
mkdir -p "$BIN" "$TMP/gopath"
export CNI_PATH=$BIN:/usr/lib/cni

echo "==> building"
built=$(hd_release_bin) || die "cargo build --release failed (or set HOSTDEV=/path/to/hostdev)"
cp "$built" "$BIN/hostdev" || die "cannot copy $built"
# GOPATH mode against Debian's libcni source: no modules, no network.
(cd "$REPO/tests/libcni" &&
    GO111MODULE=off GOPATH=$TMP/gopath:/usr/share/gocode GOPROXY=off GOFLAGS='' \
    GOCACHE=$TMP/gocache go build -o "$TMP/driver" .) || die "building the libcni driver failed"

ip netns add "$HOST" || die "ip netns add $HOST"
ip netns add "$CTR" || die "ip netns add $CTR"
NETNS=/run/netns/$CTR
{
    ip -n "$HOST" link set lo up &&
    ip -n "$HOST" link add h1 type veth peer name h1p &&
    ip -n "$HOST" link set h1 mtu 1400 &&
    ip -n "$HOST" addr add 10.77.0.2/24 dev h1 &&
    ip -n "$HOST" addr add fd00:77::2/64 dev h1 nodad &&
    ip -n "$HOST" link set h1p up &&
    ip -n "$HOST" link set h1 up
} || die "building the host namespace failed"

conflist() { # FILE DEVICE
    jq -n --arg dev "$2" --arg dir "$DATA" '{
        cniVersion: "1.0.0", name: "e2e",
        plugins: [{type: "hostdev", device: $dev, dataDir: $dir,
                   ipam: {type: "static", addresses: [{address: "192.0.2.10/24"}]}}]}' >"$1"
}
CONF=$TMP/e2e.conflist
conflist "$CONF" h1
conflist "$TMP/missing.conflist" h1-missing

# ---- helpers ---------------------------------------------------------------

# driver ARGS...: the driver inside the host namespace; stdout in $TMP/out,
# stderr (libcni and hostdev's logs) in $TMP/err.
driver() {
    ip netns exec "$HOST" timeout 60 "$TMP/driver" -cache-dir "$CACHE" "$@" \
        >"$TMP/out" 2>"$TMP/err"
}
err_text() { tr '\n' ' ' <"$TMP/err" | cut -c1-400; }

# snapshot NS DEV: name, MAC, MTU, admin state, global addresses.
snapshot() {
    ip -n "$1" -j addr show dev "$2" 2>/dev/null | jq -r '.[0] |
        "name \(.ifname) mac \(.address) mtu \(.mtu) up \(.flags | index("UP") != null) addrs " +
        ([.addr_info[] | select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort | join(","))'
}
addrs() { # NS DEV: global addresses, sorted, comma-separated
    ip -n "$1" -j addr show dev "$2" 2>/dev/null |
        jq -r '[.[0].addr_info[] | select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort | join(",")'
}
has_link() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }
record() { printf '%s/e2e+%s+eth0.json\n' "$DATA" "$1"; }
cached() { printf '%s/results/e2e-%s-eth0\n' "$CACHE" "$1"; }
files() { find "$@" -type f 2>/dev/null | tr '\n' ' '; }

# expect_home STEP: h1 is back in the host namespace exactly as it was.
expect_home() {
    local now
    now=$(snapshot "$HOST" h1)
    if [[ $now == "$BEFORE" ]] && ! has_link "$CTR" eth0; then
        pass "$1"
    else
        fail "$1" "before: $BEFORE" "after:  ${now:-<h1 missing>}" \
            "container eth0 present: $(has_link "$CTR" eth0 && echo yes || echo no)"
    fi
}

BEFORE=$(snapshot "$HOST" h1)
BEFORE_MAC=$(ip -n "$HOST" -j link show dev h1 | jq -r '.[0].address')
echo "==> host h1: $BEFORE"
echo "==> running (host $HOST, container $CTR)"
CID=e2e-$$-a
WANT_CTR=10.77.0.2/24,192.0.2.10/24,fd00:77::2/64

# ---- ADD ------------------------------------------------------------------
if driver add "$CONF" "$NETNS" "$CID" eth0; then
    pass "add: exit 0"
else
    fail "add: exit 0" "$(err_text)"
fi
if jq -e --arg ns "$NETNS" '
        ([.interfaces[] | select(.name == "eth0" and .sandbox == $ns)] | length == 1) and
        ([.ips[] | select(.interface == 0) | .address] | sort == ["10.77.0.2/24", "192.0.2.10/24", "fd00:77::2/64"])' \
        "$TMP/out" >/dev/null 2>&1; then
    pass "add: result has eth0 (sandbox $NETNS) with 10.77.0.2/24, 192.0.2.10/24, fd00:77::2/64"
else
    fail "add: result has eth0 with 10.77.0.2/24, 192.0.2.10/24, fd00:77::2/64" "$(tr -d '\n ' <"$TMP/out" | cut -c1-400)"
fi
got=$(addrs "$CTR" eth0)
if [[ $got == "$WANT_CTR" ]] && ! has_link "$HOST" h1; then
    pass "add: container eth0 has $got; h1 gone from host"
else
    fail "add: container eth0 has $WANT_CTR; h1 gone from host" \
        "container eth0: ${got:-<missing>}" "h1 still in host: $(has_link "$HOST" h1 && echo yes || echo no)"
fi
if [[ -f $(record "$CID") && -f $(cached "$CID") ]]; then
    pass "add: hostdev record and libcni cache entry written"
else
    fail "add: hostdev record and libcni cache entry written" "files: $(files "$DATA" "$CACHE")"
fi

# ---- CHECK ----------------------------------------------------------------
if driver check "$CONF" "$NETNS" "$CID" eth0; then
    pass "check: exit 0"
else
    fail "check: exit 0" "$(err_text)"
fi
ip -n "$CTR" addr del 192.0.2.10/24 dev eth0
if driver check "$CONF" "$NETNS" "$CID" eth0; then
    fail "check after deleting 192.0.2.10 in the container: fails" "it succeeded"
else
    pass "check after deleting 192.0.2.10 in the container: fails"
    if grep -q '192\.0\.2\.10' "$TMP/err"; then
        pass "check: the error names 192.0.2.10"
    else
        fail "check: the error names 192.0.2.10" "$(err_text)"
    fi
fi
ip -n "$CTR" addr add 192.0.2.10/24 dev eth0
if driver check "$CONF" "$NETNS" "$CID" eth0; then
    pass "check after re-adding 192.0.2.10: exit 0"
else
    fail "check after re-adding 192.0.2.10: exit 0" "$(err_text)"
fi

# ---- DEL ------------------------------------------------------------------
if driver del "$CONF" "$NETNS" "$CID" eth0; then
    pass "del: exit 0"
else
    fail "del: exit 0" "$(err_text)"
fi
expect_home "del: h1 home with its name, MAC, MTU, addresses, up"
if [[ ! -e $(record "$CID") && ! -e $(cached "$CID") ]]; then
    pass "del: hostdev record and libcni cache entry removed"
else
    fail "del: hostdev record and libcni cache entry removed" "files: $(files "$DATA" "$CACHE")"
fi
if driver del "$CONF" "$NETNS" "$CID" eth0; then
    pass "del again: exit 0 (idempotent)"
else
    fail "del again: exit 0 (idempotent)" "$(err_text)"
fi
expect_home "del again: h1 unchanged"

# ---- STATUS (libcni 1.2's plugin call, re-created by the driver) -----------
if driver status "$CONF"; then
    pass "status: exit 0 with h1 on the host"
else
    fail "status: exit 0 with h1 on the host" "$(err_text)"
fi
if driver status "$TMP/missing.conflist"; then
    fail "status: fails with code 50 for a missing device" "it succeeded"
elif grep -q 'CNI error code 50' "$TMP/err"; then
    pass "status: fails with code 50 for a missing device"
else
    fail "status: fails with code 50 for a missing device" "$(err_text)"
fi

# ---- GC (libcni 1.2's plugin call, re-created by the driver) --------------
CID2=e2e-$$-b
if driver add "$CONF" "$NETNS" "$CID2" eth0 && [[ $(addrs "$CTR" eth0) == "$WANT_CTR" ]]; then
    pass "gc: add of a second attachment"
else
    fail "gc: add of a second attachment" "$(err_text)" "container eth0: $(addrs "$CTR" eth0)"
fi
if driver status "$CONF"; then
    pass "status: exit 0 with h1 attached"
else
    fail "status: exit 0 with h1 attached" "$(err_text)"
fi
if driver gc "$CONF" "$CID2/eth0" && has_link "$CTR" eth0 && [[ -f $(record "$CID2") ]]; then
    pass "gc with the attachment valid: exit 0, h1 stays in the container"
else
    fail "gc with the attachment valid: exit 0, h1 stays in the container" "$(err_text)" \
        "container eth0 present: $(has_link "$CTR" eth0 && echo yes || echo no)"
fi
if driver gc "$CONF"; then
    pass "gc with no valid attachments: exit 0"
else
    fail "gc with no valid attachments: exit 0" "$(err_text)"
fi
expect_home "gc: h1 home with its name, MAC, MTU, addresses, up"
if [[ ! -e $(record "$CID2") ]]; then
    pass "gc: hostdev record removed"
else
    fail "gc: hostdev record removed" "files: $(files "$DATA")"
fi
# The runtime still has the attachment in its cache and sends DEL later.
if driver del "$CONF" "$NETNS" "$CID2" eth0 && [[ ! -e $(cached "$CID2") ]]; then
    pass "del after gc: exit 0, libcni cache entry removed"
else
    fail "del after gc: exit 0, libcni cache entry removed" "$(err_text)"
fi
expect_home "del after gc: h1 unchanged"

# ---- DEL after the container changed eth0's MAC ----------------------------
# A container (or a chained plugin such as tuning) may change the MAC; DEL
# promises to restore it. LIBCNI_E2E_MAC_CHANGE=0 skips these steps.
if [[ ${LIBCNI_E2E_MAC_CHANGE:-1} == 1 ]]; then
    for how in mac mac+rename; do
        cid=e2e-$$-${how/+/-}
        driver add "$CONF" "$NETNS" "$cid" eth0 || fail "$how: add" "$(err_text)"
        ip -n "$CTR" link set eth0 address 02:00:00:00:00:01
        if [[ $how == mac+rename ]]; then
            ip -n "$CTR" link set eth0 down && ip -n "$CTR" link set eth0 name renamed0 &&
                ip -n "$CTR" link set renamed0 up
        fi
        if driver del "$CONF" "$NETNS" "$cid" eth0; then
            pass "$how changed in the container, del: exit 0"
        else
            fail "$how changed in the container, del: exit 0" "$(err_text)"
        fi
        expect_home "$how changed in the container, del: h1 home as it was"
        if has_link "$CTR" renamed0; then
            fail "$how changed in the container, del: nothing left in the container" \
                "renamed0 is still there; hostdev records: $(files "$DATA")"
        fi
        # Put h1 back as it was for the next round, whatever happened.
        if ! [[ $(snapshot "$HOST" h1) == "$BEFORE" ]]; then
            ip -n "$CTR" link set renamed0 down 2>/dev/null
            ip -n "$CTR" link set renamed0 netns "$HOST" name h1 2>/dev/null
            ip -n "$HOST" link set h1 address "$BEFORE_MAC" 2>/dev/null
            ip -n "$HOST" addr replace 10.77.0.2/24 dev h1 2>/dev/null
            ip -n "$HOST" addr replace fd00:77::2/64 dev h1 nodad 2>/dev/null
            ip -n "$HOST" link set h1 up 2>/dev/null
        fi
    done
fi

# ---- an attachment made by upstream host-device, deleted by hostdev ----------
# An operator switches "type": "host-device" to "hostdev" on a running node:
# DEL of an attachment upstream made (no hostdev record; upstream left the
# host name in the alias) brings h1 home under its name, up, alias cleared.
# Upstream dropped h1's addresses on the way in: they are not expected back.
UPSTREAM_CONF=$TMP/upstream.conflist
jq '.plugins[0] |= {type: "host-device", device: "h1"}' "$CONF" >"$UPSTREAM_CONF"
cid=e2e-$$-upstream
if driver add "$UPSTREAM_CONF" "$NETNS" "$cid" eth0 &&
        [[ $(ip -n "$CTR" -j link show dev eth0 | jq -r '.[0].ifalias') == h1 ]]; then
    pass "upstream host-device add: eth0 in the container with alias h1"
else
    fail "upstream host-device add: eth0 in the container with alias h1" "$(err_text)"
fi
if driver del "$CONF" "$NETNS" "$cid" eth0; then
    pass "hostdev del of host-device's attachment: exit 0"
else
    fail "hostdev del of host-device's attachment: exit 0" "$(err_text)"
fi
home=$(ip -n "$HOST" -j link show dev h1 2>/dev/null |
    jq -r '.[0] | "\(.ifname) \(.address) \(.mtu) up \(.flags | index("UP") != null) alias \(.ifalias // "")"')
want="h1 $BEFORE_MAC 1400 up true alias "
if [[ $home == "$want" ]] && ! has_link "$CTR" eth0 && [[ ! -e $(record "$cid") && ! -e $(cached "$cid") ]]; then
    pass "hostdev del of host-device's attachment: h1 home, up, alias cleared, nothing recorded"
else
    fail "hostdev del of host-device's attachment: h1 home, up, alias cleared, nothing recorded" \
        "want: $want" "got:  ${home:-<h1 missing>}" \
        "container eth0 present: $(has_link "$CTR" eth0 && echo yes || echo no)" "files: $(files "$DATA" "$CACHE")"
fi

# ---- the shipped files (conf/), as their consumers read them -----------------
# Each conflist of conf/ as containerd reads it from its config directory,
# each NetworkAttachmentDefinition's spec.config as Multus hands it to libcni
# (one plugin: AddNetwork; a list: AddNetworkList), with the CNI_ARGS and
# capability args those runtimes pass. Debian's libcni is the one containerd
# 1.6 and 1.7 use: a cniVersion it cannot read (1.1.0) fails here as it fails
# there. What the test changes in a file, and only that: the device it names
# becomes the test's veth h1, dataDir and logFile move into the temporary
# directory (the machine's /run and /var/log stay untouched). A PCI deviceID
# from a device plugin cannot be selected without the hardware: that file is
# run once with a deviceID no device has (ADD must fail naming it, which shows
# it reached hostdev as runtimeConfig.deviceID) and once with h1 as "device".
POD_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-e2e;K8S_POD_INFRA_CONTAINER_ID=e2e;K8S_POD_UID=0f1e2d3c"
CONTAINERD_CAPS='{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"io.kubernetes.cri.pod-annotations":{}}'
MULTUS_IP=192.0.2.20/24
MULTUS_CAPS='{"ips":["'$MULTUS_IP'"],"mac":"02:00:00:00:00:20"}'
SHIPPED=$TMP/shipped
mkdir -p "$SHIPPED"
# h1 as at the start (upstream host-device's round above dropped its addresses).
ip -n "$HOST" addr replace 10.77.0.2/24 dev h1
ip -n "$HOST" addr replace fd00:77::2/64 dev h1 nodad
ip -n "$HOST" link set h1 up
BEFORE=$(snapshot "$HOST" h1)

# nad_config FILE: a NetworkAttachmentDefinition's spec.config, as Multus reads it.
nad_config() {
    /usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["config"])' "$1"
}
# for_test [DEVICE]: stdin's config (one plugin or a list) on stdout with every
# hostdev plugin's device (or, given DEVICE, a device added) set to h1, and
# dataDir and logFile moved under $TMP.
for_test() {
    jq --arg dir "$DATA" --arg log "$SHIPPED/hostdev.log" --arg add "${1:-}" '
        def fix: if .type == "hostdev" then
                .dataDir = $dir
                | if has("device") or $add != "" then .device = "h1" else . end
                | if has("logFile") then .logFile = $log else . end
            else . end;
        if has("plugins") then .plugins |= map(fix) else fix end'
}
# driver_ok STEP ARGS...: the driver succeeds; else FAIL with its stderr.
driver_ok() {
    local step=$1
    shift
    if driver "$@"; then pass "$step"; else fail "$step" "$(err_text)"; fi
}
# result_ips: the result's addresses on interface 0, sorted, comma-separated.
result_ips() { jq -r '[.ips[]? | select(.interface == 0) | .address] | sort | join(",")' "$TMP/out" 2>/dev/null; }

# shipped_round_trip LABEL CONF WANT-ADDRS DRIVER-FLAGS...: ADD (the result and
# the container's eth0 carry WANT-ADDRS), CHECK, STATUS, DEL (h1 home as it was).
shipped_round_trip() {
    local label=$1 conf=$2 want=$3 cid=e2e-$$-shipped-$RANDOM
    shift 3
    if driver "$@" add "$conf" "$NETNS" "$cid" eth0; then
        pass "$label: add through libcni: exit 0"
    else
        fail "$label: add through libcni: exit 0" "$(err_text)" "config: $(jq -c . "$conf")"
    fi
    local got_result got_ctr
    got_result=$(result_ips)
    got_ctr=$(addrs "$CTR" eth0)
    if [[ $got_result == "$want" && $got_ctr == "$want" ]]; then
        pass "$label: the pod's eth0 and the result carry $want"
    else
        fail "$label: the pod's eth0 and the result carry $want" \
            "result: ${got_result:-<none>}" "container eth0: ${got_ctr:-<missing>}"
    fi
    driver_ok "$label: check: exit 0" "$@" check "$conf" "$NETNS" "$cid" eth0
    driver_ok "$label: status: exit 0" status "$conf"
    driver_ok "$label: del: exit 0" "$@" del "$conf" "$NETNS" "$cid" eth0
    expect_home "$label: del: h1 home as it was"
}

HOST_ADDRS=10.77.0.2/24,fd00:77::2/64
for f in "$REPO"/conf/*.conflist "$REPO"/conf/k8s/*.conflist; do
    name=${f#"$REPO"/}
    for_test <"$f" >"$SHIPPED/${f##*/}" || fail "$name: readable JSON" "jq failed"
    want=$HOST_ADDRS
    # A static IPAM section adds its addresses to the ones h1 carries.
    extra=$(jq -r '[.plugins[].ipam.addresses[]?.address] | join(",")' "$f")
    [[ -n $extra ]] && want=$(tr ',' '\n' <<<"$HOST_ADDRS,$extra" | sort | paste -sd,)
    rm -f "$SHIPPED/hostdev.log"
    shipped_round_trip "$name (containerd)" "$SHIPPED/${f##*/}" "$want" \
        -args "$POD_ARGS" -caps "$CONTAINERD_CAPS"
    if jq -e '.plugins[] | select(.type == "hostdev") | has("logFile")' "$f" >/dev/null; then
        check "$name: its logFile was written" "$(ls -l "$SHIPPED" 2>&1)" test -s "$SHIPPED/hostdev.log"
    fi
done

f=$REPO/conf/k8s/nad-by-name.yaml
nad_config "$f" | for_test >"$SHIPPED/nad-by-name.json" || fail "nad-by-name.yaml: spec.config readable" "python3/jq failed"
shipped_round_trip "conf/k8s/nad-by-name.yaml (Multus)" "$SHIPPED/nad-by-name.json" "$HOST_ADDRS" \
    -args "$POD_ARGS" -caps "$MULTUS_CAPS"

f=$REPO/conf/k8s/nad-sriov-deviceid.yaml
label="conf/k8s/nad-sriov-deviceid.yaml (Multus)"
nad_config "$f" | for_test >"$SHIPPED/nad-sriov.json" || fail "nad-sriov-deviceid.yaml: spec.config readable" "python3/jq failed"
# The device plugin's PCI address, as Multus passes it: no such device here.
PCI=0000:00:1f.7
cid=e2e-$$-sriov-nodev
if driver -args "$POD_ARGS" -caps '{"deviceID":"'$PCI'","ips":["'$MULTUS_IP'"]}' \
        add "$SHIPPED/nad-sriov.json" "$NETNS" "$cid" eth0; then
    fail "$label: add with deviceID $PCI (no such device here): fails" "it succeeded"
elif grep -q "$PCI" "$TMP/err" && grep -q deviceID "$TMP/err"; then
    pass "$label: add with deviceID $PCI (no such device here): fails naming runtimeConfig.deviceID $PCI"
else
    fail "$label: add with deviceID $PCI: fails naming runtimeConfig.deviceID $PCI" "$(err_text)"
fi
driver_ok "$label: del after the failed add: exit 0" -args "$POD_ARGS" del "$SHIPPED/nad-sriov.json" "$NETNS" "$cid" eth0
expect_home "$label: the failed add changed nothing"
nad_config "$f" | for_test h1 >"$SHIPPED/nad-sriov-h1.json"
# The "ips" capability: the pod's annotation's address reaches static IPAM.
shipped_round_trip "$label, h1 as device" "$SHIPPED/nad-sriov-h1.json" \
    "$(tr ',' '\n' <<<"$HOST_ADDRS,$MULTUS_IP" | sort | paste -sd,)" -args "$POD_ARGS" -caps "$MULTUS_CAPS"

# ---- verdict --------------------------------------------------------------
if ((${#FAILED[@]})); then
    printf '\nFAILED: %d step(s)\n' "${#FAILED[@]}"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
printf '\nALL PASSED (%ss)\n' "$SECONDS"
