# shellcheck shell=sh disable=SC2154 # back, returned: set by await_return in guest-tests.sh
# The adoption scenarios of the hostdev VM test, sourced by guest-tests.sh
# (its helpers: cni, conf, snap, by_mac, fail, finish, ...). Physical NICs
# attached by upstream's plugin (Debian's host-device, copied into the
# initramfs as /hdtest/host-device), then DEL by hostdev, which has no
# record of them: a NIC is brought home only when the config names its
# parent device or permanent MAC and the runtime's cached result (passed
# as prevResult) lists it (the README's adoption rule).
#   52:54:00:12:34:0b e1000  adopt_pcibusid          pciBusID; home by upstream's alias
#   52:54:00:12:34:0c e1000  adopt_gone_del          namespace deleted, the kernel returns
#                                                    it as ctr0; DEL renames it home
#   52:54:00:12:34:0d e1000  adopt_kernelpath        kernelpath
#   52:54:00:12:34:0e e1000  adopt_hwaddr_permanent  hwaddr = permanent MAC; the container
#                                                    changed the current MAC
#   52:54:00:12:34:0f e1000  adopt_device_declines   "device" only: declined, not moved

UPSTREAM=/hdtest/host-device

# upstream COMMAND CONTAINERID NETNS IFNAME CONFIG: upstream's plugin run
# as a runtime would (cni's OUT, ERR and RC).
upstream() {
    hostdev_bin=$HD
    HD=$UPSTREAM
    cni "$@"
    HD=$hostdev_bin
}

# up_conf NETWORK SELECTOR-JSON: upstream's config of the network.
up_conf() {
    jq -cn --arg n "$1" --argjson s "$2" '{cniVersion: "1.0.0", name: $n, type: "host-device"} + $s'
}

# adopt_prep IFNAME: a NIC as a user leaves it before a pod takes it: an
# MTU of its own, up (no addresses: upstream keeps none).
adopt_prep() { ip link set dev "$1" mtu 1400 && ip link set dev "$1" up; }

# adopt_attach NAME SELECTOR-JSON: upstream ADDs the NIC $dev as ctr0 into
# a new namespace hd-NAME ($added: its result); checks it arrived with
# upstream's alias.
adopt_attach() {
    ip netns add "hd-$1"
    upstream ADD "id-$1" "/run/netns/hd-$1" ctr0 "$(up_conf "net-$1" "$2")"
    [ "$RC" = 0 ] || { fail "upstream ADD by $2 failed: rc=$RC $(oneline "$OUT $ERR")"; return 1; }
    # The result the runtime caches and passes to DEL as prevResult: the
    # runtime's evidence that this ADD succeeded.
    added=$OUT
    inside=$(snap_in "hd-$1" ctr0)
    log "$1: in the container after upstream's ADD: $inside"
    [ "$(printf '%s' "$inside" | jq -r .alias)" = "$dev" ] ||
        fail "upstream's ctr0 should carry the alias $dev: $inside"
    [ "$(printf '%s' "$inside" | jq -r .up)" = true ] || fail "upstream's ctr0 is not up: $inside"
}

# adopt_undo NAME MAC: puts the NIC back on the host as $dev (not a check;
# for a scenario that failed half-way, so the next ones start clean).
adopt_undo() {
    if [ -n "$(by_mac "$2" "hd-$1")" ]; then
        # Upstream's DEL reads only CNI_IFNAME, but wants some selector.
        upstream DEL "id-$1" "/run/netns/hd-$1" "$(by_mac "$2" "hd-$1")" "$(up_conf "net-$1" "{\"device\":\"$dev\"}")"
    fi
    ip netns del "hd-$1" 2>/dev/null
    now=$(wait_mac "$2" "$RETURN_TIMEOUT")
    [ -z "$now" ] || [ "$now" = "$dev" ] || ip link set dev "$now" name "$dev"
    ip link set dev "$dev" alias "" 2>/dev/null
    log "$1: after clean-up the NIC is '$(by_mac "$2")'"
}

