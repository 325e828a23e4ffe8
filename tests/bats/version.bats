#!/usr/bin/env bats
# VERSION must answer whatever the rest of the environment says: podman sends
# it before every ADD and DEL with junk (CNI_NETNS=dummy, empty container id).

load helpers

# podman's VERSION call, run from the host namespace.
podman_version() {
    ip netns exec "$HOSTNS" env CNI_COMMAND=VERSION CNI_CONTAINERID= CNI_NETNS=dummy \
        CNI_IFNAME= CNI_PATH=/nonexistent "$HOSTDEV" <<<'{"cniVersion":"1.0.0"}'
}

# VERSION with no other CNI_* variable at all.
bare_version() {
    ip netns exec "$HOSTNS" env -i PATH="$PATH" CNI_COMMAND=VERSION "$HOSTDEV" \
        <<<'{"cniVersion":"0.4.0"}'
}

@test "VERSION with podman's junk env answers the supported versions" {
    run --separate-stderr podman_version
    echo "status=$status stdout=$output stderr=${stderr-}"
    [ "$status" -eq 0 ]
    jq -e '(.cniVersion | type == "string")
        and (.supportedVersions | index(["1.0.0"]) != null)' <<<"$output"
    host_intact
}

@test "VERSION with no CNI_NETNS, CNI_IFNAME or CNI_CONTAINERID at all" {
    run --separate-stderr bare_version
    echo "status=$status stdout=$output stderr=${stderr-}"
    [ "$status" -eq 0 ]
    jq -e '.supportedVersions | index(["1.0.0"]) != null' <<<"$output"
}
