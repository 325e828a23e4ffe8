# shellcheck shell=sh
# The stacked-device scenarios of the hostdev VM test, sourced by
# guest-tests.sh (its helpers: cni, conf, snap, by_mac, fail, finish, ...).
# The development machines have neither `vlan` nor `bond`; Debian's kernel
# in the VM has both (8021q, bonding), so the guard and the restore of
# README's "stacked devices" and "master" are held to them here:
#   52:54:00:12:34:10 e1000  stack_bond_home      a port of bond0 (active-backup):
#                                                 ADD moves it (bond0 stays: bonds are
#                                                 netns-immutable), DEL makes it a port
#                                                 of bond0 again
#                            stack_bond_defroute  the default route through bond0: 107
#   52:54:00:12:34:11 e1000  stack_vlan_refused   a vlan <nic>.10 on it: 104 naming it
#                            stack_vlan_allowed   allowUpperDevices: ADD, DEL; the vlan
#                                                 stays on the host, on the NIC again
#   52:54:00:12:34:12 e1000  stack_vlan_defroute  the default route through a vlan on
#                                                 it: 107, also with allowUpperDevices;
#                                                 allowDefaultRoute lets it go
# Addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24); the
# VM has no outside network. The default routes get metrics of their own:
# sc_defroute's default route is still there.

# master_of IFNAME: the name of IFNAME's master, empty when it has none.
master_of() {
    m=$(readlink "/sys/class/net/$1/master" 2>/dev/null) && echo "${m##*/}"
}
# lower_of IFNAME: the name of the device IFNAME is stacked on.
lower_of() { ip -j link show dev "$1" 2>/dev/null | jq -r '.[0].link // empty'; }
# stack_conf NAME DEV [EXTRA-JSON]: a config selecting DEV, logging at debug
# level (the log lands in the console through cni).
stack_conf() {
    x=${3:-}
    [ -n "$x" ] || x='{}'
    conf 1.0.0 "net-$1" "/run/hd/$1" "{\"device\":\"$2\"}" "$(jq -cn --argjson x "$x" '{logLevel: "debug"} + $x')"
}
# expect_refused NAME CODE WORD: the last ADD failed with CODE, and its
# message names WORD; undoes an ADD that succeeded.
expect_refused() {
    if [ "$RC" = 0 ]; then
        fail "ADD succeeded, want code $2"
        cni DEL "id-$1" "/run/netns/hd-$1" ctr0 "$c"
    elif [ "$(code)" != "$2" ]; then
        fail "want code $2, got $(what)"
    else
        case $(msg) in
        *"$3"*) ;;
        *) fail "code $2, but the message does not name $3: $(msg)" ;;
        esac
    fi
}
# expect_untouched MASTER: after a refused ADD, $dev is on the host as it was
# ($before), a port of MASTER ("" none), and nothing is recorded for $name.
expect_untouched() {
    [ "$(snap "$dev")" = "$before" ] || fail "$dev changed after the refused ADD: $(snap "$dev")"
    [ "$(master_of "$dev")" = "$1" ] || fail "$dev's master is '$(master_of "$dev")' after the refused ADD, want '$1'"
    expect_no_records "/run/hd/$name"
}
# stack_round_trip NAME CONFIG: ADD of $dev as ctr0 into hd-NAME, which it
# reaches as it was ($before) and not a port of anything; then DEL.
# Returns 1 when ADD failed.
stack_round_trip() {
    cni ADD "id-$1" "/run/netns/hd-$1" ctr0 "$2"
    if [ "$RC" != 0 ]; then
        fail "ADD failed: $(what)"
        return 1
    fi
    add_out=$OUT
    want=$(printf '%s' "$before" | jq -c '.name = "ctr0"')
    [ "$(snap_in "hd-$1" ctr0)" = "$want" ] || fail "in the container: $(snap_in "hd-$1" ctr0), want $want"
    inside_master=$(ip -n "hd-$1" -j link show dev ctr0 | jq -r '.[0].master // empty')
    [ -z "$inside_master" ] || fail "ctr0 is a port of $inside_master in the container"
    ip link show dev "$dev" >/dev/null 2>&1 && fail "$dev is still on the host after ADD"
    stack_while_attached
    cni DEL "id-$1" "/run/netns/hd-$1" ctr0 "$(with_prev "$2" "$add_out")"
    expect_ok DEL
    expect_no_records "/run/hd/$1"
}
# Overridden by a scenario that looks at the host while $dev is away.
stack_while_attached() { :; }

# wait_active_slave SECONDS: polls until bond0's active slave is $dev;
# prints it (or what it is then).
wait_active_slave() {
    i=0
    while [ "$i" -lt "$1" ]; do
        a=$(cat /sys/class/net/bond0/bonding/active_slave 2>/dev/null)
        [ "$a" = "$dev" ] && break
        sleep 1
        i=$((i + 1))
    done
    echo "${a:-none}"
}

