#!/bin/sh
# The hostdev scenarios that need real (emulated) PCI NICs, run as root in the
# guest that scripts/vm-e2e.sh boots. Busybox ash, iproute2's ip, jq.
#
# Every scenario prints exactly one line
#     HDTEST <name> PASS|FAIL|SKIP <detail>
# on the console and on ttyS1 (the host parses ttyS1). HDNOTE lines carry
# observations that are not checks. Lines starting with "# " are the log.
#
# The NICs are found by MAC (the guest has no udev, so names follow probe
# order). The MAC plan is shared with scripts/vm-e2e.sh:
#   52:54:00:12:34:01 e1000       select by pciBusID
#   52:54:00:12:34:02 virtio-net  select by kernelpath
#   52:54:00:12:34:03 virtio-net  select by runtimeConfig.deviceID
#   52:54:00:12:34:04 e1000       select by hwaddr = permanent MAC, current MAC changed
#   52:54:00:12:34:05 e1000       namespace deleted, then DEL
#   52:54:00:12:34:06 virtio-net  namespace deleted, then GC
#   (05 and 06 again: namespace deleted, restored by the node agent)
#   52:54:00:12:34:07 e1000       namespace deleted, container name taken on the host (dev<N>)
#   52:54:00:12:34:08 e1000       driver unbound, then vfio-pci
#   52:54:00:12:34:09 virtio-net  default-route guard
#   52:54:00:12:34:0a e1000       anchor: never moved; its name is the clashing CNI_IFNAME
#   52:54:00:12:34:0b..0f e1000   attached by upstream's host-device: see adopt-tests.sh
#   52:54:00:12:34:10..12 e1000   a bond port, vlans on NICs: see stack-tests.sh
#   52:54:00:12:34:13 e1000, :14 virtio-net   declared settings: see declared-tests.sh
# and a CAN card (kvaser_pci), found by its PCI function: see can-tests.sh.

HD=/hdtest/hostdev
# hostdev calls are bounded: a hung call must not eat the VM's time budget.
HD_TIMEOUT=60
# How long the kernel may take to return a NIC from a dead namespace (TCG is slow).
RETURN_TIMEOUT=90

# busybox ash may prefer its own applets to PATH (standalone shell), and its
# ip cannot do netns or JSON: always run iproute2's.
ip() { /sbin/ip "$@"; }

exec 3>>/dev/ttyS1 || exec 3>/dev/null

log() { echo "# $*"; }
say() {
    echo "$*"
    echo "$*" >&3
}
oneline() { printf '%s' "$*" | tr '\n\r\t' '   '; }
result() {
    name=$1 status=$2
    shift 2
    say "HDTEST $name $status $(oneline "$*")"
}
note() { say "HDNOTE $(oneline "$*")"; }

FAILS=
fail() {
    FAILS="$FAILS; $(oneline "$*")"
    log "FAIL: $*"
}
# finish NAME DETAIL: one PASS line with DETAIL, or one FAIL line with every
# failed step of the scenario.
finish() {
    if [ -z "$FAILS" ]; then
        result "$1" PASS "$2"
    else
        result "$1" FAIL "${FAILS#; }"
    fi
    FAILS=
}

# cni COMMAND CONTAINERID NETNS IFNAME CONFIG: runs hostdev as a runtime
# would (env + stdin). Sets OUT (stdout), ERR (stderr) and RC.
cni() {
    OUT=$(printf '%s' "$5" | CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=$4 \
        CNI_PATH=/hdtest timeout "$HD_TIMEOUT" "$HD" 2>/tmp/hd.err)
    RC=$?
    ERR=$(cat /tmp/hd.err)
    log "hostdev $1 id=$2 netns=$3 ifname=$4 rc=$RC"
    log "  stdin: $5"
    [ -z "$OUT" ] || log "  stdout: $(oneline "$OUT")"
    [ -z "$ERR" ] || log "  stderr: $(oneline "$ERR")"
}
code() { printf '%s' "$OUT" | jq -r '.code // empty' 2>/dev/null; }
msg() { printf '%s' "$OUT" | jq -r '.msg // empty' 2>/dev/null; }
# what: the last call's outcome, for failure details.
what() { echo "rc=$RC code=$(code) msg=$(msg)"; }
expect_ok() { [ "$RC" = 0 ] || fail "$1 failed: $(what)"; }

