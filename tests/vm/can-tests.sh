# shellcheck shell=sh
# The CAN scenarios of the hostdev VM test, sourced by guest-tests.sh (its
# helpers: cni, conf, snap, fail, finish, ...). QEMU emulates one Kvaser
# PCIcan card (kvaser_pci, one SJA1000 channel) on a CAN bus of its own.
#
# A physical CAN interface has no MAC and reports a link kind (`can`), yet it
# is a device on a bus: when its namespace dies the kernel returns it to the
# initial namespace (netns_refund), like an Ethernet NIC, possibly under the
# container-side name. A vcan has neither a parent device nor a MAC and dies
# with its namespace. These checks hold hostdev to both facts:
#   can_inventory        the card, its interface, a bit rate, up
#   can_select_device    ADD, CHECK, DEL by "device"; identical afterwards
#   can_select_pcibusid  the same by "pciBusID" of the kvaser function
#   can_gone_del         namespace deleted, the kernel returns can0, DEL restores it
#   can_gone_gc          the same, restored by GC (1.1.0, valid-attachments [])
#   can_agent_running    the same, no DEL: the node agent, running before the
#                        namespace is deleted, restores it (proof by parent
#                        device only: a CAN interface has no MAC)
#   can_agent_once       the same, restored by `hostdev reconcile --once`
#   can_lingering_del    DEL while a process holds the namespace whose path is
#                        gone: found through the process, restored at once
#   vcan_dies            a vcan dies with its namespace: DEL 0, record "lost"
#   vcan_leaves_can      a dead vcan attachment does not claim can0 (DEL, GC)

CAN_PCI=
CAN_BITRATE=500000

# by_parent PCI [NETNS]: the interface whose parent device is PCI.
by_parent() {
    ipn "${2:-}" -d -j link show 2>/dev/null |
        jq -r --arg p "$1" '.[] | select(.parentdev == $p) | .ifname' 2>/dev/null | head -n 1
}
# can_if: the CAN interface in the initial namespace, whatever its name.
can_if() { by_parent "$CAN_PCI"; }
# can_snap IFNAME [NETNS]: snap plus the CAN bit rate; empty when absent.
can_snap() {
    s=$(snap "$1" "${2:-}")
    [ -n "$s" ] || return 0
    br=$(ipn "${2:-}" -d -j link show dev "$1" | jq -r '.[0].linkinfo.info_data.bittiming.bitrate // empty')
    printf '%s' "$s" | jq -c --arg b "$br" '. + {bitrate: $b}'
}
# record_field DATADIR JQ: JQ applied to the one record in DATADIR.
record_field() {
    set -- "$(records "$1")" "$2"
    # shellcheck disable=SC2086 # one path, with the trailing space records prints
    [ -n "$1" ] && jq -r "$2" $1 2>/dev/null
}

can_inventory() {
    for d in /sys/bus/pci/drivers/kvaser_pci/0000:*; do
        [ -e "$d" ] && CAN_PCI=${d##*/}
    done
    dev=
    [ -n "$CAN_PCI" ] && dev=$(can_if)
    if [ -z "$dev" ]; then
        dmesg | grep -i -e kvaser -e sja1000 -e 'can[0-9]' | tail -n 20 | sed 's/^/#   /'
        result can_inventory FAIL "no CAN interface under a kvaser_pci function (PCI '$CAN_PCI'; modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' '))"
        return 1
    fi
    # What a user's CAN interface has: a bit rate (needed before up), an
    # alias, an altname; up.
    ip link set dev "$dev" type can bitrate "$CAN_BITRATE" || fail "setting the bit rate of $dev"
    ip link set dev "$dev" alias "hdtest can" || fail "setting an alias on $dev"
    ip link property add dev "$dev" altname hdtest-can-alt || fail "adding an altname to $dev"
    ip link set dev "$dev" up || fail "setting $dev up"
    now=$(can_snap "$dev")
    case $now in
    *'"up":true'*"\"bitrate\":\"$CAN_BITRATE\""*) ;;
    *) fail "$dev is not up at $CAN_BITRATE bit/s: $now" ;;
    esac
    kind=$(ip -d -j link show dev "$dev" | jq -r '.[0].linkinfo.info_kind')
    finish can_inventory "$dev on $CAN_PCI (kvaser_pci, kind $kind): $now"
}

