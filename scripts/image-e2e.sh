#!/usr/bin/env bash
# Tests the hostdev image as the DaemonSet (conf/k8s/daemonset.yaml) uses it.
# As root, on Debian 12:
#
#     bash scripts/image-e2e.sh
#
# It installs podman and runc from Debian, builds the release binary, and
# builds the image from the repository root exactly as the README says
# (`podman build -t ... .`: Containerfile, FROM scratch, no registry), with a
# private podman configuration in a temporary directory (see
# hd_podman_config in lib.sh). Then, as the DaemonSet would:
#
#   the DaemonSet asks for no more than the containers below get:
#       system-node-critical, host network and PID namespace, no
#       privilege escalation, a read-only root, no service account token;
#       the installer no capabilities, the agent NET_ADMIN, SYS_PTRACE and
#       DAC_READ_SEARCH only (read from conf/k8s/daemonset.yaml, as are the
#       commands and mount paths below)
#   the image holds /hostdev and nothing else: no shell
#   run ... install --cni-bin-dir /host/opt/cni/bin   with a temporary
#       directory mounted there: the plugin lands in it, whole, 0755, and
#       answers VERSION; a second run changes nothing; an older plugin is
#       replaced
#   run ... list     reads a data directory mounted read-only
# (every container without capabilities and with a read-only root, as the
# DaemonSet's securityContext says)
#   run -d ... reconcile (the node agent) in a private namespace playing the
#       node's network (never the machine's) and the host's PID namespace,
#       with the agent's capabilities only: a pod namespace that dies
#       without any DEL is healed (its record goes); podman stop: it leaves
#       at once on SIGTERM (as PID 1)
#
# Containers run with --network none (the agent in the test's own
# namespace), so no CNI plugin is involved and no network is touched. Everything (containers, conmon, storage, cgroups,
# temporary files, and the few paths podman writes outside its
# configuration) is removed on exit, pass or fail. Prints PASS/FAIL per
# check and "N passed, N failed"; exits 1 if any check failed.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A NEEDED_PACKAGES=(
    [podman]='command -v podman'
    [runc]='command -v runc'
    [jq]='command -v jq'
    [python3-yaml]='/usr/bin/python3 -c "import yaml"'
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root: the test runs rootful podman"
hd_install_packages || die "installing packages failed"

RAND=$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
IMAGE=localhost/hostdev-image-e2e-$RAND:latest
CTR=hdimg-$RAND
CGPARENT=/hdimg-$RAND       # cgroup parent (cgroupfs), removed on exit
TMP=$(mktemp -d /tmp/hostdev-image-e2e.XXXXXX)
CNI_BIN=$TMP/cni-bin        # plays the node's /opt/cni/bin
NODE=hdimg-$RAND-node       # a network namespace playing the node's
POD=hdimg-$RAND-pod         # a pod's network namespace
DATA=$TMP/data              # plays the node's /run/cni/hostdev
mapfile -t CREATED_PATHS < <(hd_absent_paths "${HD_PODMAN_SYSTEM_PATHS[@]}")
CLEANED=0

