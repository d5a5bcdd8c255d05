#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_driver_plan
short_description: Decide which NVIDIA driver packages a node gets, or why it gets none
description:
  - Finds the node's NVIDIA GPUs from two sources, because a node without a driver has no C(nvidia-smi) -
    the GPUs reported by C(kiln.cluster.nvidia_gpu_facts) (O(gpus)) and the PCI bus under O(pci_devices_path)
    (vendor C(0x10de), class C(0x03xx)). NVSwitches are PCI functions of vendor C(0x10de), class C(0x0680).
  - In O(mode=host) computes the packages for the running kernel, the pinned driver branch and version,
    the kernel-module flavour and DKMS or precompiled modules, from the distribution's name patterns
    (O(package_sets)); adds Fabric Manager on NVSwitch systems.
  - Returns C(refusals) instead of failing for combinations known not to work (driver branch and kernel,
    open modules on GPUs older than Turing, ...); the calling role fails on them before installing anything.
  - The module only reads, so it never reports a change.
author:
  - Kiln maintainers
options:
  mode:
    description: V(host) when Kiln installs the driver, V(operator) when the GPU Operator does.
    type: str
    choices: [host, operator]
    required: true
  branch:
    description: Driver branch, for example V(580).
    type: str
    required: true
  version:
    description: Exact driver version on that branch, for example V(580.159.04).
    type: str
    required: true
  kernel_module_flavor:
    description: NVIDIA's V(open) kernel modules (Turing and newer) or the V(proprietary) ones.
    type: str
    choices: [open, proprietary]
    default: open
  precompiled:
    description: Precompiled, signed kernel modules for the running kernel instead of DKMS (Ubuntu).
    type: bool
    default: false
  kernel:
    description: Kernel release the modules are for; the running kernel (C(uname -r)) when not set.
    type: str
  distribution:
    description: Distribution name, used in messages.
    type: str
    default: ""
  package_sets:
    description:
      - Package-name patterns of the distribution, with C({branch}), C({version}) and C({kernel}) placeholders.
      - Keys C(dkms) and C(precompiled) (each with C(open) and C(proprietary) lists), C(fabric_manager) (list)
        and, for module-stream distributions, C(module_stream) (C(open) and C(proprietary) strings).
    type: dict
    default: {}
  gpus:
    description: The C(kiln_gpus) fact of C(kiln.cluster.nvidia_gpu_facts).
    type: list
    elements: dict
    default: []
  nvswitch:
    description: The inventory says the node has NVSwitches (C(kiln_gpu.nvswitch)).
    type: bool
    default: false
  pci_devices_path:
    description: Directory of PCI functions to read.
    type: path
    default: /sys/bus/pci/devices
  kernel_support:
    description:
      - Additions or corrections to the driver branch to kernel table, as branch -> C({min, max}) kernel series.
    type: dict
    default: {}
  node:
    description: Node name used in messages.
    type: str
    default: this node
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Plan the driver
  kiln.cluster.nvidia_driver_plan:
    node: "{{ inventory_hostname }}"
    mode: host
    branch: "580"
    version: 580.159.04
    distribution: "{{ ansible_facts['distribution'] }}"
    kernel: "{{ ansible_facts['kernel'] }}"
    package_sets:
      dkms:
        open: ["nvidia-driver-{branch}-open={version}-*", "linux-headers-{kernel}"]
      fabric_manager: ["nvidia-fabricmanager-{branch}={version}-*"]
    gpus: "{{ kiln_gpus }}"
  register: driver_plan
"""

RETURN = r"""
gpus:
  description: The NVIDIA GPUs found, one per PCI bus id.
  returned: always
  type: list
  elements: dict
  sample: [{bus_id: "0000:17:00.0", name: Quadro P2000, device_id: 1c30, architecture: Pascal, source: nvidia-smi}]
nvswitch:
  description: Whether the inventory declares NVSwitches, and the NVSwitch PCI functions found.
  returned: always
  type: dict
fabric_manager:
  description: Whether Fabric Manager is installed (host mode on an NVSwitch system).
  returned: always
  type: bool
packages:
  description: Package specifications to install, empty in operator mode, without GPUs or when refused.
  returned: always
  type: list
  elements: str
  sample: ["nvidia-driver-580-open=580.159.04-*", "linux-headers-6.8.0-45-generic"]
module_stream:
  description: Module stream to enable first (EL), or null.
  returned: always
  type: str
services:
  description: Services the packages bring that must run (nvidia-persistenced, nvidia-fabricmanager).
  returned: always
  type: list
  elements: str
refusals:
  description: Why the driver must not be installed, each with the fix; empty when it may.
  returned: always
  type: list
  elements: str
notes:
  description: Other findings worth reporting.
  returned: always
  type: list
  elements: str
method:
  description: V(dkms) or V(precompiled) in host mode, null otherwise.
  returned: always
  type: str
container:
  description: Whether the node is a container (a lab or Molecule node), where the initramfs is not its own.
  returned: always
  type: bool
nouveau_loaded:
  description: Whether the nouveau module is loaded now (a reboot after blacklisting removes it).
  returned: always
  type: bool
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.node_checks import in_container
from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_driver_plan import (
    build_plan,
    read_pci_devices,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=["host", "operator"], required=True),
            branch=dict(type="str", required=True),
            version=dict(type="str", required=True),
            kernel_module_flavor=dict(type="str", choices=["open", "proprietary"], default="open"),
            precompiled=dict(type="bool", default=False),
            kernel=dict(type="str"),
            distribution=dict(type="str", default=""),
            package_sets=dict(type="dict", default={}),
            gpus=dict(type="list", elements="dict", default=[]),
            nvswitch=dict(type="bool", default=False),
            pci_devices_path=dict(type="path", default="/sys/bus/pci/devices"),
            kernel_support=dict(type="dict", default={}),
            node=dict(type="str", default="this node"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        plan = build_plan(
            mode=p["mode"],
            branch=p["branch"],
            version=p["version"],
            flavor=p["kernel_module_flavor"],
            precompiled=p["precompiled"],
            kernel=p["kernel"] or platform.release(),
            distribution=p["distribution"],
            package_sets=p["package_sets"],
            smi_gpus=p["gpus"],
            pci_devices=read_pci_devices(p["pci_devices_path"]),
            nvswitch=p["nvswitch"],
            kernel_support=p["kernel_support"],
            node=p["node"],
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        module.fail_json(msg="Cannot plan the NVIDIA driver: malformed package_sets or kernel_support (%s)" % exc)
    plan["container"] = in_container("/")
    plan["nouveau_loaded"] = os.path.exists("/sys/module/nouveau")
    module.exit_json(changed=False, **plan)


if __name__ == "__main__":
    main()
