#!/usr/bin/env bats
# The example configs in conf/ are what users copy: keep them valid and working.

# shellcheck disable=SC2034  # CONF, CID are read by helpers.bash
load helpers

CONFDIR=$BATS_TEST_DIRNAME/../../conf

# plugin_from LIST: the first plugin of a conflist as libcni hands it to the
# plugin (name and cniVersion injected), pointed at this test's h1 and dataDir.
plugin_from() {
    jq -c --arg dir "$DATA" \
        '.plugins[0] + {cniVersion, name} | .device = "h1" | .dataDir = $dir' "$1"
}

@test "every conf/*.conflist is a conflist whose first plugin is hostdev" {
    for f in "$CONFDIR"/*.conflist; do
        echo "$f"
        jq -e '(.cniVersion | type == "string") and (.name | type == "string")
            and .plugins[0].type == "hostdev" and (.plugins[0].device | type == "string")' "$f"
    done
}

@test "conf/hostdev.conflist: ADD and DEL work" {
    CONF=$(plugin_from "$CONFDIR/hostdev.conflist")
    cni_ok ADD >/dev/null
    assert_link "$CTRNS" eth0
    cni_ok DEL
    host_intact
}

@test "conf/hostdev-static-ipam.conflist: the IPAM address is added and reported, and not brought home" {
    CONF=$(plugin_from "$CONFDIR/hostdev-static-ipam.conflist")
    result=$(cni_ok ADD)
    echo "$result"
    jq -e 'any(.ips[]; .address == "192.0.2.10/24")' <<<"$result"
    ctr_addrs eth0 | grep -qx 192.0.2.10/24
    cni_ok DEL
    host_intact
}
