#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mig_plan
short_description: Check a MIG layout against a GPU model and plan where each instance goes
description:
  - Plans a Multi-Instance GPU (MIG) layout for one NVIDIA GPU model on the controller; it touches no GPU.
  - A layout is accepted only if every GPU instance can be given one of the start slices the driver allows
    for its profile (as C(nvidia-smi mig -lgipp) lists them) without overlapping the others. Counting slices
    is not enough.
  - Returns the placements in creation order (largest profiles first, each at its lowest free start), the
    matching mig-parted device entry, and the extended resources the NVIDIA device plugin advertises for the
    layout with the C(mixed) MIG strategy.
  - An impossible layout fails the task with a message that names the profile that does not fit and why.
  - The module only computes, so it never reports a change.
author:
  - Kiln maintainers
options:
  gpu_model:
    description:
      - The GPU model, as a canonical name (V(A30-24GB), V(A100-40GB), V(A100-80GB), V(H100-80GB),
        V(H100-NVL-94GB), V(H200-141GB), V(GH200-96GB), V(GH200-144GB)), as the product name nvidia-smi
        prints (V(NVIDIA H100 80GB HBM3)), or as its PCI device id.
      - Names are matched without regard to case, with or without the C(NVIDIA) prefix.
      - A PCI device id can be given as nvidia-smi prints it (V(20B210DE)), with a V(0x) prefix, in lower case,
        or as the 4-digit device id alone (V(20B2)).
    type: str
    required: true
  layout:
    description:
      - GPU-instance profile names to create on one GPU, one entry per instance, for example
        V([3g.40gb, 2g.20gb, 1g.10gb]).
      - Profile names are those of the model, such as V(1g.10gb+me) for a 1g instance with the media engines.
      - An empty list plans MIG mode with no instances.
    type: list
    elements: str
    required: true
  devices:
    description:
      - The C(devices) value of the returned mig-parted entry, V(all) or a list of GPU indexes.
    type: raw
    default: all
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only computes, so check mode does the same work.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Profiles, profile ids, instance limits and placements come from the NVIDIA Multi-Instance GPU User Guide
    (Supported MIG Profiles; C(nvidia-smi mig -lgip) and C(-lgipp)).
  - At most one media-extension (C(+me)) instance fits on a GPU, whatever its profile.
  - C(memory_gib) is the nominal size in the profile name; nvidia-smi reports slightly less usable memory.
seealso:
  - name: NVIDIA Multi-Instance GPU User Guide
    description: Supported MIG profiles and placements per GPU.
    link: https://docs.nvidia.com/datacenter/tesla/mig-user-guide/
"""

EXAMPLES = r"""
- name: Plan a mixed layout for an H100 SXM5
  kiln.cluster.mig_plan:
    gpu_model: NVIDIA H100 80GB HBM3
    layout: [4g.40gb, 2g.20gb, 1g.10gb]
  register: mig

- name: Show where each instance starts
  ansible.builtin.debug:
    msg: "{{ item.profile }} (profile id {{ item.profile_id }}) starts at memory slice {{ item.start }}"
  loop: "{{ mig.placements }}"

- name: Plan GPUs 0 and 1 of a node from the PCI device id that kiln.cluster.nvidia_gpu_facts reported
  kiln.cluster.mig_plan:
    gpu_model: "{{ kiln_gpus[0].pci_device_id }}"
    layout: [3g.40gb, 3g.40gb]
    devices: [0, 1]
  register: mig_plan

- name: Write the mig-parted config
  ansible.builtin.copy:
    dest: /etc/nvidia-mig-manager/config.yaml
    content: "{{ {'version': 'v1', 'mig-configs': {'kiln': [mig_plan.mig_parted]}} | to_nice_yaml }}"
    mode: "0644"
"""

RETURN = r"""
model:
  description: Canonical name of the GPU model.
  returned: success
  type: str
  sample: H100-80GB
placements:
  description:
    - One entry per GPU instance, in the order to create them (largest profiles first).
  returned: success
  type: list
  elements: dict
  contains:
    profile:
      description: GPU-instance profile name.
      type: str
      sample: 4g.40gb
    profile_id:
      description: GPU-instance profile id, as C(nvidia-smi mig -lgip) prints it and C(nvidia-smi mig -cgi) takes it.
      type: int
      sample: 5
    start:
      description: Index of the first memory slice of the instance (the placement start).
      type: int
      sample: 0
    size:
      description: Number of memory slices the instance takes (the placement size).
      type: int
      sample: 4
    compute_slices:
      description: Number of compute slices of the instance.
      type: int
      sample: 4
    memory_gib:
      description: Nominal memory of the instance in GiB, as in the profile name.
      type: int
      sample: 40
  sample:
    - {profile: 4g.40gb, profile_id: 5, start: 0, size: 4, compute_slices: 4, memory_gib: 40}
    - {profile: 2g.20gb, profile_id: 14, start: 4, size: 2, compute_slices: 2, memory_gib: 20}
    - {profile: 1g.10gb, profile_id: 19, start: 6, size: 1, compute_slices: 1, memory_gib: 10}
mig_parted:
  description: "One device entry of a mig-parted configuration (C(version: v1)) that creates the layout."
  returned: success
  type: dict
  sample:
    devices: all
    mig-enabled: true
    mig-devices: {4g.40gb: 1, 2g.20gb: 1, 1g.10gb: 1}
resources:
  description:
    - Extended resources and counts the NVIDIA device plugin advertises for one GPU with this layout,
      with the C(mixed) MIG strategy. A C(+) in a profile name becomes C(.).
  returned: success
  type: dict
  sample: {nvidia.com/mig-4g.40gb: 1, nvidia.com/mig-2g.20gb: 1, nvidia.com/mig-1g.10gb: 1}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import (
    MigPlanError,
    advertised_resources,
    find_model,
    mig_parted_entry,
    plan_layout,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gpu_model=dict(type="str", required=True),
            layout=dict(type="list", elements="str", required=True),
            devices=dict(type="raw", default="all"),
        ),
        supports_check_mode=True,
    )
    gpu_model = module.params["gpu_model"]
    layout = module.params["layout"]
    try:
        model = find_model(gpu_model)[0]
        placements = plan_layout(gpu_model, layout)
        entry = mig_parted_entry(gpu_model, layout, module.params["devices"])
        resources = advertised_resources(gpu_model, layout)
    except MigPlanError as exc:
        module.fail_json(msg=exc.message, changed=False)
    module.exit_json(changed=False, model=model, placements=placements, mig_parted=entry, resources=resources)


if __name__ == "__main__":
    main()
