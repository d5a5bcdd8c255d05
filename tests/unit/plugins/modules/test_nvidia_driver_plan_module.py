"""Unit tests for the kiln.cluster.nvidia_driver_plan module, run through its main()."""


import pytest

from ansible_collections.kiln.cluster.plugins.modules import nvidia_driver_plan

DEBIAN_SETS = {
    "dkms": {"open": ["nvidia-open-kernel-dkms={version}-*", "cuda-drivers-{branch}={version}-*", "linux-headers-{kernel}"]},
    "fabric_manager": ["nvidia-fabricmanager-{branch}={version}-*"],
}


@pytest.fixture
def run_module(run_main):
    return lambda args: run_main(nvidia_driver_plan, args)


@pytest.fixture
def pci_tree(tmp_path):
    """A T4 and an NVSwitch on a fake PCI bus, as the module reads /sys/bus/pci/devices."""
    for bus_id, device, pci_class in (("0000:3b:00.0", "0x1eb8", "0x030200"), ("0000:c1:00.0", "0x1af1", "0x068000")):
        path = tmp_path / bus_id
        path.mkdir()
        (path / "vendor").write_text("0x10de\n")
        (path / "device").write_text(device + "\n")
        (path / "class").write_text(pci_class + "\n")
    return str(tmp_path)


@pytest.mark.parametrize("check_mode", [False, True])
def test_plan_from_the_pci_bus_alone(run_module, pci_tree, check_mode):
    rc, result = run_module({
        "mode": "host", "branch": "580", "version": "580.159.04", "kernel": "6.1.0-26-amd64",
        "distribution": "Debian 12", "package_sets": DEBIAN_SETS, "pci_devices_path": pci_tree,
        "node": "gpu-3", "_ansible_check_mode": check_mode,
    })
    assert rc == 0
    assert result["changed"] is False
    assert result["gpus"] == [{"bus_id": "0000:3b:00.0", "name": None, "device_id": "1eb8", "source": "pci", "architecture": "Turing"}]
    assert result["nvswitch"] == {"inventory": False, "pci_devices": ["0000:c1:00.0"]}
    assert result["packages"] == [
        "nvidia-open-kernel-dkms=580.159.04-*", "cuda-drivers-580=580.159.04-*", "linux-headers-6.1.0-26-amd64",
        "nvidia-fabricmanager-580=580.159.04-*",
    ]
    assert result["services"] == ["nvidia-persistenced", "nvidia-fabricmanager"]
    assert result["refusals"] == []
    assert isinstance(result["container"], bool) and isinstance(result["nouveau_loaded"], bool)


def test_refusal_is_returned_not_raised(run_module, tmp_path):
    rc, result = run_module({
        "mode": "host", "branch": "580", "version": "580.159.04", "kernel": "6.1.0-26-amd64",
        "package_sets": DEBIAN_SETS, "pci_devices_path": str(tmp_path), "node": "gpu-3",
        "gpus": [{"product_name": "Quadro P2000", "pci_bus_id": "00000000:17:00.0", "pci_device_id": "1C3010DE"}],
    })
    assert rc == 0 and "failed" not in result
    assert result["packages"] == []
    assert result["refusals"][0].startswith("GPU 'Quadro P2000' (PCI 0000:17:00.0, device id 1c30) on gpu-3 is Pascal")


def test_malformed_kernel_table_fails_clearly(run_module, pci_tree):
    rc, result = run_module({
        "mode": "host", "branch": "580", "version": "580.159.04", "kernel": "6.1.0-26-amd64",
        "package_sets": DEBIAN_SETS, "pci_devices_path": pci_tree, "kernel_support": {"580": {"max": "6.19"}},
    })
    assert rc == 1
    assert result["msg"].startswith("Cannot plan the NVIDIA driver: malformed package_sets or kernel_support")


def test_operator_mode_and_no_gpu(run_module, tmp_path):
    rc, result = run_module({"mode": "operator", "branch": "580", "version": "580.159.04", "pci_devices_path": str(tmp_path)})
    assert rc == 0
    assert (result["gpus"], result["packages"], result["method"]) == ([], [], None)
    # The kernel defaults to the running one.
    assert result["kernel"]
