"""The nodes' advertised GPU resources and labels against the GPU plan (module_utils.gpu_verify)."""

import copy
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from ansible_collections.kiln.cluster.plugins.module_utils.gpu_cluster_plan import plan_cluster  # noqa: E402
from ansible_collections.kiln.cluster.plugins.module_utils.gpu_verify import describe, gpu_plan_mismatches  # noqa: E402
from test_gpu_cluster_plan import onprem_intent  # noqa: E402


@pytest.fixture(scope="module")
def plan():
    intents, layouts = onprem_intent()
    return plan_cluster(intents, layouts)


def _as_planned(plan, simulated=True):
    """Nodes as the API server returns them when everything is as planned (plus a CPU worker)."""
    nodes = []
    for host, node in plan["nodes"].items():
        labels = dict(node["labels"], **{"kubernetes.io/hostname": host})
        if simulated:
            labels["kiln.dev/gpu-simulated"] = "true"
        elif any(gpu["mode"] == "mig" for gpu in node["gpus"]):
            labels["nvidia.com/mig.config.state"] = "success"
        resources = dict((name, str(count)) for name, count in node["resources"].items())
        resources.update({"cpu": "64", "memory": "1Ti"})
        nodes.append({"metadata": {"name": host, "labels": labels},
                      "status": {"capacity": dict(resources), "allocatable": dict(resources)}})
    nodes.append({"metadata": {"name": "cpu1", "labels": {}}, "status": {"allocatable": {"cpu": "32"}}})
    return nodes


def _node(nodes, name):
    return next(n for n in nodes if n["metadata"]["name"] == name)


@pytest.mark.parametrize("simulated", [True, False])
def test_nodes_as_planned_have_no_mismatch(plan, simulated):
    assert gpu_plan_mismatches(plan, _as_planned(plan, simulated)) == []


def test_a_node_advertising_the_wrong_count_is_named_with_expected_and_found(plan):
    nodes = _as_planned(plan)
    _node(nodes, "hgx4")["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] = "55"
    del _node(nodes, "a100a")["status"]["allocatable"]["nvidia.com/gpu"]
    _node(nodes, "cpu1")["status"]["allocatable"]["nvidia.com/gpu"] = "1"
    assert [describe(m) for m in gpu_plan_mismatches(plan, nodes)] == [
        "a100a: nvidia.com/gpu expected 8, found 0",
        "cpu1: nvidia.com/gpu expected 0, found 1",
        "hgx4: nvidia.com/mig-1g.10gb expected 56, found 55",
    ]


def test_a_time_slicing_config_not_applied_shows_as_the_whole_gpu_count(plan):
    """Time-slicing silently not applied: the A100s advertise 2 GPUs each instead of 2 x 4 replicas."""
    nodes = _as_planned(plan)
    for host in ("a100a", "a100b"):
        _node(nodes, host)["status"]["allocatable"]["nvidia.com/gpu"] = "2"
    assert [describe(m) for m in gpu_plan_mismatches(plan, nodes)] == [
        "a100a: nvidia.com/gpu expected 8, found 2", "a100b: nvidia.com/gpu expected 8, found 2"]


def test_labels_and_the_mig_manager_state_are_checked(plan):
    nodes = _as_planned(plan, simulated=False)
    _node(nodes, "hgx1")["metadata"]["labels"]["nvidia.com/mig.config"] = "all-disabled"
    _node(nodes, "hgx2")["metadata"]["labels"]["nvidia.com/mig.config.state"] = "failed"
    del _node(nodes, "a100b")["metadata"]["labels"]["nvidia.com/device-plugin.config"]
    assert [describe(m) for m in gpu_plan_mismatches(plan, nodes)] == [
        "a100b: label nvidia.com/device-plugin.config expected ts-gpu-x4, found (absent)",
        "hgx1: label nvidia.com/mig.config expected kiln-hgx1, found all-disabled",
        "hgx2: label nvidia.com/mig.config.state expected success, found failed",
    ]


def test_a_planned_node_missing_from_the_cluster_is_named(plan):
    nodes = [n for n in _as_planned(plan) if n["metadata"]["name"] != "hgx3"]
    assert [describe(m) for m in gpu_plan_mismatches(plan, nodes)] == [
        "hgx3: node expected in the cluster, found (absent)"]


def test_the_plan_is_not_changed(plan):
    before = copy.deepcopy(plan)
    gpu_plan_mismatches(plan, _as_planned(plan))
    assert plan == before
