#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cloud_sync_render
short_description: Render the Terraform inputs of a cloud copy of the site, and the on-prem desired state
description:
  - Derives, from the inventory's GPU plan, workers, pinned versions and cloud-sync settings, the files one cloud
    environment needs under O(output_dir) - C(terraform.tfvars.json), C(backend.hcl) (for
    C(terraform init -backend-config)), C(values/<component>.yaml) (the Kiln-rendered chart values, with the
    environment's overrides) - and C(onprem-state.json), the on-prem desired state the parity check compares with.
  - Node groups mirror the inventory's worker groups; GPU node groups take their instance type from the one GPU
    instance map (O(instance_map)). A GPU model the map has no instance for is rendered with an empty instance type
    and reported in RV(notes); the parity check names it as drift.
  - Read-compare-write, file by file, so RV(changed) is true only when a file's content changed; in check mode
    nothing is written.
  - Runs on the controller.
author:
  - Kiln maintainers
options:
  target:
    description: The cloud.
    type: str
    required: true
    choices: [aws, gcp]
  environment:
    description: The inventory's settings of this environment (C(cloud_sync_environments.<target>)).
    type: dict
    required: true
  onprem:
    description: What differs on premise by nature (C(cloud_sync_onprem) - storage_class, load_balancer).
    type: dict
    required: true
  kubernetes_version:
    description: The inventory's Kubernetes version; the cloud gets the same minor.
    type: str
    required: true
  components:
    description: Platform components, each with C(name), C(chart), C(version), C(namespace).
    type: list
    elements: dict
    required: true
  values_files:
    description: Component name -> the Kiln-rendered values file on premise; a missing file means the chart defaults.
    type: dict
    default: {}
  plan:
    description: The cluster GPU plan (C(kiln.cluster.gpu_cluster_plan)).
    type: dict
    required: true
  hosts:
    description: Worker name -> C(groups), C(gpu) (kiln_gpu), C(labels) (kiln_node_labels), C(gpu_taint).
    type: dict
    required: true
  layouts:
    description: The inventory's C(kiln_mig_layouts).
    type: dict
    default: {}
  security:
    description: The security baseline on premise.
    type: dict
    required: true
  instance_map:
    description: Path of the GPU model to instance type map (YAML).
    type: path
    required: true
  cluster_name:
    description: The on-prem cluster's name (C(kiln_cluster_name)).
    type: str
    required: true
  output_dir:
    description: Directory the files are written to (created when missing).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Render the cloud environment
  kiln.cluster.cloud_sync_render:
    target: aws
    environment: "{{ cloud_sync_environments.aws }}"
    onprem: "{{ cloud_sync_onprem }}"
    kubernetes_version: "{{ kiln_kubernetes_version }}"
    components: "{{ cloud_sync_platform_components }}"
    plan: "{{ gpu_plan.plan }}"
    hosts: "{{ workers }}"
    layouts: "{{ kiln_mig_layouts }}"
    security: "{{ cloud_sync_security_baseline }}"
    instance_map: cloud-sync/gpu-instance-map.yml
    cluster_name: "{{ kiln_cluster_name }}"
    output_dir: cloud-sync/generated/gpu-prod-1-aws
"""

RETURN = r"""
files:
  description: Every file of the environment, relative to O(output_dir).
  returned: success
  type: list
  elements: str
written:
  description: The files whose content changed (in check mode, would change).
  returned: success
  type: list
  elements: str
node_groups:
  description: Node group name -> its instance type, node count and GPUs per node.
  returned: success
  type: dict
notes:
  description: What could not be mirrored or was not found (unmapped GPU models, values never rendered on premise).
  returned: success
  type: list
  elements: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.yaml import HAS_YAML, yaml_dump, yaml_load

from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync import CloudSyncError, render_environment

HEADER = "# Rendered by Kiln (playbooks/cloud-sync.yml) from the inventory; edit the inventory, not this file.\n"


def _read(path):
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return handle.read()


def _yaml(data):
    return HEADER + yaml_dump(data, default_flow_style=False, sort_keys=True, explicit_start=True)


def _files(rendered):
    files = {
        "terraform.tfvars.json": json.dumps(rendered["tfvars"], indent=2, sort_keys=True) + "\n",
        "backend.hcl": HEADER + rendered["backend"],
        "onprem-state.json": json.dumps(rendered["onprem_state"], indent=2, sort_keys=True) + "\n",
    }
    for name, values in rendered["values"].items():
        files["values/%s.yaml" % name] = _yaml(values)
    return files


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="str", required=True, choices=["aws", "gcp"]),
            environment=dict(type="dict", required=True),
            onprem=dict(type="dict", required=True),
            kubernetes_version=dict(type="str", required=True),
            components=dict(type="list", elements="dict", required=True),
            values_files=dict(type="dict", default={}),
            plan=dict(type="dict", required=True),
            hosts=dict(type="dict", required=True),
            layouts=dict(type="dict", default={}),
            security=dict(type="dict", required=True),
            instance_map=dict(type="path", required=True),
            cluster_name=dict(type="str", required=True),
            output_dir=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is needed on the controller (it comes with ansible-core)")
    p = module.params
    text = _read(p["instance_map"])
    if text is None:
        module.fail_json(msg="instance_map %s does not exist" % p["instance_map"])
    values = {}
    for name, path in (p["values_files"] or {}).items():
        content = _read(path) if path else None
        values[name] = (yaml_load(content) or {}) if content is not None else None
    try:
        rendered = render_environment(p["target"], p["environment"], p["onprem"], p["kubernetes_version"],
                                      p["components"], values, p["plan"], p["hosts"], p["layouts"] or {},
                                      p["security"], yaml_load(text), p["cluster_name"])
    except CloudSyncError as err:
        module.fail_json(msg=err.message)
    # Terraform reads the values files from here (values/<component>.yaml).
    rendered["tfvars"]["values_dir"] = p["output_dir"]
    files = _files(rendered)
    written = sorted(name for name, content in files.items()
                     if _read(os.path.join(p["output_dir"], name)) != content)
    values_dir = os.path.join(p["output_dir"], "values")
    stale = sorted("values/" + name for name in (os.listdir(values_dir) if os.path.isdir(values_dir) else [])
                   if name.endswith(".yaml") and "values/" + name not in files)
    if not module.check_mode:
        for name in written:
            path = os.path.join(p["output_dir"], name)
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            module.atomic_move(_temp(module, content=files[name]), path)
            os.chmod(path, 0o644)
        for name in stale:
            os.remove(os.path.join(p["output_dir"], name))
    node_groups = dict((name, {"instance_type": group["instance_type"], "nodes": group["node_count"],
                               "gpus_per_node": group["gpu_count"]})
                       for name, group in rendered["tfvars"]["node_groups"].items())
    module.exit_json(changed=bool(written or stale), files=sorted(files), written=written + stale,
                     node_groups=node_groups, notes=rendered["notes"])


def _temp(module, content):
    path = os.path.join(module.tmpdir, "cloud-sync-render")
    with open(path, "w") as handle:
        handle.write(content)
    return path


if __name__ == "__main__":
    main()
