"""Unit tests for kiln.cluster.kubernetes_upgrade_plan: the plan from what a kubeadm cluster reports, and
every upgrade the version skew policy forbids refused with a reason before anything is touched."""

import pytest

from ansible_collections.kiln.cluster.plugins.module_utils.kubernetes_upgrade import parse_version
from ansible_collections.kiln.cluster.plugins.modules import kubernetes_upgrade_plan


def _nodes(**kubelets):
    """name='v1.36.1' (worker) or name=('v1.36.1', True) (control plane) -> `kubectl get nodes -o json`."""
    items = []
    for name, spec in kubelets.items():
        version, control_plane = spec if isinstance(spec, tuple) else (spec, False)
        labels = {"kubernetes.io/hostname": name}
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        items.append({"metadata": {"name": name, "labels": labels}, "status": {"nodeInfo": {"kubeletVersion": version}}})
    return {"kind": "List", "items": items}


def _apiservers(**versions):
    return {"items": [{"metadata": {"name": "kube-apiserver-" + node},
                       "spec": {"nodeName": node, "containers": [{"image": "registry.k8s.io/kube-apiserver:" + version}]}}
                      for node, version in versions.items()]}


def _args(target, cluster, nodes, apiservers, inventory=None, **extra):
    args = {
        "target_version": target,
        "cluster_configuration": {"kind": "ClusterConfiguration", "kubernetesVersion": cluster},
        "nodes": nodes,
        "apiserver_pods": apiservers,
        "inventory_nodes": inventory if inventory is not None else [item["metadata"]["name"] for item in nodes["items"]],
        "first_control_plane": "cp1",
    }
    args.update(extra)
    return args


@pytest.fixture
def run_module(run_main):
    return lambda args: run_main(kubernetes_upgrade_plan, args)


@pytest.mark.parametrize("check_mode", [False, True])
def test_patch_upgrade_plans_control_planes_first_then_workers(run_module, check_mode):
    nodes = _nodes(gpu1="v1.36.1", cp2=("v1.36.1", True), cp1=("v1.36.1", True), gpu2="v1.36.1")
    rc, result = run_module(_args("1.36.3", "v1.36.1", nodes, _apiservers(cp1="v1.36.1", cp2="v1.36.1"),
                                  inventory=["cp1", "cp2", "gpu1", "gpu2"], _ansible_check_mode=check_mode))
    assert rc == 0, result
    assert result["changed"] is False
    plan = result["plan"]
    assert (plan["from"], plan["to"], plan["apply"], plan["up_to_date"]) == ("v1.36.1", "v1.36.3", True, False)
    assert plan["node_names"] == ["cp1", "cp2", "gpu1", "gpu2"]
    assert plan["nodes"][0]["needs"] == ["kubeadm upgrade apply", "kubelet v1.36.1 -> v1.36.3"]
    assert plan["nodes"][1]["needs"] == ["kubeadm upgrade node (control plane)", "kubelet v1.36.1 -> v1.36.3"]
    assert plan["nodes"][2]["needs"] == ["kubeadm upgrade node", "kubelet v1.36.1 -> v1.36.3"]
    assert result["lines"][0] == "Kubernetes v1.36.1 -> v1.36.3"


def test_next_minor_is_allowed(run_module):
    rc, result = run_module(_args("1.37.2", "v1.36.3", _nodes(cp1=("v1.36.3", True), gpu1="v1.34.0"), _apiservers(cp1="v1.36.3")))
    assert rc == 0, result
    assert result["plan"]["node_names"] == ["cp1", "gpu1"]


def test_a_cluster_at_the_target_has_nothing_to_do(run_module):
    rc, result = run_module(_args("1.36.3", "v1.36.3", _nodes(cp1=("v1.36.3", True), gpu1="v1.36.3"), _apiservers(cp1="v1.36.3")))
    assert rc == 0
    assert result["plan"]["up_to_date"] is True
    assert result["plan"]["nodes"] == []
    assert "nothing to upgrade" in result["lines"][1]


def test_an_interrupted_upgrade_resumes_where_it_stopped(run_module):
    """cp1 ran `kubeadm upgrade apply` and got its kubelet; the run stopped before the worker."""
    nodes = _nodes(cp1=("v1.36.3", True), gpu1="v1.36.1", gpu2="v1.36.3")
    rc, result = run_module(_args("1.36.3", "v1.36.3", nodes, _apiservers(cp1="v1.36.3")))
    assert rc == 0, result
    assert result["plan"]["apply"] is False
    assert result["plan"]["node_names"] == ["gpu1"]
    assert result["plan"]["nodes"][0]["needs"] == ["kubeadm upgrade node", "kubelet v1.36.1 -> v1.36.3"]


