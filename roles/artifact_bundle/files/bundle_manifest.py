#!/usr/bin/env python3
"""Writes the bundle manifest: the sha256 of every file nodes take from the
bundle and, for image archives, the image name and manifest digest (what
`ctr images ls` shows after import). Rewrites the manifest only when its
content changes, and says which on stdout ("changed"/"unchanged"). When the
manifest lists exactly these files and is newer than all of them, nothing is hashed.

Usage: bundle_manifest.py ROOT OUT.json RELPATH...
"""

import hashlib
import json
import os
import sys
import tarfile


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _image(path):
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
    desc = index["manifests"][0]
    return {"ref": desc["annotations"]["io.containerd.image.name"], "digest": desc["digest"]}


def _up_to_date(root, out, relpaths):
    """The manifest names exactly these files and none changed since it was written: skip hashing ~1 GB."""
    try:
        with open(out) as fh:
            listed = set(json.load(fh)["files"])
        written = os.path.getmtime(out)
        return listed == set(relpaths) and all(os.path.getmtime(os.path.join(root, rel)) <= written for rel in relpaths)
    except (OSError, ValueError, KeyError):
        return False


def main(root, out, relpaths):
    if _up_to_date(root, out, relpaths):
        print("unchanged")
        return
    files = {}
    for rel in relpaths:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            sys.exit("bundle_manifest: %s is missing from the bundle %s" % (rel, root))
        entry = {"sha256": _sha256(path), "size": os.path.getsize(path)}
        if rel.endswith(".tar") and rel.split("/", 1)[0].startswith("images-"):
            entry["image"] = _image(path)
        files[rel] = entry
    text = json.dumps({"files": files}, indent=2, sort_keys=True) + "\n"
    try:
        with open(out) as fh:
            same = fh.read() == text
        if same:
            os.utime(out)  # Newer than the files again: the next run skips hashing.
            print("unchanged")
            return
    except FileNotFoundError:
        pass
    with open(out + ".part", "w") as fh:
        fh.write(text)
    os.replace(out + ".part", out)
    print("changed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
