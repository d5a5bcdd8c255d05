#!/usr/bin/python
# -*- coding: utf-8 -*-

# Documentation only: the action plugin of the same name does the work on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gpu_cluster_plan
short_description: Plan the GPUs of every GPU worker as Kubernetes will see them
description:
  - Computes, on the controller, what each GPU of each GPU worker becomes in Kubernetes. It contacts no host
    and reads nothing but the inventory.
  - Reads C(kiln_gpu) of every host in O(group) and the cluster's C(kiln_mig_layouts) from C(hostvars).
    A GPU with no MIG layout, or the layout V(none), is a whole GPU.
  - For each MIG GPU it places every instance on the memory slices the driver allows for its profile
    (see M(kiln.cluster.mig_plan)); a layout that cannot be created fails the task with a message that names the
    host, the GPU indexes, the layout and the profile that does not fit.
  - Returns the resources the NVIDIA device plugin advertises per GPU, per node and for the cluster, the MIG
    strategy, the mig-parted configuration and node labels for the GPU Operator's MIG manager, and the device
    plugin's time-slicing configurations. Also returns the plan as text lines and as an SVG picture.
  - The MIG strategy is V(single) when every node that uses MIG has it on all of its GPUs with one profile only,
    V(none) when no GPU uses MIG, and V(mixed) otherwise.
  - Only computes, so it never reports a change.
version_added: 1.0.0
author:
  - Kiln maintainers
options:
  group:
    description:
      - Inventory group whose hosts are planned.
    type: str
    default: gpu_workers
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The plugin only computes, so check mode does the same work.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Run C(playbooks/preflight.yml --tags inventory) first; it validates C(kiln_gpu) and C(kiln_mig_layouts), and
    this plugin assumes an intent that passed it.
  - C(kiln_gpu.time_slicing.replicas) applies to whole GPUs and
    C(kiln_gpu.time_slicing.per_profile) to MIG instances of a profile; a time-sliced device is advertised once per
    replica.
  - Nodes that do not time-slice use the device plugin config V(no-time-slicing), named as the default because the
    device plugin's config manager fails on an unlabelled node when no default is set.
seealso:
  - module: kiln.cluster.mig_plan
  - name: GPU Operator with MIG
    description: MIG strategies, the MIG manager and the nvidia.com/mig.config label.
    link: https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html
  - name: Time-Slicing GPUs in Kubernetes
    description: Device plugin sharing configurations and the nvidia.com/device-plugin.config label.
    link: https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html
"""

EXAMPLES = r"""
- name: Plan the cluster's GPUs
  kiln.cluster.gpu_cluster_plan:
  register: gpu_plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ gpu_plan.table }}"

- name: Write the mig-parted configuration for the MIG manager
  ansible.builtin.copy:
    dest: /srv/kiln/mig-parted.yaml
    content: "{{ gpu_plan.plan.mig_parted_config | to_nice_yaml }}"
    mode: "0644"
"""

RETURN = r"""
plan:
  description: The cluster GPU plan.
  returned: success
  type: dict
  contains:
    strategy:
      description: MIG strategy for the device plugin and GPU feature discovery, V(none), V(single) or V(mixed).
      type: str
      sample: mixed
    nodes:
      description:
        - Host name to its plan. Each has C(model), C(model_name) (Kiln's canonical name, or null for a model without a
          MIG table), C(memory_slices), C(count), C(nvswitch), C(gpus), C(resources) (node totals), C(mig_config),
          C(time_slicing_config) (null without time-slicing) and C(labels).
        - Each of C(gpus) has C(index), C(mode) (V(whole) or V(mig)), C(layout) (null for a whole GPU),
          C(placements) (as M(kiln.cluster.mig_plan) returns them, in creation order) and C(resources).
      type: dict
      sample:
        hgx4:
          model: NVIDIA H100 80GB HBM3
          model_name: H100-80GB
          memory_slices: 8
          count: 8
          nvswitch: true
          mig_config: h100-7x1g
          time_slicing_config: null
          labels: {nvidia.com/mig.config: h100-7x1g}
          resources: {nvidia.com/mig-1g.10gb: 56}
          gpus:
            - index: 0
              mode: mig
              layout: h100-7x1g
              placements:
                - {profile: 1g.10gb, profile_id: 19, start: 0, size: 1, compute_slices: 1, memory_gib: 10}
              resources: {nvidia.com/mig-1g.10gb: 7}
    totals:
      description: Extended resource name to its count over the whole cluster.
      type: dict
      sample: {nvidia.com/gpu: 22, nvidia.com/mig-1g.10gb: 92, nvidia.com/mig-2g.20gb: 18, nvidia.com/mig-3g.40gb: 18}
    summary:
      description: Counts of nodes, GPUs, MIG GPUs and whole GPUs.
      type: dict
      sample: {nodes: 6, gpus: 36, mig_gpus: 26, whole_gpus: 10}
    mig_parted_config:
      description:
        - The mig-parted configuration (C(version), C(mig-configs)) for the MIG manager's ConfigMap key C(config.yaml).
        - A node whose GPUs all use one layout selects the config named after the layout; a node with per-GPU layouts
          selects C(kiln-<host>); a node without MIG selects C(all-disabled).
      type: dict
      sample:
        version: v1
        mig-configs:
          all-disabled: [{devices: all, mig-enabled: false}]
          kiln-hgx1:
            - {devices: [0, 1, 2, 3, 4, 5], mig-enabled: true, mig-devices: {3g.40gb: 1, 2g.20gb: 1, 1g.10gb: 2}}
            - {devices: [6, 7], mig-enabled: false}
    mig_default_config:
      description: The mig-parted config for nodes without the label.
      type: str
      sample: all-disabled
    time_slicing_configs:
      description: Device plugin config name to the config (C(version), C(sharing.timeSlicing.resources)).
      type: dict
      sample:
        no-time-slicing: {version: v1}
        ts-gpu-x4: {version: v1, sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 4}]}}}
    time_slicing_default_config:
      description: The device plugin config for nodes without the label.
      type: str
      sample: no-time-slicing
    node_labels:
      description: Host name to the labels its Kubernetes node needs.
      type: dict
      sample:
        a100a: {nvidia.com/mig.config: all-disabled, nvidia.com/device-plugin.config: ts-gpu-x4}
table:
  description: The plan as aligned text lines, one per GPU, then node and cluster totals.
  returned: success
  type: list
  elements: str
svg:
  description: The plan as an SVG document, one row per GPU and one rectangle per memory slice.
  returned: success
  type: str
"""
