"""Cloud sync: one inventory, two desired states (pure, controller side).

From the inventory's GPU intent (through the cluster GPU plan of ``gpu_cluster_plan``), the pinned versions and
the inventory's cloud-sync settings this module derives:

- the on-prem node groups: workers grouped by their inventory group and by what their GPUs become (model, count,
  mig-parted arrangement, time-slicing config, labels, taints);
- the on-prem desired state, flattened to ``key -> value`` (``onprem_state``);
- the Terraform variables of the cloud copy (``build_tfvars``): the same Kubernetes minor, node groups whose
  instance types come from the one GPU instance map (``cloud-sync/gpu-instance-map.yml``), the same charts,
  versions and values, the same GPU Operator configuration and security baseline; the environment's
  ``overrides`` are applied here, and only here, so a deliberate (or accidental) change shows up as drift;
- the cloud desired state read back from those variables (``cloud_state``), in the same flat form.

``cloud_sync_parity`` compares the two.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import re

from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import MigPlanError, find_model, plan_layout

TARGETS = ("aws", "gcp")
# Groups Kiln defines itself; a worker's node group is its own inventory group beside them.
KILN_GROUPS = ("all", "k8s_cluster", "workers", "gpu_workers", "control_plane", "ungrouped")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
CPU_GROUP = "cpu"
GPU_GROUP = "gpu"
# Cloud node group / node pool names: lower-case letters, digits and '-', at most 40 characters (GKE's limit).
_NAME_LIMIT = 40


class CloudSyncError(Exception):
    """Bad input; ``message`` names the variable, what is wrong and how to fix it."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def digest(data):
    """Short sha256 of the canonical JSON of ``data`` (what the parity table shows for documents)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def minor(version):
    """"1.36.3" / "v1.36" -> "1.36"."""
    match = re.match(r"^v?(\d+)\.(\d+)", str(version or ""))
    if not match:
        raise CloudSyncError("Kubernetes version %r is not X.Y or X.Y.Z" % (version,))
    return "%s.%s" % match.groups()


# -- the GPU instance map ----------------------------------------------------------------------------------


# Boards without MIG that the clouds rent, by Kiln's name in cloud-sync/gpu-instance-map.yml: the product
# names nvidia-smi prints for them (lower case, without "nvidia "), so "NVIDIA L40S" and "L40S" map alike.
BOARDS_WITHOUT_MIG = {
    "L40S-48GB": ("l40s",),
    "L4-24GB": ("l4",),
    "A10G-24GB": ("a10g",),
    "T4-16GB": ("tesla t4", "t4"),
}


def canonical_model(model):
    """Kiln's canonical name of a GPU model (MIG table name or BOARDS_WITHOUT_MIG), or the product name as
    given."""
    try:
        return find_model(model)[0]
    except MigPlanError:
        name = " ".join(str(model).split())
        wanted = name.lower()[len("nvidia "):] if name.lower().startswith("nvidia ") else name.lower()
        for canonical, products in BOARDS_WITHOUT_MIG.items():
            if wanted == canonical.lower() or wanted in products:
                return canonical
        return name


def check_instance_map(instance_map):
    """Fail on a malformed map (the one table both rendering and parity read)."""
    models = (instance_map or {}).get("gpu_models")
    if not isinstance(models, dict) or not models:
        raise CloudSyncError("gpu-instance-map: gpu_models must be a mapping of GPU model -> per-cloud instances")
    for model, clouds in models.items():
        for target in TARGETS:
            entry = (clouds or {}).get(target)
            if entry is None:
                continue
            sizes = entry.get("instance_types")
            if not entry.get("gpu_model") or not isinstance(sizes, dict) or not sizes:
                raise CloudSyncError("gpu-instance-map: %s.%s needs gpu_model and instance_types {gpus: type}"
                                     % (model, target))
            for gpus in sizes:
                if not isinstance(gpus, int) or gpus < 1:
                    raise CloudSyncError("gpu-instance-map: %s.%s.instance_types key %r is not a GPU count"
                                         % (model, target, gpus))
    return instance_map


def cloud_instance(instance_map, target, model, gpus):
    """The cloud machine mirroring ``gpus`` GPUs of ``model``: the size with that many GPUs, else the smallest
    larger one. None when the map has no instance of that model on ``target``."""
    entry = (instance_map["gpu_models"].get(canonical_model(model)) or {}).get(target)
    if not entry:
        return None
    sizes = sorted(entry["instance_types"].items())
    chosen = next(((count, name) for count, name in sizes if count >= gpus), sizes[-1])
    return {"instance_type": chosen[1], "gpu_count": chosen[0], "gpu_model": entry["gpu_model"],
            "accelerator_type": entry.get("accelerator_type", "")}


def instance_gpu_model(instance_map, target, instance_type):
    """Reverse lookup: the Kiln GPU model of a cloud instance type, or None."""
    for clouds in instance_map["gpu_models"].values():
        entry = (clouds or {}).get(target)
        if entry and instance_type in entry["instance_types"].values():
            return entry["gpu_model"]
    return None


# -- node groups -------------------------------------------------------------------------------------------


def _group_name(text):
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:_NAME_LIMIT].rstrip("-")


def _site_group(groups):
    own = sorted(g for g in groups if g not in KILN_GROUPS)
    return own[0] if own else None


def node_groups(hosts, plan):
    """Workers grouped as the cloud will run them.

    hosts: host -> {"groups": [group names], "gpu": kiln_gpu or None, "labels": kiln_node_labels,
    "gpu_taint": kiln_gpu_taint}. plan: the cluster GPU plan. Hosts of one inventory group whose GPUs become
    the same thing form one group; a group with several arrangements is split, named after each one's
    mig-parted config.
    """
    buckets = {}
    for host in sorted(hosts):
        info = hosts[host]
        planned = plan["nodes"].get(host)
        site_group = _site_group(info.get("groups") or []) or (GPU_GROUP if planned else CPU_GROUP)
        labels = dict(info.get("labels") or {})
        taints = []
        if planned:
            labels.update(planned["labels"])
            if info.get("gpu_taint"):
                taints.append(dict(GPU_TAINT))
            mig_entries = plan["mig_parted_config"]["mig-configs"][planned["mig_config"]]
            sharing = planned["time_slicing_config"]
            what = {"role": GPU_GROUP, "gpu_model": canonical_model(planned["model"]), "gpus_per_node": planned["count"],
                    "mig": mig_entries, "sharing": sharing, "taints": taints,
                    "layouts": sorted(set(g["layout"] for g in planned["gpus"] if g["layout"]))}
        else:
            what = {"role": CPU_GROUP, "gpu_model": "", "gpus_per_node": 0, "mig": None, "sharing": None,
                    "taints": taints, "layouts": []}
        # The mig.config label names a per-host config (kiln-<host>) for hosts whose arrangements are the same:
        # the arrangement itself ("mig") is compared instead.
        key = json.dumps(dict(what, labels=dict((k, v) for k, v in labels.items() if k != MIG_CONFIG_LABEL)),
                         sort_keys=True)
        bucket = buckets.setdefault(site_group, {}).setdefault(key, dict(what, hosts=[], labels=labels))
        bucket["hosts"].append(host)
    groups = {}
    for site_group, arrangements in sorted(buckets.items()):
        for bucket in sorted(arrangements.values(), key=lambda b: b["hosts"][0]):
            name = _group_name(site_group)
            if len(arrangements) > 1:
                name = _group_name("%s-%s" % (site_group, bucket["labels"].get(MIG_CONFIG_LABEL,
                                                                                  bucket["hosts"][0])))
            if name in groups:
                raise CloudSyncError("node groups %s and %s get the same cloud name; rename an inventory group"
                                     % (groups[name]["inventory_group"], site_group))
            bucket["inventory_group"] = site_group
            groups[name] = bucket
    return groups


# -- on-prem desired state -------------------------------------------------------------------------------


def _values_key(component):
    return "chart.%s.values" % component


def onprem_state(kubernetes_version, components, values, plan, groups, layouts, security, environment):
    """The on-prem desired state, flattened: key -> JSON value.

    components: [{"name", "chart", "version", ...}]; values: component -> Kiln-rendered values (dict);
    plan: cluster GPU plan; groups: ``node_groups``; layouts: kiln_mig_layouts; security: the security
    baseline; environment: the cloud-sync settings of the environment (storage class and load balancer of
    each side).
    """
    state = {
        "kubernetes.minor": minor(kubernetes_version),
        "platform.components": sorted(c["name"] for c in components),
        "platform.storage_class": environment["onprem"]["storage_class"],
        "platform.load_balancer": environment["onprem"]["load_balancer"],
        "gpu_operator.mig_strategy": plan["strategy"],
        "gpu_operator.mig_parted_config": plan["mig_parted_config"],
        "gpu_operator.mig_default_config": plan["mig_default_config"],
        "gpu_operator.time_slicing_configs": plan["time_slicing_configs"],
        "gpu_operator.time_slicing_default_config": plan["time_slicing_default_config"],
    }
    for component in components:
        state["chart.%s.version" % component["name"]] = component["version"]
        state[_values_key(component["name"])] = values.get(component["name"]) or {}
    for setting, value in sorted(security.items()):
        state["security.%s" % setting] = value
    for name, group in groups.items():
        prefix = "node_group.%s." % name
        state[prefix + "nodes"] = len(group["hosts"])
        state[prefix + "gpu_model"] = group["gpu_model"]
        state[prefix + "gpus_per_node"] = group["gpus_per_node"]
        state[prefix + "labels"] = group["labels"]
        state[prefix + "taints"] = group["taints"]
        for layout in group["layouts"]:
            state["mig_layout.%s.%s" % (name, layout)] = _layout_value(group["gpu_model"], layouts[layout])
    return state


def _layout_value(model, profiles):
    return "%s: %s" % (model, " ".join(profiles))


# -- the cloud copy: Terraform variables -------------------------------------------------------------------


def _deep_merge(base, override):
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = _deep_merge(merged.get(key), value)
    return merged


def cloud_values(components, values, environment):
    """Component -> the values the cloud installs: the on-prem ones, plus any override of the environment."""
    overrides = (environment.get("overrides") or {}).get("chart_values") or {}
    return dict((c["name"], _deep_merge(values.get(c["name"]) or {}, overrides.get(c["name"]) or {}))
                for c in components)


def build_tfvars(target, environment, kubernetes_version, components, plan, groups, layouts, security,
                 instance_map, cluster_name):
    """terraform.tfvars.json of ``target`` (aws or gcp) for one environment of the inventory."""
    if target not in TARGETS:
        raise CloudSyncError("cloud_sync_target is %r; expected one of %s" % (target, ", ".join(TARGETS)))
    overrides = environment.get("overrides") or {}
    chart_versions = overrides.get("chart_versions") or {}
    tf_groups = {}
    for name, group in groups.items():
        node = {"role": group["role"], "node_count": len(group["hosts"]), "gpu_model": group["gpu_model"],
                "gpu_count": 0, "accelerator_type": "", "instance_type": environment["cpu_instance_type"],
                "labels": dict(group["labels"], **{"kiln.dev/node-group": name}),
                "taints": group["taints"], "disk_size_gb": environment.get("disk_size_gb", 200),
                "mig_layouts": dict((layout, list(layouts[layout])) for layout in group["layouts"])}
        if group["role"] == GPU_GROUP:
            machine = cloud_instance(instance_map, target, group["gpu_model"], group["gpus_per_node"])
            # Unmapped: rendered empty so parity names it; Terraform's variable validation refuses it too.
            node.update(machine or {"instance_type": "", "gpu_count": group["gpus_per_node"],
                                    "accelerator_type": ""})
            node["gpu_model"] = group["gpu_model"]
        tf_groups[name] = node
    sharing = plan["time_slicing_configs"]
    charts = {}
    for component in components:
        charts[component["name"]] = {
            "chart": component["chart"],
            "version": str(chart_versions.get(component["name"], component["version"])),
            "repository": environment["chart_repository"],
            "namespace": component["namespace"],
            "values_file": "values/%s.yaml" % component["name"],
        }
    tfvars = {
        "environment": environment["name"],
        "cluster_name": environment.get("cluster_name") or "%s-%s" % (cluster_name, target),
        "region": environment["region"],
        "kubernetes_version": minor(overrides.get("kubernetes_version") or kubernetes_version),
        "network": {"cidr": environment["network_cidr"], "zones": list(environment["zones"])},
        "node_groups": tf_groups,
        "charts": charts,
        "gpu_operator": {
            "namespace": environment.get("gpu_operator_namespace", "gpu-operator"),
            "mig_strategy": plan["strategy"],
            "mig_config_name": environment.get("mig_config_name", "kiln-mig-parted-config"),
            "mig_parted_config": json.dumps(plan["mig_parted_config"], sort_keys=True),
            "mig_default_config": plan["mig_default_config"],
            "time_slicing_config_name": environment.get("time_slicing_config_name", "kiln-time-slicing-config"),
            "time_slicing_configs": dict((k, json.dumps(v, sort_keys=True)) for k, v in sharing.items()),
            "time_slicing_default_config": plan["time_slicing_default_config"],
        },
        "security_baseline": _deep_merge(security, overrides.get("security") or {}),
        "storage_class": environment["storage_class"],
        "load_balancer_type": environment["load_balancer"],
        "tags": dict(environment.get("tags") or {}, **{"kiln.dev/cluster": cluster_name,
                                                         "kiln.dev/environment": environment["name"]}),
    }
    if target == "gcp":
        tfvars["project"] = environment["project"]
    return tfvars


def backend_config(target, state):
    """backend.hcl for ``terraform init -backend-config``: S3 (+ DynamoDB table or lockfile) or GCS."""
    def line(key, value):
        if isinstance(value, bool):
            return "%s = %s" % (key, "true" if value else "false")
        return "%s = %s" % (key, json.dumps(str(value)))

    if target == "aws":
        lines = [line("bucket", state["bucket"]), line("key", state["key"]), line("region", state["region"]),
                 line("encrypt", True)]
        if state.get("dynamodb_table"):
            lines.append(line("dynamodb_table", state["dynamodb_table"]))
        else:
            lines.append(line("use_lockfile", True))
    else:
        lines = [line("bucket", state["bucket"]), line("prefix", state["prefix"])]
    return "\n".join(lines) + "\n"


# -- the cloud desired state, read back from the Terraform variables -----------------------------------------


def cloud_state(target, tfvars, values, instance_map):
    """The cloud desired state in ``onprem_state``'s form, from terraform.tfvars.json and the values files.

    values: component -> the values file's content (None when the file is missing).
    """
    gpu = tfvars["gpu_operator"]
    state = {
        "kubernetes.minor": minor(tfvars["kubernetes_version"]),
        "platform.components": sorted(tfvars["charts"]),
        "platform.storage_class": tfvars["storage_class"],
        "platform.load_balancer": tfvars["load_balancer_type"],
        "gpu_operator.mig_strategy": gpu["mig_strategy"],
        "gpu_operator.mig_parted_config": json.loads(gpu["mig_parted_config"]),
        "gpu_operator.mig_default_config": gpu["mig_default_config"],
        "gpu_operator.time_slicing_configs": dict((k, json.loads(v)) for k, v in gpu["time_slicing_configs"].items()),
        "gpu_operator.time_slicing_default_config": gpu["time_slicing_default_config"],
    }
    for name, chart in tfvars["charts"].items():
        state["chart.%s.version" % name] = chart["version"]
        state[_values_key(name)] = values.get(name) if values.get(name) is not None else "(no values file)"
    for setting, value in sorted(tfvars["security_baseline"].items()):
        state["security.%s" % setting] = value
    for name, group in tfvars["node_groups"].items():
        prefix = "node_group.%s." % name
        labels = dict(group["labels"])
        labels.pop("kiln.dev/node-group", None)
        state[prefix + "nodes"] = group["node_count"]
        state[prefix + "labels"] = labels
        state[prefix + "taints"] = group["taints"]
        if group["role"] != GPU_GROUP:
            state[prefix + "gpu_model"] = ""
            state[prefix + "gpus_per_node"] = 0
            continue
        cloud_model = instance_gpu_model(instance_map, target, group["instance_type"])
        state[prefix + "gpu_model"] = cloud_model or "(no %s instance for %s)" % (target, group["gpu_model"])
        state[prefix + "gpus_per_node"] = group["gpu_count"]
        for layout, profiles in group["mig_layouts"].items():
            state["mig_layout.%s.%s" % (name, layout)] = _cloud_layout(target, group, cloud_model, profiles)
    return state


def _cloud_layout(target, group, cloud_model, profiles):
    if cloud_model is None:
        return "%s maps to no %s instance type (cloud-sync/gpu-instance-map.yml)" % (group["gpu_model"], target)
    try:
        plan_layout(cloud_model, profiles)
    except MigPlanError as err:
        return "not possible on %s (%s): %s" % (cloud_model, group["instance_type"], err.message)
    return _layout_value(cloud_model, profiles)


# -- one environment's files ---------------------------------------------------------------------------------


def check_environment(target, environment, onprem):
    """Fail early, naming every missing setting of cloud_sync_environments.<target> at once."""
    required = ["name", "region", "zones", "network_cidr", "cpu_instance_type", "chart_repository", "storage_class",
                "load_balancer", "state"]
    if target == "gcp":
        required.append("project")
    state_keys = {"aws": ["bucket", "key", "region"], "gcp": ["bucket", "prefix"]}.get(target, [])
    if not isinstance(environment, dict):
        raise CloudSyncError("cloud_sync_environments.%s is not set; add it to the inventory "
                             "(group_vars/all/cloud_sync.yml)" % target)
    missing = ["cloud_sync_environments.%s.%s" % (target, key) for key in required if environment.get(key) in (None, "", [])]
    state = environment.get("state") or {}
    missing += ["cloud_sync_environments.%s.state.%s" % (target, key) for key in state_keys if not state.get(key)]
    missing += ["cloud_sync_onprem.%s" % key for key in ("storage_class", "load_balancer") if not (onprem or {}).get(key)]
    for index, entry in enumerate(environment.get("allowed_differences") or []):
        if not isinstance(entry, dict) or not entry.get("key") or not entry.get("reason"):
            missing.append("cloud_sync_environments.%s.allowed_differences[%d] (needs key and reason)" % (target, index))
    if missing:
        raise CloudSyncError("cloud-sync settings missing or empty: %s; set them in the inventory "
                             "(group_vars/all/cloud_sync.yml)" % ", ".join(missing))


def render_environment(target, environment, onprem, kubernetes_version, components, values, plan, hosts, layouts,
                       security, instance_map, cluster_name):
    """Everything one environment needs, as data: tfvars, backend config, cloud values, on-prem state, notes."""
    check_environment(target, environment, onprem)
    check_instance_map(instance_map)
    environment = dict(environment, onprem=onprem)
    groups = node_groups(hosts, plan)
    tfvars = build_tfvars(target, environment, kubernetes_version, components, plan, groups, layouts, security,
                          instance_map, cluster_name)
    notes = []
    for name, group in sorted(tfvars["node_groups"].items()):
        if group["role"] == GPU_GROUP and not group["instance_type"]:
            notes.append("node group %s: %s maps to no %s instance type in cloud-sync/gpu-instance-map.yml"
                         % (name, group["gpu_model"], target))
    for component in components:
        if values.get(component["name"]) is None:
            notes.append("%s: no Kiln-rendered values found on premise; both sides install the chart defaults"
                         % component["name"])
    return {
        "groups": groups,
        "tfvars": tfvars,
        "backend": backend_config(target, environment["state"]),
        "values": cloud_values(components, values, environment),
        "onprem_state": {
            "target": target,
            "environment": environment["name"],
            "state": onprem_state(kubernetes_version, components, values, plan, groups, layouts, security,
                                  environment),
            "allowed_differences": list(environment.get("allowed_differences") or []),
        },
        "notes": notes,
    }
