#!/usr/bin/env bats
# DEL is idempotent and best-effort (CNI spec): runtimes call it again and
# again, sometimes with no namespace at all.

# shellcheck disable=SC2034  # CONF, CID are read by helpers.bash
load helpers

@test "DEL twice succeeds, and h1 is home intact" {
    cni_ok ADD >/dev/null
    cni_ok DEL
    cni_ok DEL
    host_intact
}

@test "DEL with empty CNI_NETNS after a DEL succeeds (containerd's second stop)" {
    cni_ok ADD >/dev/null
    cni_ok DEL
    cni_ok DEL eth0 ""
    host_intact
}

@test "DEL with empty CNI_NETNS and nothing attached succeeds" {
    cni_ok DEL eth0 ""
    host_intact
}

@test "DEL for a container that was never added succeeds and changes nothing" {
    cni_ok DEL
    host_intact
    assert_no_link "$CTRNS" eth0
}

@test "DEL after the container namespace is gone succeeds" {
    cni_ok ADD >/dev/null
    # A veth is destroyed with its namespace: there is nothing left to bring home.
    ip netns del "$CTRNS"
    cni_ok DEL
    cni_ok DEL
}

@test "DEL after the interface was renamed in the container brings it home" {
    cni_ok ADD >/dev/null
    ip -n "$CTRNS" link set eth0 down
    ip -n "$CTRNS" link set eth0 name other0
    ip -n "$CTRNS" link set other0 up
    cni_ok DEL
    assert_no_link "$CTRNS" other0
    assert_link "$HOSTNS" h1
}