# can_attach NAME VERSION IFNAME SELECTOR-JSON: a namespace hd-NAME, then ADD
# of the CAN interface into it; checks it arrived unchanged and is recorded
# by its parent device. Sets dev, before, ns, dd, id, c, add_out; fails
# (returns 1) when the ADD did.
can_attach() {
    dev=$(can_if)
    [ -n "$dev" ] || { fail "no CAN interface on the host"; return 1; }
    before=$(can_snap "$dev")
    ns=hd-$1 dd=/run/hd/$1 id=id-$1 back=
    log "$1: $dev before: $before"
    ip netns add "$ns"
    c=$(conf "$2" "net-$1" "$dd" "$4")
    cni ADD "$id" "/run/netns/$ns" "$3" "$c"
    if [ "$RC" != 0 ]; then
        fail "ADD failed: $(what)"
        ip netns del "$ns"
        return 1
    fi
    add_out=$OUT
    want=$(printf '%s' "$before" | jq -c --arg n "$3" '.name = $n')
    inside=$(can_snap "$3" "$ns")
    [ "$inside" = "$want" ] || fail "in the container: '$inside', want $want"
    [ -z "$(can_if)" ] || fail "the CAN interface is still on the host after ADD"
    anchor=$(record_field "$dd" .anchor.by)
    [ "$anchor" = parent ] || fail "the record anchors $dev by '$anchor', want its parent device"
}

# can_expect_home HOW: the CAN interface is home exactly as it was, and its
# record is gone.
can_expect_home() {
    after=$(can_snap "$dev")
    [ "$after" = "$before" ] ||
        fail "after $1: '$after', before ADD: '$before' (the CAN interface is now '$(can_if)')"
    expect_no_records "$dd"
}

# can_wait_back NAME: polls until the kernel has returned the CAN interface
# to the initial namespace; notes the name it came back under.
can_wait_back() {
    t0=$(date +%s)
    back=$(wait_found "$RETURN_TIMEOUT" can_if)
    if [ -z "$back" ]; then
        fail "the CAN interface did not come back to the initial namespace within ${RETURN_TIMEOUT}s"
        return 1
    fi
    note "$1: the kernel returned $dev as '$back' in $(($(date +%s) - t0))s: $(can_snap "$back")"
}

sc_can_select() {
    name=$1 sel=$2
    if can_attach "$name" 1.0.0 ctr0 "$sel"; then
        cp=$(with_prev "$c" "$add_out")
        cni CHECK "$id" "/run/netns/$ns" ctr0 "$cp"
        expect_ok CHECK
        cni DEL "$id" "/run/netns/$ns" ctr0 "$cp"
        expect_ok DEL
        ip netns del "$ns"
    fi
    can_expect_home DEL
    finish "$name" "$dev by $sel: ADD, CHECK, DEL ok; identical after: $after"
}

# sc_can_gone NAME HOW: ADD, the namespace deleted without DEL, the kernel
# returns the CAN interface, then HOW brings it home: del, gc (1.1.0,
# valid-attachments []), agent (the node agent, started before the
# namespace is deleted: it heals on the namespace's RTM_DELNSID and the
# interface's return) or once (`hostdev reconcile --once` after the kernel
# returned it). A CAN interface has no MAC: only its parent device proves it.
sc_can_gone() {
    name=$1 how=$2 ver=1.0.0
    [ "$how" = gc ] && ver=1.1.0
    if can_attach "$name" "$ver" cgone0 "{\"pciBusID\":\"$CAN_PCI\"}"; then
        [ "$how" = agent ] && agent_start "$name" "$dd"
        ip netns del "$ns"
        if [ "$how" = agent ]; then
            agent_healed
        elif can_wait_back "$name"; then
            case $how in
            del)
                cni DEL "$id" "/run/netns/$ns" cgone0 "$(with_prev "$c" "$add_out")"
                expect_ok "DEL with the deleted netns path"
                ;;
            gc)
                cni GC "" "" "" "$(printf '%s' "$c" | jq -c '. + {"cni.dev/valid-attachments": []}')"
                expect_ok "GC (cni.dev/valid-attachments [])"
                ;;
            once) agent_once "$name" "$dd" ;;
            esac
        fi
    fi
    can_expect_home "$how"
    case $how in
    agent) finish "$name" "no DEL; restored by the running agent ($(healed_line)): $after" ;;
    once) finish "$name" "no DEL; returned as ${back:-?}, restored by reconcile --once ($(healed_line)): $after" ;;
    *) finish "$name" "returned as ${back:-?}, restored by $how: $after" ;;
    esac
}

