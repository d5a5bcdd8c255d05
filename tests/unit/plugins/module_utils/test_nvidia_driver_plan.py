"""Unit tests for the NVIDIA driver planner (module_utils/nvidia_driver_plan.py).

GPUs come from the real nvidia-smi captures (../shared/fixtures and the H100
capture in tests/fixtures); package names from the role's own
vars/<os_family>.yml, so these tests check the patterns the role really uses.
"""

import os

import pytest
import yaml

from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_driver_plan import (
    KERNEL_SUPPORT,
    architecture,
    build_plan,
    merge_gpus,
    normalise_bus_id,
    nvidia_pci_gpus,
    nvidia_pci_nvswitches,
    read_pci_devices,
)
from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_smi import parse_nvidia_smi_xml
from conftest import REPO_ROOT, SHARED_FIXTURES

SMI = os.path.join(SHARED_FIXTURES, "nvidia-smi")
H100 = os.path.join(REPO_ROOT, "tests", "fixtures", "nvidia-smi-h100", "h100-real.xml")
FIXTURES = {
    "a100-sxm4-v12.xml": os.path.join(SMI, "a100-sxm4-v12.xml"),
    "tesla-t4.xml": os.path.join(SMI, "tesla-t4.xml"),
    "rtx-3080-v13.xml": os.path.join(SMI, "rtx-3080-v13.xml"),
    "quadro-p2000-v12.xml": os.path.join(SMI, "quadro-p2000-v12.xml"),
    "gtx-1070-ti.xml": os.path.join(SMI, "gtx-1070-ti.xml"),
    "h100-real.xml": H100,
}
# Read by hand from each capture (product name, PCI device id, bus id).
ARCHITECTURES = {
    "a100-sxm4-v12.xml": ("NVIDIA A100-SXM4-80GB", "20b2", "0000:01:00.0", "Ampere"),
    "tesla-t4.xml": ("Tesla T4", "1eb8", "0000:00:1e.0", "Turing"),
    "rtx-3080-v13.xml": ("NVIDIA GeForce RTX 3080", "2216", "0000:0c:00.0", "Ampere"),
    "quadro-p2000-v12.xml": ("Quadro P2000", "1c30", "0000:17:00.0", "Pascal"),
    # An old minimal report without a PCI device id: named by product only.
    "gtx-1070-ti.xml": ("GeForce GTX 1070 Ti", None, "0000:01:00.0", "Pascal"),
    "h100-real.xml": ("NVIDIA H100 80GB HBM3", "2330", "0000:00:06.0", "Hopper"),
}
TURING_OR_NEWER = [name for name, row in ARCHITECTURES.items() if row[3] != "Pascal"]
PRE_TURING = [name for name, row in ARCHITECTURES.items() if row[3] == "Pascal"]

V = "580.159.04"
# One node per supported distribution, each with a kernel release as its uname -r prints it.
NODES = {
    "ubuntu-22.04": ("Ubuntu", "5.15.0-122-generic"),
    "ubuntu-24.04": ("Ubuntu", "6.8.0-45-generic"),
    "debian-12": ("Debian", "6.1.0-26-amd64"),
    "rhel-9": ("default", "5.14.0-427.13.1.el9_4.x86_64"),
}
EXPECTED_DKMS_OPEN = {
    "ubuntu-22.04": ["nvidia-driver-580-open=%s-*" % V, "linux-headers-5.15.0-122-generic"],
    "ubuntu-24.04": ["nvidia-driver-580-open=%s-*" % V, "linux-headers-6.8.0-45-generic"],
    "debian-12": ["nvidia-open-kernel-dkms=%s-*" % V, "cuda-drivers-580=%s-*" % V, "linux-headers-6.1.0-26-amd64"],
    "rhel-9": ["kmod-nvidia-open-dkms-%s" % V, "nvidia-driver-cuda-%s" % V,
               "kernel-devel-5.14.0-427.13.1.el9_4.x86_64", "kernel-headers-5.14.0-427.13.1.el9_4.x86_64"],
}
EXPECTED_FABRIC_MANAGER = {
    "ubuntu-22.04": "nvidia-fabricmanager-580=%s-*" % V,
    "ubuntu-24.04": "nvidia-fabricmanager-580=%s-*" % V,
    "debian-12": "nvidia-fabricmanager-580=%s-*" % V,
    "rhel-9": "nvidia-fabric-manager-%s" % V,
}


