"""HA lab (make test-ha): every platform resource Kiln rendered is held by the API server exactly as rendered
(an empty server-side diff of each role's set on cp1), after the upstream CRDs were installed."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import kubectl  # noqa: E402

LAB = os.environ.get("LAB_NAME", "kiln-lab")

pytestmark = pytest.mark.skipif(os.environ.get("LAB_CONTROL_PLANES") != "3", reason="needs the HA lab (make test-ha)")


def test_every_applied_platform_set_matches_the_cluster():
    sets = subprocess.run(["podman", "exec", LAB + "-cp1", "ls", "/etc/kiln/platform"], capture_output=True,
                          text=True, check=True).stdout.split()
    expected = {"crds", "cluster_security", "gpu-operator", "istio", "velero", "argocd", "monitoring", "inference"}
    assert expected <= set(sets), sets
    for name in sets:
        proc = subprocess.run(["podman", "exec", LAB + "-cp1", "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                               "diff", "--server-side", "-f", "/etc/kiln/platform/" + name],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, "%s differs from the cluster:\n%s%s" % (name, proc.stdout[-3000:], proc.stderr)
    peer = kubectl("get", "peerauthentications.security.istio.io", "default", "-n", "istio-system",
                   "-o", "jsonpath={.spec.mtls.mode}")
    assert peer == "STRICT"


def test_an_etcd_snapshot_records_its_time_for_monitoring():
    """role monitoring alerts on the age of the last good etcd snapshot: the snapshot service writes it as a
    node-exporter textfile metric."""
    subprocess.run(["podman", "exec", LAB + "-cp2", "systemctl", "start", "kiln-etcd-snapshot.service"], check=True)
    text = subprocess.run(["podman", "exec", LAB + "-cp2", "cat", "/var/lib/kiln/node-exporter/kiln_etcd_backup.prom"],
                          capture_output=True, text=True, check=True).stdout
    (sample,) = [line for line in text.splitlines() if not line.startswith("#")]
    name, value = sample.split()
    assert name == "kiln_etcd_backup_last_success_timestamp_seconds" and float(value) > 1.7e9, text
