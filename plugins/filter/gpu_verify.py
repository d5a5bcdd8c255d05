"""Filters of role cluster_verify: the nodes' GPU resources and labels against the GPU plan.

Logic: plugins/module_utils/gpu_verify.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kiln.cluster.plugins.module_utils.gpu_verify import describe, gpu_plan_mismatches


def _mismatches(nodes, plan):
    """Lines naming each node, resource or label, expected and found; [] when every node is as planned."""
    if not isinstance(nodes, list) or not isinstance(plan, dict):
        raise AnsibleFilterError("gpu_plan_mismatches expects the nodes (a list) and the GPU plan (a dict)")
    return [describe(m) for m in gpu_plan_mismatches(plan, nodes)]


class FilterModule(object):
    def filters(self):
        return {"gpu_plan_mismatches": _mismatches}