# conf VERSION NETWORK DATADIR SELECTOR-JSON [EXTRA-JSON]: a hostdev config.
conf() {
    extra=${5:-}
    [ -n "$extra" ] || extra='{}'
    jq -cn --arg v "$1" --arg n "$2" --arg d "$3" --argjson s "$4" --argjson x "$extra" \
        '{cniVersion: $v, name: $n, type: "hostdev", dataDir: $d, logLevel: "info"} + $s + $x'
}
# with_prev CONFIG RESULT: CONFIG with prevResult.
with_prev() { printf '%s' "$1" | jq -c --argjson p "$2" '. + {prevResult: $p}'; }

# What "identical" means here: name, current MAC, MTU, alias, altnames,
# admin state and global addresses (the alias is only in the link dump).
# shellcheck disable=SC2016 # jq variables, not the shell's
SNAP='(.[0][0]) as $l | (.[1][0]) as $a | {name: $l.ifname, mac: $l.address, mtu: $l.mtu,
  up: ([$l.flags[] | select(. == "UP")] | length > 0), alias: ($l.ifalias // ""),
  altnames: (($l.altnames // []) | sort),
  addrs: ([$a.addr_info[]? | select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort)}'
# ipn NETNS ARGS...: iproute2 in NETNS ("" = the initial namespace).
ipn() {
    n=$1
    shift
    if [ -n "$n" ]; then ip -n "$n" "$@"; else ip "$@"; fi
}
# snap IFNAME [NETNS]: the interface as one JSON line; empty when it is not there.
snap() {
    { ipn "${2:-}" -j link show dev "$1" && ipn "${2:-}" -j addr show dev "$1"; } 2>/dev/null |
        jq -sc "if length < 2 then empty else $SNAP end" 2>/dev/null
}
snap_in() { snap "$2" "$1"; }

# by_mac MAC [NETNS]: the interface whose current or permanent MAC is MAC.
by_mac() {
    ipn "${2:-}" -j link show 2>/dev/null |
        jq -r --arg m "$1" '.[] | select(.address == $m or .permaddr == $m) | .ifname' 2>/dev/null | head -n 1
}
# wait_found SECONDS COMMAND...: polls COMMAND until it prints something,
# and prints that.
wait_found() {
    w=$1 i=0
    shift
    while [ "$i" -lt "$w" ]; do
        found=$("$@")
        [ -n "$found" ] && { echo "$found"; return 0; }
        sleep 1
        i=$((i + 1))
    done
    return 1
}
# wait_mac MAC SECONDS: polls the initial namespace until the NIC is there.
wait_mac() { wait_found "$2" by_mac "$1"; }
# pci_of IFNAME: the PCI function under the interface (virtio-net sits one
# level below it, in virtioN).
pci_of() {
    p=$(readlink -f "/sys/class/net/$1/device")
    while [ -n "$p" ] && [ "$p" != / ]; do
        case ${p##*/} in
        [0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7])
            echo "${p##*/}"
            return 0
            ;;
        esac
        p=${p%/*}
    done
    return 1
}
# prep IFNAME N: the state a user's NIC would have: MTU, alias, IPv4 and
# IPv6 addresses, up.
prep() {
    ip link set dev "$1" mtu 1400 &&
        ip link set dev "$1" alias "hdtest nic $2" &&
        ip link property add dev "$1" altname "hdtest-nic$2-alt" &&
        ip addr add "10.99.$2.2/24" dev "$1" &&
        ip addr add "fd00:99:$2::2/64" dev "$1" nodad &&
        ip link set dev "$1" up
}
records() {
    for f in "$1"/*.json; do
        [ -e "$f" ] && printf '%s ' "$f"
    done
}
# expect_no_records DATADIR: no record, and no device claim (.claim.*)
# that would refuse the device to the next ADD.
expect_no_records() {
    left=$(records "$1")
    for f in "$1"/.claim.*; do
        [ -e "$f" ] && left="$left$f "
    done
    [ -z "$left" ] || fail "records left in $1: $left"
}

# ---------------------------------------------------------------------------

inventory() {
    list=
    missing=
    for i in 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14; do
        mac=52:54:00:12:34:$i
        dev=$(by_mac "$mac")
        if [ -z "$dev" ]; then
            missing="$missing $mac"
            continue
        fi
        drv=$(readlink -f "/sys/class/net/$dev/device/driver")
        list="$list $dev=$mac/$(pci_of "$dev")/${drv##*/}"
    done
    if [ -n "$missing" ]; then
        log "interfaces: $(ip -o link show 2>&1)"
        log "modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
        log "PCI devices:" /sys/bus/pci/devices/*
        dmesg | grep -i -e e1000 -e virtio -e iommu -e DMAR -e pci | tail -n 40 | sed 's/^/#   /'
        result inventory FAIL "NICs missing:$missing; present:$list"
    else
        result inventory PASS "kernel $(uname -r); NICs:$list"
    fi
}

# sc_select NAME MAC N SELECTOR-JSON [NEW-CURRENT-MAC]
# ADD, CHECK (1.0.0, prevResult), DEL; the NIC identical afterwards.
sc_select() {
    name=$1 mac=$2 n=$3 sel=$4 newmac=${5:-}
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC $mac"; return; }
    prep "$dev" "$n" || fail "preparing $dev"
    if [ -n "$newmac" ]; then
        ip link set dev "$dev" address "$newmac" || fail "changing the MAC of $dev"
        perm=$(ip -j link show dev "$dev" | jq -r '.[0].permaddr // empty')
        [ "$perm" = "$mac" ] || fail "$dev should show permaddr $mac after the MAC change, shows '$perm'"
    fi
    before=$(snap "$dev")
    log "$name: $dev before: $before"
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(conf 1.0.0 "net-$name" "$dd" "$sel")
    cni ADD "id-$name" "/run/netns/$ns" ctr0 "$c"
    if [ "$RC" = 0 ]; then
        add_out=$OUT
        want=$(printf '%s' "$before" | jq -c '.name = "ctr0"')
        inside=$(snap_in "$ns" ctr0)
        [ "$inside" = "$want" ] || fail "in the container: $inside, want $want"
        ip link show dev "$dev" >/dev/null 2>&1 && fail "$dev is still in the initial namespace after ADD"
        rmac=$(printf '%s' "$add_out" | jq -r '.interfaces[0].mac')
        cur=$(printf '%s' "$before" | jq -r .mac)
        [ "$rmac" = "$cur" ] || fail "result MAC $rmac, want $cur"
        cp=$(with_prev "$c" "$add_out")
        cni CHECK "id-$name" "/run/netns/$ns" ctr0 "$cp"
        expect_ok CHECK
        cni DEL "id-$name" "/run/netns/$ns" ctr0 "$cp"
        expect_ok DEL
    else
        fail "ADD failed: $(what)"
    fi
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after DEL: '$after', before ADD: '$before'"
    expect_no_records "$dd"
    ip netns del "$ns"
    finish "$name" "$dev by $sel: ADD, CHECK, DEL ok; identical after: $after"
}

# add_failed NAME NS: a scenario ends on a failed ADD; its namespace goes.
add_failed() {
    fail "ADD failed: $(what)"
    ip netns del "$2"
    finish "$1" ""
}

# await_return NAME MAC: once the container's namespace is deleted, waits
# for the kernel to return the NIC $dev to the initial namespace; sets back
# (its name there) and returned (its snap) and notes them; fails (1) when it
# does not come back in time.
await_return() {
    t0=$(date +%s)
    back=$(wait_mac "$2" "$RETURN_TIMEOUT")
    if [ -z "$back" ]; then
        fail "the NIC did not come back to the initial namespace within ${RETURN_TIMEOUT}s"
        return 1
    fi
    returned=$(snap "$back")
    note "$1: after the namespace died the kernel returned $dev as '$back' in $(($(date +%s) - t0))s: $returned"
}

# sc_gone NAME MAC N IFNAME HOW NAME-PATTERN
# ADD, the namespace is deleted without DEL, the kernel returns the NIC to
# the initial namespace (as IFNAME, or dev<N> when IFNAME is taken there:
# NAME-PATTERN is a shell case pattern), then HOW (del or gc) restores it.
sc_gone() {
    name=$1 mac=$2 n=$3 ifname=$4 how=$5 pattern=$6
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC $mac"; return; }
    prep "$dev" "$n" || fail "preparing $dev"
    before=$(snap "$dev")
    log "$name: $dev before: $before"
    ns=hd-$name dd=/run/hd/$name net=net-$name id=id-$name
    ip netns add "$ns"
    ver=1.0.0
    [ "$how" = gc ] && ver=1.1.0
    c=$(conf "$ver" "$net" "$dd" "{\"hwaddr\":\"$mac\"}")
    cni ADD "$id" "/run/netns/$ns" "$ifname" "$c"
    [ "$RC" = 0 ] || { add_failed "$name" "$ns"; return; }
    add_out=$OUT
    [ -n "$(by_mac "$mac" "$ns")" ] || fail "NIC not in the container after ADD"
    ip netns del "$ns"
    await_return "$name" "$mac" || { finish "$name" ""; return; }
    # shellcheck disable=SC2254 # $pattern is a pattern on purpose
    case $back in
    $pattern) ;;
    *) fail "returned as '$back', expected a name matching '$pattern'" ;;
    esac
    if [ "$how" = del ]; then
        cni DEL "$id" "/run/netns/$ns" "$ifname" "$(with_prev "$c" "$add_out")"
        expect_ok "DEL with the deleted netns path"
    else
        cni GC "" "" "" "$(printf '%s' "$c" | jq -c '. + {"cni.dev/valid-attachments": []}')"
        expect_ok "GC (cni.dev/valid-attachments [])"
    fi
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after $how: '$after', before ADD: '$before' (the NIC is now '$(by_mac "$mac")')"
    expect_no_records "$dd"
    if [ "$how" = del ]; then
        cni DEL "$id" "/run/netns/$ns" "$ifname" "$c"
        expect_ok "second DEL"
    fi
    finish "$name" "returned as $back, restored by $how: $after"
}

# sc_clash: sc_gone with CNI_IFNAME = the anchor NIC's name, so the kernel
# must rename the returning NIC dev<N>; the anchor is not disturbed.
sc_clash() {
    anchor=$(by_mac 52:54:00:12:34:0a)
    [ -n "$anchor" ] || { result gone_name_taken_del FAIL "no anchor NIC 52:54:00:12:34:0a"; return; }
    anchor_before=$(snap "$anchor")
    sc_gone gone_name_taken_del 52:54:00:12:34:07 7 "$anchor" del 'dev[0-9]*'
    anchor_after=$(snap "$anchor")
    [ "$anchor_after" = "$anchor_before" ] ||
        result gone_name_taken_anchor FAIL "the anchor NIC changed: '$anchor_after', was '$anchor_before'"
    [ "$anchor_after" = "$anchor_before" ] &&
        result gone_name_taken_anchor PASS "the NIC owning the name ($anchor) untouched: $anchor_after"
}

# sc_unbound: a PCI NIC without a kernel network driver.
sc_unbound() {
    mac=52:54:00:12:34:08
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result unbound_no_driver FAIL "no NIC with MAC $mac"; result vfio_userspace FAIL "no NIC"; return; }
    pci=$(pci_of "$dev")
    sysdev=/sys/bus/pci/devices/$pci
    drv=$(readlink -f "$sysdev/driver")
    drv=${drv##*/}
    log "unbinding $dev ($pci) from $drv"
    echo "$pci" >"$sysdev/driver/unbind" || fail "unbind $pci from $drv"
    # A driver name that does not exist: drivers_probe then binds nothing.
    echo hdtest-no-such-driver >"$sysdev/driver_override"
    echo "$pci" >/sys/bus/pci/drivers_probe 2>/dev/null
    [ -e "$sysdev/driver" ] && fail "$pci still has a driver: $(readlink -f "$sysdev/driver")"
    [ -n "$(by_mac "$mac")" ] && fail "interface with $mac still present after unbind"
    ns=hd-unbound dd=/run/hd/unbound
    ip netns add "$ns"
    for sel in "{\"pciBusID\":\"$pci\"}" "{\"runtimeConfig\":{\"deviceID\":\"$pci\"}}"; do
        cni ADD id-unbound "/run/netns/$ns" net1 "$(conf 1.0.0 net-unbound "$dd" "$sel")"
        if [ "$RC" = 0 ]; then
            fail "ADD by $sel of a driverless device succeeded: $OUT"
        elif [ "$(code)" != 101 ]; then
            fail "ADD by $sel: want code 101, got $(what)"
        else
            case $(msg) in
            *"no network interface"* | *"no driver"*) ;;
            *) fail "ADD by $sel: code 101 but the message names neither 'no network interface' nor 'no driver': $(msg)" ;;
            esac
        fi
    done
    unbound_msg=$(msg)
    expect_no_records "$dd"
    [ "$(ip -n "$ns" -o link show | wc -l)" = 1 ] || fail "the container has more than lo: $(ip -n "$ns" -o link show)"
    finish unbound_no_driver "$pci unbound (driver_override=hdtest-no-such-driver): code 101: $unbound_msg"

    # vfio-pci: binds only when the guest has an IOMMU (q35 + intel-iommu).
    echo vfio-pci >"$sysdev/driver_override"
    echo "$pci" >/sys/bus/pci/drivers_probe 2>/dev/null
    now=none
    [ -e "$sysdev/driver" ] && now=$(readlink -f "$sysdev/driver")
    if [ "${now##*/}" != vfio-pci ]; then
        why=$(dmesg | grep -i -e vfio -e iommu | tail -n 3)
        result vfio_userspace SKIP "vfio-pci did not bind $pci (driver '${now##*/}'; iommu_group: $(readlink "$sysdev/iommu_group" || echo none)): $why"
    else
        log "$pci bound to vfio-pci, iommu group $(readlink "$sysdev/iommu_group")"
        modes=
        for sel in "{\"pciBusID\":\"$pci\"}" "{\"runtimeConfig\":{\"deviceID\":\"$pci\"}}"; do
            c=$(conf 1.1.0 net-vfio /run/hd/vfio "$sel")
            cni ADD id-vfio "/run/netns/$ns" net1 "$c"
            if [ "$RC" = 0 ]; then
                # The DPDK path: nothing moves, the result names the PCI function.
                modes="$modes dpdk-path"
                add_out=$OUT
                got=$(printf '%s' "$add_out" | jq -c '.interfaces[0] | {name, pciID}')
                [ "$got" = "{\"name\":\"net1\",\"pciID\":\"$pci\"}" ] || fail "ADD by $sel: result interface $got, want net1 with pciID $pci"
                [ -n "$(records /run/hd/vfio)" ] || fail "ADD by $sel succeeded without a record"
                [ "$(ip -n "$ns" -o link show | wc -l)" = 1 ] || fail "something moved into the container: $(ip -n "$ns" -o link show)"
                cp=$(with_prev "$c" "$add_out")
                cni CHECK id-vfio "/run/netns/$ns" net1 "$cp"
                expect_ok "CHECK by $sel"
                cni DEL id-vfio "/run/netns/$ns" net1 "$cp"
                expect_ok "DEL by $sel"
                expect_no_records /run/hd/vfio
            else
                fail "ADD by $sel of a vfio-pci device: want success (the DPDK path), got $(what)"
            fi
        done
        finish vfio_userspace "$pci bound to vfio-pci (iommu group $(basename "$(readlink "$sysdev/iommu_group")")): modes$modes"
        echo "$pci" >"$sysdev/driver/unbind"
    fi
    ip netns del "$ns"

    # Give the NIC back to its driver (not a hostdev check; logged only).
    echo >"$sysdev/driver_override"
    [ -e "$sysdev/driver" ] && echo "$pci" >"$sysdev/driver/unbind"
    echo "$pci" >"/sys/bus/pci/drivers/$drv/bind"
    back=$(wait_mac "$mac" 20)
    log "after rebinding $pci to $drv: interface '${back:-none}'"
}