def _package_sets(family):
    with open(os.path.join(REPO_ROOT, "roles", "nvidia_driver", "vars", "%s.yml" % family)) as handle:
        return yaml.safe_load(handle)["nvidia_driver_package_sets"]


PACKAGE_SETS = dict(_package_sets("Debian"), **_package_sets("RedHat"))


def _gpus(fixture):
    with open(FIXTURES[fixture], "rb") as handle:
        return parse_nvidia_smi_xml(handle.read())["gpus"]


def _plan(node="ubuntu-24.04", fixture="h100-real.xml", pci=None, **kwargs):
    key, kernel = NODES[node]
    args = dict(mode="host", branch="580", version=V, kernel=kernel, distribution=node,
                package_sets=PACKAGE_SETS[key], smi_gpus=_gpus(fixture) if fixture else [],
                pci_devices=pci or [], node="gpu-7")
    args.update(kwargs)
    return build_plan(**args)


def _pci(bus_id, device_id, pci_class, vendor="10de"):
    return {"bus_id": bus_id, "vendor_id": vendor, "device_id": device_id, "class": pci_class}


def _write_pci_tree(root, functions):
    for bus_id, vendor, device, pci_class in functions:
        path = root / bus_id
        path.mkdir(parents=True)
        (path / "vendor").write_text("0x%s\n" % vendor)
        (path / "device").write_text("0x%s\n" % device)
        (path / "class").write_text("0x%06x\n" % pci_class)
    return str(root)


# --- GPUs: the captures, the PCI bus and their merge -------------------------------

@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_every_capture_is_classified(fixture):
    name, device_id, bus_id, arch = ARCHITECTURES[fixture]
    [gpu] = merge_gpus(_gpus(fixture), [])
    assert gpu == {"bus_id": bus_id, "name": name, "device_id": device_id, "source": "nvidia-smi", "architecture": arch}


@pytest.mark.parametrize("device_id, arch", [
    ("1b82", "Pascal"),  # GTX 1070 Ti
    ("15f8", "Pascal"),  # Tesla P100
    ("1db4", "Volta"),  # Tesla V100 PCIe
    ("13c0", "Maxwell"),  # GTX 980
    ("1eb8", "Turing"),  # T4
    ("2182", "Turing"),  # GTX 1660 Ti
    ("20b5", "Ampere"),  # A100 80GB PCIe
    ("2330", "Hopper"),  # H100 SXM5
    ("26b9", "Ada Lovelace"),  # L40S
    ("2901", "Blackwell"),  # B200
    ("1d00", "Pascal"),  # GP108 range
    ("1a00", "pre-Turing"),  # unassigned, below Turing
    ("3f00", "Turing or newer"),  # unassigned, above Turing
])
def test_architecture_from_pci_device_id(device_id, arch):
    assert architecture(device_id) == arch


def test_architecture_from_name_only_when_no_device_id():
    assert architecture(None, "Tesla V100-SXM2-16GB") == "Volta"
    assert architecture(None, "NVIDIA L4") == "Ada Lovelace"
    assert architecture(None, "NVIDIA B200") == "Blackwell"
    assert architecture(None, "Some Future GPU") is None
    # The device id wins over the name.
    assert architecture("2330", "Quadro P2000") == "Hopper"


def test_bus_ids_of_nvidia_smi_and_sysfs_are_the_same():
    assert normalise_bus_id("00000000:17:00.0") == "0000:17:00.0"
    assert normalise_bus_id("0000:00:1E.0") == "0000:00:1e.0"
    assert normalise_bus_id(None) is None


