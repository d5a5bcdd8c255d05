"""Action plugin: validate the whole inventory on the controller.

Runs entirely on the controller (no module is sent to any host): it reads
every host's variables from ``hostvars`` and hands them to
``module_utils.inventory_checks``, then fails once with every finding.
"""

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.kiln.cluster.plugins.module_utils.inventory_checks import (
    CHART_VERSION_VARS,
    CLUSTER_VARS,
    check_inventory,
)

HOST_VARS = ("ansible_host", "kiln_gpu")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("supported_kubernetes_versions", "pinned_chart_versions"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        validation, args = self.validate_argument_spec(argument_spec={
            "supported_kubernetes_versions": {"type": "list", "elements": "str", "required": True},
            "pinned_chart_versions": {"type": "dict", "default": {}},
        })
        hostvars = task_vars["hostvars"]
        groups = dict((name, list(members)) for name, members in task_vars["groups"].items())
        hosts = {}
        broken = []
        for host in groups.get("all", []):
            values = {}
            for name in CLUSTER_VARS + CHART_VERSION_VARS + HOST_VARS:
                try:
                    value = hostvars[host].get(name)
                except AnsibleError as err:
                    # A variable whose template fails is itself a finding.
                    broken.append("%s: %s: cannot be evaluated: %s" % (host, name, err))
                    continue
                if value is not None:
                    values[name] = value
            hosts[host] = values
        findings = check_inventory(hosts, groups, args["supported_kubernetes_versions"], args["pinned_chart_versions"])
        messages = broken + [str(f) for f in findings]
        result.update(changed=False, findings=[f.as_dict() for f in findings], hosts_checked=len(hosts))
        if messages:
            result["failed"] = True
            result["msg"] = "Inventory preflight found %d problem(s):\n%s" % (
                len(messages), "\n".join("  - " + m for m in messages))
        else:
            result["msg"] = "Inventory preflight passed for %d hosts" % len(hosts)
        return result
