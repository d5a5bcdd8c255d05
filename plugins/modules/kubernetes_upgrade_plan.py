#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kubernetes_upgrade_plan
short_description: Plan a kubeadm upgrade and refuse one the version skew policy forbids
description:
  - Reads what a kubeadm cluster reports (its ClusterConfiguration, its nodes, its kube-apiserver pods) and plans
    the upgrade to O(target_version) - which inventory nodes still need one and what each needs, control-plane nodes
    first.
  - Fails, listing every reason, when Kubernetes' version skew policy forbids the upgrade - a downgrade, a skipped
    minor version, a kubelet that would be more than three minor versions behind the API server or that is newer than
    the target - so that nothing is touched.
  - Only computes, so it never reports a change.
author:
  - Kiln maintainers
options:
  target_version:
    description: The version to upgrade to, for example V(1.36.3).
    type: str
    required: true
  cluster_configuration:
    description: The C(ClusterConfiguration) key of the C(kube-system/kubeadm-config) ConfigMap, parsed.
    type: dict
    required: true
  nodes:
    description: The output of C(kubectl get nodes -o json).
    type: dict
    required: true
  apiserver_pods:
    description: The output of C(kubectl get pods -n kube-system -l component=kube-apiserver -o json).
    type: dict
    required: true
  inventory_nodes:
    description: The inventory's cluster nodes; only these are planned for an upgrade, all are skew-checked.
    type: list
    elements: str
    required: true
  first_control_plane:
    description: The control-plane node that runs C(kubeadm upgrade apply).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Plan the upgrade
  kiln.cluster.kubernetes_upgrade_plan:
    target_version: "1.36.3"
    cluster_configuration: "{{ (kubeadm_config_json.stdout | from_json).data.ClusterConfiguration | from_yaml }}"
    nodes: "{{ nodes_json.stdout | from_json }}"
    apiserver_pods: "{{ apiserver_json.stdout | from_json }}"
    inventory_nodes: "{{ groups['k8s_cluster'] }}"
    first_control_plane: "{{ groups['control_plane'][0] }}"
  register: upgrade_plan
"""

RETURN = r"""
plan:
  description: The upgrade plan.
  returned: success
  type: dict
  contains:
    from: {description: The cluster's version now (kubeadm ClusterConfiguration)., type: str, sample: v1.36.1}
    to: {description: The target version., type: str, sample: v1.36.3}
    apply: {description: Whether the first control-plane node runs C(kubeadm upgrade apply)., type: bool}
    nodes:
      description: Inventory nodes that need an upgrade, in the order Kiln upgrades them, each with C(name),
        C(control_plane) and C(needs) (what is done to it).
      type: list
      elements: dict
    node_names: {description: The names of O(nodes) in order., type: list, elements: str}
    not_in_inventory: {description: Cluster nodes Kiln does not upgrade because the inventory lacks them., type: list, elements: str}
    up_to_date: {description: Nothing to upgrade., type: bool}
lines:
  description: The plan as lines of a table.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.kubernetes_upgrade import (
    apiservers_from_pods,
    cluster_version_from_configuration,
    nodes_from_list,
    plan_lines,
    plan_upgrade,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_version=dict(type="str", required=True),
            cluster_configuration=dict(type="dict", required=True),
            nodes=dict(type="dict", required=True),
            apiserver_pods=dict(type="dict", required=True),
            inventory_nodes=dict(type="list", elements="str", required=True),
            first_control_plane=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        cluster_version = cluster_version_from_configuration(p["cluster_configuration"])
        nodes = nodes_from_list(p["nodes"])
        apiservers = apiservers_from_pods(p["apiserver_pods"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        module.fail_json(msg="Cannot read the cluster's state for the upgrade plan: %s" % exc)
    plan, errors = plan_upgrade(p["target_version"], cluster_version, nodes, apiservers,
                                p["inventory_nodes"], p["first_control_plane"])
    if errors:
        module.fail_json(msg="Upgrade refused, nothing was changed: " + " | ".join(errors), errors=errors)
    module.exit_json(changed=False, plan=plan, lines=plan_lines(plan))


if __name__ == "__main__":
    main()