# sc_defroute: the interface carrying the default route.
sc_defroute() {
    mac=52:54:00:12:34:09
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result defroute_refused FAIL "no NIC with MAC $mac"; result defroute_allowed FAIL "no NIC"; return; }
    if ! prep "$dev" 9 || ! ip route add default via 10.99.9.1 dev "$dev"; then
        fail "preparing $dev with a default route"
    fi
    before=$(snap "$dev")
    route_before=$(ip -j route show default | jq -c .)
    log "defroute: $dev before: $before; default route: $route_before"
    ns=hd-defroute dd=/run/hd/defroute
    ip netns add "$ns"
    c=$(conf 1.0.0 net-defroute "$dd" "{\"device\":\"$dev\"}")
    cni ADD id-defroute "/run/netns/$ns" ctr0 "$c"
    if [ "$RC" = 0 ]; then
        fail "ADD of the default-route NIC succeeded without allowDefaultRoute"
        cni DEL id-defroute "/run/netns/$ns" ctr0 "$c"
    elif [ "$(code)" != 107 ]; then
        fail "want code 107, got $(what)"
    fi
    refused_msg=$(msg)
    [ "$(snap "$dev")" = "$before" ] || fail "the NIC changed after the refused ADD: $(snap "$dev")"
    [ "$(ip -j route show default | jq -c .)" = "$route_before" ] || fail "the default route changed after the refused ADD"
    expect_no_records "$dd"
    finish defroute_refused "code 107: $refused_msg"

    c=$(conf 1.0.0 net-defroute "$dd" "{\"device\":\"$dev\"}" '{"allowDefaultRoute": true}')
    cni ADD id-defroute "/run/netns/$ns" ctr0 "$c"
    if [ "$RC" = 0 ]; then
        add_out=$OUT
        want=$(printf '%s' "$before" | jq -c '.name = "ctr0"')
        [ "$(snap_in "$ns" ctr0)" = "$want" ] || fail "in the container: $(snap_in "$ns" ctr0), want $want"
        note "defroute: while attached, the initial namespace's default routes: '$(ip route show default)'"
        cni DEL id-defroute "/run/netns/$ns" ctr0 "$(with_prev "$c" "$add_out")"
        expect_ok DEL
    else
        fail "ADD with allowDefaultRoute failed: $(what)"
    fi
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after DEL: '$after', before: '$before'"
    expect_no_records "$dd"
    route_after=$(ip -j route show default | jq -c .)
    [ "$route_after" = "$route_before" ] ||
        fail "the default route is not back after DEL: before $route_before, after $route_after"
    ip netns del "$ns"
    finish defroute_allowed "allowDefaultRoute: ADD, DEL ok; address, state and default route restored: $after"
}

