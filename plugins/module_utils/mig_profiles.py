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
    "A100-40GB": {
        "product_names": ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"),
        "device_ids": ("20B010DE", "20B110DE", "20F110DE"),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.40gb", 0, 7, 8, 40, 1, (0,)),
            Profile("4g.20gb", 5, 4, 4, 20, 1, (0,)),
            Profile("3g.20gb", 9, 3, 4, 20, 2, _HALVES),
            Profile("2g.10gb", 14, 2, 2, 10, 3, (0, 2, 4)),
            Profile("1g.10gb", 15, 1, 2, 10, 4, _EVEN),
            Profile("1g.5gb", 19, 1, 1, 5, 7, _ANY_OF_7),
            Profile("1g.5gb+me", 20, 1, 1, 5, 1, _ANY_OF_7),
        ),
    },
    "A100-80GB": {
        "product_names": ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"),
        "device_ids": ("20B210DE", "20B510DE"),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.80gb", 0, 7, 8, 80, 1, (0,)),
            Profile("4g.40gb", 5, 4, 4, 40, 1, (0,)),
            Profile("3g.40gb", 9, 3, 4, 40, 2, _HALVES),
            Profile("2g.20gb", 14, 2, 2, 20, 3, (0, 2, 4)),
            Profile("1g.20gb", 15, 1, 2, 20, 4, _EVEN),
            Profile("1g.10gb", 19, 1, 1, 10, 7, _ANY_OF_7),
            Profile("1g.10gb+me", 20, 1, 1, 10, 1, _ANY_OF_7),
        ),
    },
    "H100-80GB": {
        # SXM5 and PCIe boards share the table.
        "product_names": ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"),
        "device_ids": ("233010DE", "233110DE"),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.80gb", 0, 7, 8, 80, 1, (0,)),
            Profile("4g.40gb", 5, 4, 4, 40, 1, (0,)),
            Profile("3g.40gb", 9, 3, 4, 40, 2, _HALVES),
            Profile("2g.20gb", 14, 2, 2, 20, 3, (0, 2, 4)),
            Profile("1g.20gb", 15, 1, 2, 20, 4, _EVEN),
            Profile("1g.10gb", 19, 1, 1, 10, 7, _ANY_OF_7),
            Profile("1g.10gb+me", 20, 1, 1, 10, 1, _ANY_OF_7),
        ),
    },
    "H100-NVL-94GB": {
        "product_names": ("NVIDIA H100 NVL",),
        "device_ids": ("232110DE",),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.94gb", 0, 7, 8, 94, 1, (0,)),
            Profile("4g.47gb", 5, 4, 4, 47, 1, (0,)),
            Profile("3g.47gb", 9, 3, 4, 47, 2, _HALVES),
            Profile("2g.24gb", 14, 2, 2, 24, 3, (0, 2, 4)),
            Profile("1g.24gb", 15, 1, 2, 24, 4, _EVEN),
            Profile("1g.12gb", 19, 1, 1, 12, 7, _ANY_OF_7),
            Profile("1g.12gb+me", 20, 1, 1, 12, 1, _ANY_OF_7),
        ),
    },
    "H200-141GB": {
        # The H200 NVL has the same profiles as the SXM board.
        "product_names": ("NVIDIA H200", "NVIDIA H200 NVL"),
        "device_ids": ("233510DE", "233B10DE"),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.141gb", 0, 7, 8, 141, 1, (0,)),
            Profile("4g.71gb", 5, 4, 4, 71, 1, (0,)),
            Profile("3g.71gb", 9, 3, 4, 71, 2, _HALVES),
            Profile("2g.35gb", 14, 2, 2, 35, 3, (0, 2, 4)),
            Profile("1g.35gb", 15, 1, 2, 35, 4, _EVEN),
            Profile("1g.18gb", 19, 1, 1, 18, 7, _ANY_OF_7),
            Profile("1g.18gb+me", 20, 1, 1, 18, 1, _ANY_OF_7),
        ),
    },
    "GH200-96GB": {
        # The product name counts the Grace LPDDR5X too (480 GB or 120 GB); the GPU has 96 GB of HBM3.
        "product_names": ("NVIDIA GH200 480GB", "NVIDIA GH200 120GB"),
        "device_ids": ("234210DE",),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.96gb", 0, 7, 8, 96, 1, (0,)),
            Profile("4g.48gb", 5, 4, 4, 48, 1, (0,)),
            Profile("3g.48gb", 9, 3, 4, 48, 2, _HALVES),
            Profile("2g.24gb", 14, 2, 2, 24, 3, (0, 2, 4)),
            Profile("1g.24gb", 15, 1, 2, 24, 4, _EVEN),
            Profile("1g.12gb", 19, 1, 1, 12, 7, _ANY_OF_7),
            Profile("1g.12gb+me", 20, 1, 1, 12, 1, _ANY_OF_7),
        ),
    },
    "GH200-144GB": {
        "product_names": ("NVIDIA GH200 144G HBM3e",),
        "device_ids": ("234810DE",),
        "memory_slices": 8,
        "compute_slices": 7,
        "media_extension_instances": _MEDIA_EXTENSION_INSTANCES,
        "profiles": (
            Profile("7g.144gb", 0, 7, 8, 144, 1, (0,)),
            Profile("4g.72gb", 5, 4, 4, 72, 1, (0,)),
            Profile("3g.72gb", 9, 3, 4, 72, 2, _HALVES),
            Profile("2g.36gb", 14, 2, 2, 36, 3, (0, 2, 4)),
            Profile("1g.36gb", 15, 1, 2, 36, 4, _EVEN),
            Profile("1g.18gb", 19, 1, 1, 18, 7, _ANY_OF_7),
            Profile("1g.18gb+me", 20, 1, 1, 18, 1, _ANY_OF_7),
        ),
    },
}
