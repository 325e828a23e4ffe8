#!/usr/bin/env bash
# The hostdev benchmark, as root:
#     bash scripts/bench.sh            # full run, 15 repetitions (about 2.5 min on 2 cores)
#     bash scripts/bench.sh -n 5       # fewer repetitions
#     bash scripts/bench.sh --smoke    # tiny counts, well under a minute
#     bash scripts/bench.sh --declared # only 1., 9. (declared settings) and 8.'s limit with and
#                                      # without them, with their exact counts
#     bash scripts/bench.sh --compare BIN   # also 1. by another hostdev build
#     HOSTDEV=BIN bash scripts/bench.sh     # measure BIN instead of the release build
#
# It builds the release binary and measures, in ONE run and interleaved
# (round-robin over the variants at every repetition, so that machine noise
# hits them all alike), one ADD+DEL cycle of:
#   1. hostdev, an interface with 4 addresses (2 IPv4, 2 IPv6 nodad);
#   2. the kernel floor for the same work: iproute2 sending the same netlink
#      requests with one `ip -batch -` per namespace and direction;
#   3. Debian's reference /usr/lib/cni/host-device (does less: no addresses);
#   4. upstream HEAD's shape (temporary namespace, two moves each way) done
#      with `ip -batch`;
#   5. hostdev against the floor with 256, 1024 and 4096 addresses;
#   6. 32 interfaces into 32 namespaces: all ADDs at once then all DELs at
#      once, against 32 serial cycles;
#   7. 1.'s cycle with 0, 100 and 1000 attachments already recorded (real
#      ones, made by the plugin before timing; --smoke: 0 and 50), in wall
#      time, in system calls (strace -f -c of one ADD and one DEL) and in
#      netlink requests (strace's decoded headers: requests by type, dumps,
#      RTM_GETLINK dumps, and the nsid requests that are the node agent's);
#   8. the kernel's own limit: 1.'s kernel requests sent by one resident
#      process (examples/kernel_limit.rs), and two starts of a static no-op
#      process (examples/noop.rs), what a plugin pays that it does not;
#   9. 1.'s cycle with MTU and MAC declared (target: within 1.05 of 1.), and
#      with ethtool features and sysctls declared too (the added ms printed),
#      run back to back with 1. in every repetition: the wall and CPU ratios
#      per repetition, and exactly, by strace, the system calls and the
#      netlink messages each variant sends (MTU and MAC add none: they ride
#      in the move); and, in the same unit, 8.'s resident process with and
#      without the same settings (the kernel's own limit for their requests:
#      the feature sets each way and the sysctl writes in the pod), so that
#      what the settings add to hostdev's cycle is printed against what they
#      add to the limit's, in wall, CPU and exact system calls (informational);
# plus peak RSS and CPU of one ADD and one DEL, and the CPU of 1.'s ADD
# with 200 other links on the host (a veth or two per pod on a node), as a
# ratio to 1.'s (the stack check's dump); with --compare, 1.'s cycle,
# CPU and peak RSS of another build, as ratios to this one's. It prints median/min/max and
# the ratios against the targets, each marked PASS or MISS.
#
# Exit status: 0 when everything ran (a MISS is reported, not fatal), 1 when
# something failed to run, 2 on bad usage.
#
# Every variant runs in namespaces of its own (named hdbench-<pid>-*), with
# veth interfaces created inside them; nothing in the root namespace is
# touched. All of it is removed on exit, even on failure or Ctrl-C.
# The driver is scripts/bench.py; see its header for how timing is done.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }

REPS=
SMOKE=
DECLARED=
COMPARE=
while (($#)); do
    case $1 in
        --smoke) SMOKE=1 ;;
        --declared) DECLARED=1 ;;
        -n)
            [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: -n needs a positive number" >&2; exit 2; }
            REPS=$2
            shift
            ;;
        --compare)
            [[ -x ${2:-} ]] || { echo "bench.sh: --compare needs an executable hostdev binary" >&2; exit 2; }
            COMPARE=$(realpath "$2")
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ -n $REPS ]] || REPS=$([[ -n $SMOKE ]] && echo 2 || echo 15)

[[ $(id -u) -eq 0 ]] || { echo "bench.sh: run as root (it creates network namespaces)" >&2; exit 1; }

PREFIX=hdbench-$$
WORK=
cleanup() {
    local ns
    # The driver removes its namespaces itself; this is the safety net for a
    # crash or a signal. Only names with our own prefix (our PID) are touched.
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        if [[ $ns == "$PREFIX"-* ]]; then ip netns del "$ns" 2>/dev/null || true; fi
    done
    if [[ -n $WORK ]]; then
        umount "$WORK" 2>/dev/null
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Tools: iproute2, python3, Debian's plugins (the reference host-device),
# GNU time (peak RSS), strace (system call counts) and unshare (the
# namespaces of the existing attachments). Install only what is missing.
declare -A NEEDED_PACKAGES=(
    [iproute2]='command -v ip'
    [containernetworking-plugins]='test -x /usr/lib/cni/host-device'
    [time]='test -x /usr/bin/time'
    [python3]='command -v python3'
    [strace]='command -v strace'
    [util-linux]='command -v unshare'
)
hd_install_packages >&2
# Prefer the system interpreter: it is what a fresh Debian machine has.
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)

if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
hd_rust_target >&2
echo "building: cargo build --release, and the examples kernel_limit and noop" >&2
cargo build --release --quiet
cargo build --release --quiet --example kernel_limit --example noop
OUT=$HD_RELEASE_DIR
# HOSTDEV: another build to measure as the plugin under test (with
# --compare, two builds of one libc compare code, not libcs).
BIN=$(hd_bin)
for f in "$BIN" "$OUT/examples/kernel_limit" "$OUT/examples/noop"; do
    [[ -x $f ]] || { echo "bench.sh: no binary at $f" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/hdbench.XXXXXX)
# hostdev's default dataDir, /run/cni/hostdev, is on tmpfs on a standard
# host; give the benchmark's the same footing (this VM's /run is ext4).
mount -t tmpfs -o size=256m,mode=0700 hdbench "$WORK" || { echo "bench.sh: cannot mount a tmpfs on $WORK" >&2; exit 1; }
DEBIAN_VERSION=$(dpkg-query -W -f '${Package} ${Version}' containernetworking-plugins 2>/dev/null || echo unknown)

args=(--prefix "$PREFIX" --work "$WORK" --bin "$BIN" --debian /usr/lib/cni/host-device
      --limit "$OUT/examples/kernel_limit" --noop "$OUT/examples/noop"
      --debian-version "$DEBIAN_VERSION" -n "$REPS")
if [[ -n $SMOKE ]]; then args+=(--smoke); fi
if [[ -n $DECLARED ]]; then args+=(--declared); fi
if [[ -n $COMPARE ]]; then args+=(--compare "$COMPARE"); fi
"$PYTHON" "$HD_REPO/scripts/bench.py" "${args[@]}"
