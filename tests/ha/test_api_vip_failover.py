"""HA lab (make test-ha, 3 control planes): the API virtual IP follows a healthy API server.

Runs against a converged HA lab. cp1 holds kiln_api_vip; when cp1's API server stops, keepalived on cp1 lowers
its priority and the address moves to another control-plane node, where kubectl through the address still works;
when the API server is back, the address returns to cp1.
"""

import os
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import LAB_INVENTORY  # noqa: E402

LAB = os.environ.get("LAB_NAME", "kiln-lab")
CONTROL_PLANES = ("cp1", "cp2", "cp3")

pytestmark = pytest.mark.skipif(os.environ.get("LAB_CONTROL_PLANES") != "3", reason="needs the HA lab (make test-ha)")


def _sh(node, script, check=True):
    proc = subprocess.run(["podman", "exec", "%s-%s" % (LAB, node), "sh", "-c", script],
                          capture_output=True, text=True, check=False)
    if check:
        assert proc.returncode == 0, (node, script, proc.stdout, proc.stderr)
    return proc


def _vip():
    with open(os.path.join(LAB_INVENTORY, "hosts.yml")) as handle:
        return yaml.safe_load(handle)["all"]["vars"]["kiln_api_vip"]


def _holders(vip):
    return [node for node in CONTROL_PLANES if _sh(node, "ip -o addr show to %s/32" % vip).stdout.strip()]


def _wait_for(what, probe, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(2)
    raise AssertionError("timed out waiting until " + what)


def _api_through_vip(node):
    # admin.conf's server is https://<kiln_api_vip>:6443.
    proc = _sh(node, "kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz", check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def test_the_api_address_follows_a_healthy_api_server():
    vip = _vip()
    assert "https://%s:6443" % vip in _sh("cp2", "grep server: /etc/kubernetes/admin.conf").stdout
    assert _holders(vip) == ["cp1"]

    # Stop cp1's API server the way an outage would: the kubelet removes the static pod.
    _sh("cp1", "mkdir -p /root/kiln-ha-test && mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/kiln-ha-test/")
    try:
        moved = _wait_for("the address leaves cp1", lambda: (lambda h: h if h and "cp1" not in h else None)(_holders(vip)))
        assert len(moved) == 1, moved
        _wait_for("the API answers through the address from " + moved[0], lambda: _api_through_vip(moved[0]))
    finally:
        _sh("cp1", "mv /root/kiln-ha-test/kube-apiserver.yaml /etc/kubernetes/manifests/")
    _wait_for("the address returns to cp1", lambda: _holders(vip) == ["cp1"], timeout=180)
    _wait_for("the API answers through the address again", lambda: _api_through_vip("cp2"), timeout=180)
