#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_gpu_facts
short_description: Gather facts about NVIDIA GPUs from nvidia-smi
description:
  - Runs C(nvidia-smi -q -x) on the target, or reads a saved copy of its output,
    and returns one entry per GPU as the C(kiln_gpus) fact, with the driver and CUDA versions.
  - Works with the XML formats of nvidia-smi DTD versions 10 to 13.
    Values that nvidia-smi cannot report (V(N/A), V(None), V([N/A]), empty) are returned as V(null).
  - A node without C(nvidia-smi) is not an error; it returns an empty C(kiln_gpus) list.
  - The module only reads, so it never reports a change.
author:
  - Kiln maintainers
options:
  xml_path:
    description:
      - Path on the target of a saved C(nvidia-smi -q -x) report to read instead of running C(nvidia-smi).
      - The task fails if the file cannot be read.
    type: path
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable.
      - When not set, C(nvidia-smi) is looked up on E(PATH) and in C(/usr/bin).
      - When set, the file must exist and be executable, or the task fails.
      - Ignored when O(xml_path) is set.
    type: path
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode runs the same read.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - The report is parsed with the Python standard library. Documents with a DOCTYPE other than
    C(<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_vNN.dtd">), with an internal DTD subset,
    or with C(<!ENTITY) declarations are refused; the external DTD is never fetched.
  - GPUs are listed by C(minor_number) when every GPU reports one, otherwise in the order of the report.
"""

EXAMPLES = r"""
- name: Gather GPU facts from the node
  kiln.cluster.nvidia_gpu_facts:

- name: Show the GPUs that have MIG enabled
  ansible.builtin.debug:
    msg: "{{ kiln_gpus | selectattr('mig_mode_current', 'equalto', 'Enabled') | map(attribute='uuid') | list }}"

- name: Read a report saved with "nvidia-smi -q -x > /tmp/nvidia-smi.xml"
  kiln.cluster.nvidia_gpu_facts:
    xml_path: /tmp/nvidia-smi.xml

- name: Use an nvidia-smi outside PATH
  kiln.cluster.nvidia_gpu_facts:
    nvidia_smi_path: /opt/nvidia/bin/nvidia-smi
"""

RETURN = r"""
gpu_count:
  description: Number of GPUs in C(kiln_gpus).
  returned: always
  type: int
  sample: 1
msg:
  description: Why no GPUs were reported.
  returned: when nvidia-smi was not found
  type: str
  sample: nvidia-smi was not found on this node; reporting no NVIDIA GPUs
ansible_facts:
  description: Facts about the NVIDIA GPUs.
  returned: always
  type: dict
  contains:
    kiln_gpu_driver_version:
      description: NVIDIA driver version, V(null) when unknown or when nvidia-smi was not found.
      returned: always
      type: str
      sample: 535.54.03
    kiln_gpu_cuda_version:
      description: Highest CUDA version the driver supports, V(null) when unknown or when nvidia-smi was not found.
      returned: always
      type: str
      sample: "12.2"
    kiln_gpus:
      description:
        - One entry per GPU, in index order. Empty when nvidia-smi was not found.
        - Fields that nvidia-smi does not report are V(null).
      returned: always
      type: list
      elements: dict
      contains:
        index:
          description: Position of the GPU in this list, starting at 0.
          type: int
          sample: 0
        product_name:
          description: Product name.
          type: str
          sample: NVIDIA A100-SXM4-80GB
        uuid:
          description: GPU UUID.
          type: str
          sample: GPU-513536b6-7d19-9063-b049-1e69664bb298
        pci_bus_id:
          description: PCI bus id.
          type: str
          sample: 00000000:01:00.0
        pci_device_id:
          description: PCI device and vendor id as 8 upper-case hex digits, as nvidia-smi prints it.
          type: str
          sample: 20B210DE
        memory_total_mib:
          description: Total framebuffer memory in MiB.
          type: int
          sample: 81920
        mig_capable:
          description: Whether the GPU supports MIG (its current MIG mode is V(Enabled) or V(Disabled)).
          type: bool
          sample: true
        mig_mode_current:
          description: Current MIG mode, V(Enabled), V(Disabled) or V(null) when MIG is not supported.
          type: str
          sample: Enabled
        mig_mode_pending:
          description: MIG mode after the next GPU reset, V(Enabled), V(Disabled) or V(null).
          type: str
          sample: Enabled
        mig_devices:
          description: MIG devices on this GPU; empty when there are none.
          type: list
          elements: dict
          contains:
            gpu_instance_id:
              description: GPU instance id.
              type: int
              sample: 3
            compute_instance_id:
              description: Compute instance id within the GPU instance.
              type: int
              sample: 0
            memory_total_mib:
              description: Framebuffer memory of the MIG device in MiB.
              type: int
              sample: 19968
            multiprocessor_count:
              description: Number of streaming multiprocessors of the MIG device.
              type: int
              sample: 14
        power_draw_w:
          description:
            - Power draw in watts; the instantaneous reading on DTD v13, C(power_draw) on older DTDs.
          type: float
          sample: 67.03
        temperature_c:
          description: GPU core temperature in degrees Celsius.
          type: int
          sample: 27
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_smi import (
    NvidiaSmiParseError,
    parse_nvidia_smi_xml,
)


def _facts(report):
    return {
        "kiln_gpus": report["gpus"],
        "kiln_gpu_driver_version": report["driver_version"],
        "kiln_gpu_cuda_version": report["cuda_version"],
    }


def _read_xml_file(module, path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg="Unable to read xml_path %s: %s" % (path, exc))


def _run_nvidia_smi(module):
    """Return the report printed by nvidia-smi, or None when it is not installed."""
    binary = module.params["nvidia_smi_path"]
    if binary:
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            module.fail_json(msg="nvidia_smi_path %s is not an executable file" % binary)
    else:
        # /usr/bin is where the driver packages install it; PATH may be minimal under become.
        binary = module.get_bin_path("nvidia-smi", opt_dirs=["/usr/bin"])
        if binary is None:
            return None
    rc, out, err = module.run_command([binary, "-q", "-x"])
    if rc != 0:
        module.fail_json(
            msg="%s -q -x failed with rc %d: %s" % (binary, rc, (err or out).strip()),
            rc=rc,
            stdout=out,
            stderr=err,
        )
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            xml_path=dict(type="path"),
            nvidia_smi_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )

    xml_path = module.params["xml_path"]
    if xml_path:
        document, source = _read_xml_file(module, xml_path), xml_path
    else:
        document, source = _run_nvidia_smi(module), "nvidia-smi output"
        if document is None:
            module.exit_json(
                changed=False,
                gpu_count=0,
                msg="nvidia-smi was not found on this node; reporting no NVIDIA GPUs",
                ansible_facts=_facts({"gpus": [], "driver_version": None, "cuda_version": None}),
            )

    try:
        report = parse_nvidia_smi_xml(document)
    except NvidiaSmiParseError as exc:
        module.fail_json(msg="Cannot parse %s: %s" % (source, exc))

    module.exit_json(changed=False, gpu_count=len(report["gpus"]), ansible_facts=_facts(report))


if __name__ == "__main__":
    main()
