#!/usr/bin/env bash
# Tests the Debian package: builds it with scripts/deb.sh, installs it with
# dpkg into a throwaway root (its own dpkg database; the machine's is never
# touched), runs VERSION through the installed path as a runtime would,
# checks the documentation and that `dpkg -r` takes everything away again.
# As root, on Debian 12:
#
#     bash scripts/deb-e2e.sh      (HOSTDEV=/path/to/hostdev skips the build)
#
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 if any failed.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian package -> a probe that succeeds when what we need from it is there.
# python3-debian parses the machine-readable copyright file as Debian's tools do.
declare -A NEEDED_PACKAGES=(
    [python3-debian]='/usr/bin/python3 -c "import debian.copyright"'
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root: dpkg installs files owned by root"
hd_install_packages || die "installing packages failed"
ROOT=$(mktemp -d /tmp/hostdev-deb-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT

DEB=$(bash "$HD_REPO/scripts/deb.sh") || die "scripts/deb.sh failed"
echo "==> $DEB"
PLUGIN=$ROOT/usr/lib/cni/hostdev
DOC=$ROOT/usr/share/doc/hostdev

# A dpkg database of its own: --root makes dpkg install under $ROOT and keep
# its state in $ROOT/var/lib/dpkg.
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates"
touch "$ROOT/var/lib/dpkg/status"
rootdpkg() { dpkg --root="$ROOT" --log=/dev/null "$@"; }

name=$(basename "$DEB")
check "the file is named hostdev_<version>_amd64.deb" "$name" \
    grep -qxE 'hostdev_[0-9]+\.[0-9]+\.[0-9]+_amd64\.deb' <<<"$name"
contents=$(dpkg-deb --contents "$DEB")
check "every file is owned by root" "$contents" \
    bash -c '! grep -v " root/root " <<<"$1"' _ "$contents"

out=$(rootdpkg -i "$DEB" 2>&1)
check "dpkg -i into a throwaway root" "$out" test $? -eq 0
check "dpkg -s says installed" "$(rootdpkg -s hostdev 2>&1)" \
    bash -c 'dpkg --root="$1" -s hostdev | grep -qx "Status: install ok installed"' _ "$ROOT"
check "the plugin is /usr/lib/cni/hostdev, mode 0755" "$(stat -c '%a %U' "$PLUGIN" 2>&1)" \
    test "$(stat -c '%a %U' "$PLUGIN" 2>/dev/null)" = "755 root"

answer=$(CNI_COMMAND=VERSION "$PLUGIN" <<<'{"cniVersion":"1.0.0"}' 2>&1)
check "VERSION through the installed path" "$answer" \
    hd_version_ok "$answer"
crate=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$HD_REPO/Cargo.toml" | head -n 1)
built=$("$PLUGIN" version 2>&1)
check "hostdev version names the package's version and a revision" "$built" \
    grep -qE "^hostdev $crate \\(git ([0-9a-f]+(-dirty)?|unknown)\\)" <<<"$built"

for f in README.md examples/README.md examples/hostdev.conflist examples/k8s/daemonset.yaml; do
    check "documentation: /usr/share/doc/hostdev/$f" "missing" test -s "$DOC/$f"
done

# The licence, as Debian's copyright-format 1.0 says (parsed strictly by
# python3-debian): every file is Apache-2.0, the licence's text referenced.
copyright_license() {
    /usr/bin/python3 - "$DOC/copyright" <<'PY'
import sys
from debian.copyright import Copyright
with open(sys.argv[1]) as f:
    c = Copyright(f, strict=True)
files = c.find_files_paragraph("usr/lib/cni/hostdev")
print(files.license.synopsis if files else "no Files paragraph for the plugin")
PY
}
got=$(copyright_license 2>&1)
check "/usr/share/doc/hostdev/copyright: machine-readable, Apache-2.0" "$got" test "$got" = Apache-2.0
check "the copyright file points to Debian's copy of the licence" "$(cat "$DOC/copyright" 2>&1)" \
    grep -q '/usr/share/common-licenses/Apache-2.0' "$DOC/copyright"

out=$(rootdpkg -r hostdev 2>&1)
check "dpkg -r removes it" "$out" test $? -eq 0
left=$(find "$ROOT/usr" -type f 2>/dev/null)
check "nothing of it is left" "${left:-}" test -z "$left"

printf '\n%d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
if ((${#FAILED[@]})); then
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
