"""Action plugin: plan every GPU worker's GPUs on the controller.

Runs entirely on the controller (no module is sent to any host): it reads ``kiln_gpu`` and
``kiln_mig_layouts`` from the ``hostvars`` of the GPU workers and hands them to
``module_utils.gpu_cluster_plan``. Documentation: plugins/modules/gpu_cluster_plan.py.
"""

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.kiln.cluster.plugins.module_utils.gpu_cluster_plan import (
    GpuPlanError,
    plan_cluster,
    render_svg,
    render_table,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("group",))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec={
            "group": {"type": "str", "default": "gpu_workers"},
        })
        result["changed"] = False
        hostvars = task_vars["hostvars"]
        hosts = list(task_vars["groups"].get(args["group"]) or [])
        intents = {}
        layouts_seen = {}
        try:
            for host in hosts:
                intents[host] = hostvars[host].get("kiln_gpu")
                layouts = hostvars[host].get("kiln_mig_layouts")
                if layouts is not None:
                    layouts_seen.setdefault(repr(layouts), (layouts, []))[1].append(host)
        except AnsibleError as err:
            result.update(failed=True, msg="Cannot read the GPU intent of %s: %s" % (host, err))
            return result
        if len(layouts_seen) > 1:
            result.update(failed=True, msg="kiln_mig_layouts differs between GPU workers (%s); set it once in "
                          "group_vars/all" % "; ".join(", ".join(sorted(h)) for _, h in layouts_seen.values()))
            return result
        # The GPU workers' value wins; the play's own (role kiln's default) is the fallback.
        layouts = next(iter(layouts_seen.values()))[0] if layouts_seen else task_vars.get("kiln_mig_layouts") or {}
        try:
            plan = plan_cluster(intents, layouts)
        except GpuPlanError as err:
            result.update(failed=True, msg="GPU plan failed: %s" % err.message)
            return result
        result.update(plan=plan, table=render_table(plan), svg=render_svg(plan),
                      msg="Planned %d GPUs on %d GPU workers" % (plan["summary"]["gpus"], plan["summary"]["nodes"]))
        return result