def test_pci_tree_is_read_and_filtered(tmp_path):
    root = _write_pci_tree(tmp_path / "devices", [
        ("0000:00:00.0", "8086", "0d57", 0x060000),  # host bridge, another vendor
        ("0000:17:00.0", "10de", "1c30", 0x030000),  # Quadro P2000, VGA
        ("0000:17:00.1", "10de", "10f1", 0x040300),  # its HDMI audio function: not a GPU
        ("0000:3b:00.0", "10de", "20b2", 0x030200),  # A100, 3D controller
        ("0000:c1:00.0", "10de", "1af1", 0x068000),  # NVSwitch (bridge, other)
    ])
    devices = read_pci_devices(root)
    assert [d["bus_id"] for d in devices] == ["0000:00:00.0", "0000:17:00.0", "0000:17:00.1", "0000:3b:00.0", "0000:c1:00.0"]
    assert [(d["bus_id"], d["device_id"]) for d in nvidia_pci_gpus(devices)] == [("0000:17:00.0", "1c30"), ("0000:3b:00.0", "20b2")]
    assert [d["bus_id"] for d in nvidia_pci_nvswitches(devices)] == ["0000:c1:00.0"]
    assert read_pci_devices(str(tmp_path / "missing")) == []


def test_one_gpu_seen_by_nvidia_smi_and_pci_is_listed_once():
    pci = [_pci("0000:00:06.0", "2330", 0x030200), _pci("0000:41:00.0", "2330", 0x030200)]
    gpus = merge_gpus(_gpus("h100-real.xml"), nvidia_pci_gpus(pci))
    assert [(g["bus_id"], g["source"], g["name"]) for g in gpus] == [
        ("0000:00:06.0", "nvidia-smi+pci", "NVIDIA H100 80GB HBM3"),
        ("0000:41:00.0", "pci", None),
    ]


def test_pci_gives_the_device_id_nvidia_smi_did_not_report():
    [gpu] = merge_gpus(_gpus("gtx-1070-ti.xml"), [_pci("0000:01:00.0", "1b82", 0x030000)])
    assert (gpu["device_id"], gpu["architecture"], gpu["source"]) == ("1b82", "Pascal", "nvidia-smi+pci")


# --- packages per distribution ----------------------------------------------------------

@pytest.mark.parametrize("node", sorted(NODES))
@pytest.mark.parametrize("fixture", TURING_OR_NEWER)
def test_dkms_open_packages_for_every_distribution(node, fixture):
    plan = _plan(node, fixture)
    assert plan["refusals"] == []
    assert plan["method"] == "dkms"
    assert plan["packages"] == EXPECTED_DKMS_OPEN[node]
    assert plan["services"] == ["nvidia-persistenced"]
    assert plan["fabric_manager"] is False
    assert plan["module_stream"] == ("nvidia-driver:580-open" if node == "rhel-9" else None)


@pytest.mark.parametrize("node", ["ubuntu-22.04", "ubuntu-24.04"])
def test_precompiled_modules_on_ubuntu_follow_the_running_kernel(node):
    kernel = NODES[node][1]
    plan = _plan(node, "tesla-t4.xml", precompiled=True)
    assert plan["refusals"] == []
    assert plan["method"] == "precompiled"
    assert plan["packages"] == [
        "linux-modules-nvidia-580-server-open-%s" % kernel,
        "nvidia-utils-580-server=%s-*" % V,
        "nvidia-compute-utils-580-server=%s-*" % V,
    ]


@pytest.mark.parametrize("node", ["debian-12", "rhel-9"])
def test_precompiled_modules_are_refused_where_none_are_published(node):
    plan = _plan(node, "tesla-t4.xml", precompiled=True)
    assert plan["packages"] == []
    [refusal] = plan["refusals"]
    assert "no precompiled open packages are published for %s" % node in refusal
    assert "nvidia_driver_precompiled: false" in refusal


@pytest.mark.parametrize("node, packages", [
    ("ubuntu-24.04", ["nvidia-driver-580=%s-*" % V, "linux-headers-6.8.0-45-generic"]),
    ("debian-12", ["nvidia-kernel-dkms=%s-*" % V, "cuda-drivers-580=%s-*" % V, "linux-headers-6.1.0-26-amd64"]),
])
@pytest.mark.parametrize("fixture", PRE_TURING)
def test_pre_turing_gpus_get_the_proprietary_modules_up_to_580(node, packages, fixture):
    plan = _plan(node, fixture, flavor="proprietary")
    assert plan["refusals"] == []
    assert plan["packages"] == packages


