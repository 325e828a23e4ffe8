#!/usr/bin/env bash
# Builds the Debian package of hostdev with dpkg-deb, from the release
# binary (built here unless HOSTDEV=/path/to/hostdev is set):
#
#     bash scripts/deb.sh     # prints target/debian/hostdev_<version>_amd64.deb
#
# The package installs the plugin where Debian's own CNI plugins live,
# /usr/lib/cni/hostdev, and the README and the example configs under
# /usr/share/doc/hostdev, with the licence in Debian's machine-readable
# copyright file. The binary is static: no dependencies. No maintainer
# scripts: installing places files, nothing else.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=$(hd_release_bin)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$HD_REPO/Cargo.toml" | head -n 1)
[[ -n $version ]] || hd_die "no version in Cargo.toml"
out_dir=$HD_REPO/target/debian
deb=$out_dir/hostdev_${version}_amd64.deb

stage=$(mktemp -d /tmp/hostdev-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
doc=$stage/usr/share/doc/hostdev

install -D -m 0755 "$bin" "$stage/usr/lib/cni/hostdev"
install -D -m 0644 "$HD_REPO/README.md" "$doc/README.md"
install -D -m 0644 "$HD_REPO/conf/README.md" "$doc/examples/README.md"
install -m 0644 "$HD_REPO"/conf/*.conflist "$doc/examples/"
install -D -m 0644 -t "$doc/examples/k8s" "$HD_REPO"/conf/k8s/*

# Debian's copyright-format 1.0. The licence's text is in every Debian system
# (base-files), so the file refers to it, as Debian's own packages do.
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hostdev
Source: the hostdev repository (this package is built by scripts/deb.sh)

Files: *
Copyright: $(git -C "$HD_REPO" log -1 --format=%ad --date=format:%Y 2>/dev/null || date +%Y) hostdev developers
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
COPYRIGHT
chmod 0644 "$doc/copyright"

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: hostdev
Version: $version
Architecture: amd64
Maintainer: hostdev developers <hostdev@localhost>
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Enhances: containernetworking-plugins
Description: CNI plugin that moves a host network interface into a container
 hostdev hands an existing host network interface (an SR-IOV VF, a spare
 NIC, a veth end, a tap) to a container, and brings it home on DEL under
 its own name with its MAC, MTU, alias, addresses and routes. It is the
 host-device plugin done right: one netlink message per move, a record per
 attachment so that nothing is lost after a crash, all of CNI 1.1.
 .
 The plugin is installed as /usr/lib/cni/hostdev; use "type": "hostdev"
 in a network config. Examples are in /usr/share/doc/hostdev/examples.
CONTROL

mkdir -p "$out_dir"
dpkg-deb --root-owner-group --build "$stage" "$deb" >&2
printf '%s\n' "$deb"
