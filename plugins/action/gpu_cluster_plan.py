"""Action plugin: plan every GPU worker's GPUs on the controller.

Runs entirely on the controller (no module is sent to any host): it reads ``kiln_gpu`` and
``kiln_mig_layouts`` untemplated from the ``hostvars`` of the GPU workers and hands them to
``module_utils.gpu_cluster_plan``. Documentation: plugins/modules/gpu_cluster_plan.py.
"""

from ansible.plugins.action import ActionBase

from ansible_collections.kiln.cluster.plugins.module_utils.gpu_cluster_plan import (
    GpuPlanError,
    plan_cluster,
    render_svg,
    render_table,
)
from ansible_collections.kiln.cluster.plugins.module_utils.inventory_data import plain, template_paths


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
        for host in hosts:
            # Untemplated: inventory values are data (the inventory gate refuses template syntax; so does this).
            raw = hostvars.raw_get(host)
            for name in ("kiln_gpu", "kiln_mig_layouts"):
                templates = template_paths(raw.get(name), name)
                if templates:
                    result.update(failed=True, msg="%s: %s holds template syntax %r; Kiln reads inventory values as "
                                  "data (run playbooks/preflight.yml --tags inventory)" % ((host,) + templates[0]))
                    return result
            intents[host] = plain(raw.get("kiln_gpu"))
            if raw.get("kiln_mig_layouts") is not None:
                layouts = plain(raw["kiln_mig_layouts"])
                layouts_seen.setdefault(repr(layouts), (layouts, []))[1].append(host)
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
