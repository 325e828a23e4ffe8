#!/usr/bin/env bash
# A randomised soak of hostdev (the ignored test `soak` in tests/soak.rs,
# built with the test hooks so that fail points can SIGKILL the plugin):
# W workers, each in private namespaces of its own with two veths and the
# node agent (hostdev reconcile) running on its dataDir, loop for D seconds
# over random ADD, DEL, GC, crashes at fail points and at random moments,
# container-side renames, MAC and MTU changes, runtimes that drop DELs (the
# namespace deleted with no DEL: the agent alone finishes it) and DELs with
# a stale CNI_NETNS (the path removed while a process holds the namespace,
# a path that does not exist, another namespace's); then DEL and GC of
# everything. Every veth must be home exactly as it was (those that died
# with their namespace are re-created and counted), nothing left in any
# namespace, every dataDir empty. Prints "N passed, N failed"; exits
# non-zero on any violation.
#
#   bash scripts/soak.sh [--duration SECONDS] [--workers N] [--seed N] [--short]
#
# --short: 2 workers for 15 s (about 20 s in all once built), for test.sh.
# It waits for states, never for a clock: on a busy machine a run may last
# longer than D, never fail for it.
# --seed repeats a run's random choices (the kernel's timing still varies).
# Every namespace and temporary directory it makes is removed on exit,
# also when it fails or is interrupted.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

duration=30 workers=4 seed=
while (($#)); do
    case $1 in
    --duration) duration=${2:-}; shift 2 ;;
    --workers) workers=${2:-}; shift 2 ;;
    --seed) seed=${2:-}; shift 2 ;;
    --short) duration=15 workers=2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) hd_die "unknown option $1 (see --help)" || exit 2 ;;
    esac
done
for n in "$duration" "$workers" ${seed:+"$seed"}; do
    [[ $n =~ ^[0-9]+$ ]] || { hd_die "not a number: '$n' (see --help)" || exit 2; }
done
((workers > 0)) || { hd_die "--workers must be at least 1" || exit 2; }

# The soak names its namespaces $tag-w<N>-host / -ctr / -other and its
# temporary directories ${TMPDIR:-/tmp}/$tag-w<N>, where each worker's agent
# writes agent.pid: cleanup kills those agents (the test kills them itself,
# unless it was killed first) and removes exactly those.
tag=hds-$$
soak_pid=
cleanup() {
    if [[ -n $soak_pid ]] && kill -0 "$soak_pid" 2>/dev/null; then
        kill "$soak_pid" 2>/dev/null || true
        wait "$soak_pid" 2>/dev/null || true
    fi
    local ns pidfile pid
    for pidfile in "${TMPDIR:-/tmp}/$tag"-w*/agent.pid; do
        [[ -f $pidfile ]] || continue
        pid=$(<"$pidfile")
        # Only if it is still our agent (a pid may be reused).
        if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q " reconcile --data-dir ${TMPDIR:-/tmp}/$tag-w"; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$tag-w[0-9]+-(host|ctr|other)$" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "${TMPDIR:-/tmp}/$tag"-w*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
bin=$(cargo test --quiet --features test-hooks --test soak --no-run --message-format=json |
    jq -r 'select(.profile.test == true and .target.name == "soak") | .executable')
[[ -x $bin ]] || { hd_die "cannot find the soak test binary" || exit 1; }

hd_header "soak: $workers workers, $duration s${seed:+, seed $seed}"
env RUST_BACKTRACE=0 SOAK_TAG="$tag" SOAK_WORKERS="$workers" SOAK_SECONDS="$duration" ${seed:+SOAK_SEED="$seed"} \
    "$bin" --ignored --exact soak --nocapture &
soak_pid=$!
rc=0
wait "$soak_pid" || rc=$?
soak_pid=
exit "$rc"