sc_bond_home() {
    name=stack_bond_home
    dev=$(by_mac 52:54:00:12:34:10)
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC 52:54:00:12:34:10"; return 1; }
    ip link add bond0 type bond mode active-backup miimon 100 || fail "creating bond0"
    # The kernel enslaves a port that is down (and then brings it up).
    ip link set dev "$dev" down && ip link set dev "$dev" master bond0 || fail "enslaving $dev to bond0"
    ip link set dev bond0 up && ip addr add 198.51.100.1/24 dev bond0 || fail "configuring bond0"
    [ "$(master_of "$dev")" = bond0 ] || fail "$dev is not a port of bond0 before ADD"
    [ -z "$FAILS" ] || { finish "$name" ""; return 1; }
    before=$(snap "$dev")
    bond_before=$(snap bond0)
    log "$name: $dev before: $before; bond0: $bond_before; active slave $(wait_active_slave 10)"
    stack_while_attached() {
        [ -n "$(snap bond0)" ] || fail "bond0 is gone from the host while $dev is in the container"
        ports=$(cat /sys/class/net/bond0/bonding/slaves 2>/dev/null)
        [ -z "$ports" ] || fail "bond0 still has ports while $dev is in the container: $ports"
    }
    ip netns add "hd-$name"
    stack_round_trip "$name" "$(stack_conf "$name" "$dev")"
    stack_while_attached() { :; }
    ip netns del "hd-$name"
    after=$(snap "$dev")
    [ "$(master_of "$dev")" = bond0 ] || fail "after DEL $dev is not a port of bond0 (master '$(master_of "$dev")'): $(oneline "$(ip -d link show dev "$dev")")"
    ports=$(cat /sys/class/net/bond0/bonding/slaves 2>/dev/null)
    [ "$ports" = "$dev" ] || fail "bond0's ports after DEL: '$ports', want '$dev'"
    [ "$after" = "$before" ] || fail "after DEL: '$after', before ADD: '$before'"
    active=$(wait_active_slave 10)
    [ "$active" = "$dev" ] || fail "bond0's active slave 10s after DEL is '$active', want $dev"
    [ "$(snap bond0)" = "$bond_before" ] || fail "bond0 after DEL: $(snap bond0), before: $bond_before"
    finish "$name" "ADD moved $dev out of bond0 (bond0 stayed, no ports); DEL: master bond0, bond0's ports '$ports', active slave $active; identical: $after"
}

# sc_bond_defroute: bond0 from sc_bond_home carries a default route; its
# port $dev is refused.
sc_bond_defroute() {
    name=stack_bond_defroute
    [ "$(master_of "$dev")" = bond0 ] || { result "$name" FAIL "$dev is not a port of bond0 (stack_bond_home failed)"; return; }
    ip route add default via 198.51.100.254 dev bond0 metric 310 || fail "adding a default route through bond0"
    before=$(snap "$dev")
    ip netns add "hd-$name"
    c=$(stack_conf "$name" "$dev")
    cni ADD "id-$name" "/run/netns/hd-$name" ctr0 "$c"
    expect_refused "$name" 107 '"bond0" (bond)'
    refused=$(msg)
    expect_untouched bond0
    ip route show default | grep -q 'dev bond0' || fail "the default route through bond0 is gone after the refused ADD"
    ip netns del "hd-$name"
    ip route del default via 198.51.100.254 dev bond0 metric 310
    finish "$name" "code 107: $refused"
}

# vlan_begin NAME MAC VID: the NIC with MAC ($dev) up, with a vlan VID on it
# ($vlan, up); $before its snap.
vlan_begin() {
    dev=$(by_mac "$2")
    [ -n "$dev" ] || { result "$1" FAIL "no NIC with MAC $2"; return 1; }
    vlan=$dev.$3
    ip link set dev "$dev" up &&
        ip link add link "$dev" name "$vlan" type vlan id "$3" &&
        ip link set dev "$vlan" up || { result "$1" FAIL "creating the vlan $vlan on $dev"; return 1; }
    before=$(snap "$dev")
    log "$1: $dev before: $before; $(oneline "$(ip -d link show dev "$vlan")")"
}
# vlan_operstate_up: once $vlan's operstate is UP (the kernel brings a vlan
# up with its lower device), the seconds since $t0.
vlan_operstate_up() {
    [ "$(ip -j link show dev "$vlan" | jq -r '.[0].operstate')" = UP ] && echo "$(($(date +%s) - t0))"
}
# tx_of IFNAME: the packets IFNAME has sent, and those it dropped.
tx_of() { ip -s -j link show dev "$1" | jq -r '.[0].stats64.tx | "\(.packets) \(.dropped)"'; }
# vlan_sends_through: what the vlan $vlan, left on the host, hands its lower
# device (now in the container) during a 3-second ping from the host through
# it: ARP requests, as nothing answers (a vlan counts a frame as sent once
# its lower device's queue took it, as dropped otherwise; 203.0.113.0/24 is a
# documentation range).
vlan_sends_through() {
    ip addr add 203.0.113.1/24 dev "$vlan" || return
    # shellcheck disable=SC2046 # two numbers, split on purpose
    set -- $(tx_of "$vlan")
    ping -c 3 -W 1 203.0.113.2 >/dev/null 2>&1
    # shellcheck disable=SC2046
    set -- "$@" $(tx_of "$vlan")
    echo "during a 3-second ping from the host through $vlan it sent $(($3 - $1)) frames into its lower device, dropped $(($4 - $2))"
    ip addr del 203.0.113.1/24 dev "$vlan"
}
# expect_vlan_home: the vlan $vlan is on the host, stacked on $dev again.
expect_vlan_home() {
    [ "$(lower_of "$vlan")" = "$dev" ] ||
        fail "after DEL the vlan $vlan is not on $dev: $(oneline "$(ip -d link show dev "$vlan" 2>&1)")"
}