def test_proprietary_module_stream_on_rhel():
    plan = _plan("rhel-9", "quadro-p2000-v12.xml", flavor="proprietary")
    assert plan["module_stream"] == "nvidia-driver:580-dkms"
    assert plan["packages"][0] == "kmod-nvidia-latest-dkms-%s" % V


# --- Fabric Manager: NVSwitch systems only ------------------------------------------------

@pytest.mark.parametrize("node", sorted(NODES))
def test_fabric_manager_when_the_inventory_declares_nvswitch(node):
    plan = _plan(node, "a100-sxm4-v12.xml", nvswitch=True)
    assert plan["fabric_manager"] is True
    assert plan["packages"] == EXPECTED_DKMS_OPEN[node] + [EXPECTED_FABRIC_MANAGER[node]]
    assert plan["services"] == ["nvidia-persistenced", "nvidia-fabricmanager"]
    assert plan["nvswitch"] == {"inventory": True, "pci_devices": []}


def test_fabric_manager_when_nvswitches_are_on_the_pci_bus(tmp_path):
    # HGX H100: GPUs and four NVSwitches, seen on the bus before any driver.
    root = _write_pci_tree(tmp_path / "devices", [("0000:%02x:00.0" % bus, "10de", "2330", 0x030200) for bus in range(1, 3)]
                           + [("0000:%02x:00.0" % bus, "10de", "22a3", 0x068000) for bus in range(0x81, 0x85)])
    plan = _plan("ubuntu-22.04", fixture=None, pci=read_pci_devices(root), nvswitch=False)
    assert [g["architecture"] for g in plan["gpus"]] == ["Hopper", "Hopper"]
    assert plan["nvswitch"] == {"inventory": False, "pci_devices": ["0000:81:00.0", "0000:82:00.0", "0000:83:00.0", "0000:84:00.0"]}
    assert plan["fabric_manager"] is True
    assert plan["packages"][-1] == "nvidia-fabricmanager-580=%s-*" % V


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_no_fabric_manager_without_nvswitch(fixture):
    plan = _plan("debian-12", fixture, flavor="proprietary" if fixture in PRE_TURING else "open")
    assert plan["fabric_manager"] is False
    assert not [p for p in plan["packages"] if "fabric" in p]


# --- refusals, before anything is installed -------------------------------------------------

@pytest.mark.parametrize("fixture", PRE_TURING)
@pytest.mark.parametrize("node", sorted(NODES))
def test_open_modules_are_refused_on_pre_turing_gpus(fixture, node):
    name, _device, bus_id, _arch = ARCHITECTURES[fixture]
    plan = _plan(node, fixture)
    assert plan["packages"] == []
    [refusal] = plan["refusals"]
    assert "GPU '%s' (PCI %s" % (name, bus_id) in refusal
    assert "on gpu-7 is Pascal" in refusal
    assert "open kernel modules need Turing or newer" in refusal
    assert "nvidia_driver_kernel_module_flavor: proprietary" in refusal


def test_pre_turing_gpus_are_refused_after_branch_580():
    plan = _plan("ubuntu-24.04", "quadro-p2000-v12.xml", branch="590", version="590.48.01", flavor="proprietary")
    [refusal] = plan["refusals"]
    assert "is Pascal; driver branch 580 is the last that supports it" in refusal
    assert "kiln_nvidia_driver_branch" in refusal


def test_only_the_pre_turing_gpu_of_a_mixed_node_is_named():
    pci = [_pci("0000:17:00.0", "1c30", 0x030000), _pci("0000:3b:00.0", "1eb8", 0x030200)]
    plan = _plan("debian-12", fixture=None, pci=pci)
    [refusal] = plan["refusals"]
    assert "GPU (PCI 0000:17:00.0, device id 1c30) on gpu-7 is Pascal" in refusal


