#!/usr/bin/env python3
"""Writes a single-platform OCI image archive (an OCI image layout in a tar)
from static binaries and, optionally, a base root filesystem tarball, without
a container engine. Every timestamp is zero, so the same inputs always give
the same image digest, which nodes compare before importing.

Usage: oci_image.py --ref REF --out ARCHIVE [--base ROOTFS.tar]
                    [--file SRC:DEST[:MODE]]... [--link PATH:TARGET]...
                    [--account NAME:UID:HOME] [--user UID] [--workdir DIR]
                    [--entrypoint JSON] [--cmd JSON] [--env K=V]...
--account adds a user and group to the base layer's /etc/passwd and
/etc/group (programs such as ssh refuse to run as a uid without an entry) and
its home directory, owned by it.
Prints {"ref": ..., "digest": "sha256:..."} of the image manifest.
"""

import argparse
import hashlib
import io
import json
import os
import tarfile

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _base_file(base, path):
    """The content of one file of the base layer (b"" when it has none)."""
    with tarfile.open(base) as tar:
        for name in (path, "./" + path):
            try:
                member = tar.getmember(name)
            except KeyError:
                continue
            return tar.extractfile(member).read()
    return b""


def _account_files(base, spec):
    """passwd and group of the base layer with one more user and its group."""
    name, uid, home = spec.split(":")
    passwd = _base_file(base, "etc/passwd") if base else b""
    group = _base_file(base, "etc/group") if base else b""
    if not passwd.endswith(b"\n") and passwd:
        passwd += b"\n"
    if not group.endswith(b"\n") and group:
        group += b"\n"
    passwd += ("%s:x:%s:%s::%s:/bin/sh\n" % (name, uid, uid, home)).encode()
    group += ("%s:x:%s:\n" % (name, uid)).encode()
    return [("etc/passwd", passwd, 0o644), ("etc/group", group, 0o644)], (home.strip("/"), int(uid))


def _layer(files, contents=(), links=(), homes=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()

        def parents(dest):
            parts = dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)

        for src, dest, mode in files:
            parents(dest)
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = os.path.getsize(src), mode, 0
            with open(src, "rb") as fh:
                tar.addfile(info, fh)
        for dest, data, mode in contents:
            parents(dest)
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
        for path, target in links:
            parents(path)
            info = tarfile.TarInfo(path.strip("/"))
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(info)
        for home, uid in homes:
            parents(home)
            info = tarfile.TarInfo(home)
            info.type, info.mode, info.mtime, info.uid, info.gid = tarfile.DIRTYPE, 0o755, 0, uid, uid
            tar.addfile(info)
    return buf.getvalue()


def _blob(tar, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--base")
    parser.add_argument("--file", action="append", default=[])
    parser.add_argument("--entrypoint")
    parser.add_argument("--cmd")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--link", action="append", default=[])
    parser.add_argument("--account")
    parser.add_argument("--user")
    parser.add_argument("--workdir")
    args = parser.parse_args()

    files = []
    for spec in args.file:
        src, dest, *mode = spec.split(":")
        files.append((src, dest, int(mode[0], 8) if mode else 0o755))
    layers = []
    if args.base:
        with open(args.base, "rb") as fh:
            layers.append(fh.read())
    contents, homes = [], []
    if args.account:
        contents, home = _account_files(args.base, args.account)
        homes.append(home)
    links = [tuple(spec.split(":", 1)) for spec in args.link]
    layers.append(_layer(files, contents, links, homes))

    layer_type = "application/vnd.oci.image.layer.v1.tar"
    config = {
        "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
        "os": "linux",
        "config": {"Env": [PATH_ENV] + args.env},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]},
        "history": [{"created_by": "kiln oci_image.py"} for _ in layers],
    }
    if args.entrypoint:
        config["config"]["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        config["config"]["Cmd"] = json.loads(args.cmd)
    if args.user:
        config["config"]["User"] = args.user
    if args.workdir:
        config["config"]["WorkingDir"] = args.workdir

    tmp = args.out + ".part"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        layer_descs = [_blob(tar, l, layer_type) for l in layers]
        config_desc = _blob(tar, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": layer_descs}
        manifest_desc = _blob(tar, json.dumps(manifest, sort_keys=True).encode(),
                              "application/vnd.oci.image.manifest.v1+json")
        tag = args.ref.rsplit(":", 1)[1]
        manifest_desc["annotations"] = {"io.containerd.image.name": args.ref, "org.opencontainers.image.ref.name": tag}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", json.dumps(index, sort_keys=True).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, args.out)
    print(json.dumps({"ref": args.ref, "digest": manifest_desc["digest"]}))


if __name__ == "__main__":
    main()
