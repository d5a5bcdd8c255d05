#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: node_preflight
short_description: Read-only readiness checks of one node before Kiln changes it
description:
  - Checks the operating system, CPU architecture, memory, free disk, swap, the kernel modules
    Kubernetes needs (built in or loadable), time synchronisation and, on GPU nodes, IOMMU,
    secure boot and nouveau.
  - Returns one result per check with a status of V(ok), V(warn), V(fail) or V(skip) and a fix.
    The module never fails on a finding; the calling role decides.
  - Inside a container the host kernel's state is not the node's own; such checks are V(skip) with the reason.
author:
  - Kiln maintainers
options:
  min_memory_mb:
    description: Smallest acceptable memory in MiB.
    type: int
    default: 1700
  min_disk_gb:
    description: Smallest acceptable free space in GiB on O(disk_path).
    type: int
    default: 10
  disk_path:
    description: Filesystem that holds container images and Kubernetes state.
    type: path
    default: /var
  kernel_modules:
    description: Kernel modules that must be loaded, built in or loadable.
    type: list
    elements: str
    default: [overlay, br_netfilter]
  gpu_node:
    description: Also check what the NVIDIA driver depends on.
    type: bool
    default: false
  driver_mode:
    description: How the NVIDIA driver is installed; secure boot only matters for V(host).
    type: str
    choices: [host, operator]
    default: operator
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Check the node
  kiln.cluster.node_preflight:
    min_memory_mb: 4096
    gpu_node: true
  register: node_report
"""

RETURN = r"""
container:
  description: Whether the node is a container (a lab node).
  returned: always
  type: bool
kernel_modules:
  description: State of each of O(kernel_modules) - V(loaded), V(built-in), V(loadable) or V(missing).
  returned: always
  type: dict
summary:
  description: One line per check (status, name, detail), for the play's output.
  returned: always
  type: list
  elements: str
checks:
  description: One entry per check.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
    status:
      description: V(ok), V(warn), V(fail) or V(skip).
      type: str
    detail:
      description: What was found.
      type: str
    fix:
      description: How to fix a V(warn) or V(fail).
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.node_checks import run_checks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            min_memory_mb=dict(type="int", default=1700),
            min_disk_gb=dict(type="int", default=10),
            disk_path=dict(type="path", default="/var"),
            kernel_modules=dict(type="list", elements="str", default=["overlay", "br_netfilter"]),
            gpu_node=dict(type="bool", default=False),
            driver_mode=dict(type="str", choices=["host", "operator"], default="operator"),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        if not module.get_bin_path(argv[0]):
            return 127, ""
        rc, out, _err = module.run_command(argv)
        return rc, out

    p = module.params
    report = run_checks("/", run, p["min_memory_mb"], p["min_disk_gb"], p["disk_path"],
                        p["kernel_modules"], p["gpu_node"], p["driver_mode"])
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