def test_a_control_plane_whose_apiserver_lags_is_upgraded_even_with_a_new_kubelet(run_module):
    nodes = _nodes(cp1=("v1.36.3", True), cp2=("v1.36.3", True))
    rc, result = run_module(_args("1.36.3", "v1.36.3", nodes, _apiservers(cp1="v1.36.3", cp2="v1.36.1")))
    assert rc == 0, result
    assert result["plan"]["nodes"] == [{"name": "cp2", "control_plane": True, "needs": ["kubeadm upgrade node (control plane)"]}]


def test_nodes_outside_the_inventory_are_reported_not_touched_and_unjoined_ones_skipped(run_module):
    nodes = _nodes(cp1=("v1.36.1", True), stray="v1.36.1")
    rc, result = run_module(_args("1.36.3", "v1.36.1", nodes, _apiservers(cp1="v1.36.1"), inventory=["cp1", "new1"]))
    assert rc == 0, result
    assert result["plan"]["node_names"] == ["cp1"]
    assert result["plan"]["not_in_inventory"] == ["stray"]
    assert any("stray" in line and "not upgraded" in line for line in result["lines"])


@pytest.mark.parametrize("target, cluster, kubelets, apiservers, expected", [
    ("1.36.1", "v1.36.3", {"cp1": ("v1.36.3", True)}, {"cp1": "v1.36.3"}, "kubeadm does not downgrade"),
    ("1.38.0", "v1.36.3", {"cp1": ("v1.36.3", True)}, {"cp1": "v1.36.3"}, "one minor version at a time. Upgrade to the newest v1.37.x first"),
    ("2.0.0", "v1.36.3", {"cp1": ("v1.36.3", True)}, {"cp1": "v1.36.3"}, "one minor version at a time"),
    ("1.37.2", "v1.36.3", {"cp1": ("v1.36.3", True), "old": "v1.33.5"}, {"cp1": "v1.36.3"},
     "node old runs kubelet v1.33.5, more than 3 minor versions behind v1.37.2"),
    ("1.36.3", "v1.36.1", {"cp1": ("v1.36.1", True), "gpu1": "v1.36.4"}, {"cp1": "v1.36.1"},
     "node gpu1 runs kubelet v1.36.4, newer than kiln_kubernetes_version v1.36.3"),
    ("1.36.3", "v1.36.1", {"cp1": ("v1.36.1", True)}, {"cp1": "v1.37.0"}, "kube-apiserver on cp1 is already v1.37.0"),
    ("1.36", "v1.36.1", {"cp1": ("v1.36.1", True)}, {"cp1": "v1.36.1"}, "not a release version such as 1.36.3"),
    ("1.36.3", "latest", {"cp1": ("v1.36.1", True)}, {"cp1": "v1.36.1"}, "is this a kubeadm cluster?"),
    ("1.36.3", "v1.36.1", {"cp1": ("weird", True)}, {"cp1": "v1.36.1"}, "reports kubelet version 'weird'"),
])
def test_forbidden_upgrades_are_refused_with_the_reason(run_module, target, cluster, kubelets, apiservers, expected):
    rc, result = run_module(_args(target, cluster, _nodes(**kubelets), _apiservers(**apiservers)))
    assert rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith("Upgrade refused, nothing was changed: ")
    assert expected in result["msg"], result["msg"]


def test_every_refusal_is_listed_at_once(run_module):
    nodes = _nodes(cp1=("v1.36.3", True), a="v1.38.0", b="v1.30.0")
    rc, result = run_module(_args("1.37.2", "v1.36.3", nodes, _apiservers(cp1="v1.36.3")))
    assert rc == 1
    assert len(result["errors"]) == 2
    assert "node a runs kubelet v1.38.0, newer" in result["errors"][0]
    assert "node b runs kubelet v1.30.0, more than 3 minor versions behind" in result["errors"][1]


@pytest.mark.parametrize("text, expected", [("v1.36.3", (1, 36, 3)), ("1.36.10", (1, 36, 10)), (" v1.2.3 ", (1, 2, 3)),
                                            ("v1.36.3-rc.0", None), ("1.36", None), ("", None), (None, None)])
def test_parse_version(text, expected):
    assert parse_version(text) == expected
