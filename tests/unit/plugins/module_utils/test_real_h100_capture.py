"""Checks against a real H100 80GB HBM3 (SXM) read on 2026-11-23, read-only.

tests/fixtures/nvidia-smi-h100/ holds what the GPU printed (driver 580.159.04,
MIG disabled): `nvidia-smi -q -x` (serial zeroed), `nvidia-smi mig -lgip` and
`nvidia-smi mig -lgipp`. The facts module must read the report, and the
planner's H100 table must match the profiles, ids, instance counts and
placements the driver itself reports.
"""

import os
import re

from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import find_model
from ansible_collections.kiln.cluster.plugins.module_utils.mig_profiles import MODELS
from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_smi import parse_nvidia_smi_xml

CAPTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "nvidia-smi-h100")


def read(name):
    with open(os.path.join(CAPTURE, name)) as handle:
        return handle.read()


def driver_profiles():
    """name -> (profile id, total instances) from -lgip; id -> (starts, size) from -lgipp."""
    by_name = {}
    for match in re.finditer(r"^\|\s+\d+\s+MIG (\S+)\s+(\d+)\s+\d+/(\d+)\s", read("lgip.txt"), re.M):
        by_name[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    placements = {}
    for match in re.finditer(r"Profile ID\s+(\d+) Placements?\s*: \{([\d,]+)\}:(\d+)", read("lgipp.txt")):
        placements[int(match.group(1))] = (tuple(int(s) for s in match.group(2).split(",")), int(match.group(3)))
    return by_name, placements


def test_facts_from_real_h100_report():
    report = parse_nvidia_smi_xml(read("h100-real.xml"))
    assert report["driver_version"] == "580.159.04"
    assert report["cuda_version"] == "13.0"
    (gpu,) = report["gpus"]
    assert gpu["product_name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["pci_device_id"] == "233010DE"
    assert gpu["memory_total_mib"] == 81559
    assert gpu["mig_capable"] is True
    assert (gpu["mig_mode_current"], gpu["mig_mode_pending"]) == ("Disabled", "Disabled")
    assert gpu["mig_devices"] == []


def test_planner_resolves_the_real_gpu_by_name_and_device_id():
    report = parse_nvidia_smi_xml(read("h100-real.xml"))
    gpu = report["gpus"][0]
    assert find_model(gpu["product_name"])[0] == "H100-80GB"
    assert find_model(gpu["pci_device_id"])[0] == "H100-80GB"


def test_planner_table_matches_the_driver():
    by_name, placements = driver_profiles()
    assert len(by_name) == 7 and len(placements) == 7
    table = dict((p.name, p) for p in MODELS["H100-80GB"]["profiles"])
    assert sorted(table) == sorted(by_name)
    for name, (profile_id, instances) in by_name.items():
        profile = table[name]
        assert profile.profile_id == profile_id, name
        assert profile.max_instances == instances, name
        assert (tuple(profile.starts), profile.memory_slices) == placements[profile_id], name