# agent_start NAME DATADIR: the node agent on DATADIR, running in the
# background (log: /tmp/agent-NAME.log); returns once it watches. Sets
# agent (its pid) and alog.
agent_start() {
    alog=/tmp/agent-$1.log
    "$HD" reconcile --data-dir "$2" --sweep-interval 3600 2>"$alog" &
    agent=$!
    wait_found 60 grep -l 'the node agent is watching' "$alog" >/dev/null || fail "the agent did not start"
}
# agent_healed: waits for the running agent's `healed` line, then stops it
# (SIGTERM: it exits 0).
agent_healed() {
    wait_found "$RETURN_TIMEOUT" grep -l 'msg=healed' "$alog" >/dev/null ||
        fail "the agent did not heal it within ${RETURN_TIMEOUT}s"
    kill "$agent"
    wait "$agent" || fail "the agent did not exit 0 on SIGTERM"
    log "agent log: $(oneline "$(cat "$alog")")"
}
# agent_once NAME DATADIR: `hostdev reconcile --once` on DATADIR; it must
# heal (log: /tmp/agent-NAME.log, in alog).
agent_once() {
    alog=/tmp/agent-$1.log
    timeout "$HD_TIMEOUT" "$HD" reconcile --once --data-dir "$2" 2>"$alog" || fail "reconcile --once failed"
    grep -q 'msg=healed' "$alog" || fail "reconcile --once did not heal it"
    log "agent log: $(oneline "$(cat "$alog")")"
}
# healed_line: the agent's first `healed` line, from msg= on.
healed_line() { grep -o 'msg=healed.*' "$alog" | head -n 1; }

