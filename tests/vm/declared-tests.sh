# shellcheck shell=sh
# Declared settings on emulated NICs, sourced by tests/vm/guest-tests.sh
# (its helpers: cni, conf, snap, by_mac, prep, await_return, fail, finish):
# MTU, MAC, gsoMaxSize and an ethtool feature declared on an e1000 and on a
# virtio-net NIC, in the container after ADD (and CHECK), the host's own
# back after DEL; then ADD again, the namespace dies, the kernel returns the
# NIC with the pod's settings, and DEL (e1000) or GC (virtio) gives it the
# host's own back, every sysctl of its trees included (half of them moved
# off their values first). The NICs (MAC plan in scripts/vm-e2e.sh):
#   52:54:00:12:34:13 e1000
#   52:54:00:12:34:14 virtio-net

DECLARED_MTU=9000
DECLARED_GSO=32768

# The features tried, as `ethtool -k` names them, in order: the first one
# that is on and that the driver lets change is declared off. The e1000
# has the generic checksum offload; virtio-net on a hub port has no
# offloads at all (QEMU offers them only with a vnet-header backend such as
# tap), so it falls to GRO, which every driver lets change.
DECLARED_FEATURES="tx-checksum-ip-generic tx-checksum-ipv4 tx-scatter-gather tx-tcp-segmentation rx-checksumming generic-receive-offload"

# ethtool_k IFNAME [NETNS]: `ethtool -k`, one feature a line, unindented,
# without the header.
ethtool_k() {
    if [ -n "${2:-}" ]; then
        ip netns exec "$2" /usr/sbin/ethtool -k "$1"
    else
        /usr/sbin/ethtool -k "$1"
    fi 2>/dev/null | tail -n +2 | sed 's/^[[:space:]]*//'
}
# feature_state IFNAME FEATURE [NETNS]: on or off.
feature_state() { ethtool_k "$1" "${3:-}" | sed -n "s/^$2: \([a-z]*\).*/\1/p"; }
# changeable_feature IFNAME: the first of DECLARED_FEATURES that is on and
# not [fixed].
changeable_feature() {
    for f in $DECLARED_FEATURES; do
        line=$(ethtool_k "$1" | grep "^$f: ")
        case $line in
        *"[fixed]"*) ;;
        *": on"*)
            echo "$f"
            return 0
            ;;
        esac
    done
    return 1
}
# dstate IFNAME: what a declared setting could change, as one line: the
# snap, the queue length and GSO/GRO sizes, every feature, and every
# readable sysctl of its two trees (but `mtu`, which follows the link's).
dstate() {
    printf '%s|%s|%s|%s' "$(snap "$1")" \
        "$(ip -d -j link show dev "$1" | jq -c '.[0] | {txqlen, gso_max_size, gro_max_size}')" \
        "$(ethtool_k "$1" | tr '\n' ';')" \
        "$(grep -rs . "/proc/sys/net/ipv4/conf/$1/" "/proc/sys/net/ipv6/conf/$1/" |
            sed "s|/conf/$1/|/conf/DEV/|" | grep -v '/mtu:' | sort | tr '\n' ';')"
}

# move_sysctls IFNAME: every other integer sysctl of its two trees one up
# (else one down), each file moved printed, so that the host's own values,
# which the kernel resets on every move, must each come home: hostdev
# records them from the link message's arrays on this kernel too.
move_sysctls() {
    for t in ipv4 ipv6; do
        n=0
        for f in "/proc/sys/net/$t/conf/$1"/*; do
            n=$((n + 1))
            [ $((n % 2)) = 1 ] || continue
            case ${f##*/} in mtu | disable_ipv6 | stable_secret | addr_gen_mode) continue ;; esac
            v=$(cat "$f" 2>/dev/null) || continue
            case $v in '' | *[!0-9-]*) continue ;; esac
            { echo $((v + 1)) >"$f" || echo $((v - 1)) >"$f"; } 2>/dev/null && echo "$f"
        done
    done
}
# in_pod NETNS IFNAME: MTU, MAC and gso_max_size in the container.
in_pod() { ip -n "$1" -d -j link show dev "$2" | jq -c '.[0] | {mtu, address, gso_max_size}'; }

# declared_conf NAME DATADIR MAC NEWMAC FEATURE: the config of both scenarios.
declared_conf() {
    conf 1.1.0 "net-$1" "$2" "{\"hwaddr\":\"$3\"}" \
        "{\"mtu\":$DECLARED_MTU,\"mac\":\"$4\",\"gsoMaxSize\":$DECLARED_GSO,\"ethtool\":{\"features\":{\"$5\":false}}}"
}

# declared_add NS IFNAME CONFIG NEWMAC FEATURE: ADD, then the declared
# settings in the container, in the result, and CHECK. Sets add_out;
# returns 1 when ADD failed.
declared_add() {
    cni ADD "id-$name" "/run/netns/$1" "$2" "$3"
    [ "$RC" = 0 ] || { fail "ADD failed: $(what)"; return 1; }
    add_out=$OUT
    got=$(in_pod "$1" "$2")
    want="{\"mtu\":$DECLARED_MTU,\"address\":\"$4\",\"gso_max_size\":$DECLARED_GSO}"
    [ "$got" = "$want" ] || fail "in the container: $got, declared $want"
    st=$(feature_state "$2" "$5" "$1")
    [ "$st" = off ] || fail "in the container $5 is '$st', declared off"
    res=$(printf '%s' "$add_out" | jq -c '.interfaces[0] | {mac, mtu}')
    [ "$res" = "{\"mac\":\"$4\",\"mtu\":$DECLARED_MTU}" ] || fail "result interface $res"
    cni CHECK "id-$name" "/run/netns/$1" "$2" "$(with_prev "$3" "$add_out")"
    expect_ok CHECK
}

