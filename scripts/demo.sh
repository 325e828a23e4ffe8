#!/usr/bin/env bash
# A five-minute tour of hostdev for newcomers. Run as root:
#     bash scripts/demo.sh
# It builds the plugin, makes a throwaway "host" and "container" (two network
# namespaces), hands the host's NIC to the container with ADD, brings it back
# with DEL, and checks that nothing was lost. It touches nothing outside the
# namespaces it creates, and removes them on exit, even on failure.
set -Eeuo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO"

HOSTNS=$(hd_unique demo-host)
CTRNS=$(hd_unique demo-ctr)
WORK=$(mktemp -d /tmp/hostdev-demo.XXXXXX)
NIC=nic0

cleanup() {
    ip netns del "$CTRNS" 2>/dev/null || true
    ip netns del "$HOSTNS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
STEP=start
step() { STEP=$1; hd_header "$1"; }
trap 'printf "\ndemo FAILED in step \"%s\" (exit %s): %s\n" "$STEP" "$?" "$BASH_COMMAND" >&2' ERR

[[ $(id -u) -eq 0 ]] || hd_die "run as root (the demo creates network namespaces)"

step "1. Build the plugin"
hd_rust_target
hd_print_cmd cargo build --release --quiet
if ! cargo build --release --quiet 2>"$WORK/build.log"; then
    cat "$WORK/build.log" >&2
    hd_die "the build failed"
fi
HOSTDEV=$(hd_bin)
[[ -x $HOSTDEV ]] || hd_die "no binary at $HOSTDEV"
hd_note "the plugin is a single binary: $HOSTDEV"

step "2. Make a throwaway world"
hd_note "'$HOSTNS' plays the host, '$CTRNS' plays a container."
hd_note "The host's \"NIC\" is one end of a veth pair, with the kind of setup"
hd_note "an operator cares about: IPv4 and IPv6 addresses, MTU 1400, an alias."
hd_show ip netns add "$HOSTNS"
hd_show ip netns add "$CTRNS"
hd_show ip -n "$HOSTNS" link add "$NIC" type veth peer name "$NIC-peer"
hd_show ip -n "$HOSTNS" link set "$NIC" mtu 1400 alias "demo uplink"
hd_show ip -n "$HOSTNS" addr add 10.99.0.2/24 dev "$NIC"
hd_show ip -n "$HOSTNS" addr add fd00:99::2/64 dev "$NIC" nodad
hd_show ip -n "$HOSTNS" link set "$NIC-peer" up
hd_show ip -n "$HOSTNS" link set "$NIC" up

step "3. The host before ADD"
hd_show ip -n "$HOSTNS" -br addr
BEFORE=$(hd_snapshot "$HOSTNS" "$NIC")
hd_note "what hostdev promises to give back after DEL:"
# shellcheck disable=SC2001
sed 's/^/      /' <<<"$BEFORE"

step "4. ADD: hand $NIC to the container as eth0"
hd_note "A runtime (containerd, podman, cnitool) calls the plugin with CNI_* env"
hd_note "variables and a JSON config on stdin; the result comes back on stdout."
hd_conf "$NIC" "$WORK/state" >"$WORK/conf.json"
hd_note "config ($WORK/conf.json):"
jq . "$WORK/conf.json"
# print_cni COMMAND: the command line a runtime effectively runs.
print_cni() {
    hd_print_cmd ip netns exec "$HOSTNS" env CNI_COMMAND="$1" CNI_CONTAINERID=demo-1 \
        CNI_NETNS="/run/netns/$CTRNS" CNI_IFNAME=eth0 CNI_PATH="$HD_CNI_PATH" \
        "$HOSTDEV" "<" "$WORK/conf.json" | sed "s/'<'/</"
}
print_cni ADD
RESULT=$(hd_cni "$HOSTNS" ADD demo-1 "/run/netns/$CTRNS" eth0 <"$WORK/conf.json")
hd_note "result:"
jq . <<<"$RESULT"

step "5. Inside the container"
hd_note "one netlink message moved $NIC into the container and renamed it eth0;"
hd_note "its addresses, MTU, MAC and alias came along."
hd_show ip -n "$CTRNS" addr show eth0
hd_note "the same facts as the host's list in step 3, seen from the container:"
# shellcheck disable=SC2001
hd_snapshot "$CTRNS" eth0 | sed 's/^/      /'
hd_note "and the host no longer has it:"
hd_show ip -n "$HOSTNS" -br addr

step "6. DEL: give it back"
print_cni DEL
hd_cni "$HOSTNS" DEL demo-1 "/run/netns/$CTRNS" eth0 <"$WORK/conf.json"
hd_note "(DEL prints nothing on success)"
hd_note "a second DEL is harmless too: runtimes retry, and the CNI spec says DEL is idempotent"
hd_cni "$HOSTNS" DEL demo-1 "/run/netns/$CTRNS" eth0 <"$WORK/conf.json"

step "7. Home again, under its own name"
hd_show ip -n "$HOSTNS" -br addr
AFTER=$(hd_snapshot "$HOSTNS" "$NIC")
if [[ $BEFORE == "$AFTER" ]]; then
    echo "before ADD and after DEL: identical"
else
    echo "before ADD and after DEL differ (< before, > after):"
    diff <(echo "$BEFORE") <(echo "$AFTER") || true
    exit 1
fi
if hd_has_link "$CTRNS" eth0; then
    hd_die "eth0 is still in the container after DEL"
fi

step "Done"
hd_note "the namespaces are removed now. Next: conf/*.conflist for real runtimes,"
hd_note "tests/bats/ for the checks an operator does by hand."