# adopt_begin NAME MAC UP-SELECTOR: the NIC with MAC prepared ($dev, its
# snap $before) and attached by upstream as ctr0 in hd-NAME ($ns; $dd the
# data directory); on failure (1) the scenario is reported and undone.
adopt_begin() {
    dev=$(by_mac "$2")
    [ -n "$dev" ] || { result "$1" FAIL "no NIC with MAC $2"; return 1; }
    adopt_prep "$dev" || fail "preparing $dev"
    before=$(snap "$dev")
    log "$1: $dev before: $before"
    ns=hd-$1 dd=/run/hd/$1
    adopt_attach "$1" "$3" && return 0
    adopt_undo "$1" "$2"
    finish "$1" ""
    return 1
}

# expect_brought_home NAME: DEL's log says it adopted ctr0 as $dev.
expect_brought_home() {
    case $ERR in
    *"no record of ctr0"*"bringing it home as $dev"*) ;;
    *) fail "$1: DEL's log does not say it brings ctr0 home as $dev: $(oneline "$ERR")" ;;
    esac
}

# sc_adopt NAME MAC UP-SELECTOR HD-SELECTOR [NEW-CURRENT-MAC]
# Upstream ADDs the NIC by UP-SELECTOR (the container then sets
# NEW-CURRENT-MAC, if given); hostdev DELs by HD-SELECTOR with no record:
# the NIC is home under its name, upstream's alias cleared, up as it was in
# the container, MAC and MTU as they are; nothing recorded; a second DEL
# changes nothing.
sc_adopt() {
    name=$1 mac=$2 upsel=$3 sel=$4 newmac=${5:-}
    adopt_begin "$name" "$mac" "$upsel" || return
    want=$(printf '%s' "$before" | jq -c '.alias = ""')
    if [ -n "$newmac" ]; then
        ip -n "$ns" link set dev ctr0 address "$newmac" || fail "changing the MAC of ctr0 in the container"
        want=$(printf '%s' "$want" | jq -c --arg m "$newmac" '.mac = $m')
    fi
    c=$(with_prev "$(conf 1.0.0 "net-$name" "$dd" "$sel")" "$added")
    cni DEL "id-$name" "/run/netns/$ns" ctr0 "$c"
    expect_ok "hostdev DEL by $sel"
    expect_brought_home "$name"
    [ -z "$(snap_in "$ns" ctr0)" ] || fail "ctr0 is still in the container after DEL"
    after=$(snap "$dev")
    [ "$after" = "$want" ] || fail "after DEL: '$after', want '$want' (the NIC is now '$(by_mac "$mac")')"
    expect_no_records "$dd"
    cni DEL "id-$name" "/run/netns/$ns" ctr0 "$c"
    expect_ok "second DEL"
    [ "$(snap "$dev")" = "$after" ] || fail "the second DEL changed $dev: $(snap "$dev")"
    expect_no_records "$dd"
    [ -z "$FAILS" ] || adopt_undo "$name" "$mac"
    ip netns del "$ns" 2>/dev/null
    finish "$name" "upstream ADD by $upsel, hostdev DEL by $sel: home as $after"
}

