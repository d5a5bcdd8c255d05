"""oci_image.py (role artifact_bundle): the image archive it writes, read back as a container engine reads it."""

import io
import json
import os
import subprocess
import sys
import tarfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
OCI_IMAGE = os.path.join(REPO_ROOT, "roles", "artifact_bundle", "files", "oci_image.py")


def _base_layer(path):
    with tarfile.open(path, "w") as tar:
        for name, data in (("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"), ("etc/group", b"root:x:0:\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _build(tmp_path, *args):
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF stand-in")
    out = tmp_path / "image.tar"
    result = subprocess.run([sys.executable, OCI_IMAGE, "--ref", "quay.io/example/tool:v1", "--out", str(out),
                             "--file", "%s:/usr/local/bin/tool" % binary] + list(args),
                            capture_output=True, text=True, check=True)
    return out, json.loads(result.stdout)


def _read(archive):
    """The image config and the top layer's members (name -> (TarInfo, content))."""
    with tarfile.open(archive) as tar:
        def blob(digest):
            return tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()
        index = json.loads(tar.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        top = tarfile.open(fileobj=io.BytesIO(blob(manifest["layers"][-1]["digest"])))
        members = {m.name: (m, top.extractfile(m).read() if m.isfile() else None) for m in top.getmembers()}
    return config, members, len(manifest["layers"])


def test_links_user_workdir_and_account_are_in_the_image(tmp_path):
    base = tmp_path / "base.tar"
    _base_layer(str(base))
    archive, printed = _build(tmp_path, "--base", str(base), "--link", "/usr/local/bin/tool-server:tool",
                              "--account", "tool:999:/home/tool", "--user", "999", "--workdir", "/home/tool",
                              "--env", "HOME=/home/tool", "--entrypoint", '["/usr/bin/tini", "--"]')
    config, members, layers = _read(archive)
    assert layers == 2
    assert config["config"]["User"] == "999"
    assert config["config"]["WorkingDir"] == "/home/tool"
    assert "HOME=/home/tool" in config["config"]["Env"]
    assert config["config"]["Entrypoint"] == ["/usr/bin/tini", "--"]
    link = members["usr/local/bin/tool-server"][0]
    assert link.issym() and link.linkname == "tool"
    # The base layer's accounts are kept and the new one added after them.
    assert members["etc/passwd"][1] == b"root:x:0:0:root:/root:/bin/bash\ntool:x:999:999::/home/tool:/bin/sh\n"
    assert members["etc/group"][1] == b"root:x:0:\ntool:x:999:\n"
    home = members["home/tool"][0]
    assert home.isdir() and (home.uid, home.gid) == (999, 999)
    assert printed["ref"] == "quay.io/example/tool:v1"


def test_same_inputs_give_the_same_digest(tmp_path):
    first = _build(tmp_path, "--link", "/bin/a:tool")[1]["digest"]
    second = _build(tmp_path, "--link", "/bin/a:tool")[1]["digest"]
    assert first == second
    assert _build(tmp_path, "--link", "/bin/b:tool")[1]["digest"] != first
