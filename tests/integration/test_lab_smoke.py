"""Lab smoke test: real nodes, site.yml twice (the second run changes nothing),
and a real kubeadm cluster at the end: Ready nodes, pod networking across
nodes, Services and cluster DNS, and the GPU intent as (simulated) capacity.
The cluster starts one patch release behind the pin (KILN_UPGRADE_FROM) so
that playbooks/upgrade.yml is exercised; everything after runs at the pin.

Recreates the lab from scratch (lab-down, lab-up) and removes it afterwards.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import kubectl, lab, lab_setting, playbook, total_changed  # noqa: E402

NAMESPACE = "kiln-smoke"
PROBE_IMAGE = "kiln.local/netcheck:v1"
# Lab nodes with the GPU intent of inventories/lab/host_vars/*.yml.
GPU_NODES = ("gpu1", "gpu2")
NODES = ("cp1",) + GPU_NODES
# The Makefile builds the bundle for both versions (make bundle, bundle-upgrade-from).
UPGRADE_FROM = os.environ.get("KILN_UPGRADE_FROM", "1.36.1")
PINNED = lab_setting("kiln_kubernetes_version")
FROM = ("-e", "kiln_kubernetes_version=" + UPGRADE_FROM)


@pytest.fixture(scope="module")
def fresh_lab():
    lab("down")
    lab("up")
    yield
    lab("down")


@pytest.fixture(scope="module")
def converged(fresh_lab):
    _, first, _ = playbook("site.yml", "site-first", *FROM)
    return first


def test_site_converges_then_reruns_with_no_change(converged):
    assert set(converged) >= {"cp1", "gpu1", "gpu2"}
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in converged.values())
    assert total_changed(converged) > 0, "a first converge of bare nodes must change them"

    _, second, output = playbook("site.yml", "site-second", *FROM)
    _assert_no_change(second, "second site.yml run", output)


def _assert_no_change(recap, what, output):
    changed = dict((host, r["changed"]) for host, r in recap.items() if r["changed"])
    assert not changed, "%s changed something: %s\n%s" % (what, changed, output[-4000:])
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap


def _kubelet_versions():
    return {node: _node_sh(node, "/usr/local/bin/kubelet --version").strip() for node in NODES}


def test_site_refuses_to_swap_kubernetes_under_a_running_cluster(converged):
    """With the pin moved past the running version, site.yml stops and points to upgrade.yml; no binary moved."""
    _, _, output = playbook("site.yml", "site-refused", expect_failure=True)
    assert "site.yml does not upgrade a running cluster" in output
    assert "playbooks/upgrade.yml" in output
    assert set(_kubelet_versions().values()) == {"Kubernetes v" + UPGRADE_FROM}


def test_upgrade_moves_every_node_to_the_pin_then_reruns_with_no_change(converged):
    _, first, output = playbook("playbooks/upgrade.yml", "upgrade")
    assert "Kubernetes v%s -> v%s" % (UPGRADE_FROM, PINNED) in output
    assert all(first[node]["changed"] > 0 for node in NODES), first
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v" + PINNED}
    assert not any(n["spec"].get("unschedulable") for n in nodes), "a node was left cordoned"
    pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-l", "tier=control-plane", "-o", "json"))["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"] if "etcd" not in c["image"]}
    assert images and all(i.endswith(":v" + PINNED) for i in images), images
    assert set(_kubelet_versions().values()) == {"Kubernetes v" + PINNED}

    _, again, output = playbook("playbooks/upgrade.yml", "upgrade-again")
    assert "nothing to upgrade" in output
    _assert_no_change(again, "upgrade.yml rerun", output)
    # The pinned site.yml now agrees with the upgraded cluster.
    _, site, output = playbook("site.yml", "site-after-upgrade")
    _assert_no_change(site, "site.yml after the upgrade", output)


def _wait(what, probe, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(3)


def test_every_node_is_ready_at_the_pinned_version(converged):
    def ready():
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        states = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
                  for n in nodes}
        return nodes if set(states) == {"cp1", "gpu1", "gpu2"} and set(states.values()) == {"True"} else None

    nodes = _wait("all nodes Ready", ready)
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v" + PINNED}
    assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"containerd://2.2.9"}
    # The controller manager gave each node its own slice of the pod network.
    cidrs = [n["spec"]["podCIDR"] for n in nodes]
    assert len(set(cidrs)) == 3 and all(c.startswith("10.244.") for c in cidrs)


def _pod(name, node, command, restart="Never"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"nodeName": node, "restartPolicy": restart, "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "probe", "image": PROBE_IMAGE, "imagePullPolicy": "Never",
                                     "args": command}]}}


def _run_probe(name, node, command):
    kubectl("apply", "-f", "-", stdin=json.dumps(_pod(name, node, command)))
    phase = _wait(name + " to finish", lambda: kubectl("get", "pod", "-n", NAMESPACE, name, "-o",
                                                        "jsonpath={.status.phase}").strip() in ("Succeeded", "Failed")
                  and kubectl("get", "pod", "-n", NAMESPACE, name, "-o", "jsonpath={.status.phase}").strip())
    logs = kubectl("logs", "-n", NAMESPACE, name, check=False)
    kubectl("delete", "pod", "-n", NAMESPACE, name, "--wait=false")
    return phase, logs


def test_pods_reach_each_other_across_nodes_and_through_a_service(converged):
    kubectl("create", "namespace", NAMESPACE, check=False)
    servers = {}
    for node in GPU_NODES:
        name = "server-" + node
        kubectl("apply", "-f", "-", stdin=json.dumps(_pod(name, node, ["serve", ":8080"], restart="Always")))
        servers[node] = name
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "server", "namespace": NAMESPACE},
               "spec": {"selector": {"app": "server-gpu1"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(service))
    ips = {}
    for node, name in servers.items():
        ips[node] = _wait(name + " running", lambda: kubectl(
            "get", "pod", "-n", NAMESPACE, name, "-o",
            "jsonpath={.status.phase}/{.status.podIP}").strip().partition("Running/")[2])

    # cp1 -> pods on gpu1 and gpu2: crosses the static routes of the bridge network.
    for node, ip in ips.items():
        phase, logs = _run_probe("client-" + node, "cp1", ["get", "http://%s:8080/" % ip])
        assert (phase, logs.strip()) == ("Succeeded", servers[node]), logs

    # Cluster DNS (CoreDNS from the bundle) and the Service (kube-proxy).
    phase, logs = _run_probe("client-dns", "gpu2", ["get", "http://server.%s.svc.cluster.local/" % NAMESPACE])
    assert (phase, logs.strip()) == ("Succeeded", "server-gpu1"), logs
    kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def test_gpu_intent_is_advertised_as_simulated_capacity(converged):
    for node in GPU_NODES:
        info = json.loads(kubectl("get", "node", node, "-o", "json"))
        assert info["metadata"]["labels"].get("kiln.dev/gpu-simulated") == "true"
        gpu_resources = {k: v for k, v in info["status"]["capacity"].items() if k.startswith("nvidia.com/")}
        assert gpu_resources, "no GPU resources advertised on " + node
        assert all(int(v) > 0 for v in gpu_resources.values())
    cp1 = json.loads(kubectl("get", "node", "cp1", "-o", "json"))
    assert not any(k.startswith("nvidia.com/") for k in cp1["status"]["capacity"])


def test_a_removed_worker_rejoins_with_scale(converged):
    """remove-node.yml drains, deletes and resets gpu2; scale.yml --limit gpu2 joins it again."""
    playbook("playbooks/remove-node.yml", "remove-node", "-e", "kiln_remove_nodes=gpu2", "-e", "kiln_remove_confirm=yes")
    assert "gpu2" not in kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
    assert _node_sh("gpu2", "test -e /etc/kubernetes/kubelet.conf || echo reset").strip() == "reset"

    _, recap, _ = playbook("playbooks/scale.yml", "scale", "--limit", "gpu2")
    assert set(recap) == {"gpu2"}, "scale.yml touched other hosts: %s" % sorted(recap)
    test_every_node_is_ready_at_the_pinned_version(converged)


def _node_sh(node, script):
    import subprocess
    name = os.environ.get("LAB_NAME", "kiln-lab") + "-" + node
    proc = subprocess.run(["podman", "exec", name, "sh", "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_etcd_snapshot_restores_the_cluster_state(converged):
    """A snapshot from the etcd_backup timer's service, restored by playbooks/etcd-restore.yml, brings back
    exactly the state at snapshot time. Runs last: it rewinds the cluster."""
    assert _node_sh("cp1", "systemctl is-enabled kiln-etcd-snapshot.timer").strip() == "enabled"
    kubectl("create", "configmap", "kiln-before-snapshot", "-n", "default", "--from-literal=k=v")
    _node_sh("cp1", "systemctl start kiln-etcd-snapshot.service")
    listing = _node_sh("cp1", "stat -c '%a %n' /var/backups/kiln/etcd /var/backups/kiln/etcd/etcd-*.db").split("\n")
    assert listing[0].startswith("700 ") and listing[1].startswith("600 "), listing
    kubectl("create", "configmap", "kiln-after-snapshot", "-n", "default", "--from-literal=k=v")

    playbook("playbooks/etcd-restore.yml", "etcd-restore", "-e", "kiln_restore_confirm=yes")

    names = kubectl("get", "configmaps", "-n", "default", "-o", "jsonpath={.items[*].metadata.name}").split()
    assert "kiln-before-snapshot" in names and "kiln-after-snapshot" not in names, names
    test_every_node_is_ready_at_the_pinned_version(converged)


def test_reset_returns_the_nodes_to_before_kubernetes(converged):
    """Last: reset.yml removes Kubernetes from every node; the node layer (containerd) stays."""
    playbook("playbooks/reset.yml", "reset", "-e", "kiln_reset_confirm=yes")
    for node in ("cp1", "gpu1", "gpu2"):
        state = _node_sh(node, "test -e /etc/kubernetes && echo k8s; test -e /var/lib/kubelet && echo kubelet;"
                               " test -e /sys/class/net/cni0 && echo bridge; ip route | grep -c '^10\\.244\\.' || true;"
                               " systemctl is-active kubelet || true; systemctl is-active containerd")
        assert state.split() == ["0", "inactive", "active"], (node, state)
