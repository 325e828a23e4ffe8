#!/usr/bin/env bash
# The one command that runs the whole hostdev suite, on a fresh Debian 12
# machine, as root:   bash scripts/test.sh
#
#   --fast     unit and integration tests only (the edit-run loop)
#   --stress   the Rust and bats suites under load: a CPU hog on every core
#              and a second copy of the Rust suite running beside the first
#              (a suite that is green only on an idle machine is broken)
#
# Each step is a small function; main() lists them. To add one, write a
# function and add one line to main(): `step "Title" fn` for setup that must
# succeed, `check "Title" fn` for a test suite (a failing check does not stop
# the later ones; the run fails at the end and lists what failed).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO"

# Debian package -> a probe that succeeds when what we need from it is there.
declare -A NEEDED_PACKAGES=(
    [iproute2]='command -v ip'
    [containernetworking-plugins]='test -x /usr/lib/cni/static -a -x /usr/lib/cni/host-local -a -x /usr/lib/cni/host-device'
    [bats]='command -v bats'
    [jq]='command -v jq'
    [ethtool]='command -v ethtool'
    [perl]='command -v prove'
    [python3-yaml]='/usr/bin/python3 -c "import yaml"'
    [time]='test -x /usr/bin/time'
    [shellcheck]='command -v shellcheck'
    [strace]='command -v strace'
)

# step TITLE FUNCTION: a setup step; the run stops if it fails.
CURRENT_STEP=
step() {
    local title=$1 start=$SECONDS
    shift
    hd_header "$title"
    CURRENT_STEP=$title
    "$@"
    CURRENT_STEP=
    printf '    (%s: ok, %ss)\n' "$title" "$((SECONDS - start))"
}
trap 'rc=$?; if ((rc)) && [[ -n $CURRENT_STEP ]]; then
        hd_header "FAILED in step \"$CURRENT_STEP\" (exit $rc): stopping"; fi' EXIT

# check TITLE FUNCTION (replaces lib.sh's per-assertion `check`): a test step; on failure the run goes on to the next
# step and fails at the end, so one run shows every broken suite.
# (Run as a background subshell and waited for: inside `if` or `||`, bash
# would silently switch off `set -e` for the whole function.)
FAILED_CHECKS=()
check() {
    local title=$1 start=$SECONDS rc=0
    shift
    hd_header "$title"
    ("$@") &
    wait $! || rc=$?
    if ((rc == 0)); then
        printf '    (%s: ok, %ss)\n' "$title" "$((SECONDS - start))"
    else
        printf '    (%s: FAILED with exit %s, %ss)\n' "$title" "$rc" "$((SECONDS - start))"
        FAILED_CHECKS+=("$title")
    fi
}

