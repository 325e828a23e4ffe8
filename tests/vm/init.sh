#!/bin/busybox sh
# shellcheck shell=dash
# /init of the hostdev VM test (see scripts/vm-e2e.sh): mounts the pseudo
# file systems, loads the NIC drivers, runs /hdtest/tests.sh, powers off.
# Results go to the console and to the second serial port (ttyS1), which
# the host reads free of kernel messages.
/bin/busybox --install -s /bin
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export HOME=/ TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 run /run
mount -t tmpfs tmp /tmp
mkdir -p /run/netns /run/cni
echo 4 >/proc/sys/kernel/printk 2>/dev/null

echo "# init: kernel $(uname -r), loading modules"
# One module a line: its path, then its options (see mkinitramfs.sh).
while read -r m opts; do
    # shellcheck disable=SC2086 # the options are words
    insmod "$m" $opts || echo "# init: insmod $m $opts failed"
done </hdtest/modules.list

# Drivers may probe asynchronously: wait (bounded) until the NICs appear.
# scripts/vm-e2e.sh says how many on the kernel command line (hdtest_nics=N).
want=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hdtest_nics=//p')
want=${want:-1}
nics() {
    n=0
    for d in /sys/class/net/*; do
        [ "${d##*/}" = lo ] || n=$((n + 1))
    done
    echo "$n"
}
i=0
while [ "$(nics)" -lt "$want" ] && [ "$i" -lt 120 ]; do
    sleep 0.5
    i=$((i + 1))
done
echo "# init: $(nics) of $want NICs after $((i / 2))s:" /sys/class/net/*

sh /hdtest/tests.sh
echo "# init: tests finished (rc $?), powering off"
sync
poweroff -f
# Not reached unless poweroff failed: panic=-1 and -no-reboot end qemu.
sleep 5
exit 1
