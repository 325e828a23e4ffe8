#!/usr/bin/env python3
"""Pack a pause image as an OCI archive, with no registry and no image tools.

    mkpause.py OUT.tar IMAGE-NAME [BUSYBOX]

The image has one uncompressed layer: bin/busybox (a static build, Debian's
busybox-static by default) and bin/sleep, bin/sh links to it; its entrypoint
sleeps forever, which is all a pod sandbox's process does. The index entry
carries the full image name in the `io.containerd.image.name` annotation, so
`ctr -n k8s.io image import OUT.tar` stores it under IMAGE-NAME as it is.
The archive is deterministic: the same busybox gives the same digests.
"""

import hashlib
import io
import json
import platform
import sys
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def layer(busybox_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind, data=b"", mode=0o755, target=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, 0
            info.uid = info.gid = 0
            info.linkname = target
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        with open(busybox_path, "rb") as f:
            busybox = f.read()
        add("bin", tarfile.DIRTYPE)
        add("bin/busybox", tarfile.REGTYPE, busybox)
        add("bin/sleep", tarfile.SYMTYPE, target="busybox", mode=0o777)
        add("bin/sh", tarfile.SYMTYPE, target="busybox", mode=0o777)
    return buf.getvalue()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    out, name = sys.argv[1], sys.argv[2]
    busybox_path = sys.argv[3] if len(sys.argv) == 4 else "/bin/busybox"
    arch = ARCH.get(platform.machine(), platform.machine())

    tar_layer = layer(busybox_path)
    config = json.dumps({
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/bin/sleep", "infinity"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [blob(tar_layer)]},
        "history": [{"created_by": "hostdev tests/cri/mkpause.py"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": blob(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blob(tar_layer), "size": len(tar_layer)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": blob(manifest), "size": len(manifest),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
        }],
    }, sort_keys=True).encode()

    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", index)]
    files += [("blobs/sha256/" + blob(d)[7:], d) for d in (tar_layer, config, manifest)]
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirname in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(dirname)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
