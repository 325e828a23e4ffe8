#!/usr/bin/env bash
# End-to-end test of hostdev with PCI NICs, in a virtual machine:
#     bash scripts/vm-e2e.sh
#
# Physical NICs differ from the veths the other tests use: a permanent MAC, a
# PCI address, a driver that can be unbound, a real /sys/devices path, and
# when their namespace dies the kernel RETURNS them to the initial namespace
# instead of destroying them. This script boots Debian's kernel under QEMU
# (TCG, no KVM needed) with twenty emulated NICs (e1000 and virtio-net-pci) on a
# hub that has no host backend (the VM has no outside network at all) and a
# CAN card (kvaser_pci) on a CAN bus of its own, runs
# tests/vm/guest-tests.sh as the guest's init, and reads one line per check:
#     HDTEST <name> PASS|FAIL|SKIP <detail>
# It prints a summary and exits non-zero on any FAIL, on a missing check, or
# when the VM does not finish in time.
#
# Needs root (apt-get). Installs, when missing, from Debian: qemu-system-x86,
# linux-image-amd64, busybox-static, iproute2, jq, ethtool, cpio, kmod, and
# containernetworking-plugins (upstream's host-device, which attaches the
# NICs of the adoption checks). Never touches
# the host's interfaces, routes or addresses. Everything it makes lives in
# one temporary directory, removed on exit, and qemu is killed on exit.
#
# Environment:
#   HOSTDEV=path          test this binary (default: the one cargo build --release makes)
#   VM_E2E_TIMEOUT=secs   how long each VM may run (default 900)
#   VM_E2E_IOMMU=0        boot a plain i440fx machine without an IOMMU (the
#                         vfio-pci check is then reported as SKIP)
#   VM_E2E_LOG=path       also save the guest console log there
#   VM_E2E_SMP=n          vCPUs (default 1)
#   VM_E2E_ONLY=main|sriov  boot only that VM (default: both)
#
# A second VM checks SR-IOV on real VFs: QEMU 10 (Debian's bookworm-backports
# build, which has the igb model: an 82576 with SR-IOV) fetched with a
# private apt sources file whose URIs are the machine's own Debian archive's,
# and unpacked privately (the machine's apt configuration is not changed);
# a q35 machine with an igb PF on a PCIe root port; the guest makes VFs with
# sriov_numvfs and runs tests/vm/sriov-tests.sh. The crash checks there use
# a `test-hooks` build of hostdev (cargo build --features test-hooks).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VM_DIR=$REPO/tests/vm
# A net against a hung guest, not the time budget: the main VM takes about
# 375 s of TCG on a quiet machine and 426 s was seen with a load of 10 on
# its 2 cores; each VM's time is printed, and docs/testing.md keeps the budget.
TIMEOUT=${VM_E2E_TIMEOUT:-900}
IOMMU=${VM_E2E_IOMMU:-1}
SMP=${VM_E2E_SMP:-1}
START=$SECONDS

# The checks the guest must report; a missing one fails the run.
EXPECTED=(
    inventory
    select_pcibusid select_kernelpath select_deviceid select_hwaddr_permanent
    gone_del gone_gc gone_name_taken_del gone_name_taken_anchor agent_running agent_once
    unbound_no_driver vfio_userspace
    defroute_refused defroute_allowed
    adopt_pcibusid adopt_gone_del adopt_kernelpath adopt_hwaddr_permanent adopt_device_declines
    stack_bond_home stack_bond_defroute stack_vlan_refused stack_vlan_allowed stack_vlan_defroute
    declared_e1000 declared_e1000_gone_del declared_virtio declared_virtio_gone_gc declared_ipv4_refused
    can_inventory can_select_device can_select_pcibusid can_gone_del can_gone_gc
    can_agent_running can_agent_once
    can_lingering_del vcan_dies vcan_leaves_can
)
EXPECTED_SRIOV=(
    sriov_inventory sriov_select_pcibusid sriov_select_deviceid sriov_select_runtime_deviceid
    sriov_admin_state sriov_link_state_refused sriov_min_rate_refused sriov_8021ad_refused sriov_bad_vlan
    sriov_claimed sriov_gone_del sriov_gone_gc sriov_agent_running sriov_agent_once
    sriov_crash_before_move sriov_crash_after_move
    sriov_forged sriov_pf_untouched
)
ONLY=${VM_E2E_ONLY:-}

