# shellcheck shell=dash
# SR-IOV scenarios on real VFs: QEMU 10's igb (an 82576 PF on a PCIe root
# port of a q35 machine) with igbvf VFs made by sriov_numvfs. Sourced by
# guest-tests.sh (its helpers: cni, conf, snap, fail, finish, ...) when the
# kernel command line says hdtest_suite=sriov (scripts/vm-e2e.sh's second VM).
#
# VF N is the PCI function the PF's virtfnN links to; its interface is found
# there each time (a VF returned by the kernel may carry another name).
# The scenarios, in order, with the VF each uses (every one restores its VF,
# so a later one may use it again):
#   sriov_inventory               four VFs from sriov_numvfs, each with its physfn
#   sriov_select_pcibusid         VF 0 by pciBusID (1.1.0: pciID), with its address
#   sriov_select_deviceid         VF 1 by Multus's top-level deviceID
#   sriov_select_runtime_deviceid VF 2 by runtimeConfig.deviceID
#   sriov_admin_state             VF 0: admin state set through the PF, restored by DEL
#   sriov_*_refused, sriov_bad_vlan  VF 1: refused, nothing changed
#   sriov_claimed                 VF 2 held by one pod, asked for by another: 102
#   sriov_gone_del                VF 2: the pod renames and re-MACs it, its
#                                 namespace dies, the kernel returns it, DEL restores it
#   sriov_gone_gc                 VF 3: the same, restored by GC
#   sriov_agent_running           VF 0: the same, no DEL: the node agent, running
#                                 before the namespace dies, restores it
#   sriov_agent_once              VF 1: the same, restored by `reconcile --once`
#   sriov_crash_before_move, sriov_crash_after_move  VF 3: ADD killed after the
#                                 VF state was written, restored by DEL
#   sriov_forged                  VF 1: forgeries in the container stay there
#   sriov_pf_untouched            the PF as before all of it

# The crash checks need the fail points of a test-hooks build.
HD_HOOKS=/hdtest/hostdev-hooks

pf_dev() {
    for d in /sys/class/net/*; do
        case $(readlink -f "$d/device/driver") in */igb) echo "${d##*/}" && return 0 ;; esac
    done
    return 1
}
vf_pci() { p=$(readlink -f "/sys/class/net/$PF/device/virtfn$1") && echo "${p##*/}"; }
# vf_if N: the interface of VF N in the initial namespace (empty when none).
vf_if() {
    for d in "/sys/bus/pci/devices/$(vf_pci "$1")/net/"*; do
        [ -e "$d" ] && echo "${d##*/}" && return 0
    done
}
# vfinfo N: the PF's view of VF N, as one JSON line.
vfinfo() { ip -j -d link show "$PF" | jq -c ".[0].vfinfo_list[] | select(.vf == $1) | del(.stats)"; }
# pf_state: the PF itself, without its VF list and counters.
# (carrier is the emulation's, not ours).
pf_state() {
    ip -j -d link show "$PF" |
        jq -c '.[0] | del(.vfinfo_list, .stats64, .num_vf, .operstate) | .flags -= ["NO-CARRIER", "LOWER_UP"]'
}
# ctr_parent NETNS IFNAME: the PCI function under IFNAME in NETNS.
ctr_parent() { ip -n "$1" -j -d link show "$2" 2>/dev/null | jq -r '.[0].parentdev // empty'; }

sriov_setup() {
    PF=$(pf_dev) || { result sriov_inventory FAIL "no igb PF: $(ls /sys/class/net)"; return 1; }
    ip link set "$PF" up
    echo 4 >"/sys/class/net/$PF/device/sriov_numvfs" || { result sriov_inventory FAIL "sriov_numvfs refused"; return 1; }
    i=0
    while [ "$i" -lt 60 ] && [ -z "$(vf_if 3)" ]; do
        sleep 0.5
        i=$((i + 1))
    done
    list=
    for n in 0 1 2 3; do
        d=$(vf_if "$n")
        [ -n "$d" ] || { result sriov_inventory FAIL "VF $n has no interface"; return 1; }
        [ "$(readlink -f "/sys/class/net/$d/device/physfn")" = "$(readlink -f "/sys/class/net/$PF/device")" ] ||
            { result sriov_inventory FAIL "VF $n ($d) has no physfn to $PF"; return 1; }
        list="$list vf$n=$d/$(vf_pci "$n")"
        # igbvf tells the PF its MAC when it first resets (on a link
        # down): settle that before anything is compared.
        ip link set "$d" up && ip link set "$d" down
    done
    PF_BEFORE=$(pf_state)
    result sriov_inventory PASS "PF $PF $(pci_of "$PF") ($(cat "/sys/class/net/$PF/device/sriov_totalvfs") VFs max):$list"
}