@pytest.mark.parametrize("kernel, wanted", [
    ("6.19.2-1-generic", "kernel 6.19.2-1-generic is newer than 6.18, the newest kernel series driver branch 580"),
    ("4.4.0-210-generic", "kernel 4.4.0-210-generic is older than 4.15, the oldest kernel driver branch 580"),
    ("custom", "cannot read a kernel version from 'custom'"),
])
def test_kernels_outside_the_branch_range_are_refused(kernel, wanted):
    plan = _plan("ubuntu-24.04", "tesla-t4.xml", kernel=kernel)
    [refusal] = plan["refusals"]
    assert wanted in refusal
    assert plan["packages"] == []


def test_the_kernel_table_covers_the_pinned_branch():
    oldest, newest = KERNEL_SUPPORT["580"]
    assert (oldest, newest) == ("4.15", "6.18")
    assert _plan("ubuntu-24.04", "tesla-t4.xml", kernel="6.18.44-fc-v782")["refusals"] == []


def test_a_site_can_extend_the_kernel_table():
    plan = _plan("ubuntu-24.04", "tesla-t4.xml", kernel="6.19.2-1-generic", kernel_support={"580": {"min": "4.15", "max": "6.19"}})
    assert plan["refusals"] == []
    assert plan["packages"][1] == "linux-headers-6.19.2-1-generic"


def test_unknown_branch_and_mismatched_version_are_refused():
    plan = _plan("ubuntu-24.04", "tesla-t4.xml", branch="999", version="580.159.04")
    assert len(plan["refusals"]) == 2
    assert "driver branch 999 is not in Kiln's driver/kernel table" in plan["refusals"][0]
    assert "kiln_nvidia_driver_version 580.159.04 is not on driver branch 999" in plan["refusals"][1]


def test_blackwell_needs_open_modules_and_branch_570():
    pci = [_pci("0000:1b:00.0", "2901", 0x030200)]
    plan = _plan("ubuntu-24.04", fixture=None, pci=pci, branch="550", version="550.163.01", flavor="proprietary")
    assert len(plan["refusals"]) == 2
    assert "is Blackwell, which runs only with NVIDIA's open kernel modules" in plan["refusals"][0]
    assert "is Blackwell, which needs driver branch 570 or newer" in plan["refusals"][1]


def test_proprietary_modules_are_refused_from_branch_620():
    plan = _plan("ubuntu-24.04", "tesla-t4.xml", branch="620", version="620.10.01", flavor="proprietary",
                 kernel_support={"620": ["4.15", "6.20"]})
    [refusal] = plan["refusals"]
    assert "driver branch 620 ships only the open kernel modules" in refusal


def test_unknown_architecture_is_reported_not_refused():
    plan = _plan("ubuntu-24.04", fixture=None, pci=[], smi_gpus=[{"product_name": "NVIDIA Future X1", "pci_bus_id": "00000000:05:00.0"}])
    assert plan["refusals"] == []
    assert plan["notes"] == ["cannot tell the architecture of GPU 'NVIDIA Future X1' (PCI 0000:05:00.0) on gpu-7; "
                             "the open kernel modules need Turing or newer."]


# --- operator mode and nodes without GPUs ----------------------------------------------------

@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_operator_mode_installs_nothing(fixture):
    plan = _plan("debian-12", fixture, mode="operator", nvswitch=True)
    assert (plan["packages"], plan["services"], plan["refusals"], plan["method"]) == ([], [], [], None)
    assert plan["fabric_manager"] is False
    assert plan["notes"][0] == "the GPU Operator installs the driver and runs Fabric Manager in its driver container; Kiln only blacklists nouveau"
    if fixture in PRE_TURING:
        assert "the GPU Operator must use the proprietary kernel modules" in plan["notes"][1]


def test_no_gpu_no_packages():
    pci = [_pci("0000:00:03.0", "1041", 0x020000, vendor="1af4")]  # a virtio NIC
    plan = _plan("debian-12", fixture=None, pci=pci)
    assert (plan["gpus"], plan["packages"], plan["refusals"]) == ([], [], [])
    assert plan["notes"] == ["no NVIDIA GPU: nvidia-smi reports none and no PCI device has vendor 0x10de, class 0x03xx"]
