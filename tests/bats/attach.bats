#!/usr/bin/env bats
# ADD moves the host interface into the container; DEL brings it home.
# See helpers.bash for the world each test starts from.

# shellcheck disable=SC2034  # CONF, CID are read by helpers.bash
load helpers

@test "ADD moves h1 out of the host and into the container as eth0" {
    cni_ok ADD >/dev/null
    assert_no_link "$HOSTNS" h1
    assert_link "$CTRNS" eth0
    assert_no_link "$CTRNS" h1
}

@test "ADD result names the interface, its MAC, sandbox and IPv4 address" {
    result=$(cni_ok ADD)
    echo "$result"
    jq -e --arg mac "$HOST_MAC" --arg sb "$CTRNETNS" '
        .cniVersion == "1.0.0"
        and .interfaces[0].name == "eth0"
        and (.interfaces[0].mac | ascii_downcase) == $mac
        and .interfaces[0].sandbox == $sb
        and any(.ips[]; .address == "10.0.0.2/24" and .interface == 0)' <<<"$result"
}

@test "the host's IPv4 and IPv6 addresses come along into the container" {
    cni_ok ADD >/dev/null
    got=$(ctr_addrs eth0)
    want=$'10.0.0.2/24\nfd00::2/64'
    [ "$got" = "$want" ] || { printf 'want:\n%s\ngot:\n%s\n' "$want" "$got"; false; }
}

@test "the interface is up in the container" {
    cni_ok ADD >/dev/null
    ip -n "$CTRNS" -j link show dev eth0 | jq -e '.[0].flags | index(["UP"]) != null'
}

@test "the interface is renamed to CNI_IFNAME" {
    cni_ok ADD net1 >/dev/null
    assert_link "$CTRNS" net1
    assert_no_link "$CTRNS" eth0
    assert_no_link "$CTRNS" h1
    assert_no_link "$HOSTNS" h1
}

@test "MTU and MAC are kept" {
    cni_ok ADD >/dev/null
    ip -n "$CTRNS" -j link show dev eth0 |
        jq -e --arg mac "$HOST_MAC" '.[0].mtu == 1400 and .[0].address == $mac'
}

@test "DEL moves it home under its original name, with everything it had" {
    cni_ok ADD >/dev/null
    cni_ok DEL
    assert_no_link "$CTRNS" eth0
    host_intact
}

@test "ADD then DEL with CNI_IFNAME net1 brings h1 home intact" {
    cni_ok ADD net1 >/dev/null
    cni_ok DEL net1
    assert_no_link "$CTRNS" net1
    host_intact
}

@test "CHECK with the ADD result as prevResult succeeds" {
    result=$(cni_ok ADD)
    CONF=$(jq -c --argjson prev "$result" '.prevResult = $prev' <<<"$CONF")
    cni_ok CHECK
}

@test "altnames survive the round trip" {
    ip -n "$HOSTNS" link property add dev h1 altname h1-alt
    BEFORE=$(hd_snapshot "$HOSTNS" h1)
    cni_ok ADD >/dev/null
    cni_ok DEL
    host_intact
}

@test "an interface that was DOWN comes home DOWN, with its IPv4 address" {
    # (setting a link down drops its IPv6 addresses: keep_addr_on_down=0)
    ip -n "$HOSTNS" link set h1 down
    BEFORE=$(hd_snapshot "$HOSTNS" h1)
    cni_ok ADD >/dev/null
    cni_ok DEL
    host_intact
}
