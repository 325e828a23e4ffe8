#!/usr/bin/env bats
# Bad input gets a clear CNI error (JSON on stdout, non-zero exit) and the
# host keeps its interface exactly as it was.

# shellcheck disable=SC2034  # CONF, CID are read by helpers.bash
load helpers

@test "CNI_IFNAME already taken in the container: error 103, h1 stays on the host" {
    ip -n "$CTRNS" link add eth0 type veth peer name eth0-p
    run --separate-stderr cni ADD
    expect_error 103
    host_intact
    assert_no_link "$CTRNS" h1
    # the container's own eth0 is untouched
    ip -n "$CTRNS" -j link show dev eth0 | jq -e '.[0].link == "eth0-p"'
}

@test "unknown device: error 101, nothing changes" {
    CONF=$(hd_conf nosuch0 "$DATA")
    run --separate-stderr cni ADD
    expect_error 101
    host_intact
    assert_no_link "$CTRNS" eth0
}

@test "device already attached to another container: error 102, it stays there" {
    cni_ok ADD >/dev/null
    other=
    new_ctr other
    CID=other-$CID run --separate-stderr cni ADD eth0 "/run/netns/$other"
    expect_error 102
    assert_link "$CTRNS" eth0
    assert_no_link "$other" eth0
}

@test "CNI_NETNS that is not a network namespace: error 105, nothing changes" {
    notns=$DATA/not-a-netns
    : >"$notns"
    run --separate-stderr cni ADD eth0 "$notns"
    expect_error 105
    host_intact
}

@test "ADD with empty CNI_IFNAME: error 4, nothing changes" {
    run --separate-stderr cni ADD ""
    expect_error 4
    host_intact
}

@test "config that is not JSON: error 6, nothing changes" {
    CONF='{"cniVersion": "1.0.0", "name": '
    run --separate-stderr cni ADD
    expect_error 6
    host_intact
}

@test "config without a device: error 7, nothing changes" {
    CONF=$(hd_conf h1 "$DATA" 'del(.device)')
    run --separate-stderr cni ADD
    expect_error 7
    host_intact
}

@test "unsupported cniVersion: error 1, nothing changes" {
    CONF=$(hd_conf h1 "$DATA" '.cniVersion = "9.9.9"')
    run --separate-stderr cni ADD
    expect_error 1
    host_intact
}

@test "two ADDs racing for h1: one wins, the other fails cleanly" {
    other=
    new_ctr other
    out1=$BATS_TEST_TMPDIR/add1 out2=$BATS_TEST_TMPDIR/add2
    CID=race-1 cni ADD eth0 "$CTRNETNS" >"$out1" 2>"$out1.err" &
    pid1=$!
    CID=race-2 cni ADD eth0 "/run/netns/$other" >"$out2" 2>"$out2.err" &
    pid2=$!
    rc1=0 rc2=0
    wait "$pid1" || rc1=$?
    wait "$pid2" || rc2=$?
    echo "first: exit $rc1 $(cat "$out1" "$out1.err")"
    echo "second: exit $rc2 $(cat "$out2" "$out2.err")"
    # exactly one winner, and h1 is where the winner says
    (( (rc1 == 0) != (rc2 == 0) ))
    if ((rc1 == 0)); then winner=$CTRNS loser=$other lout=$out2
    else winner=$other loser=$CTRNS lout=$out1; fi
    assert_link "$winner" eth0
    assert_no_link "$loser" eth0
    assert_no_link "$HOSTNS" h1
    jq -e '.code == 101 or .code == 102' "$lout"
}