# sv_select NAME N VERSION SELECTOR-JSON: ADD with an address on the VF,
# the VF (by its PCI function) in the container with it, pciID in a 1.1.0
# result; DEL: identical on the host.
sv_select() {
    name=$1 n=$2 ver=$3 sel=$4
    dev=$(vf_if "$n") pci=$(vf_pci "$n")
    ip addr add "10.98.$n.2/24" dev "$dev" && ip link set "$dev" up
    before=$(snap "$dev") info=$(vfinfo "$n")
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(conf "$ver" "net-$name" "$dd" "$sel")
    cni ADD "id-$name" "/run/netns/$ns" net1 "$c"
    expect_ok ADD
    [ "$(ctr_parent "$ns" net1)" = "$pci" ] || fail "net1 in the container is not VF $pci: $(ip -n "$ns" -d link show net1 2>&1)"
    ip -n "$ns" addr show net1 | grep -q "10.98.$n.2/24" || fail "the address did not follow the VF"
    if [ "$ver" = 1.1.0 ]; then
        [ "$(printf '%s' "$OUT" | jq -r '.interfaces[0].pciID')" = "$pci" ] || fail "pciID is not $pci: $OUT"
    fi
    cni DEL "id-$name" "/run/netns/$ns" net1 "$c"
    expect_ok DEL
    [ "$(snap "$dev")" = "$before" ] || fail "after DEL: $(snap "$dev"), before: $before"
    [ "$(vfinfo "$n")" = "$info" ] || fail "the VF's state changed: $(vfinfo "$n"), before: $info"
    ip netns del "$ns"
    ip addr flush dev "$dev"
    finish "$name" "VF $n ($pci) by $sel in $ver: moved with its address and back: $before"
}

ADMIN='{"vlan":100,"vlanQoS":3,"spoofchk":"off","trust":"on","max_tx_rate":100,"mac":"02:00:00:00:01:10"}'