# sc_adopt_gone: upstream ADDs the NIC by pciBusID, the namespace dies
# without DEL, the kernel returns the NIC down as ctr0 (or dev<N>) still
# carrying upstream's alias; a DEL with no record renames it home.
sc_adopt_gone() {
    name=adopt_gone_del mac=52:54:00:12:34:0c
    dev=$(by_mac "$mac")
    sel="{\"pciBusID\":\"$(pci_of "$dev")\"}"
    adopt_begin "$name" "$mac" "$sel" || return
    ip netns del "$ns"
    await_return "$name" "$mac" || { finish "$name" ""; return; }
    case $back in
    ctr0 | dev[0-9]*) ;;
    *) fail "returned as '$back', expected ctr0 or dev<N>" ;;
    esac
    [ "$(printf '%s' "$returned" | jq -r .alias)" = "$dev" ] ||
        fail "the returned NIC should carry upstream's alias $dev: $returned"
    # The kernel returns it down: nothing says it should be up.
    want=$(printf '%s' "$before" | jq -c '.alias = "" | .up = false')
    c=$(conf 1.0.0 "net-$name" "$dd" "$sel")
    # Without the runtime's cached result (as after a failed ADD), nothing
    # shows the ADD succeeded: declined, the NIC stays as it came back.
    cni DEL "id-$name" "/run/netns/$ns" ctr0 "$c"
    expect_ok "hostdev DEL without prevResult"
    case $ERR in
    *"hostdev declines"*"no prevResult"*) ;;
    *) fail "DEL without prevResult does not decline: $(oneline "$ERR")" ;;
    esac
    [ "$(by_mac "$mac")" = "$back" ] || fail "DEL without prevResult moved the NIC: now '$(by_mac "$mac")'"
    cni DEL "id-$name" "/run/netns/$ns" ctr0 "$(with_prev "$c" "$added")"
    expect_ok "hostdev DEL with the deleted netns path"
    case $ERR in
    *"no record of ctr0"*"back on the host"*"bringing it home as $dev"*) ;;
    *) fail "DEL's log does not say it brings the returned NIC home as $dev: $(oneline "$ERR")" ;;
    esac
    after=$(snap "$dev")
    [ "$after" = "$want" ] || fail "after DEL: '$after', want '$want' (the NIC is now '$(by_mac "$mac")')"
    expect_no_records "$dd"
    [ -z "$FAILS" ] || adopt_undo "$name" "$mac"
    finish "$name" "returned as $back (alias $dev), renamed home by DEL: $after"
}

# sc_adopt_declines: upstream ADDs the NIC by "device"; a config with only
# "device" proves nothing a container cannot forge, so hostdev's DEL
# declines (exit 0, a log line saying so) and leaves the NIC where it is.
sc_adopt_declines() {
    name=adopt_device_declines mac=52:54:00:12:34:0f
    dev=$(by_mac "$mac")
    sel="{\"device\":\"$dev\"}"
    adopt_begin "$name" "$mac" "$sel" || return
    inside=$(snap_in "$ns" ctr0)
    cni DEL "id-$name" "/run/netns/$ns" ctr0 "$(with_prev "$(conf 1.0.0 "net-$name" "$dd" "$sel")" "$added")"
    expect_ok "hostdev DEL by $sel"
    declined=$(printf '%s\n' "$ERR" | grep "hostdev declines")
    [ -n "$declined" ] || fail "DEL's log has no line saying 'hostdev declines': $(oneline "$ERR")"
    [ "$(snap_in "$ns" ctr0)" = "$inside" ] || fail "ctr0 changed in the container: '$(snap_in "$ns" ctr0)', was '$inside'"
    [ -z "$(by_mac "$mac")" ] || fail "the NIC was moved to the host as $(by_mac "$mac")"
    expect_no_records "$dd"
    # Upstream's own DEL takes it back.
    upstream DEL "id-$name" "/run/netns/$ns" ctr0 "$(up_conf "net-$name" "$sel")"
    if [ "$RC" != 0 ] || [ -z "$(by_mac "$mac")" ]; then adopt_undo "$name" "$mac"; fi
    ip netns del "$ns" 2>/dev/null
    finish "$name" "DEL rc 0, ctr0 left in the container: $(oneline "$declined")"
}

adopt_tests() {
    if [ ! -x "$UPSTREAM" ]; then
        for n in adopt_pcibusid adopt_gone_del adopt_kernelpath adopt_hwaddr_permanent adopt_device_declines; do
            result "$n" FAIL "no upstream host-device at $UPSTREAM"
        done
        return
    fi
    dev=$(by_mac 52:54:00:12:34:0b)
    sel="{\"pciBusID\":\"$(pci_of "$dev")\"}"
    sc_adopt adopt_pcibusid 52:54:00:12:34:0b "$sel" "$sel"

    sc_adopt_gone

    dev=$(by_mac 52:54:00:12:34:0d)
    sel="{\"kernelpath\":\"$(readlink -f "/sys/bus/pci/devices/$(pci_of "$dev")")\"}"
    sc_adopt adopt_kernelpath 52:54:00:12:34:0d "$sel" "$sel"

    sel='{"hwaddr":"52:54:00:12:34:0e"}'
    sc_adopt adopt_hwaddr_permanent 52:54:00:12:34:0e "$sel" "$sel" 02:00:00:aa:bb:0e

    sc_adopt_declines
}