# sc_agent NAME MAC IFNAME HOW: the NIC, restored by an earlier scenario
# (MTU, alias, altname, addresses, up), is attached and its namespace
# deleted without any DEL. HOW running: the node agent, running all along,
# restores it when the kernel returns it (RTM_DELNSID, then its NEWLINK);
# once: `hostdev reconcile --once` after the kernel returned it.
sc_agent() {
    name=$1 mac=$2 ifname=$3 how=$4
    dev=$(by_mac "$mac")
    [ -n "$dev" ] || { result "$name" FAIL "no NIC with MAC $mac"; return; }
    before=$(snap "$dev")
    ns=hd-$name dd=/run/hd/$name
    ip netns add "$ns"
    c=$(conf 1.0.0 "net-$name" "$dd" "{\"hwaddr\":\"$mac\"}")
    cni ADD "id-$name" "/run/netns/$ns" "$ifname" "$c"
    [ "$RC" = 0 ] || { add_failed "$name" "$ns"; return; }
    if [ "$how" = running ]; then
        agent_start "$name" "$dd"
        ip netns del "$ns"
        agent_healed
    else
        ip netns del "$ns"
        await_return "$name" "$mac" || { finish "$name" ""; return; }
        agent_once "$name" "$dd"
    fi
    after=$(snap "$dev")
    [ "$after" = "$before" ] || fail "after the agent: '$after', before ADD: '$before' (the NIC is now '$(by_mac "$mac")')"
    expect_no_records "$dd"
    finish "$name" "$how: $(healed_line)"
}

