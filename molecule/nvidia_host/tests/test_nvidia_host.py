"""What nvidia_driver, nvidia_container_toolkit and dcgm leave on each node, read from the live system.

Each node is read once (one python3 run on the node: files, unit states, packages, and a start of
the CDI unit) and every test asserts on that reading; testinfra's ansible backend costs seconds per
call. Expected versions come from the versions file, the kernel from the node's own uname.
"""

import json
import os
import shlex

import pytest
import yaml

VERSIONS_FILE = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "roles", "kiln", "defaults", "main", "versions.yml")
with open(VERSIONS_FILE) as _handle:
    VERSIONS = yaml.safe_load(_handle)
BRANCH = VERSIONS["kiln_nvidia_driver_branch"]
DRIVER = VERSIONS["kiln_nvidia_driver_version"]
TOOLKIT = VERSIONS["kiln_nvidia_container_toolkit_version"]
DCGM = VERSIONS["kiln_dcgm_version"]

REPO_URL = "file:///srv/kiln-mirror/nvidia/cuda/repos/debian12/x86_64"
MIRROR_KEY = "/srv/kiln-mirror/nvidia/cuda/repos/debian12/x86_64/3bf863cc.pub"
KEYRING = "/etc/apt/keyrings/kiln-nvidia.asc"
SOURCES = "/etc/apt/sources.list.d/kiln-nvidia.sources"
PIN = "/etc/apt/preferences.d/kiln-nvidia-driver"
BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"
DRIVER_PLAN = "/etc/kiln/nvidia-driver-plan.json"
TOOLKIT_PLAN = "/etc/kiln/nvidia-container-toolkit-plan.json"
DCGM_PLAN = "/etc/kiln/dcgm-plan.json"
RUNTIME_CONFIG = "/etc/nvidia-container-runtime/config.toml"
CDI_UNIT = "/etc/systemd/system/kiln-nvidia-cdi.service"
CDI_SPEC = "/etc/cdi/nvidia.yaml"
CONTAINERD_FILES = ["/etc/containerd/conf.d/20-kiln-nvidia.toml", "/etc/containerd/config.toml"]
PATHS = [MIRROR_KEY, KEYRING, SOURCES, PIN, BLACKLIST, DRIVER_PLAN, TOOLKIT_PLAN, DCGM_PLAN, RUNTIME_CONFIG,
         CDI_UNIT, CDI_SPEC] + CONTAINERD_FILES
UNITS = ["nvidia-persistenced", "nvidia-fabricmanager", "nvidia-dcgm", "kiln-nvidia-cdi"]
PACKAGES = ["nvidia-open-kernel-dkms", "cuda-drivers-%s" % BRANCH, "nvidia-fabricmanager-%s" % BRANCH,
            "nvidia-container-toolkit", "datacenter-gpu-manager-4-core"]

READ_NODE = """
import json, os, subprocess
def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True)
out = {"kernel": os.uname().release, "files": {}, "units": {}, "packages": {}}
for path in %(paths)r:
    if os.path.exists(path):
        with open(path, "rb") as handle:
            out["files"][path] = {"mode": os.stat(path).st_mode & 0o7777, "content": handle.read().decode()}
for unit in %(units)r:
    out["units"][unit] = run("systemctl", "is-enabled", unit + ".service").stdout.strip()
for name in %(packages)r:
    out["packages"][name] = "install ok installed" in run("dpkg-query", "-W", "-f=${Status}", name).stdout
if os.path.exists(%(cdi_unit)r):
    out["cdi_start_rc"] = run("systemctl", "start", "kiln-nvidia-cdi.service").returncode
    out["cdi_condition"] = run("systemctl", "show", "-p", "ConditionResult", "--value", "kiln-nvidia-cdi.service").stdout.strip()
    out["cdi_spec_after_start"] = os.path.exists(%(cdi_spec)r)
print(json.dumps(out))
""" % {"paths": PATHS, "units": UNITS, "packages": PACKAGES, "cdi_unit": CDI_UNIT, "cdi_spec": CDI_SPEC}

