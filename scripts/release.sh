#!/usr/bin/env bash
# Builds a hostdev release for x86_64 and aarch64. As root, on Debian 12:
#
#     bash scripts/release.sh            # into target/dist/<version>/
#     bash scripts/release.sh --check    # the same into a temporary directory,
#                                        # removed afterwards (scripts/test.sh)
#
# The version is Cargo.toml's, and scripts/metadata-check.sh must agree (the
# README, the DaemonSet and the image tag name it). A release refuses a tree
# whose sources differ from the commit (the binaries would say -dirty);
# --check allows one. It installs what it needs from Debian
# (gcc-aarch64-linux-gnu and libc6-dev-arm64-cross to link, qemu-user-static
# to run aarch64 code, podman and runc for the image) and rustup's targets,
# then:
#
#   builds both static release binaries (.cargo/config.toml: x86_64 on musl,
#     aarch64 on glibc with +crt-static and Debian's cross gcc as its
#     linker) and checks each is static and of its architecture;
#   runs the unit tests for aarch64 under qemu-aarch64-static, and the aarch64
#     binary's CNI VERSION and `version` (qemu-user does not translate the
#     nsfs ioctl: the namespace work needs an aarch64 machine or VM);
#   packs hostdev-<version>-<arch>.tar.gz (the binary, LICENSE, README.md),
#     reproducibly (sorted, root-owned, the commit's time);
#   builds the image (Containerfile, FROM scratch) for linux/amd64 and
#     linux/arm64 with a private podman (nothing runs at build time, so arm64
#     needs no emulation), joins them with `podman manifest` as
#     localhost/hostdev:<version>, and writes that multi-arch image, both
#     architectures, to hostdev-<version>-image.oci.tar (an OCI archive; no
#     registry is involved: push it with
#       skopeo copy --all oci-archive:hostdev-<version>-image.oci.tar docker://REGISTRY/hostdev:<version>);
#   writes SHA256SUMS of the tarballs and the image archive.
#
# Prints PASS/FAIL per check and exits 1 if any failed. Everything podman
# made lives in a temporary directory removed on exit.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HD_REPO" || exit 1

# Debian package -> a probe that succeeds when what we need from it is there.
declare -A NEEDED_PACKAGES=(
    [gcc-aarch64-linux-gnu]='command -v aarch64-linux-gnu-gcc'
    [libc6-dev-arm64-cross]='test -f /usr/aarch64-linux-gnu/lib/libc.a'
    [qemu-user-static]='command -v qemu-aarch64-static'
    [binutils]='command -v readelf'
    [podman]='command -v podman'
    [runc]='command -v runc'
    [jq]='command -v jq'
)
# Rust target -> Debian/OCI architecture name. x86_64 is lib.sh's HD_TARGET
# (musl: see .cargo/config.toml). aarch64 stays on static glibc: what musl
# saves on x86_64 is glibc's CPUID probing at start-up, which traps to the
# hypervisor in a VM; aarch64's glibc reads its ID registers instead, and
# no aarch64 machine was at hand to measure a switch.
declare -A ARCH=([$HD_TARGET]=amd64 [aarch64-unknown-linux-gnu]=arm64)
TARGETS=("$HD_TARGET" aarch64-unknown-linux-gnu)
# The ELF machine readelf reports for each.
declare -A MACHINE=([$HD_TARGET]='Advanced Micro Devices X86-64' [aarch64-unknown-linux-gnu]=AArch64)
# Cargo runs aarch64 test binaries through qemu-user.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
timed() { # TITLE CMD...: runs CMD, says how long it took
    local title=$1 start=$SECONDS rc=0
    shift
    hd_header "$title"
    "$@" || rc=$?
    printf '    (%s: %ss)\n' "$title" "$((SECONDS - start))"
    return $rc
}

case ${1:-} in
'') MODE=release ;;
--check) MODE=check ;;
*) die "usage: bash scripts/release.sh [--check]" ;;
esac

VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ -n $VERSION ]] || die "no version in Cargo.toml"
TMP=$(mktemp -d /tmp/hostdev-release.XXXXXX)
mapfile -t CREATED_PATHS < <(hd_absent_paths "${HD_PODMAN_SYSTEM_PATHS[@]}")
cleanup() {
    hd_podman_cleanup "$TMP"
    hd_remove_paths "${CREATED_PATHS[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
OUT=$HD_REPO/target/dist/$VERSION
[[ $MODE == check ]] && OUT=$TMP/dist

# ---- preflight ---------------------------------------------------------------
preflight() {
    [[ $(id -u) -eq 0 ]] || die "run as root: the image is built with rootful podman"
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    hd_install_packages || die "installing packages failed"
    local t
    for t in "${TARGETS[@]}"; do
        if ! rustup target list --installed | grep -qx "$t"; then
            rustup target add "$t" || die "rustup target add $t failed"
        fi
    done
    bash scripts/metadata-check.sh >"$TMP/metadata" 2>&1 ||
        die "the repository disagrees with Cargo.toml's version $VERSION: $(grep -A1 FAIL "$TMP/metadata")"
    local changed
    changed=$(git status --porcelain -- src build.rs Cargo.toml Cargo.lock .cargo)
    if [[ -n $changed && $MODE == release ]]; then
        die "the sources differ from the commit (the binaries would say -dirty): $(tr '\n' ' ' <<<"$changed")"
    fi
    { rm -rf "$OUT" && mkdir -p "$OUT"; } || die "cannot create $OUT"
    echo "hostdev $VERSION, git $(git rev-parse --short HEAD)${changed:+ (sources changed: -dirty)}, into $OUT"
}

# ---- binaries ----------------------------------------------------------------
bin_of() { printf '%s/target/%s/release/hostdev\n' "$HD_REPO" "$1"; }
build_all() {
    local t
    for t in "${TARGETS[@]}"; do
        cargo build --release --target "$t" || return 1
    done
}
# check_binary TARGET: static (no program interpreter), of TARGET's machine.
check_binary() {
    local t=$1 bin headers
    bin=$(bin_of "$t")
    headers=$(readelf -h -l "$bin" 2>&1)
    check "$t: the binary is for ${MACHINE[$t]}" "$(grep Machine <<<"$headers")" \
        grep -q "Machine: *${MACHINE[$t]}\$" <<<"$headers"
    check "$t: the binary is static (no program interpreter)" "$(grep -i interpreter <<<"$headers")" \
        bash -c '! grep -q INTERP <<<"$1"' _ "$headers"
}
# The aarch64 binary under qemu-user answers as the x86_64 one does.
run_aarch64() {
    local bin answer want got
    bin=$(bin_of aarch64-unknown-linux-gnu)
    answer=$(CNI_COMMAND=VERSION qemu-aarch64-static "$bin" <<<'{"cniVersion":"1.0.0"}' 2>&1)
    check "aarch64 under qemu-user: CNI VERSION answers" "$answer" \
        hd_version_ok "$answer"
    want=$("$(bin_of "$HD_TARGET")" version 2>&1)
    got=$(qemu-aarch64-static "$bin" version 2>&1)
    check "aarch64 under qemu-user: \`version\` says what x86_64's does ($(head -1 <<<"$want"))" "got: $got" \
        test "$got" = "$want"
}
# qemu-user answers /proc/self/stat itself (naming the guest binary) but not
# /proc/self/comm (qemu's own name), so the two tests that check a process
# is "hostdev by its own name" cannot pass under it; on aarch64 hardware
# they do. Nor does it translate the nsfs ioctls (NS_GET_NSTYPE) with which
# a namespace handle is checked, so the test of namespace cookies cannot
# open one. Everything else runs.
QEMU_SKIPS=(state::liveness::tests::only_a_live_process_of_our_own_name_keeps_its_leftovers
    state::store::tests::sweeping_keeps_what_is_in_use
    netns::tests::cookies_tell_namespaces_apart)
unit_tests_aarch64() {
    local skips=() t
    for t in "${QEMU_SKIPS[@]}"; do skips+=(--skip "$t"); done
    cargo test --lib --target aarch64-unknown-linux-gnu -- --exact "${skips[@]}" >"$TMP/unit" 2>&1
}

# ---- tarballs ------------------------------------------------------------------
# pack TARGET: hostdev-<version>-<arch>.tar.gz, reproducible.
pack() {
    local t=$1 name stage when
    name=hostdev-$VERSION-${t%%-*}
    stage=$TMP/pack/$name
    mkdir -p "$stage"
    install -m 0755 "$(bin_of "$t")" "$stage/hostdev"
    install -m 0644 LICENSE README.md "$stage/"
    when=$(git log -1 --format=%ct)
    tar -C "$TMP/pack" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$when" \
        -cf - "$name" | gzip -n -9 >"$OUT/$name.tar.gz"
    local listed
    listed=$(tar -tzf "$OUT/$name.tar.gz" | sort | tr '\n' ' ')
    check "$name.tar.gz holds the binary, LICENSE, README.md" "$listed" \
        test "$listed" = "$name/ $name/LICENSE $name/README.md $name/hostdev "
}

# ---- the multi-arch image --------------------------------------------------------
pm() { hd_pm "$TMP" "$@"; }
IMAGE=localhost/hostdev:$VERSION
# image_for TARGET: localhost/hostdev:<version>-<arch>, built for its platform.
image_for() {
    local t=$1 arch=${ARCH[$1]} rel
    rel=target/$t/release/hostdev
    pm build --platform "linux/$arch" --build-arg "BINARY=$rel" -t "$IMAGE-$arch" . >"$TMP/build-$arch" 2>&1 ||
        { fail "podman build --platform linux/$arch" "$(tail -5 "$TMP/build-$arch")"; return 1; }
    local got mnt same=no
    got=$(pm image inspect --format '{{.Os}}/{{.Architecture}}' "$IMAGE-$arch" 2>&1)
    mnt=$(pm image mount "$IMAGE-$arch" 2>/dev/null)
    [[ -n $mnt ]] && cmp -s "$mnt/hostdev" "$rel" && same=yes
    pm image unmount "$IMAGE-$arch" >/dev/null 2>&1
    check "image for linux/$arch: built without emulation, platform $got" "$(tail -3 "$TMP/build-$arch")" \
        test "$got" = "linux/$arch"
    check "image for linux/$arch: /hostdev is the $t binary" "mounted at ${mnt:-?}" test $same = yes
}
multi_arch_image() {
    hd_podman_config "$TMP" || return 1
    local t
    for t in "${TARGETS[@]}"; do image_for "$t" || return 1; done
    pm manifest create "$IMAGE" >/dev/null &&
        for t in "${TARGETS[@]}"; do
            pm manifest add "$IMAGE" "containers-storage:$IMAGE-${ARCH[$t]}" >/dev/null || return 1
        done
    local platforms
    platforms=$(pm manifest inspect "$IMAGE" 2>&1 |
        jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | sort | join(" ")' 2>&1)
    check "$IMAGE: a manifest list of linux/amd64 and linux/arm64" "platforms: $platforms" \
        test "$platforms" = "linux/amd64 linux/arm64"
    local archive=$OUT/hostdev-$VERSION-image.oci.tar
    pm manifest push --all "$IMAGE" "oci-archive:$archive" >"$TMP/push" 2>&1
    check "hostdev-$VERSION-image.oci.tar: the multi-arch image as an OCI archive" "$(tail -3 "$TMP/push")" \
        test -s "$archive"
}

checksums() {
    (cd "$OUT" && sha256sum -- *.tar.gz *.oci.tar >SHA256SUMS)
    check "SHA256SUMS verifies every artefact" "$(cat "$OUT/SHA256SUMS" 2>&1)" \
        bash -c 'cd "$1" && sha256sum --quiet -c SHA256SUMS' _ "$OUT"
}

main() {
    local t
    timed "preflight" preflight
    timed "cargo build --release for ${TARGETS[*]}" build_all || die "the build failed"
    for t in "${TARGETS[@]}"; do check_binary "$t"; done
    if timed "unit tests for aarch64 under qemu-user" unit_tests_aarch64; then
        pass "aarch64 unit tests under qemu-user: $(grep '^test result' "$TMP/unit" | tail -1) (${#QEMU_SKIPS[@]} skipped: see QEMU_SKIPS)"
    else
        fail "aarch64 unit tests under qemu-user" "$(grep -E 'FAILED|panicked|error' "$TMP/unit" | head -10)"
    fi
    run_aarch64
    for t in "${TARGETS[@]}"; do pack "$t"; done
    timed "multi-arch image (podman manifest)" multi_arch_image || fail "multi-arch image" "see above"
    checksums
    printf '\n%d passed, %d failed (%ss)\n' "$PASSED" "${#FAILED[@]}" "$SECONDS"
    if ((${#FAILED[@]})); then
        printf '  - %s\n' "${FAILED[@]}"
        exit 1
    fi
    ls -l "$OUT"
    [[ $MODE == check ]] || echo "release $VERSION in $OUT"
}

main