# sc_declared NAME MAC N: ADD with MTU, MAC, gsoMaxSize and a feature
# declared, checked in the container; DEL gives the host its own back.
# Sets DECLARED_FEATURE for the NIC's second scenario.
sc_declared() {
    name=$1 mac=$2 n=$3 newmac=02:00:00:dd:00:$3
    DECLARED_FEATURE=
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC $mac"; return; }
    prep "$dev" "$n" || fail "preparing $dev"
    feat=$(changeable_feature "$dev") ||
        { result "$name" FAIL "$dev has none of '$DECLARED_FEATURES' on and changeable: $(ethtool_k "$dev" | tr '\n' ';')"; return; }
    DECLARED_FEATURE=$feat
    moved=$(move_sysctls "$dev" | wc -l)
    before=$(dstate "$dev")
    kept=$(printf '%s' "$before" | tr ';' '\n' | grep -c /conf/DEV/)
    log "$name: $dev before: $before"
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(declared_conf "$name" "$dd" "$mac" "$newmac" "$feat")
    if declared_add "$ns" ctr0 "$c" "$newmac" "$feat"; then
        cni DEL "id-$name" "/run/netns/$ns" ctr0 "$(with_prev "$c" "$add_out")"
        expect_ok DEL
    fi
    after=$(dstate "$dev")
    [ "$after" = "$before" ] || fail "after DEL: '$after', before ADD: '$before'"
    expect_no_records "$dd"
    ip netns del "$ns"
    finish "$name" "$dev ($(readlink -f "/sys/class/net/$dev/device/driver" | sed 's,.*/,,')): mtu $DECLARED_MTU, mac $newmac, gsoMaxSize $DECLARED_GSO, $feat off in the pod, CHECK ok; the host's own after DEL, its $kept sysctls ($moved moved off their values) included"
}

# sc_declared_gone NAME MAC N HOW: as sc_declared, but the namespace dies:
# the kernel returns the NIC with the pod's settings; HOW (del or gc)
# gives it the host's own back.
sc_declared_gone() {
    name=$1 mac=$2 n=$3 how=$4 newmac=02:00:00:dd:01:$3 feat=$DECLARED_FEATURE
    dev=$(by_mac "$mac")
    if [ -z "$dev" ] || [ -z "$feat" ]; then
        result "$name" FAIL "no NIC with MAC $mac, or no feature found for it"
        return
    fi
    before=$(dstate "$dev")
    ns=hd-$name dd=/run/hd/$name ifname=decl$n
    ip netns add "$ns"
    c=$(declared_conf "$name" "$dd" "$mac" "$newmac" "$feat")
    if ! declared_add "$ns" "$ifname" "$c" "$newmac" "$feat"; then
        ip netns del "$ns"
        finish "$name" ""
        return
    fi
    ip netns del "$ns"
    await_return "$name" "$mac" || { finish "$name" ""; return; }
    # shellcheck disable=SC2154 # back: the NIC's name, set by await_return
    note "$name: the NIC came back with the pod's settings: $(ip -d -j link show dev "$back" | jq -c '.[0] | {mtu, address, gso_max_size}') $feat $(feature_state "$back" "$feat")"
    if [ "$how" = del ]; then
        cni DEL "id-$name" "/run/netns/$ns" "$ifname" "$(with_prev "$c" "$add_out")"
        expect_ok "DEL with the deleted netns path"
    else
        cni GC "" "" "" "$(printf '%s' "$c" | jq -c '. + {"cni.dev/valid-attachments": []}')"
        expect_ok "GC (cni.dev/valid-attachments [])"
    fi
    after=$(dstate "$dev")
    [ "$after" = "$before" ] || fail "after $how: '$after', before ADD: '$before'"
    expect_no_records "$dd"
    finish "$name" "returned as $back with the pod's settings; the host's own after $how"
}

# A declared IPv4 GSO size on a kernel before 6.3 (which has none): 7
# naming the key, the NIC unchanged; SKIP on a kernel that has them.
sc_declared_ipv4() {
    name=declared_ipv4_refused
    dev=$(by_mac 52:54:00:12:34:13)
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC 52:54:00:12:34:13"; return; }
    if [ -n "$(ip -d -j link show dev "$dev" | jq -r '.[0].gso_ipv4_max_size // empty')" ]; then
        result "$name" SKIP "kernel $(uname -r) has the IPv4 GSO/GRO sizes"
        return
    fi
    before=$(dstate "$dev")
    ip netns add hd-decl-v4
    cni ADD id-decl-v4 /run/netns/hd-decl-v4 ctr0 "$(conf 1.1.0 net-decl-v4 /run/hd/decl-v4 '{"hwaddr":"52:54:00:12:34:13"}' '{"gsoIPv4MaxSize":32768}')"
    case "$RC $(code) $(msg)" in
    *" 7 "*gsoIPv4MaxSize*32768*) ;;
    *) fail "want 7 naming gsoIPv4MaxSize 32768, got $(what)" ;;
    esac
    [ "$(dstate "$dev")" = "$before" ] || fail "the refused ADD changed $dev: $(dstate "$dev")"
    expect_no_records /run/hd/decl-v4
    ip netns del hd-decl-v4
    finish "$name" "gsoIPv4MaxSize on kernel $(uname -r), which has no IPv4 sizes: 7 ($(msg)); $dev unchanged"
}

declared_tests() {
    sc_declared declared_e1000 52:54:00:12:34:13 13
    sc_declared_gone declared_e1000_gone_del 52:54:00:12:34:13 13 del
    sc_declared declared_virtio 52:54:00:12:34:14 14
    sc_declared_gone declared_virtio_gone_gc 52:54:00:12:34:14 14 gc
    sc_declared_ipv4
}
