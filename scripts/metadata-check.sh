#!/usr/bin/env bash
# Checks that what the repository says about itself agrees with Cargo.toml,
# the one place the version and the licence are set:
#
#     bash scripts/metadata-check.sh [REPO]      (default: this repository)
#
#   - LICENSE is the Apache License 2.0, word for word Debian's copy
#     (/usr/share/common-licenses/Apache-2.0), and Cargo.toml says
#     license = "Apache-2.0";
#   - every versioned name of a release artefact in the README, docs/,
#     conf/ and the Containerfile (the image tag hostdev:X.Y.Z, the package
#     hostdev_X.Y.Z_ARCH.deb, the tarball hostdev-X.Y.Z-ARCH.tar.gz) names
#     Cargo.toml's version, and the DaemonSet's images carry that tag.
#
# Why a check and not generated files: the DaemonSet and the README are read
# as they are in the repository (kubectl apply -f, a browser), so they must
# hold a real version, not a template; this check makes a version bump fail
# CI until every copy names the new version, and says where each stale one is.
# Needs only bash, grep, sed and cmp. Prints PASS/FAIL per check; exits 1 if
# any failed.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO=${1:-$HD_REPO}
DEBIAN_LICENSE=/usr/share/common-licenses/Apache-2.0

# cargo_field KEY: KEY's string value in Cargo.toml's [package] section.
cargo_field() {
    sed -n '/^\[package\]/,/^\[/s/^'"$1"' = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1
}
VERSION=$(cargo_field version)
[[ -n $VERSION ]] || { echo "no version in $REPO/Cargo.toml"; exit 1; }
echo "Cargo.toml: version $VERSION, license $(cargo_field license)"

# ---- licence -------------------------------------------------------------------
check "Cargo.toml: license = \"Apache-2.0\"" "license = \"$(cargo_field license)\"" \
    test "$(cargo_field license)" = Apache-2.0
check "LICENSE is the Apache License 2.0 (Debian's $DEBIAN_LICENSE)" \
    "missing or different: diff $DEBIAN_LICENSE $REPO/LICENSE" cmp -s "$DEBIAN_LICENSE" "$REPO/LICENSE"

# ---- version -------------------------------------------------------------------
# Every versioned artefact name, as FILE:LINE:NAME, in the files people read.
# (A pre-release such as 0.2.0-rc.1 is part of the version.)
versioned_names() {
    (cd "$REPO" && grep -rnoE 'hostdev[:_-][0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)[0-9.]*)?' \
        README.md docs conf Containerfile 2>/dev/null)
}
stale=$(versioned_names | grep -vxE "[^:]+:[0-9]+:hostdev[:_-]${VERSION//./\\.}")
check "every hostdev:X.Y.Z, hostdev_X.Y.Z_, hostdev-X.Y.Z- names $VERSION" "stale: $(tr '\n' ' ' <<<"$stale")" \
    test -z "$stale"
check "some versioned names were found (the pattern still matches)" "none found" \
    test -n "$(versioned_names)"
images=$(sed -n 's/^ *image: *//p' "$REPO/conf/k8s/daemonset.yaml")
wrong=$(grep -v ":$VERSION\$" <<<"$images")
check "conf/k8s/daemonset.yaml: every image is tagged $VERSION" "images: $(tr '\n' ' ' <<<"$images")" \
    test -n "$images" -a -z "$wrong"

printf '\n%d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
if ((${#FAILED[@]})); then
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