# The declared state is set through the PF before the move, shown by the PF,
# the netdev has the admin MAC in the container, the device-info file names
# the VF and its PF; DEL puts back exactly what the PF reported before.
sv_admin() {
    n=0 dev=$(vf_if 0) pci=$(vf_pci 0)
    before=$(snap "$dev") info=$(vfinfo 0) other=$(vfinfo 1)
    ns=hd-admin dd=/run/hd/admin devinfo=/run/devinfo/cni/admin-net1.json
    ip netns add "$ns"
    c=$(conf 1.1.0 net-admin "$dd" "{\"pciBusID\":\"$pci\"}" "$ADMIN" |
        jq -c --arg f "$devinfo" '. + {runtimeConfig: {CNIDeviceInfoFile: $f}}')
    cni ADD id-admin "/run/netns/$ns" net1 "$c"
    expect_ok ADD
    got=$(vfinfo 0)
    echo "$got" | jq -e '.vlan_list[0].vlan == 100 and .vlan_list[0].qos == 3 and .spoofchk == false and .trust == true and .rate.max_tx == 100 and .address == "02:00:00:00:01:10"' >/dev/null ||
        fail "the PF does not show the declared state: $got"
    [ "$(ip -n "$ns" -j link show net1 | jq -r '.[0].address')" = 02:00:00:00:01:10 ] ||
        fail "net1 has not the admin MAC: $(ip -n "$ns" link show net1)"
    [ "$(printf '%s' "$OUT" | jq -r '.interfaces[0].mac')" = 02:00:00:00:01:10 ] || fail "the result's mac: $OUT"
    want=$(jq -cn --arg p "$pci" --arg f "$(pci_of "$PF")" '{type:"pci",version:"1.1.0",pci:{"pci-address":$p,"pf-pci-address":$f}}')
    [ "$(jq -cS . "$devinfo" 2>&1)" = "$(echo "$want" | jq -cS .)" ] || fail "device-info file: $(cat "$devinfo" 2>&1), want $want"
    jq -e '.vf.was.vlan == 0' "$dd"/*.json >/dev/null || fail "the record has no VF snapshot: $(cat "$dd"/*.json)"
    [ "$(vfinfo 1)" = "$other" ] || fail "VF 1 changed: $(vfinfo 1)"
    [ "$(pf_state)" = "$PF_BEFORE" ] || fail "the PF changed: $(pf_state)"
    cni DEL id-admin "/run/netns/$ns" net1 "$c"
    expect_ok DEL
    [ "$(vfinfo 0)" = "$info" ] || fail "after DEL the PF shows $(vfinfo 0), before ADD $info"
    [ "$(snap "$dev")" = "$before" ] || fail "after DEL: $(snap "$dev"), before: $before"
    [ ! -e "$devinfo" ] || fail "the device-info file outlived DEL"
    expect_no_records "$dd"
    ip netns del "$ns"
    finish sriov_admin_state "set through $PF: $got; restored: $info"
}

# sv_refused NAME EXTRA-JSON CODE WORDS: ADD of VF 1 fails with CODE naming
# WORDS (a shell pattern); the VF, its state and the PF are unchanged.
sv_refused() {
    name=$1 extra=$2 want=$3 words=$4
    dev=$(vf_if 1) pci=$(vf_pci 1)
    before=$(snap "$dev") info=$(vfinfo 1)
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(conf 1.0.0 "net-$name" "$dd" "{\"pciBusID\":\"$pci\"}" "$extra")
    cni ADD "id-$name" "/run/netns/$ns" net1 "$c"
    [ "$(code)" = "$want" ] || fail "$extra: code $(code), want $want: $(what)"
    # shellcheck disable=SC2254 # a pattern on purpose
    case $(msg) in $words) ;; *) fail "$extra: the message does not say $words: $(msg)" ;; esac
    [ "$(snap "$dev")" = "$before" ] || fail "$extra: the VF changed: $(snap "$dev"), before: $before"
    [ "$(vfinfo 1)" = "$info" ] || fail "$extra: the VF's state changed: $(vfinfo 1), before: $info"
    [ "$(pf_state)" = "$PF_BEFORE" ] || fail "$extra: the PF changed"
    expect_no_records "$dd"
    ip netns del "$ns"
    finish "$name" "$(msg)"
}

# A second pod asking for a VF another attachment holds gets 102, and the
# VF's state is left as the first pod's (sriov-cni#219).
sv_claimed() {
    pci=$(vf_pci 2)
    ip netns add hd-pod-a
    ip netns add hd-pod-b
    ca=$(conf 1.0.0 net-a /run/hd/claim "{\"pciBusID\":\"$pci\"}" '{"vlan":10}')
    cb=$(conf 1.0.0 net-b /run/hd/claim "{\"pciBusID\":\"$pci\"}" '{"vlan":20,"trust":"on"}')
    cni ADD id-a /run/netns/hd-pod-a net1 "$ca"
    expect_ok "ADD of pod a"
    held=$(vfinfo 2)
    cni ADD id-b /run/netns/hd-pod-b net1 "$cb"
    [ "$(code)" = 102 ] || fail "pod b: $(what)"
    [ "$(vfinfo 2)" = "$held" ] || fail "pod b changed the VF: $(vfinfo 2), pod a set $held"
    cni DEL id-b /run/netns/hd-pod-b net1 "$cb"
    expect_ok "DEL of pod b (it never got the VF)"
    [ "$(vfinfo 2)" = "$held" ] || fail "pod b's DEL changed the VF: $(vfinfo 2), pod a set $held"
    [ -n "$(ctr_parent hd-pod-a net1)" ] || fail "pod b's DEL took the VF from pod a"
    cni DEL id-a /run/netns/hd-pod-a net1 "$ca"
    expect_ok "DEL of pod a"
    ip netns del hd-pod-a
    ip netns del hd-pod-b
    finish sriov_claimed "pod b: 102 ($(msg)); VF kept $held"
}

# sv_gone NAME N HOW: the pod changes the VF (name, alias, MAC: trust is
# on), its namespace dies, the kernel returns the VF; HOW restores the VF
# and its state (set through the PF: $ADMIN) exactly: del, gc (1.1.0,
# valid-attachments []), agent (the node agent, started before the
# namespace is deleted: it heals on the namespace's RTM_DELNSID and the
# VF's return) or once (`hostdev reconcile --once` after the kernel
# returned the VF). The device-info file ADD wrote goes with the record.
sv_gone() {
    name=$1 n=$2 how=$3
    dev=$(vf_if "$n") pci=$(vf_pci "$n")
    before=$(snap "$dev") info=$(vfinfo "$n")
    ns=hd-$name dd=/run/hd/$name devinfo=/run/devinfo/cni/$name-net1.json
    ip netns add "$ns"
    c=$(conf 1.1.0 "net-$name" "$dd" "{\"deviceID\":\"$pci\",\"pciBusID\":\"$pci\"}" "$ADMIN" |
        jq -c --arg f "$devinfo" '. + {runtimeConfig: {CNIDeviceInfoFile: $f}}')
    cni ADD "id-$name" "/run/netns/$ns" net1 "$c"
    expect_ok ADD
    [ -e "$devinfo" ] || fail "ADD wrote no device-info file $devinfo"
    [ "$(vfinfo "$n")" != "$info" ] || fail "ADD did not set the VF's state through the PF: $info"
    ip -n "$ns" link set net1 down
    ip -n "$ns" link set net1 name pod0
    ip -n "$ns" link set pod0 alias forged
    ip -n "$ns" link set pod0 address 02:00:00:00:0e:0e || fail "a trusted VF could not change its MAC"
    ip -n "$ns" link set pod0 up
    [ "$how" = agent ] && agent_start "$name" "$dd"
    ip netns del "$ns"
    if [ "$how" = agent ]; then
        agent_healed
        back=$(vf_if "$n")
    else
        i=0
        while [ "$i" -lt "$RETURN_TIMEOUT" ] && [ -z "$(vf_if "$n")" ]; do
            sleep 1
            i=$((i + 1))
        done
        back=$(vf_if "$n")
        [ -n "$back" ] || fail "VF $n did not come back"
        note "$name: VF $n came back as $back: $(vfinfo "$n")"
        case $how in
        del)
            cni DEL "id-$name" "/run/netns/$ns" net1 "$c"
            expect_ok del
            ;;
        gc)
            cni GC "" "" "" "$(printf '%s' "$c" | jq -c '. + {"cni.dev/valid-attachments": []}')"
            expect_ok gc
            ;;
        once) agent_once "$name" "$dd" ;;
        esac
    fi
    [ "$(vfinfo "$n")" = "$info" ] || fail "after $how the PF shows $(vfinfo "$n"), before ADD $info"
    [ "$(snap "$dev")" = "$before" ] || fail "after $how: $(snap "$(vf_if "$n")"), before: $before"
    [ ! -e "$devinfo" ] || fail "the device-info file outlived $how"
    expect_no_records "$dd"
    case $how in
    agent) finish "$name" "VF $n, no DEL; restored by the running agent ($(healed_line)): $info" ;;
    once) finish "$name" "VF $n returned as $back, no DEL; restored by reconcile --once ($(healed_line)): $info" ;;
    *) finish "$name" "returned as $back, restored by $how: $info" ;;
    esac
}

# sv_crash NAME POINT: ADD killed at POINT (after the VF state was written,
# before or after the move); DEL restores the VF and its state exactly.
sv_crash() {
    name=$1 point=$2
    dev=$(vf_if 3) pci=$(vf_pci 3)
    before=$(snap "$dev") info=$(vfinfo 3)
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(conf 1.0.0 "net-$name" "$dd" "{\"pciBusID\":\"$pci\"}" "$ADMIN")
    export HOSTDEV_FAILPOINT="$point"
    plain=$HD HD=$HD_HOOKS
    cni ADD "id-$name" "/run/netns/$ns" net1 "$c"
    HD=$plain
    unset HOSTDEV_FAILPOINT
    if [ "$RC" -lt 128 ] || [ -n "$OUT" ]; then fail "ADD was not killed at $point: $(what)"; fi
    [ "$(vfinfo 3)" != "$info" ] || fail "the VF state was not written before $point"
    cni DEL "id-$name" "/run/netns/$ns" net1 "$c"
    expect_ok DEL
    [ "$(vfinfo 3)" = "$info" ] || fail "after DEL the PF shows $(vfinfo 3), before ADD $info"
    [ "$(snap "$dev")" = "$before" ] || fail "after DEL: $(snap "$dev"), before: $before"
    expect_no_records "$dd"
    ip netns del "$ns"
    finish "$name" "killed at $point, restored by DEL: $info"
}

# A container that forges the VF's name, MAC and alias on devices of its own
# (and hides the real VF under another name) gets only the real VF taken
# home: the proof is the parent on the PCI bus.
sv_forged() {
    dev=$(vf_if 1) pci=$(vf_pci 1)
    before=$(snap "$dev") info=$(vfinfo 1)
    ns=hd-forged dd=/run/hd/forged
    ip netns add "$ns"
    c=$(conf 1.0.0 net-forged "$dd" "{\"pciBusID\":\"$pci\"}" '{"vlan":42}')
    cni ADD id-forged "/run/netns/$ns" net1 "$c"
    expect_ok ADD
    mac=$(ip -n "$ns" -j link show net1 | jq -r '.[0].address')
    ip -n "$ns" link set net1 down
    ip -n "$ns" link set net1 name hidden
    # Bonds: the guest has no veth module, and a bond takes any MAC.
    ip -n "$ns" link add net1 type bond
    ip -n "$ns" link set net1 address "$mac" alias "hdtest forged"
    ip -n "$ns" link add "$dev" type bond
    ip -n "$ns" link set "$dev" address "$mac"
    cni DEL id-forged "/run/netns/$ns" net1 "$c"
    expect_ok DEL
    [ "$(snap "$dev")" = "$before" ] || fail "after DEL: $(snap "$dev"), before: $before"
    [ "$(pci_of "$dev")" = "$pci" ] || fail "$dev on the host is not VF $pci"
    [ -n "$(ip -n "$ns" link show net1 2>/dev/null)" ] || fail "the forged net1 was taken from the container"
    [ "$(vfinfo 1)" = "$info" ] || fail "the VF state: $(vfinfo 1), before $info"
    ip netns del "$ns"
    finish sriov_forged "the real VF came home, the forgeries stayed: $(snap "$dev")"
}

sriov_tests() {
    mkdir -p /run/hd
    sriov_setup || return
    sv_select sriov_select_pcibusid 0 1.1.0 "{\"pciBusID\":\"$(vf_pci 0)\"}"
    sv_select sriov_select_deviceid 1 1.0.0 "{\"deviceID\":\"$(vf_pci 1)\",\"pciBusID\":\"$(vf_pci 1)\"}"
    sv_select sriov_select_runtime_deviceid 2 1.1.0 "{\"runtimeConfig\":{\"deviceID\":\"$(vf_pci 2)\"}}"
    sv_admin
    sv_refused sriov_link_state_refused '{"vlan":200,"link_state":"enable"}' 100 '*link_state enable*not supported*'
    sv_refused sriov_min_rate_refused '{"min_tx_rate":10}' 100 '*min_tx_rate 10*Invalid argument*'
    sv_refused sriov_8021ad_refused '{"vlan":5,"vlanProto":"802.1ad"}' 100 '*802.1ad*'
    sv_refused sriov_bad_vlan '{"vlan":4095}' 7 '*"vlan"*4094*'
    sv_claimed
    sv_gone sriov_gone_del 2 del
    sv_gone sriov_gone_gc 3 gc
    sv_gone sriov_agent_running 0 agent
    sv_gone sriov_agent_once 1 once
    sv_crash sriov_crash_before_move add-after-vf
    sv_crash sriov_crash_after_move add-after-move
    sv_forged
    [ "$(pf_state)" = "$PF_BEFORE" ] || fail "the PF changed: $(pf_state), before $PF_BEFORE"
    finish sriov_pf_untouched "$PF_BEFORE"
}
