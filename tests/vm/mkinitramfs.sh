#!/usr/bin/env bash
# Builds the small initramfs (cpio.gz) that scripts/vm-e2e.sh boots:
#   busybox-static, iproute2's `ip`, jq and ethtool with the shared libraries
#   they link,
#   the kernel modules the emulated NICs need (with their dependencies, in
#   load order), the hostdev binary, upstream's host-device (Debian's
#   containernetworking-plugins) for the adoption checks, and the guest
#   scripts in tests/vm/.
#
# Usage: mkinitramfs.sh KERNEL_VERSION HOSTDEV_BINARY OUTPUT.cpio.gz [HOOKS_BINARY]
# HOOKS_BINARY: a `test-hooks` build, for the SR-IOV crash checks.
# Reads only the host's files; writes only OUTPUT and a temporary staging
# directory next to it (removed on exit).
set -euo pipefail

kver=$1 hostdev=$2 out=$3 hooks=${4:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Modules wanted, by name. The NIC drivers and their helpers; vfio-pci for the
# userspace-driver scenario (it binds only when the guest has an IOMMU); the
# CAN card's driver (kvaser_pci on sja1000) and vcan for the CAN scenarios;
# 8021q (vlan) and bonding for the stacked-device scenarios.
# Dependencies (virtio, virtio_ring, failover, net_failover, vfio-pci-core,
# irqbypass, can-dev, llc, stp, garp, mrp, tls, ...) are resolved from
# modules.dep below.
# igb and igbvf: the SR-IOV PF and its VFs (QEMU 10's igb, the second VM).
modules=(e1000 virtio_pci virtio_net vfio_iommu_type1 vfio_pci kvaser_pci vcan 8021q bonding igb igbvf)

stage=$(mktemp -d "$(dirname "$out")/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,lib,lib64,proc,sys,dev,run,tmp,etc,hdtest}
mkdir -p "$stage/usr/bin" "$stage/usr/sbin"

# busybox-static: the shell and the coreutils. The guest's /init runs
# `busybox --install -s /bin` before anything else.
install -m 0755 /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"

# copy_elf FILE DEST: a dynamically linked program with every library ldd
# lists, at the same paths (the loader included).
copy_elf() {
    local file=$1 dest=$2 lib
    install -D -m 0755 "$file" "$stage$dest"
    while read -r lib; do
        [[ -e $stage$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
    done < <(ldd "$file" | grep -o '/[^ )]*' | sort -u)
}
copy_elf "$(readlink -f "$(command -v ip)")" /sbin/ip      # iproute2: busybox's ip cannot do netns
copy_elf "$(readlink -f "$(command -v jq)")" /usr/bin/jq
copy_elf "$(readlink -f "$(command -v ethtool)")" /usr/sbin/ethtool # declared features
copy_elf "$hostdev" /hdtest/hostdev
copy_elf /usr/lib/cni/host-device /hdtest/host-device
[[ -z $hooks ]] || copy_elf "$hooks" /hdtest/hostdev-hooks

# Kernel modules, each after its dependencies, from modules.dep (through
# modprobe --show-depends, which reads it); duplicates dropped, order kept.
# Each line is the path and the options modprobe.d gives the module (bonding:
# max_bonds=0, so no bond0 appears that the guest's NIC count would take for
# a NIC).
: >"$stage/hdtest/modules.list"
declare -A seen=()
for m in "${modules[@]}"; do
    modinfo -k "$kver" -F filename "$m" >/dev/null
    while read -r verb path opts; do
        [[ $verb == insmod && -z ${seen[$path]:-} ]] || continue
        seen[$path]=1
        install -D -m 0644 "$path" "$stage$path"
        printf '%s %s\n' "$path" "$opts" >>"$stage/hdtest/modules.list"
    done < <(modprobe -S "$kver" --show-depends "$m")
done

install -m 0755 "$here/init.sh" "$stage/init"
install -m 0755 "$here/guest-tests.sh" "$stage/hdtest/tests.sh"
install -m 0644 "$here/can-tests.sh" "$stage/hdtest/can-tests.sh"
install -m 0644 "$here/adopt-tests.sh" "$stage/hdtest/adopt-tests.sh"
install -m 0644 "$here/stack-tests.sh" "$stage/hdtest/stack-tests.sh"
install -m 0644 "$here/declared-tests.sh" "$stage/hdtest/declared-tests.sh"
install -m 0644 "$here/sriov-tests.sh" "$stage/hdtest/sriov-tests.sh"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