_NODES = {}


def _node(host):
    name = host.backend.get_hostname()
    if name not in _NODES:
        state = json.loads(host.check_output("python3 -c %s" % shlex.quote(READ_NODE)))
        state["name"], state["role"] = name, name.rsplit("-", 1)[1]  # hgx, t4, op or cpu
        _NODES[name] = state
    return _NODES[name]


def _json(node, path):
    return json.loads(node["files"][path]["content"])


def test_nouveau_blacklisted_on_gpu_workers_only(host):
    node = _node(host)
    if node["role"] == "cpu":
        assert BLACKLIST not in node["files"]
        return
    blacklist = node["files"][BLACKLIST]
    assert blacklist["mode"] == 0o644
    assert blacklist["content"].splitlines()[1:] == ["blacklist nouveau", "options nouveau modeset=0"]


def test_driver_plan_of_the_hgx_node(host):
    node = _node(host)
    if node["role"] != "hgx":
        pytest.skip("hgx only")
    kernel, plan = node["kernel"], _json(node, DRIVER_PLAN)
    assert plan["distribution"].startswith("Debian 12")
    assert (plan["mode"], plan["branch"], plan["version"], plan["flavor"], plan["method"]) == ("host", BRANCH, DRIVER, "open", "dkms")
    assert plan["kernel"] == kernel
    # Debian 12, DKMS, open modules, headers of the running kernel, Fabric Manager pinned to the driver.
    assert plan["packages"] == [
        "nvidia-open-kernel-dkms=%s-*" % DRIVER,
        "cuda-drivers-%s=%s-*" % (BRANCH, DRIVER),
        "linux-headers-%s" % kernel,
        "nvidia-fabricmanager-%s=%s-*" % (BRANCH, DRIVER),
    ]
    assert plan["fabric_manager"] is True
    assert plan["services"] == ["nvidia-persistenced", "nvidia-fabricmanager"]
    assert plan["nvswitch"] == {"inventory": True, "pci_devices": ["0000:c%d:00.0" % n for n in range(1, 7)]}
    # The capture's GPU and the PCI function at its bus id are one GPU.
    assert plan["gpus"] == [{"bus_id": "0000:01:00.0", "name": "NVIDIA A100-SXM4-80GB", "device_id": "20b2",
                             "source": "nvidia-smi+pci", "architecture": "Ampere"}]
    assert plan["install_packages"] is False
    assert plan["repository"] == REPO_URL
    assert plan["container"] is True


def test_driver_plan_of_the_t4_node(host):
    node = _node(host)
    if node["role"] != "t4":
        pytest.skip("t4 only")
    kernel, plan = node["kernel"], _json(node, DRIVER_PLAN)
    assert plan["packages"] == ["nvidia-open-kernel-dkms=%s-*" % DRIVER, "cuda-drivers-%s=%s-*" % (BRANCH, DRIVER), "linux-headers-%s" % kernel]
    assert plan["fabric_manager"] is False
    assert plan["services"] == ["nvidia-persistenced"]
    assert plan["nvswitch"] == {"inventory": False, "pci_devices": []}
    assert [(g["name"], g["architecture"], g["source"]) for g in plan["gpus"]] == [("Tesla T4", "Turing", "nvidia-smi")]


def test_driver_plan_of_the_operator_node(host):
    node = _node(host)
    if node["role"] != "op":
        pytest.skip("op only")
    plan = _json(node, DRIVER_PLAN)
    assert (plan["mode"], plan["method"], plan["packages"], plan["services"], plan["repository"]) == ("operator", None, [], [], None)
    assert plan["fabric_manager"] is False
    # No nvidia-smi before a driver: the GPU is found on the PCI bus; its audio function is not a GPU.
    assert plan["gpus"] == [{"bus_id": "0000:3b:00.0", "name": None, "device_id": "1eb8", "source": "pci", "architecture": "Turing"}]


