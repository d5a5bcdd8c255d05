# -*- coding: utf-8 -*-
"""Plans a kubeadm upgrade from what the cluster reports, and refuses the ones
Kubernetes' version skew policy does not allow, before any node is touched.

Rules (https://kubernetes.io/releases/version-skew-policy/, kubeadm's upgrade docs):
- kubeadm upgrades move forward only, one minor version at a time;
- a kubelet may be up to three minor versions older than the API server, never newer;
- control-plane nodes go first (the first one with `kubeadm upgrade apply`), workers after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

KUBELET_MAX_MINOR_SKEW = 3
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def parse_version(text):
    """'v1.36.3' or '1.36.3' -> (1, 36, 3); None when it is not a release version."""
    match = _VERSION.match(str(text or "").strip())
    return tuple(int(part) for part in match.groups()) if match else None


def _show(version):
    return "v%d.%d.%d" % version


def cluster_version_from_configuration(cluster_configuration):
    """kubernetesVersion of the ClusterConfiguration kubeadm keeps in the kubeadm-config ConfigMap (parsed)."""
    return (cluster_configuration or {}).get("kubernetesVersion")


def nodes_from_list(node_list):
    """`kubectl get nodes -o json` -> [{name, kubelet_version, control_plane}]."""
    nodes = []
    for item in (node_list or {}).get("items", []):
        labels = item.get("metadata", {}).get("labels", {}) or {}
        nodes.append({
            "name": item["metadata"]["name"],
            "kubelet_version": item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            "control_plane": "node-role.kubernetes.io/control-plane" in labels,
        })
    return nodes


def apiservers_from_pods(pod_list):
    """kube-apiserver static pods (`kubectl get pods -n kube-system -l component=kube-apiserver -o json`)
    -> {node name: version from the image tag}."""
    versions = {}
    for item in (pod_list or {}).get("items", []):
        node = item.get("spec", {}).get("nodeName")
        containers = item.get("spec", {}).get("containers", [])
        image = containers[0].get("image", "") if containers else ""
        if node:
            versions[node] = image.rsplit(":", 1)[-1] if ":" in image else ""
    return versions


def plan_upgrade(target, cluster_version, nodes, apiservers, inventory_nodes, first_control_plane):
    """Returns (plan, errors). errors name each refusal and how to get past it; the plan is only
    meaningful without errors.

    plan: from/to versions, apply (the first control-plane node runs `kubeadm upgrade apply`),
    nodes (inventory nodes that still need an upgrade, control-plane nodes first, each with what it needs),
    not_in_inventory (cluster nodes Kiln will not touch), up_to_date (bool).
    """
    errors = []
    to = parse_version(target)
    current = parse_version(cluster_version)
    if to is None:
        errors.append("kiln_kubernetes_version=%r is not a release version such as 1.36.3" % (target,))
    if current is None:
        errors.append("the cluster's kubeadm ClusterConfiguration has kubernetesVersion=%r, not a release version; "
                      "is this a kubeadm cluster?" % (cluster_version,))
    if errors:
        return None, errors

    if to < current:
        errors.append("the cluster runs %s and kiln_kubernetes_version is %s: kubeadm does not downgrade. "
                      "Set kiln_kubernetes_version to %s or newer." % (_show(current), _show(to), _show(current)))
    elif to[:2] != current[:2] and (to[0] != current[0] or to[1] != current[1] + 1):
        errors.append("the cluster runs %s and kiln_kubernetes_version is %s: kubeadm upgrades one minor version at "
                      "a time. Upgrade to the newest v%d.%d.x first, then to %s."
                      % (_show(current), _show(to), current[0], current[1] + 1, _show(to)))

    for node in sorted(apiservers):
        version = parse_version(apiservers[node])
        if version is None:
            errors.append("the kube-apiserver on %s runs image tag %r, not a release version" % (node, apiservers[node]))
        elif version > to:
            errors.append("the kube-apiserver on %s is already %s, newer than kiln_kubernetes_version %s"
                          % (node, _show(version), _show(to)))

    for node in nodes:
        version = parse_version(node["kubelet_version"])
        if version is None:
            errors.append("node %s reports kubelet version %r, not a release version" % (node["name"], node["kubelet_version"]))
            continue
        node["version"] = version
        if version > to:
            errors.append("node %s runs kubelet %s, newer than kiln_kubernetes_version %s: a kubelet must never be "
                          "newer than the API server" % (node["name"], _show(version), _show(to)))
        elif version[0] != to[0] or to[1] - version[1] > KUBELET_MAX_MINOR_SKEW:
            errors.append("node %s runs kubelet %s, more than %d minor versions behind %s once the control plane is "
                          "upgraded: upgrade that node to v%d.%d.x first, or remove it (playbooks/remove-node.yml)"
                          % (node["name"], _show(version), KUBELET_MAX_MINOR_SKEW, _show(to), to[0], to[1] - KUBELET_MAX_MINOR_SKEW))
    if errors:
        return None, errors

    inventory = list(inventory_nodes)
    known = {node["name"]: node for node in nodes}
    apply = current != to
    todo = []
    for name in inventory:
        node = known.get(name)
        if node is None:
            continue  # not joined yet: site.yml or scale.yml joins it at the pinned version
        needs = []
        if name == first_control_plane and apply:
            needs.append("kubeadm upgrade apply")
        elif node["control_plane"] and parse_version(apiservers.get(name)) != to:
            needs.append("kubeadm upgrade node (control plane)")
        if node["version"] != to:
            if not needs:
                needs.append("kubeadm upgrade node")
            needs.append("kubelet %s -> %s" % (_show(node["version"]), _show(to)))
        if needs:
            todo.append({"name": name, "control_plane": node["control_plane"], "needs": needs})
    # kubeadm needs the control plane upgraded before any kubelet: control-plane nodes first,
    # the one that runs `kubeadm upgrade apply` before them all.
    todo.sort(key=lambda n: (n["name"] != first_control_plane, not n["control_plane"]))
    plan = {
        "from": _show(current),
        "to": _show(to),
        "apply": apply,
        "nodes": todo,
        "node_names": [n["name"] for n in todo],
        "not_in_inventory": sorted(set(known) - set(inventory)),
        "up_to_date": not todo and not apply,
    }
    return plan, []


def plan_lines(plan):
    """The plan as a short table for the operator."""
    lines = ["Kubernetes %s -> %s%s" % (plan["from"], plan["to"], "" if plan["apply"] else " (control plane already at target)")]
    if plan["up_to_date"]:
        lines.append("every node already runs %s: nothing to upgrade" % plan["to"])
    for node in plan["nodes"]:
        lines.append("%-24s %-13s %s" % (node["name"], "control-plane" if node["control_plane"] else "worker", "; ".join(node["needs"])))
    for name in plan["not_in_inventory"]:
        lines.append("%-24s %-13s not in the inventory: not upgraded by Kiln" % (name, "?"))
    return lines