# The NICs (MAC plan shared with tests/vm/guest-tests.sh).
NICS=(
    e1000:01 virtio-net-pci:02 virtio-net-pci:03 e1000:04 e1000:05
    virtio-net-pci:06 e1000:07 e1000:08 virtio-net-pci:09 e1000:0a
    e1000:0b e1000:0c e1000:0d e1000:0e e1000:0f
    e1000:10 e1000:11 e1000:12 e1000:13 virtio-net-pci:14
)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'vm-e2e: %s\n' "$*" >&2
    exit 2
}

TMP=
QEMU_PID=
cleanup() {
    local rc=$?
    if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill -KILL "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    [[ -n $TMP ]] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- packages ----------------------------------------------------------------

kernel_version() {
    local v k
    for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V -r); do
        v=${k#/boot/vmlinuz-}
        if [[ -f /lib/modules/$v/modules.dep ]] &&
            modinfo -k "$v" -F filename e1000 >/dev/null 2>&1; then
            echo "$v"
            return 0
        fi
    done
    return 1
}

# QEMU as Debian installs it, or, when installing it would remove something
# the machine already has (these machines carry a newer qemu-utils that
# bookworm's qemu-system-common refuses to sit beside), its four packages
# unpacked privately under the cache dir, with only its libraries installed.
QEMU_BIN=qemu-system-x86_64
QEMU_DATA=()
QEMU_CACHE=${VM_E2E_CACHE:-/var/cache/hostdev-e2e}/qemu
private_qemu() {
    local root=$QEMU_CACHE/root libs
    if [[ ! -x $root/usr/bin/qemu-system-x86_64 ]]; then
        say "unpacking QEMU privately under $QEMU_CACHE"
        rm -rf "$QEMU_CACHE" && mkdir -p "$QEMU_CACHE/debs" && chmod 755 "$QEMU_CACHE/debs"
        (cd "$QEMU_CACHE/debs" && apt-get download -q qemu-system-x86 qemu-system-common qemu-system-data seabios >/dev/null 2>&1) ||
            die "apt-get download of QEMU failed"
        libs=$(apt-cache depends qemu-system-x86 qemu-system-common | awk '$1 == "Depends:" && $2 ~ /^(lib|zlib)/ { print $2 }')
        # shellcheck disable=SC2086  # one word per library
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-remove \
            -o DPkg::Lock::Timeout=600 $libs >/dev/null 2>&1 || die "installing QEMU's libraries failed"
        for deb in "$QEMU_CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
    fi
    QEMU_BIN=$root/usr/bin/qemu-system-x86_64
    QEMU_DATA=(-L "$root/usr/share/qemu" -L "$root/usr/share/seabios")
    export QEMU_MODULE_DIR=$root/usr/lib/x86_64-linux-gnu/qemu   # accelerators are modules
}

# QEMU 10 from bookworm-backports, unpacked privately (see the header).
QEMU10_CACHE=${VM_E2E_CACHE:-/var/cache/hostdev-e2e}/qemu10
QEMU10=
# The URIs of the machine's own Debian archive: the deb822 sources entry
# whose Suites name bookworm (backports live in the same archive).
debian_uris() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
            /(^|\n)Suites:([^\n]*[ \t])?bookworm([ \t]|\n|$)/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); print $i; exit } }' "$f"
    done | head -n 1
}
install_qemu10() {
    local w=$QEMU10_CACHE root=$QEMU10_CACHE/root uris deb
    if [[ ! -x $root/usr/bin/qemu-system-x86_64 ]]; then
        uris=$(debian_uris)
        [[ -n $uris ]] || die "no Debian bookworm entry in /etc/apt/sources.list.d/*.sources to fetch QEMU 10 from"
        say "fetching QEMU 10 (bookworm-backports) privately under $w"
        rm -rf "$w" && mkdir -p "$w"/apt/{sources,lists/partial,archives/partial} "$w/debs"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uris" >"$w/apt/sources/backports.sources"
        local apto=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$w/apt/sources"
            -o "Dir::State::Lists=$w/apt/lists" -o "Dir::Cache::Archives=$w/apt/archives"
            -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
        apt-get "${apto[@]}" -q update >"$w/apt.log" 2>&1 || die "apt-get update of the private backports list failed: $(tail -n 3 "$w/apt.log")"
        chmod 755 "$w/debs" # so that apt's sandbox user can write there
        (cd "$w/debs" && apt-get "${apto[@]}" -q download qemu-system-x86 qemu-system-common qemu-system-data seabios >>"$w/apt.log" 2>&1) ||
            die "apt-get download of QEMU 10 failed: $(tail -n 3 "$w/apt.log")"
        for deb in "$w"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
    fi
    local devices
    devices=$(env -u QEMU_MODULE_DIR "$root/usr/bin/qemu-system-x86_64" -device help 2>&1) || true
    [[ $devices == *'"igb"'* ]] || die "QEMU in $root has no igb device"
    QEMU10=$root
}