cleanup() {
    ((CLEANED)) && return 0
    CLEANED=1
    hd_podman_cleanup "$TMP" "$CGPARENT"
    ip netns del "$POD" 2>/dev/null
    ip netns del "$NODE" 2>/dev/null
    hd_remove_paths "${CREATED_PATHS[@]}"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hd_podman_config "$TMP" || die "cannot write the podman configuration"
mkdir -p "$CNI_BIN" "$DATA"
chmod 0700 "$DATA"

# pm ARGS...: podman with every location private (see hd_podman_config).
pm() { hd_pm "$TMP" "$@"; }
# run ARGS...: a throwaway container of the image, no network, confined as
# the DaemonSet's securityContext says (no capabilities, no privilege
# escalation, read-only root).
CONFINED=(--cap-drop all --security-opt no-new-privileges --read-only)
run() { pm run --rm --pull never --network none --cgroup-parent "$CGPARENT" "${CONFINED[@]}" "$@"; }
one_line() { tr '\n' ' ' <"$1" | cut -c1-400; }

# ---- build -------------------------------------------------------------------
echo "==> building the release binary and $IMAGE"
BIN=$(hd_release_bin) || die "cargo build --release failed"
[[ $BIN -ef $HD_RELEASE_DIR/hostdev ]] ||
    die "the image is built from the repository's release binary; unset HOSTDEV"
if (cd "$HD_REPO" && pm build -t "$IMAGE" .) >"$TMP/out" 2>&1; then
    pass "podman build -t $IMAGE . (FROM scratch, no registry)"
else
    die "podman build failed: $(one_line "$TMP/out")"
fi

# ---- what the image holds ----------------------------------------------------
mnt=$(pm image mount "$IMAGE" 2>"$TMP/err")
files=$( (cd "$mnt" 2>/dev/null && find . -mindepth 1) | sort | tr '\n' ' ')
same=no
[[ -n $mnt ]] && cmp -s "$mnt/hostdev" "$BIN" && same=yes
pm image unmount "$IMAGE" >/dev/null 2>&1
check "the image holds /hostdev and nothing else" "files: ${files:-none} $(one_line "$TMP/err")" \
    test "$files" = "./hostdev "
check "/hostdev in the image is the release binary" "mounted at ${mnt:-?}" test $same = yes
if run --entrypoint /bin/sh "$IMAGE" -c true >"$TMP/out" 2>&1; then
    fail "there is no shell in the image" "/bin/sh -c true succeeded"
else
    pass "there is no shell in the image"
fi
run "$IMAGE" >"$TMP/out" 2>&1
check "run without arguments prints the help" "$(one_line "$TMP/out")" grep -q 'hostdev install' "$TMP/out"

# ---- the DaemonSet, as the kubelet reads it ---------------------------------------
DS=$(/usr/bin/python3 -c 'import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' \
    "$HD_REPO/conf/k8s/daemonset.yaml") || die "cannot read conf/k8s/daemonset.yaml"
# ds FILTER: jq FILTER on the DaemonSet's pod spec.
ds() { jq -r ".spec.template.spec | $1" <<<"$DS"; }
# ds_holds FILTER: jq FILTER is true of the DaemonSet.
ds_holds() { jq -e "$1" >/dev/null <<<"$DS"; }
# ds_command NAME: the command of container NAME (init or not), one word a line.
ds_command() { ds "(.initContainers + .containers)[] | select(.name == \"$1\") | .command[]"; }
# ds_mount NAME VOLUME: where container NAME mounts VOLUME, ":ro" appended if read-only.
ds_mount() {
    ds "(.initContainers + .containers)[] | select(.name == \"$1\") | .volumeMounts[]
        | select(.name == \"$2\") | .mountPath + (if .readOnly then \":ro\" else \"\" end)"
}
check "DaemonSet: system-node-critical, root without a service account token, default seccomp" "$(ds 'del(.initContainers, .containers, .volumes)')" \
    ds_holds '.spec.template.spec | .priorityClassName == "system-node-critical"
        and .automountServiceAccountToken == false and .securityContext.runAsUser == 0
        and .securityContext.seccompProfile.type == "RuntimeDefault"
        and .hostNetwork == true and .hostPID == true and (.hostIPC | not)'
# Each container's securityContext must be what CONFINED (and, for the
# agent, AGENT_CAPS) applies, nothing more.
AGENT_CAPS=(NET_ADMIN SYS_PTRACE DAC_READ_SEARCH)
check "DaemonSet: every container drops all capabilities, cannot escalate, has a read-only root" \
    "$(ds '[(.initContainers + .containers)[] | {name, securityContext}]')" \
    ds_holds '[.spec.template.spec | (.initContainers + .containers)[] | .securityContext
        | .capabilities.drop == ["ALL"] and .allowPrivilegeEscalation == false
          and .readOnlyRootFilesystem == true and (.privileged | not)] | length == 2 and all'
mapfile -t INSTALL < <(ds_command install)
check "DaemonSet: the installer adds no capability, the agent only ${AGENT_CAPS[*]}" \
    "$(ds '[(.initContainers + .containers)[] | {name, add: .securityContext.capabilities.add}]')" \
    ds_holds "[.spec.template.spec | (.initContainers + .containers)[] | .securityContext.capabilities.add // []]
        == [[], $(printf '"%s",' "${AGENT_CAPS[@]}" | sed 's/,$//; s/^/[/; s/$/]/')]"
mapfile -t AGENT < <(ds_command hostdev)
CNI_BIN_MOUNT=$(ds_mount install cni-bin)
DATA_MOUNT=$(ds_mount hostdev data)
hd_note "install: ${INSTALL[*]} (cni-bin at $CNI_BIN_MOUNT); agent: ${AGENT[*]} (data at $DATA_MOUNT)"

# ---- install, as the init container does ---------------------------------------
install_plugin() {
    run -v "$CNI_BIN:$CNI_BIN_MOUNT" --entrypoint "${INSTALL[0]}" "$IMAGE" "${INSTALL[@]:1}" >"$TMP/out" 2>&1
}
installed_ok() {
    [[ $(ls -A "$CNI_BIN") == hostdev ]] && cmp -s "$BIN" "$CNI_BIN/hostdev" &&
        [[ $(stat -c %a "$CNI_BIN/hostdev") == 755 ]] &&
        CNI_COMMAND=VERSION "$CNI_BIN/hostdev" </dev/null | jq -e '.supportedVersions | index("1.1.0")' >/dev/null
}
install_plugin
rc=$?
check "install: exit 0" "$(one_line "$TMP/out")" test $rc -eq 0
check "install: the plugin is whole, 0755, alone, and answers VERSION" "$(ls -lA "$CNI_BIN")" installed_ok
inode=$(stat -c %i "$CNI_BIN/hostdev" 2>/dev/null)
install_plugin
check "install again: exit 0, up to date" "$(one_line "$TMP/out")" grep -q 'up to date' "$TMP/out"
check "install again: the file was left alone" "inode $inode -> $(stat -c %i "$CNI_BIN/hostdev")" \
    test "$(stat -c %i "$CNI_BIN/hostdev")" = "$inode"
printf '#!/bin/false\n' >"$CNI_BIN/hostdev"
install_plugin
rc=$?
check "install over an older plugin: exit 0" "$(one_line "$TMP/out")" test $rc -eq 0
check "install over an older plugin: replaced" "$(ls -lA "$CNI_BIN")" installed_ok

# ---- list, as `kubectl exec ... hostdev list` does ------------------------------
run -v "$DATA:$DATA_MOUNT:ro" "$IMAGE" list >"$TMP/out" 2>&1
rc=$?
check "list of a read-only data directory: exit 0" "$(one_line "$TMP/out")" test $rc -eq 0
check "list of an empty data directory says so" "$(one_line "$TMP/out")" \
    grep -q 'no attachments in /run/cni/hostdev' "$TMP/out"

# ---- the node agent, the long-running container ---------------------------------
ip netns add "$NODE" && ip netns add "$POD" || die "cannot make the test's namespaces"
CAPS=()
for cap in "${AGENT_CAPS[@]}"; do CAPS+=(--cap-add "$cap"); done
pm run -d --pull never --network "ns:/run/netns/$NODE" --pid host --cgroup-parent "$CGPARENT" \
    "${CONFINED[@]}" "${CAPS[@]}" --name "$CTR" -v "$DATA:$DATA_MOUNT" \
    --entrypoint "${AGENT[0]}" "$IMAGE" "${AGENT[@]:1}" >"$TMP/out" 2>&1
check "agent: running" "$(one_line "$TMP/out")" \
    test "$(pm inspect --format '{{.State.Status}}' "$CTR" 2>/dev/null)" = running
# agent_said TEXT: the agent's log has TEXT within 60 s.
agent_said() {
    for _ in $(seq 600); do
        pm logs "$CTR" 2>&1 | grep -qF "$1" && return 0
        sleep 0.1
    done
    return 1
}
check "agent: watching" "$(pm logs "$CTR" 2>&1 | one_line /dev/stdin)" agent_said 'msg="the node agent is watching"'
# A pod's namespace dies without any DEL: the agent finishes the attachment.
ip -n "$NODE" link add hd0 type veth peer name hd0p
ip -n "$NODE" link set hd0p up
printf '{"cniVersion":"1.0.0","name":"imgnet","type":"hostdev","device":"hd0","dataDir":"%s"}' "$DATA" >"$TMP/conf"
CNI_COMMAND=ADD CNI_CONTAINERID=img-$RAND CNI_NETNS=/run/netns/$POD CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    ip netns exec "$NODE" "$BIN" <"$TMP/conf" >"$TMP/out" 2>&1
check "agent: a pod attached hd0" "$(one_line "$TMP/out")" ip -n "$POD" link show eth0
ip netns del "$POD"
check "agent: a pod namespace dead without DEL is healed" "$(pm logs "$CTR" 2>&1 | one_line /dev/stdin)" \
    agent_said "container=img-$RAND ifname=eth0 msg=healed"
check "agent: no record left" "$(ls -A "$DATA")" test -z "$(find "$DATA" -name '*.json')"
start=$SECONDS
pm stop -t 30 "$CTR" >"$TMP/out" 2>&1
took=$((SECONDS - start))
check "agent: podman stop (SIGTERM to PID 1) ends it at once" "took ${took}s: $(one_line "$TMP/out")" \
    test "$took" -lt 10
check "agent: exit code 0" "$(pm inspect --format '{{.State.ExitCode}}' "$CTR" 2>&1)" \
    test "$(pm inspect --format '{{.State.ExitCode}}' "$CTR" 2>/dev/null)" = 0

# ---- cleanup -------------------------------------------------------------------
cleanup
leftovers=()
[[ -e $TMP ]] && leftovers+=("$TMP")
for pid in $(hd_pids_naming "$TMP/"); do leftovers+=("process $pid"); done
for dir in /sys/fs/cgroup/*/"${CGPARENT#/}" /sys/fs/cgroup/"${CGPARENT#/}"; do
    [[ -d $dir ]] && leftovers+=("cgroup $dir")
done
for path in "${CREATED_PATHS[@]}"; do [[ -e $path ]] && leftovers+=("$path"); done
check "cleanup: no container, process, cgroup or file left" "${leftovers[*]:-}" test ${#leftovers[@]} -eq 0

printf '\n%d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
if ((${#FAILED[@]})); then
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
printf 'ALL PASSED (%ss)\n' "$SECONDS"