# sc_can_lingering: the container's namespace loses its last bind mount but
# a process still holds it, so the kernel has not returned the interface.
# DEL finds the namespace through that process (by the device and inode ADD
# recorded) and brings the interface home at once, with the path gone; a
# second DEL, after the process ended, changes nothing.
sc_can_lingering() {
    name=can_lingering_del
    if can_attach "$name" 1.0.0 clinger0 '{"device":"'"$(can_if)"'"}'; then
        # iproute2 itself, not the ip() function: $! must be the process
        # that enters the namespace and becomes sleep.
        /sbin/ip netns exec "$ns" sleep 1000 &
        holder=$!
        want_ns=$(stat -L -c %i "/run/netns/$ns")
        wait_found 10 held_by "$holder" "$want_ns" >/dev/null || fail "process $holder never entered $ns"
        ip netns del "$ns"
        cni DEL "$id" "/run/netns/$ns" clinger0 "$c"
        expect_ok "DEL while a process holds the namespace"
        case $ERR in
        *"found it through process $holder ("*) ;;
        *) fail "DEL's log does not say it found the namespace through process $holder: $(oneline "$ERR")" ;;
        esac
        kill "$holder"
        wait "$holder" 2>/dev/null
        cni DEL "$id" "" clinger0 "$c"
        expect_ok "second DEL, after the namespace died"
    fi
    can_expect_home "the first DEL"
    finish "$name" "found through the process holding its namespace, restored by the first DEL: $after"
}

# held_by PID INODE: prints PID when its network namespace is INODE.
held_by() {
    [ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null)" = "$2" ] && echo "$1"
}

# vcan_attach NAME VERSION IFNAME: a new vcan0 (MTU 72, CAN FD; up) ADDed
# into a namespace hd-NAME, which is then deleted. Sets ns, dd, id, c.
vcan_attach() {
    ns=hd-$1 dd=/run/hd/$1 id=id-$1
    ip link add vcan0 type vcan && ip link set dev vcan0 mtu 72 && ip link set dev vcan0 up ||
        { fail "creating vcan0"; return 1; }
    ip netns add "$ns"
    c=$(conf "$2" "net-$1" "$dd" '{"device":"vcan0","unprovable":"trustContainer"}')
    cni ADD "$id" "/run/netns/$ns" "$3" "$c"
    if [ "$RC" != 0 ]; then
        fail "ADD of vcan0 failed: $(what)"
        ip link del vcan0 2>/dev/null
        ip netns del "$ns"
        return 1
    fi
    [ -n "$(snap_in "$ns" "$3")" ] || fail "vcan0 is not in the container as $3 after ADD"
    ip netns del "$ns"
}

# vcan_dies: nothing proves where a vcan is: DEL succeeds, the record stays
# as lost, and nothing appears on the host.
sc_vcan_dies() {
    if vcan_attach vcan_dies 1.0.0 cvcan0; then
        cni DEL "$id" "/run/netns/$ns" cvcan0 "$c"
        expect_ok "DEL after the namespace died"
        phase=$(record_field "$dd" .phase)
        [ "$phase" = lost ] || fail "the record's phase is '$phase' ($(records "$dd")), want lost"
        ip link show dev vcan0 >/dev/null 2>&1 && fail "a vcan0 is on the host: $(snap vcan0)"
        cvcan=$(ip -j link show type vcan | jq -r '[.[].ifname] | join(" ")')
        [ -z "$cvcan" ] || fail "vcan interfaces on the host after DEL: $cvcan"
    fi
    finish vcan_dies "DEL ok, record kept as $phase: $(record_field "$dd" .lost)"
}

# vcan_leaves_can: can0 is on the host; a vcan (no MAC either) attachment
# whose namespace died must not make DEL or GC claim can0.
sc_vcan_leaves_can() {
    dev=$(can_if)
    [ -n "$dev" ] || { result vcan_leaves_can FAIL "no CAN interface on the host"; return; }
    before=$(can_snap "$dev")
    if vcan_attach vcan_leaves_can 1.1.0 vcan0; then
        cni DEL "$id" "/run/netns/$ns" vcan0 "$c"
        expect_ok "DEL after the namespace died"
        [ "$(can_snap "$dev")" = "$before" ] || fail "after DEL the CAN interface is '$(can_if)': $(can_snap "$(can_if)"), was $before"
        cni GC "" "" "" "$(printf '%s' "$c" | jq -c '. + {"cni.dev/valid-attachments": []}')"
        expect_ok "GC (cni.dev/valid-attachments [])"
    fi
    after=$(can_snap "$dev")
    [ "$after" = "$before" ] || fail "after GC the CAN interface is '$(can_if)': $(can_snap "$(can_if)"), was $before"
    finish vcan_leaves_can "$dev untouched by DEL and GC of a dead vcan0 attachment: $after"
}

can_tests() {
    can_inventory || return 0
    sc_can_select can_select_device "{\"device\":\"$(can_if)\"}"
    sc_can_select can_select_pcibusid "{\"pciBusID\":\"$CAN_PCI\"}"
    sc_can_gone can_gone_del del
    sc_can_gone can_gone_gc gc
    sc_can_gone can_agent_running agent
    sc_can_gone can_agent_once once
    sc_can_lingering
    sc_vcan_dies
    sc_vcan_leaves_can
}