install_qemu() {
    if [[ ${VM_E2E_PRIVATE_QEMU:-0} == 1 ]]; then
        private_qemu
        return
    fi
    command -v qemu-system-x86_64 >/dev/null && return 0
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends --no-remove)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install qemu-system-x86 >/dev/null 2>&1 && return 0
    # Stale package lists fail too: refresh them once before going private.
    apt-get -o DPkg::Lock::Timeout=600 -q update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install qemu-system-x86 >/dev/null 2>&1 || private_qemu
}

install_packages() {
    local missing=()
    install_qemu
    command -v modprobe >/dev/null || missing+=(kmod)
    kernel_version >/dev/null 2>&1 || missing+=(linux-image-amd64)
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v jq >/dev/null || missing+=(jq)
    command -v ethtool >/dev/null || missing+=(ethtool)
    command -v cpio >/dev/null || missing+=(cpio)
    [[ -x /usr/lib/cni/host-device ]] || missing+=(containernetworking-plugins)
    ((${#missing[@]} == 0)) && return 0
    say "installing from Debian: ${missing[*]}"
    # --no-remove: never let a dependency resolution remove something else.
    local log
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-remove \
        -o DPkg::Lock::Timeout=600 "${missing[@]}" >"$log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-remove \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >>"$log" 2>&1 || {
            tail -n 20 "$log" >&2
            rm -f "$log"
            die "apt-get install ${missing[*]} failed"
        }
    fi
    rm -f "$log"
}

# --- the VM --------------------------------------------------------------------

qemu_args() {
    local kver=$1 nic model id n=0
    local append="console=ttyS0 panic=-1 rdinit=/init loglevel=4 mitigations=off"
    QEMU=("$QEMU_BIN" "${QEMU_DATA[@]}" -accel tcg -m 512 -smp "$SMP" -nographic -no-reboot -nic none
        -monitor none -serial "file:$TMP/console.log" -serial "file:$RESULTS")
    if [[ $IOMMU == 1 ]]; then
        # An emulated IOMMU gives every PCI function an IOMMU group, so the
        # guest's vfio-pci can bind one (the userspace-driver check).
        QEMU+=(-machine q35 -device intel-iommu)
        append+=" intel_iommu=on"
    fi
    # The guest waits for this many interfaces: the NICs and the CAN card's.
    append+=" hdtest_nics=$((${#NICS[@]} + 1))"
    QEMU+=(-kernel "/boot/vmlinuz-$kver" -initrd "$TMP/initramfs.cpio.gz" -append "$append")
    for nic in "${NICS[@]}"; do
        model=${nic%%:*} id=${nic##*:}
        n=$((n + 1))
        # A hub port with no host backend: the NICs have a link, and nothing
        # leaves the VM.
        QEMU+=(-netdev "hubport,id=n$n,hubid=0" -device "$model,netdev=n$n,mac=52:54:00:12:34:$id,romfile=")
    done
    # A Kvaser PCIcan card (SJA1000) on a CAN bus of its own, with nothing
    # else on it (tests/vm/can-tests.sh).
    # shellcheck disable=SC2054 # the commas are QEMU option syntax
    QEMU+=(-object can-bus,id=canbus0 -device kvaser_pci,canbus=canbus0)
}

# Prints new result lines as they arrive; returns when qemu exits or the
# deadline passes (then 1).
run_vm() {
    local deadline=$((SECONDS + TIMEOUT)) shown=0 lines
    "${QEMU[@]}" </dev/null >"$TMP/qemu.out" 2>&1 &
    QEMU_PID=$!
    while kill -0 "$QEMU_PID" 2>/dev/null; do
        lines=0
        [[ -f $RESULTS ]] && lines=$(tr -d '\r' <"$RESULTS" | grep -c '^HD' || true)
        if ((lines > shown)); then
            tr -d '\r' <"$RESULTS" | grep '^HD' | sed -n "$((shown + 1)),${lines}p" |
                cut -c1-200 | sed 's/^/    /'
            shown=$lines
        fi
        if ((SECONDS >= deadline)); then
            kill -KILL "$QEMU_PID" 2>/dev/null || true
            wait "$QEMU_PID" 2>/dev/null || true
            QEMU_PID=
            return 1
        fi
        sleep 2
    done
    wait "$QEMU_PID" || true
    QEMU_PID=
    tr -d '\r' <"$RESULTS" 2>/dev/null | grep '^HD' | sed -n "$((shown + 1)),\$p" | cut -c1-200 | sed 's/^/    /'
    return 0
}

# The second VM: QEMU 10, q35, an igb PF on a PCIe root port (its VFs
# appear behind the port), and nothing else; the guest runs the SR-IOV
# checks only (hdtest_suite=sriov) and waits for one NIC, the PF.
sriov_qemu_args() {
    local kver=$1
    local append="console=ttyS0 panic=-1 rdinit=/init loglevel=4 mitigations=off hdtest_nics=1 hdtest_suite=sriov"
    # shellcheck disable=SC2054 # the commas are QEMU option syntax
    # env execs QEMU (the pid stays the one to kill); QEMU 7.2's module
    # directory (a private 7.2) must not reach QEMU 10: TCG is built in.
    QEMU=(env -u QEMU_MODULE_DIR "$QEMU10/usr/bin/qemu-system-x86_64" -L "$QEMU10/usr/share/qemu" -L "$QEMU10/usr/share/seabios"
        -accel tcg -machine q35 -m 512 -smp "$SMP" -nographic -no-reboot -nic none -monitor none
        -serial "file:$TMP/console-sriov.log" -serial "file:$RESULTS"
        -kernel "/boot/vmlinuz-$kver" -initrd "$TMP/initramfs.cpio.gz" -append "$append"
        -device pcie-root-port,id=rp1,slot=1
        -netdev hubport,id=pf1,hubid=1 -device igb,bus=rp1,netdev=pf1,mac=52:54:00:12:35:01,romfile=)
}

# Boots one VM (QEMU as set up) and keeps its results in $RESULTS.
# Sets TIMED_OUT.
boot() {
    local label=$1 start=$SECONDS
    say "booting the $label VM (TCG, no outside network, timeout ${TIMEOUT}s)"
    TIMED_OUT=0
    run_vm || TIMED_OUT=1
    ((TIMED_OUT)) && printf 'TIMEOUT: the %s VM did not finish within %ss and was killed\n' "$label" "$TIMEOUT"
    say "the $label VM ran $((SECONDS - start))s"
}

# --- main ----------------------------------------------------------------------

main() {
    [[ $(id -u) == 0 ]] || die "run as root (apt-get, and the guest image reads /boot)"
    install_packages
    local kver bin
    kver=$(kernel_version) || die "no /boot/vmlinuz-* with modules (linux-image-amd64)"

    if [[ -n ${HOSTDEV:-} ]]; then
        bin=$HOSTDEV
    else
        say "building hostdev (cargo build --release)"
        # Ask cargo where the binary went: a build target in .cargo/config
        # moves it out of target/release.
        bin=$(cd "$REPO" && cargo build --release --bin hostdev --message-format=json-render-diagnostics |
            jq -r 'select(.reason == "compiler-artifact" and .target.name == "hostdev" and .executable != null) | .executable' |
            tail -n 1)
    fi
    [[ -x $bin ]] || die "no hostdev binary at $bin"

    local hooks=${HOSTDEV_HOOKS:-}
    if [[ -z $hooks && $ONLY != main ]]; then
        say "building hostdev with test-hooks for the SR-IOV crash checks"
        hooks=$(cd "$REPO" && cargo build --features test-hooks --bin hostdev --message-format=json-render-diagnostics |
            jq -r 'select(.reason == "compiler-artifact" and .target.name == "hostdev" and .executable != null) | .executable' |
            tail -n 1)
    fi
    [[ $ONLY == main ]] || install_qemu10

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/hostdev-vm.XXXXXX")
    say "building the initramfs (kernel $kver)"
    bash "$VM_DIR/mkinitramfs.sh" "$kver" "$bin" "$TMP/initramfs.cpio.gz" "$hooks"
    say "initramfs: $(du -h "$TMP/initramfs.cpio.gz" | cut -f1)"

    local vm_start=$SECONDS timed_out=0 expected=()
    : >"$TMP/results.log"
    if [[ $ONLY != sriov ]]; then
        RESULTS=$TMP/results-main.log
        qemu_args "$kver"
        boot "main (${#NICS[@]} NICs, QEMU $("$QEMU_BIN" --version | head -n 1 | awk '{print $4}'))"
        timed_out=$TIMED_OUT
        expected+=("${EXPECTED[@]}")
        tr -d '\r' <"$RESULTS" >>"$TMP/results.log" 2>/dev/null || true
    fi
    if [[ $ONLY != main ]]; then
        RESULTS=$TMP/results-sriov.log
        sriov_qemu_args "$kver"
        boot "SR-IOV (igb, QEMU $(env -u QEMU_MODULE_DIR "$QEMU10/usr/bin/qemu-system-x86_64" --version | head -n 1 | awk '{print $4}'))"
        ((TIMED_OUT)) && timed_out=1
        expected+=("${EXPECTED_SRIOV[@]}")
        tr -d '\r' <"$RESULTS" >>"$TMP/results.log" 2>/dev/null || true
        cat "$TMP/console-sriov.log" >>"$TMP/console.log" 2>/dev/null || true
    fi
    local vm_secs=$((SECONDS - vm_start))
    [[ -n ${VM_E2E_LOG:-} ]] && cp "$TMP/console.log" "$VM_E2E_LOG"

    # --- verdict
    local results name status detail
    results=$(tr -d '\r' <"$TMP/results.log" 2>/dev/null | grep -E '^HDTEST ' || true)
    declare -A seen=()
    local pass=0 fail=0 skip=0
    printf '\n%-26s %-5s %s\n' CHECK RESULT DETAIL
    while read -r _ name status detail; do
        [[ -n ${name:-} ]] || continue
        seen[$name]=$status
        case $status in
        PASS) pass=$((pass + 1)) ;;
        SKIP) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)) ;;
        esac
        printf '%-26s %-5s %s\n' "$name" "$status" "$(cut -c1-300 <<<"$detail")"
    done <<<"$results"
    for name in "${expected[@]}"; do
        if [[ -z ${seen[$name]:-} ]]; then
            printf '%-26s %-5s %s\n' "$name" MISS "the guest did not report this check"
            fail=$((fail + 1))
        fi
    done
    if tr -d '\r' <"$TMP/results.log" 2>/dev/null | grep '^HDNOTE ' >/dev/null; then
        printf '\nnotes:\n'
        tr -d '\r' <"$TMP/results.log" | grep '^HDNOTE ' | sed 's/^HDNOTE /  /'
    fi
    local vms=2
    [[ -n $ONLY ]] && vms=1
    if (($(grep -c '^HDTEST_END' "$TMP/results.log" || true) < vms)); then
        fail=$((fail + 1))
        if ((timed_out)); then
            printf '\nTIMEOUT: the VM did not finish within %ss and was killed\n' "$TIMEOUT"
        else
            printf '\nthe guest stopped before the end of its tests\n'
        fi
    fi
    if ((fail)); then
        printf '\nguest console (last 60 lines):\n'
        tr -d '\r' <"$TMP/console.log" 2>/dev/null | tail -n 60 | sed 's/^/  | /'
        [[ -s $TMP/qemu.out ]] && { printf 'qemu:\n'; sed 's/^/  | /' "$TMP/qemu.out"; }
    fi
    printf '\nVM ran %ss; total %ss\n' "$vm_secs" "$((SECONDS - START))"
    printf 'vm-e2e: %d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
    ((fail == 0))
}

main "$@"
