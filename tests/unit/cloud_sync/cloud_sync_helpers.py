"""Helpers of the cloud-sync tests.

- ``copy_inventory`` / ``alter``: a copy of inventories/onprem in a temporary directory, changed per test, so every
  drift case starts from the real inventory.
- ``render_inventory``: what playbooks/cloud-sync.yml renders, in-process (about a second instead of half a minute):
  Ansible's own inventory and variable managers read the inventory, the role defaults (kiln, cloud_sync) are
  templated with Ansible's templar, the GPU plan and the renderer are Kiln's module_utils, and the files are written
  by the cloud_sync_render module's own writer.
- ``run_playbook``: the real playbook on the controller only; ssh is replaced by a trap that fails the test.
"""

import json
import os
import shutil
import subprocess

import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager

from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync import render_environment
from ansible_collections.kiln.cluster.plugins.module_utils.gpu_cluster_plan import plan_cluster
from ansible_collections.kiln.cluster.plugins.modules import cloud_sync_render

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ONPREM = os.path.join(REPO_ROOT, "inventories", "onprem")
INSTANCE_MAP = os.path.join(REPO_ROOT, "cloud-sync", "gpu-instance-map.yml")
PARITY = os.path.join(REPO_ROOT, "cloud-sync", "parity.py")
CHECK_TFVARS = os.path.join(REPO_ROOT, "cloud-sync", "check_tfvars.py")
TERRAFORM = os.path.join(REPO_ROOT, "cloud-sync", "terraform")
ANSIBLE_PLAYBOOK = os.path.join(REPO_ROOT, ".venv", "bin", "ansible-playbook")
PYTHON = os.path.join(REPO_ROOT, ".venv", "bin", "python")
DEFAULTS = [os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main", name)
            for name in sorted(os.listdir(os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main")))]
CLOUD_SYNC_DEFAULTS = os.path.join(REPO_ROOT, "roles", "cloud_sync", "defaults", "main.yml")


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def dump_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)


def copy_inventory(tmp_path, name="inventory"):
    target = tmp_path / name
    shutil.copytree(ONPREM, str(target))
    return target


def alter(inventory, relative, change):
    """Load a YAML file of the inventory copy, let ``change(data)`` edit it, write it back."""
    path = os.path.join(str(inventory), relative)
    data = load_yaml(path) if os.path.exists(path) else {}
    change(data)
    dump_yaml(path, data)


def override(inventory, target, **overrides):
    """Set cloud_sync_environments.<target>.overrides (kubernetes_version, chart_versions, ...)."""
    def change(data):
        data["cloud_sync_environments"][target]["overrides"] = overrides
    alter(inventory, "group_vars/all/cloud_sync.yml", change)


def add_gpu_group(inventory, group, hosts, kiln_gpu, layouts=None):
    """A new GPU worker group (hosts.yml, group_vars/<group>.yml), and MIG layouts added to kiln_mig_layouts."""
    def change_hosts(data):
        gpu_groups = data["all"]["children"]["gpu_workers"]["children"]
        gpu_groups[group] = {"hosts": dict((host, {"ansible_host": "10.20.1.%d" % (60 + i)})
                                           for i, host in enumerate(hosts))}
    alter(inventory, "hosts.yml", change_hosts)
    dump_yaml(os.path.join(str(inventory), "group_vars", "%s.yml" % group), {"kiln_gpu": kiln_gpu})
    if layouts:
        alter(inventory, "group_vars/all/gpu.yml", lambda data: data["kiln_mig_layouts"].update(layouts))


def _role_defaults(loader):
    """Role defaults as Ansible loads them (templates in them are trusted, so the templar renders them)."""
    merged = {}
    for path in DEFAULTS + [CLOUD_SYNC_DEFAULTS]:
        merged.update(loader.load_from_file(path, trusted_as_template=True) or {})
    return merged


def inventory_inputs(inventory, target, instance_map=INSTANCE_MAP):
    """The arguments playbooks/cloud-sync.yml hands to kiln.cluster.cloud_sync_render, read from ``inventory``."""
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    defaults = _role_defaults(loader)
    all_vars = dict(defaults)
    all_vars.update(variables.get_vars(host=manager.get_host("cp1")))
    all_vars.setdefault("role_path", os.path.join(REPO_ROOT, "roles", "cloud_sync"))
    templar = Templar(loader=loader, variables=all_vars)

    def value(name):
        return templar.template(all_vars[name])

    hosts = {}
    intents = {}
    groups = manager.get_groups_dict()
    for host in groups.get("workers", []):
        host_vars = dict(defaults)
        host_vars.update(variables.get_vars(host=manager.get_host(host)))
        hosts[host] = {"groups": list(host_vars["group_names"]), "gpu": host_vars.get("kiln_gpu"),
                       "labels": host_vars.get("kiln_node_labels") or {},
                       "gpu_taint": bool(host_vars.get("kiln_gpu_taint", False))}
        if host in groups.get("gpu_workers", []):
            intents[host] = host_vars["kiln_gpu"]
    layouts = value("kiln_mig_layouts")
    plan = plan_cluster(intents, layouts)
    return {"target": target, "environment": value("cloud_sync_environments")[target],
            "onprem": value("cloud_sync_onprem"), "kubernetes_version": value("kiln_kubernetes_version"),
            "components": value("cloud_sync_platform_components"), "plan": plan, "hosts": hosts, "layouts": layouts,
            "security": value("cloud_sync_security_baseline"), "instance_map": instance_map,
            "cluster_name": value("kiln_cluster_name")}


def render_inventory(inventory, target, output_dir, instance_map=INSTANCE_MAP):
    """Render one environment of ``inventory`` into ``output_dir`` as the playbook does; return the rendered data."""
    args = inventory_inputs(inventory, target, instance_map)
    # The GPU Operator's values: what role gpu_operator renders is covered by its own tests; here a stand-in
    # with the plan's MIG strategy, so that values drift is visible.
    values = dict((c["name"], None) for c in args["components"])
    values["gpu-operator"] = {"mig": {"strategy": args["plan"]["strategy"]}, "driver": {"enabled": True}}
    rendered = render_environment(target, args["environment"], args["onprem"], args["kubernetes_version"],
                                  args["components"], values, args["plan"], args["hosts"], args["layouts"],
                                  args["security"], load_yaml(instance_map), args["cluster_name"])
    rendered["tfvars"]["values_dir"] = str(output_dir)
    for name, content in cloud_sync_render._files(rendered).items():
        path = os.path.join(str(output_dir), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content)
    return rendered


def parity(env_dir, *options):
    """Run cloud-sync/parity.py -> (exit code, stdout, parity.json)."""
    proc = subprocess.run([PYTHON, PARITY, "--env-dir", str(env_dir)] + list(options), capture_output=True,
                          text=True, check=False)
    report_path = os.path.join(str(env_dir), "parity.json")
    report = load_yaml(report_path) if os.path.exists(report_path) else None
    return proc.returncode, proc.stdout + proc.stderr, report


def rows_by_key(report):
    return dict((row["key"], row) for row in report["rows"])


def run_playbook(tmp_path, playbook, inventory, extra_vars, *options):
    """Run a playbook; return (return code, json report, stderr). Fails if any host was contacted."""
    trap_log = tmp_path / "ssh-calls.log"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.timer",
               ANSIBLE_SSH_EXECUTABLE=os.path.join(REPO_ROOT, "tests", "bin", "no-ssh"),
               KILN_NO_SSH_LOG=str(trap_log), ANSIBLE_CACHE_PLUGIN="memory",
               ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"))
    command = [ANSIBLE_PLAYBOOK, playbook, "-i", str(inventory), "-e", json.dumps(extra_vars)] + list(options)
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert not trap_log.exists(), "%s contacted a host: %s" % (playbook, trap_log.read_text())
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    return proc.returncode, report, proc.stderr


def task_results(report, host="localhost"):
    """{task name without the role prefix: result}; a task that ran more than once keeps its last result."""
    return dict((t["task"]["name"].split(" : ", 1)[-1], t["hosts"][host])
                for play in report["plays"] for t in play["tasks"] if host in t["hosts"])