def test_only_gpu_workers_get_a_plan(host):
    node = _node(host)
    assert (DRIVER_PLAN in node["files"]) == (node["role"] != "cpu")


def test_repository_from_the_site_mirror_in_host_mode_only(host):
    node = _node(host)
    if node["role"] not in ("hgx", "t4"):
        assert not {SOURCES, KEYRING, PIN} & set(node["files"])
        return
    sources = node["files"][SOURCES]["content"].splitlines()
    assert sources[2:] == ["Types: deb", "URIs: %s/" % REPO_URL, "Suites: /", "Signed-By: %s" % KEYRING]
    # The key came from the mirror's URL.
    assert node["files"][KEYRING] == node["files"][MIRROR_KEY]
    pin = node["files"][PIN]["content"].splitlines()
    assert "Pin: version %s-*" % DRIVER in pin
    assert "Pin-Priority: 1000" in pin


def test_nothing_was_installed(host):
    node = _node(host)
    assert node["packages"] == dict.fromkeys(PACKAGES, False)


def test_services_enabled_only_where_installed(host):
    node = _node(host)
    # t4 carries stand-in units, as an installed driver and DCGM would bring; hgx has none.
    installed = node["role"] == "t4"
    assert (node["units"]["nvidia-persistenced"] == "enabled") == installed
    assert (node["units"]["nvidia-dcgm"] == "enabled") == installed
    assert node["units"]["nvidia-fabricmanager"] != "enabled"


def test_toolkit_plan_and_runtime_config(host):
    node = _node(host)
    if node["role"] not in ("hgx", "t4"):
        assert not {TOOLKIT_PLAN, RUNTIME_CONFIG, CDI_UNIT} & set(node["files"])
        return
    plan = _json(node, TOOLKIT_PLAN)
    assert plan["packages"] == ["%s=%s-*" % (name, TOOLKIT) for name in (
        "nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1")]
    assert plan["install_packages"] is False
    lines = node["files"][RUNTIME_CONFIG]["content"].splitlines()
    for line in ("accept-nvidia-visible-devices-as-volume-mounts = true",
                 "accept-nvidia-visible-devices-envvar-when-unprivileged = false",
                 'ldconfig = "@/sbin/ldconfig"', 'mode = "auto"', 'spec-dirs = ["/etc/cdi", "/var/run/cdi"]'):
        assert line in lines, line


def test_containerd_is_left_to_the_containerd_role(host):
    assert not set(CONTAINERD_FILES) & set(_node(host)["files"])


def test_cdi_spec_generated_only_with_toolkit_and_driver(host):
    node = _node(host)
    if node["role"] not in ("hgx", "t4"):
        pytest.skip("host-driver-mode nodes only")
    unit = node["files"][CDI_UNIT]["content"].splitlines()
    assert "ExecStart=/usr/bin/nvidia-ctk cdi generate --output=%s" % CDI_SPEC in unit
    assert "ConditionPathExists=/usr/bin/nvidia-ctk" in unit
    assert "ConditionPathExists=/proc/driver/nvidia/version" in unit
    assert node["units"]["kiln-nvidia-cdi"] == "enabled"
    # No toolkit and no driver here: systemd skips the unit (condition not met) instead of failing it.
    assert (node["cdi_start_rc"], node["cdi_condition"], node["cdi_spec_after_start"]) == (0, "no", False)


def test_dcgm_only_in_host_mode_when_enabled(host):
    node = _node(host)
    # hgx: dcgm_enabled false; op: operator mode; cpu: not a GPU worker.
    if node["role"] != "t4":
        assert DCGM_PLAN not in node["files"]
        return
    assert _json(node, DCGM_PLAN) == {
        "node": node["name"], "version": DCGM, "packages": ["datacenter-gpu-manager-4-core=1:%s-*" % DCGM],
        "install_packages": False, "service": "nvidia-dcgm",
    }