# shellcheck source=tests/vm/adopt-tests.sh
. /hdtest/adopt-tests.sh
# shellcheck source=tests/vm/can-tests.sh
. /hdtest/can-tests.sh
# shellcheck source=tests/vm/stack-tests.sh
. /hdtest/stack-tests.sh
# shellcheck source=tests/vm/declared-tests.sh
. /hdtest/declared-tests.sh

# shellcheck source=tests/vm/sriov-tests.sh
. /hdtest/sriov-tests.sh

# ---------------------------------------------------------------------------

log "hostdev: $($HD 2>&1 | head -n 1)"
# scripts/vm-e2e.sh's second VM (QEMU 10, igb) runs the SR-IOV checks only.
if grep -q 'hdtest_suite=sriov' /proc/cmdline; then
    sriov_tests
    say "HDTEST_END"
    exit 0
fi
mkdir -p /run/hd
inventory

dev=$(by_mac 52:54:00:12:34:01)
pci=$(pci_of "$dev")
sc_select select_pcibusid 52:54:00:12:34:01 1 "{\"pciBusID\":\"$pci\"}"

dev=$(by_mac 52:54:00:12:34:02)
kpath=$(readlink -f "/sys/bus/pci/devices/$(pci_of "$dev")")
sc_select select_kernelpath 52:54:00:12:34:02 2 "{\"kernelpath\":\"$kpath\"}"

dev=$(by_mac 52:54:00:12:34:03)
pci=$(pci_of "$dev")
sc_select select_deviceid 52:54:00:12:34:03 3 "{\"runtimeConfig\":{\"deviceID\":\"$pci\"}}"

sc_select select_hwaddr_permanent 52:54:00:12:34:04 4 '{"hwaddr":"52:54:00:12:34:04"}' 02:00:00:aa:bb:04

sc_gone gone_del 52:54:00:12:34:05 5 ctr0 del ctr0
sc_gone gone_gc 52:54:00:12:34:06 6 ctr1 gc ctr1
sc_agent agent_running 52:54:00:12:34:05 ctr0 running
sc_agent agent_once 52:54:00:12:34:06 ctr1 once
sc_clash

sc_unbound
sc_defroute
adopt_tests
stack_tests
declared_tests
can_tests

log "guest dmesg (warnings and errors):"
dmesg -r 2>/dev/null | grep -E '^<[0-4]>' | tail -n 20 | sed 's/^/#   /'
say "HDTEST_END"
