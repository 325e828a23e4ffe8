# shellcheck shell=bash
# Shared setup for the hostdev bats suite. Each test gets its own world:
#   $HOSTNS  a namespace that plays the host, with a veth "NIC" h1 (peer h1-p)
#            carrying 10.0.0.2/24 and fd00::2/64, MTU 1400, a fixed MAC, an alias
#   $CTRNS   a namespace that plays the container ($CTRNETNS is its path)
#   $DATA    a temporary dataDir;  $CONF  the config JSON for device h1
# All are removed in teardown, whatever happened.

bats_require_minimum_version 1.5.0

# shellcheck source=scripts/lib.sh
source "$BATS_TEST_DIRNAME/../../scripts/lib.sh"

HOST_MAC=02:00:00:aa:bb:01

setup() {
    HOSTDEV=$(hd_bin)
    export HOSTDEV
    [[ -x $HOSTDEV ]] || hd_die "no plugin binary at $HOSTDEV (cargo build --release, or set HOSTDEV)"
    HOSTNS=$(hd_unique hdbats-h)
    CTRNS=$(hd_unique hdbats-c)
    CTRNETNS=/run/netns/$CTRNS
    DATA=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/data.XXXXXX")
    CID=bats-$BATS_TEST_NUMBER-$$
    EXTRA_NS=()
    ip netns add "$HOSTNS"
    ip netns add "$CTRNS"
    ip -n "$HOSTNS" link add h1 type veth peer name h1-p
    ip -n "$HOSTNS" link set h1 mtu 1400 address "$HOST_MAC" alias "bats uplink"
    ip -n "$HOSTNS" addr add 10.0.0.2/24 dev h1
    ip -n "$HOSTNS" addr add fd00::2/64 dev h1 nodad
    ip -n "$HOSTNS" link set h1-p up
    ip -n "$HOSTNS" link set h1 up
    CONF=$(hd_conf h1 "$DATA")
    BEFORE=$(hd_snapshot "$HOSTNS" h1)
}

teardown() {
    local ns
    for ns in "${EXTRA_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    ip netns del "$CTRNS" 2>/dev/null || true
    ip netns del "$HOSTNS" 2>/dev/null || true
    rm -rf "$DATA"
}

# new_ctr VAR: another container namespace, removed in teardown; its name in VAR.
new_ctr() {
    local name
    name=$(hd_unique hdbats-x)
    EXTRA_NS+=("$name")
    ip netns add "$name"
    printf -v "$1" '%s' "$name"
}

# cni COMMAND [IFNAME] [NETNS]: (IFNAME defaults to eth0, NETNS to the container;
# pass "" to send an empty value) run the plugin from the host namespace with $CONF
# on stdin. Use as `run --separate-stderr cni ADD`: $output is the JSON on
# stdout, $stderr the logs.
cni() {
    hd_cni "$HOSTNS" "$1" "$CID" "${3-$CTRNETNS}" "${2-eth0}" <<<"$CONF"
}

# cni_ok COMMAND [IFNAME] [NETNS]: like cni, but fail the test with the plugin's
# output if it exits non-zero. Stdout is kept for the caller.
cni_ok() {
    local out err rc=0
    err=$(mktemp)
    out=$(cni "$@" 2>"$err") || rc=$?
    if ((rc != 0)); then
        echo "hostdev $1 failed with exit $rc" >&2
        echo "stdout: $out" >&2
        echo "stderr: $(cat "$err")" >&2
        rm -f "$err"
        return 1
    fi
    rm -f "$err"
    printf '%s\n' "$out"
}

# assert_link NS DEV / assert_no_link NS DEV: DEV is (is not) in NS.
# (A bare `! cmd` does not fail a bats test, hence these.)
assert_link() {
    hd_has_link "$1" "$2" || { echo "$2 is missing from $1" >&2; return 1; }
}
assert_no_link() {
    if hd_has_link "$1" "$2"; then
        echo "$2 should not be in $1:" >&2
        ip -n "$1" -br addr show dev "$2" >&2
        return 1
    fi
}

# expect_error CODE: after `run --separate-stderr cni ...`, the call failed with
# the CNI error CODE as JSON on stdout, with a message.
# shellcheck disable=SC2154  # status, output, stderr are set by bats' run
expect_error() {
    if [[ $status -eq 0 ]]; then
        echo "expected CNI error $1, got exit 0: $output" >&2
        return 1
    fi
    jq -e --argjson code "$1" '.code == $code and (.msg | type == "string" and length > 0)' \
        <<<"$output" >/dev/null || {
        echo "expected CNI error $1, got exit $status, stdout: $output, stderr: $stderr" >&2
        return 1
    }
}

# host_intact: h1 is in the host exactly as setup() left it.
host_intact() {
    local now
    now=$(hd_snapshot "$HOSTNS" h1) || { echo "h1 is not in the host namespace" >&2; return 1; }
    if [[ $now != "$BEFORE" ]]; then
        echo "h1 changed (< before, > now):" >&2
        diff <(echo "$BEFORE") <(echo "$now") >&2 || true
        return 1
    fi
}

# ctr_addrs IFNAME: the global addresses of IFNAME in the container, one a line.
ctr_addrs() {
    ip -n "$CTRNS" -j addr show dev "$1" |
        jq -r '.[0].addr_info[] | select(.scope != "link") | "\(.local)/\(.prefixlen)"' | sort
}