# summary: the verdict of the whole run.
summary() {
    if ((${#FAILED_CHECKS[@]} == 0)); then
        hd_header "All steps passed"
        return 0
    fi
    hd_header "FAILED: ${#FAILED_CHECKS[@]} step(s)"
    printf '    - %s\n' "${FAILED_CHECKS[@]}"
    return 1
}

preflight() {
    [[ $(id -u) -eq 0 ]] || hd_die "run as root: the suite creates network namespaces"
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || hd_die "cargo not found (install a Rust toolchain with rustup)"
    hd_rust_target
    cargo --version
    uname -r
}


# rustfmt and clippy come with rustup's default profile; a minimal one lacks them.
rust_components() {
    local c
    for c in rustfmt clippy; do
        cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$c"
    done
}

# The gates: formatting, lints as errors, and shellcheck on every script.
gates() {
    cargo fmt --check
    cargo clippy --all-targets --features test-hooks -- -D warnings
    shellcheck -x -S warning scripts/*.sh tests/bats/*.bats tests/bats/*.bash tests/vm/*.sh
    echo "formatted, no clippy warning, no shellcheck warning"
}

build_debug() { cargo build; }
build_release() { cargo build --release; }
# test-hooks compiles the fail points the crash tests need into the binary.
cargo_tests() {
    cargo_tests_hooked
    cargo_test_unhooked
}
cargo_tests_hooked() {
    PROPTEST_CASES=${PROPTEST_CASES:-256} cargo test --no-fail-fast --features test-hooks -- --test-threads="${HD_TEST_THREADS:-4}"
}
# The one test that needs a build without test-hooks: a shipped binary must
# not read HOSTDEV_SYSFS_ROOT. (It rebuilds target/.../debug/hostdev, so it
# never runs beside the hooked tests.)
cargo_test_unhooked() {
    cargo test --test selectors -- --exact sysfs_root_is_not_injectable_without_test_hooks
}
conf_files() {
    local f
    for f in conf/*.conflist conf/k8s/*.conflist; do jq -e .plugins "$f" >/dev/null || { echo "bad JSON: $f"; return 1; }; done
    for f in conf/k8s/*.yaml; do
        /usr/bin/python3 -c 'import sys, yaml; docs = list(yaml.safe_load_all(open(sys.argv[1]))); assert docs and all(d.get("kind") for d in docs)' "$f" || { echo "bad YAML: $f"; return 1; }
        if grep -q 'kind: NetworkAttachmentDefinition' "$f"; then
            /usr/bin/python3 -c 'import sys, yaml, json; json.loads(yaml.safe_load(open(sys.argv[1]))["spec"]["config"])' "$f" || { echo "bad NAD config: $f"; return 1; }
        fi
    done
    echo "all conflists, manifests and embedded configs parse"
}
# The licence and the version, said the same everywhere (see the script).
metadata_check() { bash scripts/metadata-check.sh; }
libcni_e2e() { HOSTDEV=$HD_RELEASE_DIR/hostdev bash scripts/libcni-e2e.sh; }
containerd_e2e() { HOSTDEV=$(hd_bin) bash scripts/containerd-e2e.sh; }
podman_e2e() { HOSTDEV=$(hd_bin) bash scripts/podman-e2e.sh; }
vm_e2e() { HOSTDEV=$(hd_bin) bash scripts/vm-e2e.sh; }
# The image is built from the repository's release binary (no HOSTDEV).
image_e2e() { bash scripts/image-e2e.sh; }
deb_e2e() { HOSTDEV=$(hd_bin) bash scripts/deb-e2e.sh; }
# Both architectures built static, aarch64's unit tests and binary run under
# qemu-user, tarballs, SHA256SUMS, the multi-arch image; into a temporary
# directory (a dirty tree is allowed here, not in a real release).
release_check() { bash scripts/release.sh --check; }
bench_smoke() { bash scripts/bench.sh --smoke; }
soak_short() { bash scripts/soak.sh --short; }

bats_suite() {
    # prove only picks up *.t from a directory unless told the extension;
    # --failures --comments shows why a test failed, not just that it did.
    HOSTDEV=$(hd_bin) \
        prove --failures --comments --exec 'bats --tap' --ext .bats tests/bats/
}

# The suite must leave no namespace behind and never touch the root
# namespace's links. Snapshot before, compare after.
snapshot_machine() {
    { ip netns list | awk '{print "netns " $1}'; ip -br link | awk '{print "link  " $1}'; } | sort
}
record_machine() { MACHINE_BEFORE=$(snapshot_machine); echo "recorded namespaces and root links"; }
check_machine() {
    local after
    after=$(snapshot_machine)
    if [[ $after != "$MACHINE_BEFORE" ]]; then
        echo "the suite changed the machine (< before, > after):"
        diff <(echo "$MACHINE_BEFORE") <(echo "$after") || true
        return 1
    fi
    echo "no namespace left behind, root links untouched"
}

# stress: the suites under load: a CPU hog on every core, and a second copy
# of the hooked Rust suite beside the first. The hogs and the second copy
# are ended when this function returns, also on failure.
stress() {
    local pids=() i second_log
    for ((i = 0; i < $(nproc); i++)); do
        (while :; do :; done) &
        pids+=($!)
    done
    # shellcheck disable=SC2064 # the pids are known now
    trap "kill ${pids[*]} 2>/dev/null; trap - RETURN" RETURN
    second_log=$(mktemp)
    cargo_tests_hooked >"$second_log" 2>&1 &
    local second=$!
    pids+=("$second")
    check "cargo test, beside a second copy" cargo_tests_hooked
    hd_header "cargo test, the second copy"
    if wait "$second"; then
        grep '^test result' "$second_log"
    else
        grep -E '^test .*FAILED|panicked|^test result' "$second_log" | head -60
        FAILED_CHECKS+=("cargo test, the second copy (log: $second_log)")
    fi
    check "cargo test without test hooks" cargo_test_unhooked
    check "bats suite (tests/bats)" bats_suite
    check "randomised soak, short (scripts/soak.sh --short)" soak_short
}

main() {
    local mode=${1:-full}
    case $mode in
    full | --fast | --stress) ;;
    *) hd_die "usage: bash scripts/test.sh [--fast | --stress]" ;;
    esac
    step "Preflight" preflight
    step "Debian packages" hd_install_packages
    step "Rust components" rust_components
    step "Record machine state" record_machine
    step "cargo build (debug)" build_debug
    step "cargo build --release" build_release
    check "gates: cargo fmt, clippy, shellcheck" gates
    if [[ $mode == --fast ]]; then
        check "cargo test" cargo_tests
        check "Leak check" check_machine
        summary
        return
    fi
    if [[ $mode == --stress ]]; then
        stress
        check "Leak check" check_machine
        summary
        return
    fi
    check "cargo test" cargo_tests
    check "bats suite (tests/bats)" bats_suite
    check "randomised soak, short (scripts/soak.sh --short)" soak_short
    check "config files parse (conf/)" conf_files
    check "licence and version agree with Cargo.toml" metadata_check
    check "libcni end to end" libcni_e2e
    check "containerd CRI end to end" containerd_e2e
    check "podman end to end" podman_e2e
    check "physical NICs in a VM (QEMU)" vm_e2e
    check "container image: build, install mode, pause (podman)" image_e2e
    check "Debian package: build, install into a throwaway root, VERSION" deb_e2e
    check "release: x86_64 and aarch64 (run under qemu-user), tarballs, SHA256SUMS, multi-arch image" release_check
    check "benchmark smoke run" bench_smoke
    check "Leak check" check_machine
    summary
}

main "$@"
