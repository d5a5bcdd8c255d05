"""What kubernetes_node and api_vip leave on a node before kubeadm, read from the live node."""

import json
import os
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
VIP = "10.254.254.10"


def pinned_kubernetes():
    return yaml.safe_load((ROOT / "roles/kiln/defaults/main/cluster.yml").read_text())["kiln_kubernetes_version"]


def bundle_images():
    bundle = pathlib.Path(os.environ.get("KILN_CACHE", pathlib.Path.home() / ".cache/kiln")) / "bundle"
    version = pinned_kubernetes()
    manifest = json.loads((bundle / ("manifest-kubernetes-v%s.json" % version)).read_text())
    return {entry["image"]["ref"]: entry["image"]["digest"] for path, entry in manifest["files"].items()
            if "image" in entry and path.startswith("images-kubernetes-v%s/" % version)}


@pytest.mark.parametrize("binary", ["kubeadm", "kubelet", "kubectl"])
def test_binaries_are_the_pinned_release(host, binary):
    flag = "version -o short" if binary == "kubeadm" else ("version --client -o json" if binary == "kubectl" else "--version")
    out = host.check_output("/usr/local/bin/%s %s" % (binary, flag))
    assert "v" + pinned_kubernetes() in out


def test_kubelet_is_enabled_and_waits_for_kubeadm(host):
    assert host.service("kubelet").is_enabled
    assert host.file("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf").exists


def test_every_bundle_image_is_imported_at_its_digest_and_pinned(host):
    expected = bundle_images()
    assert len(expected) >= 7
    held = {}
    for line in host.check_output("ctr --namespace k8s.io images ls").splitlines()[1:]:
        cols = line.split()
        held[cols[0]] = (cols[2], cols[-1])
    for ref, digest in expected.items():
        assert ref in held, ref
        assert held[ref][0] == digest, ref
        assert "io.cri-containerd.pinned=pinned" in held[ref][1], ref


def test_keepalived_holds_the_api_address(host):
    assert host.service("keepalived").is_running
    assert host.service("keepalived").is_enabled
    assert host.check_output("ip -o addr show to %s/32" % VIP).strip()
    config = host.file("/etc/keepalived/keepalived.conf")
    assert config.mode == 0o600
    assert "unicast_peer" not in config.content_string  # one node: no peers
    assert "%s/32 dev " % VIP in config.content_string
