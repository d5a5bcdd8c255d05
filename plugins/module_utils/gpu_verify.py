"""Compare what the cluster's nodes advertise with the GPU plan (pure, controller side).

The plan (``gpu_cluster_plan.plan_cluster``) says, per GPU worker, the extended resources the NVIDIA device
plugin must advertise (whole GPUs, MIG instances, time-sliced replicas) and the labels Kiln sets to select
each node's mig-parted and device-plugin configs. ``gpu_plan_mismatches`` reads the nodes as the API server
returns them (``kubectl get nodes -o json``) and returns one mismatch per node and resource or label, so a
node advertising the wrong count is named with what was expected and what was found. Nodes without GPUs in
the plan must advertise none. On real GPUs (nodes not labelled ``kiln.dev/gpu-simulated=true``) a MIG node
must also carry the MIG manager's ``nvidia.com/mig.config.state=success``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

GPU_RESOURCE_PREFIX = "nvidia.com/"
SIMULATED_LABEL = "kiln.dev/gpu-simulated"
MIG_STATE_LABEL = "nvidia.com/mig.config.state"
ABSENT = "(absent)"
_COUNT = re.compile(r"^\d+$")


def _count(value):
    """A resource quantity the device plugin advertises: a whole number (as a string), else the raw text."""
    text = str(value)
    return int(text) if _COUNT.match(text) else text


def _advertised(node):
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return dict((name, _count(value)) for name, value in allocatable.items() if name.startswith(GPU_RESOURCE_PREFIX))


def gpu_plan_mismatches(plan, nodes):
    """[{node, what, expected, found}] sorted by node then what; empty when every node is as planned."""
    by_name = dict(((n.get("metadata") or {}).get("name"), n) for n in nodes or [])
    planned_nodes = (plan or {}).get("nodes") or {}
    out = []
    for host in sorted(set(planned_nodes) | set(by_name)):
        planned = planned_nodes.get(host)
        node = by_name.get(host)
        if node is None:
            out.append({"node": host, "what": "node", "expected": "in the cluster", "found": ABSENT})
            continue
        expected = dict(planned["resources"]) if planned else {}
        advertised = _advertised(node)
        for resource in sorted(set(expected) | set(advertised)):
            want, got = expected.get(resource, 0), advertised.get(resource, 0)
            if want != got:
                out.append({"node": host, "what": resource, "expected": str(want), "found": str(got)})
        if not planned:
            continue
        labels = (node.get("metadata") or {}).get("labels") or {}
        for key, value in sorted(planned["labels"].items()):
            if labels.get(key) != value:
                out.append({"node": host, "what": "label " + key, "expected": value, "found": labels.get(key, ABSENT)})
        real = labels.get(SIMULATED_LABEL) != "true"
        if real and any(gpu["mode"] == "mig" for gpu in planned["gpus"]) and labels.get(MIG_STATE_LABEL) != "success":
            out.append({"node": host, "what": "label " + MIG_STATE_LABEL, "expected": "success",
                        "found": labels.get(MIG_STATE_LABEL, ABSENT)})
    return out


def describe(mismatch):
    """One line: 'gpu1: nvidia.com/mig-1g.10gb expected 7, found 6'."""
    return "%s: %s expected %s, found %s" % (mismatch["node"], mismatch["what"], mismatch["expected"],
                                            mismatch["found"])
