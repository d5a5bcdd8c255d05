"""The nvidia_driver role refuses the open kernel modules on a pre-Turing GPU
before it changes anything: the real role, run by ansible-playbook against
this machine (connection local, check mode), with a real Quadro P2000 and
GTX 1070 Ti capture as the node's nvidia-smi report. The refusal comes before
every task that could change anything, so nothing on this machine is touched.
(That the proprietary flavour is accepted is covered by the planner's tests.)"""

import json
import os
import subprocess
import sys

import pytest

from conftest import COLLECTIONS_DIR, REPO_ROOT, SHARED_FIXTURES

PLAYBOOK = """
- name: Plan the NVIDIA driver of a GPU worker
  hosts: gpu_workers
  gather_facts: true
  gather_subset: [min]
  roles:
    - role: kiln
    - role: nvidia_driver
"""


def _run(tmp_path, fixture, flavor):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"gpu_workers": {"hosts": {"p2000-node": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "pci").mkdir()
    extra = {
        "nvidia_driver_mode": "host",
        "nvidia_driver_kernel_module_flavor": flavor,
        "nvidia_driver_gpu_facts_xml": os.path.join(SHARED_FIXTURES, "nvidia-smi", fixture),
        # No real GPU here: only the capture counts.
        "nvidia_driver_pci_devices_path": str(tmp_path / "pci"),
    }
    env = dict(os.environ, ANSIBLE_ROLES_PATH=os.path.join(REPO_ROOT, "roles"), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR,
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    # make exports ANSIBLE_CONFIG; the repo's timer and profile_tasks callbacks would print into the JSON.
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), "play.yml",
         "--check", "-e", json.dumps(extra)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    # Task names come as "<role> : <name>".
    tasks = [(t["task"]["name"].split(" : ", 1)[-1], t["hosts"]["p2000-node"])
             for t in report["plays"][0]["tasks"] if "p2000-node" in t["hosts"]]
    return proc.returncode, tasks, report["stats"]["p2000-node"]


@pytest.mark.parametrize("fixture, gpu", [
    ("quadro-p2000-v12.xml", "GPU 'Quadro P2000' (PCI 0000:17:00.0, device id 1c30) on p2000-node is Pascal"),
    ("gtx-1070-ti.xml", "GPU 'GeForce GTX 1070 Ti' (PCI 0000:01:00.0) on p2000-node is Pascal"),
])
def test_open_modules_on_pascal_fail_before_anything_changes(tmp_path, fixture, gpu):
    rc, tasks, stats = _run(tmp_path, fixture, "open")

    assert rc == 2
    name, result = tasks[-1]
    assert name == "Refuse a driver this node cannot run, before installing anything"
    assert result["failed"] is True
    assert result["msg"].startswith("p2000-node: Kiln will not install NVIDIA driver 580.159.04 (open kernel modules, dkms)")
    assert gpu in result["msg"]
    assert "nvidia_driver_kernel_module_flavor: proprietary" in result["msg"]
    # Nothing before the refusal changed anything; nothing after it ran.
    assert stats["changed"] == 0 and stats["failures"] == 1
    assert not any(r.get("changed") for _name, r in tasks)
    assert "Blacklist nouveau, which holds the GPU before the NVIDIA driver can" not in [n for n, _r in tasks]

