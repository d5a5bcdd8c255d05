"""MIG geometry and GPU-instance profiles of the GPU models Kiln partitions.

Data only; ``mig_planner`` holds the logic. Facts were taken from (nothing copied):

- NVIDIA Multi-Instance GPU User Guide, section "Supported MIG Profiles": per GPU
  the profile names, fractions of SMs (compute slices) and of memory (memory
  slices) and the number of instances available. Its A100 table gives 1g.10gb
  1/8 of the memory, but ``-lgipp`` places it on 2 slices (4 fit); this table
  follows ``-lgipp``.
- Same guide, "Getting Started with MIG", "List GPU Instance Profiles": the
  profile ids printed by ``nvidia-smi mig -lgip`` and the placements printed by
  ``nvidia-smi mig -lgipp`` (``{allowed starts}:size``, in memory slices).
  Every model with 8 memory slices (A100, H100, H200, GH200) has the same
  placements. Published nvidia-smi captures agree with this table: ids and
  placements for A30, A100-80GB and H100 NVL, ids for H100-80GB and GH200-96GB.
- NVIDIA Linux driver README, appendix "Supported NVIDIA GPU Products": the
  product names nvidia-smi prints and the PCI device ids.
- GPU Operator default mig-parted config (shared/fixtures/mig): which device
  ids the operator treats as the same MIG model.

``memory_gib`` is the nominal size in the profile name. nvidia-smi reports a
little less usable memory, and the exact figure changes between drivers
(an H100 NVL 1g.12gb shows 10.62 or 10.75 GiB), so it is not recorded.

PCI device ids are written as nvidia-smi prints them: device then vendor
(10DE), 8 upper-case hex digits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

Profile = namedtuple(
    "Profile",
    ("name", "profile_id", "compute_slices", "memory_slices", "memory_gib", "max_instances", "starts"),
)

# Allowed starts shared by the models with 8 memory slices and 7 compute slices.
_ANY_OF_7 = (0, 1, 2, 3, 4, 5, 6)
_EVEN = (0, 2, 4, 6)
_HALVES = (0, 4)

# Each "+me" profile takes the GPU's only OFA engine (on the Ampere GPUs also
# its only JPEG decoder), so one such instance fits per GPU, whatever the profile.
_MEDIA_EXTENSION_INSTANCES = 1


def _eight_slice_model(product_names, device_ids, eighth, quarter, half, full):
    """A GPU with 8 memory and 7 compute slices (A100, H100, H200, GH200).

    They share profile ids, instance counts and placements; only the GiB of
    1, 2, 4 and 8 memory slices (and so the profile names) differ.
    """
    return {
        "product_names": product_names,
        "device_ids": device_ids,
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.%dgb" % full, 0, 7, 8, full, 1, (0,)),
            Profile("4g.%dgb" % half, 5, 4, 4, half, 1, (0,)),
            Profile("3g.%dgb" % half, 9, 3, 4, half, 2, _HALVES),
            Profile("2g.%dgb" % quarter, 14, 2, 2, quarter, 3, (0, 2, 4)),
            Profile("1g.%dgb" % quarter, 15, 1, 2, quarter, 4, _EVEN),
            Profile("1g.%dgb" % eighth, 19, 1, 1, eighth, 7, _ANY_OF_7),
            Profile("1g.%dgb+me" % eighth, 20, 1, 1, eighth, 1, _ANY_OF_7),
        ),
    }


MODELS = {
    "A30-24GB": {
        "product_names": ("NVIDIA A30",),
        "device_ids": ("20B710DE",),
        "memory_slices": 4,
        "compute_slices": 4,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            # name, -lgip id, compute slices, memory slices, GiB, max instances, starts
            Profile("4g.24gb", 0, 4, 4, 24, 1, (0,)),
            Profile("2g.12gb", 5, 2, 2, 12, 2, (0, 2)),
            Profile("2g.12gb+me", 6, 2, 2, 12, 1, (0, 2)),
            Profile("1g.6gb", 14, 1, 1, 6, 4, (0, 1, 2, 3)),
            Profile("1g.6gb+me", 21, 1, 1, 6, 1, (0, 1, 2, 3)),
        ),
    },
    "A100-40GB": _eight_slice_model(
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"), ("20B010DE", "20B110DE", "20F110DE"), 5, 10, 20, 40
    ),
    "A100-80GB": _eight_slice_model(
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"), ("20B210DE", "20B510DE"), 10, 20, 40, 80
    ),
    # SXM5 and PCIe boards share the table.
    "H100-80GB": _eight_slice_model(
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"), ("233010DE", "233110DE"), 10, 20, 40, 80
    ),
    "H100-NVL-94GB": _eight_slice_model(("NVIDIA H100 NVL",), ("232110DE",), 12, 24, 47, 94),
    # The H200 NVL has the same profiles as the SXM board.
    "H200-141GB": _eight_slice_model(("NVIDIA H200", "NVIDIA H200 NVL"), ("233510DE", "233B10DE"), 18, 35, 71, 141),
    # The product name counts the Grace LPDDR5X too (480 GB or 120 GB); the GPU has 96 GB of HBM3.
    "GH200-96GB": _eight_slice_model(("NVIDIA GH200 480GB", "NVIDIA GH200 120GB"), ("234210DE",), 12, 24, 48, 96),
    "GH200-144GB": _eight_slice_model(("NVIDIA GH200 144G HBM3e",), ("234810DE",), 18, 36, 72, 144),
}
