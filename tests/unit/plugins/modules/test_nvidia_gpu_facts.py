"""Unit tests for the kiln.cluster.nvidia_gpu_facts module, run through its main()."""

import os
import stat
from unittest import mock

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kiln.cluster.plugins.modules import nvidia_gpu_facts
from conftest import SHARED_FIXTURES

FIXTURES = os.path.join(SHARED_FIXTURES, "nvidia-smi")
A100 = os.path.join(FIXTURES, "a100-sxm4-v12.xml")
T4 = os.path.join(FIXTURES, "tesla-t4.xml")


@pytest.fixture
def run_module(run_main):
    return lambda args: run_main(nvidia_gpu_facts, args)


@pytest.fixture
def no_nvidia_smi():
    with mock.patch.object(AnsibleModule, "get_bin_path", return_value=None) as get_bin_path:
        yield get_bin_path


@pytest.fixture
def nvidia_smi():
    """nvidia-smi found at /usr/bin/nvidia-smi; the test sets what run_command returns."""
    with mock.patch.object(AnsibleModule, "get_bin_path", return_value="/usr/bin/nvidia-smi"):
        with mock.patch.object(AnsibleModule, "run_command") as run_command:
            yield run_command


def _read(path):
    with open(path) as handle:
        return handle.read()


@pytest.mark.parametrize("check_mode", [False, True])
def test_xml_path_a100(run_module, no_nvidia_smi, check_mode):
    rc, result = run_module({"xml_path": A100, "_ansible_check_mode": check_mode})

    assert rc == 0
    assert result["changed"] is False
    assert result["gpu_count"] == 1
    assert "kiln_gpus" not in result
    facts = result["ansible_facts"]
    assert facts["kiln_gpu_driver_version"] == "535.54.03"
    assert facts["kiln_gpu_cuda_version"] == "12.2"
    [gpu] = facts["kiln_gpus"]
    assert gpu["product_name"] == "NVIDIA A100-SXM4-80GB"
    assert gpu["pci_device_id"] == "20B210DE"
    assert gpu["memory_total_mib"] == 81920
    assert (gpu["mig_capable"], gpu["mig_mode_current"], gpu["mig_mode_pending"]) == (True, "Enabled", "Enabled")
    assert [dev["gpu_instance_id"] for dev in gpu["mig_devices"]] == [3, 4, 5, 6]
    assert {(dev["memory_total_mib"], dev["multiprocessor_count"]) for dev in gpu["mig_devices"]} == {(19968, 14)}
    # A saved report is read without looking for nvidia-smi.
    no_nvidia_smi.assert_not_called()


def test_xml_path_missing(run_module, tmp_path):
    missing = str(tmp_path / "nope.xml")
    rc, result = run_module({"xml_path": missing})

    assert rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith("Unable to read xml_path %s:" % missing)


def test_xml_path_is_a_directory(run_module, tmp_path):
    rc, result = run_module({"xml_path": str(tmp_path)})

    assert rc == 1
    assert "Unable to read xml_path %s" % tmp_path in result["msg"]


def test_xml_path_with_entities_is_refused(run_module, tmp_path):
    report = tmp_path / "evil.xml"
    report.write_text(
        '<!DOCTYPE nvidia_smi_log [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
        "<nvidia_smi_log><driver_version>&xxe;</driver_version></nvidia_smi_log>\n"
    )
    rc, result = run_module({"xml_path": str(report)})

    assert rc == 1
    assert result["msg"].startswith("Cannot parse %s: refusing" % report)
    assert "ansible_facts" not in result


def test_nvidia_smi_not_found(run_module, no_nvidia_smi):
    rc, result = run_module({})

    assert rc == 0
    assert result["changed"] is False
    assert result["gpu_count"] == 0
    assert "nvidia-smi was not found" in result["msg"]
    assert result["ansible_facts"] == {
        "kiln_gpus": [],
        "kiln_gpu_driver_version": None,
        "kiln_gpu_cuda_version": None,
    }
    no_nvidia_smi.assert_called_once_with("nvidia-smi", opt_dirs=["/usr/bin"])


def test_nvidia_smi_present(run_module, nvidia_smi):
    nvidia_smi.return_value = (0, _read(T4), "")
    rc, result = run_module({"_ansible_check_mode": True})

    assert rc == 0
    assert result["changed"] is False
    assert "msg" not in result
    nvidia_smi.assert_called_once_with(["/usr/bin/nvidia-smi", "-q", "-x"])
    facts = result["ansible_facts"]
    assert (facts["kiln_gpu_driver_version"], facts["kiln_gpu_cuda_version"]) == ("515.105.01", "11.7")
    assert [(gpu["product_name"], gpu["mig_capable"], gpu["mig_devices"]) for gpu in facts["kiln_gpus"]] == [
        ("Tesla T4", False, [])
    ]


def test_nvidia_smi_fails(run_module, nvidia_smi):
    stderr = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
    nvidia_smi.return_value = (9, "", stderr)
    rc, result = run_module({})

    assert rc == 1
    assert result["failed"] is True
    assert result["rc"] == 9
    assert result["stderr"] == stderr
    assert result["msg"] == "/usr/bin/nvidia-smi -q -x failed with rc 9: " + stderr.strip()


def test_nvidia_smi_prints_garbage(run_module, nvidia_smi):
    nvidia_smi.return_value = (0, "No devices were found", "")
    rc, result = run_module({})

    assert rc == 1
    assert result["msg"].startswith("Cannot parse nvidia-smi output: nvidia-smi XML is not well-formed")


def test_explicit_nvidia_smi_path(run_module, nvidia_smi, tmp_path):
    binary = tmp_path / "nvidia-smi"
    binary.write_text("")
    binary.chmod(stat.S_IRWXU)
    nvidia_smi.return_value = (0, _read(A100), "")
    rc, result = run_module({"nvidia_smi_path": str(binary)})

    assert rc == 0
    nvidia_smi.assert_called_once_with([str(binary), "-q", "-x"])
    AnsibleModule.get_bin_path.assert_not_called()
    assert result["ansible_facts"]["kiln_gpus"][0]["uuid"] == "GPU-513536b6-7d19-9063-b049-1e69664bb298"


def test_explicit_nvidia_smi_path_missing(run_module, nvidia_smi, tmp_path):
    missing = str(tmp_path / "nvidia-smi")
    rc, result = run_module({"nvidia_smi_path": missing})

    assert rc == 1
    assert result["msg"] == "nvidia_smi_path %s is not an executable file" % missing
    nvidia_smi.assert_not_called()