sc_vlan_guard() {
    name=stack_vlan_refused
    vlan_begin "$name" 52:54:00:12:34:11 10 || { result stack_vlan_allowed FAIL "no vlan"; return; }
    ip netns add "hd-$name"
    c=$(stack_conf "$name" "$dev")
    cni ADD "id-$name" "/run/netns/hd-$name" ctr0 "$c"
    expect_refused "$name" 104 "\"$vlan\" (vlan)"
    refused=$(msg)
    expect_untouched ""
    [ "$(lower_of "$vlan")" = "$dev" ] || fail "the vlan $vlan is not on $dev after the refused ADD"
    ip netns del "hd-$name"
    finish "$name" "code 104: $refused"

    name=stack_vlan_allowed
    stack_while_attached() {
        ip link show dev "$vlan" >/dev/null 2>&1 || fail "the vlan $vlan is gone from the host while $dev is in the container"
        vlan_away=$(ip -j -d link show dev "$vlan" | jq -c '.[0] | {link, link_netnsid, operstate}')
        vlan_sends=$(vlan_sends_through)
    }
    ip netns add "hd-$name"
    stack_round_trip "$name" "$(stack_conf "$name" "$dev" '{"allowUpperDevices": true}')"
    stack_while_attached() { :; }
    ip netns del "hd-$name"
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after DEL: '$after', before ADD: '$before'"
    expect_vlan_home
    t0=$(date +%s)
    vlan_up=$(wait_found 10 vlan_operstate_up)
    note "$name: the vlan while $dev was in the container: $vlan_away; after DEL: $(ip -j link show dev "$vlan" | jq -c '.[0] | {link, operstate}')${vlan_up:+ (operstate UP ${vlan_up}s later)}; $vlan_sends"
    ip link del dev "$vlan"
    finish "$name" "allowUpperDevices: ADD, DEL ok; $vlan stayed on the host, on $dev again; identical: $after"
}

sc_vlan_defroute() {
    name=stack_vlan_defroute
    vlan_begin "$name" 52:54:00:12:34:12 20 || return
    if ! ip addr add 192.0.2.1/24 dev "$vlan" || ! ip route add default via 192.0.2.254 dev "$vlan" metric 320; then
        fail "adding a default route through $vlan"
    fi
    ip netns add "hd-$name"
    for x in '{}' '{"allowUpperDevices": true}'; do
        c=$(stack_conf "$name" "$dev" "$x")
        cni ADD "id-$name" "/run/netns/hd-$name" ctr0 "$c"
        expect_refused "$name" 107 "\"$vlan\" (vlan)"
        expect_untouched ""
    done
    refused=$(msg)
    ip route show default | grep -q "dev $vlan" || fail "the default route through $vlan is gone after the refused ADD"
    stack_round_trip "$name" "$(stack_conf "$name" "$dev" '{"allowUpperDevices": true, "allowDefaultRoute": true}')"
    ip netns del "hd-$name"
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after DEL: '$after', before ADD: '$before'"
    expect_vlan_home
    # The vlan's routes are the vlan's: the kernel drops them when its lower
    # device leaves, and hostdev restores only the moved device's own.
    note "$name: after DEL the default routes: '$(ip route show default | tr '\n' ';')'"
    ip link del dev "$vlan"
    finish "$name" "code 107 (also with allowUpperDevices): $refused; with allowDefaultRoute ADD, DEL ok: $after"
}

stack_tests() {
    if [ ! -d /sys/module/8021q ] || [ ! -d /sys/module/bonding ]; then
        for n in stack_bond_home stack_bond_defroute stack_vlan_refused stack_vlan_allowed stack_vlan_defroute; do
            result "$n" FAIL "the modules 8021q and bonding are not both loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
        done
        return
    fi
    if sc_bond_home; then
        sc_bond_defroute
    else
        result stack_bond_defroute FAIL "stack_bond_home failed"
    fi
    sc_vlan_guard
    sc_vlan_defroute
}
