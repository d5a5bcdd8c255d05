"""End-to-end tests of the inventory gate: `playbooks/preflight.yml --tags inventory`.

Each case copies inventories/onprem, breaks it the way a user would, runs the
real playbook with ssh replaced by a trap (tests/bin/no-ssh) and asserts the
exact findings, and that no host was contacted.
"""

import json
import os
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ONPREM = os.path.join(REPO, "inventories", "onprem")
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
CLUSTER = "all hosts"


class Inventory(object):
    """A writable copy of inventories/onprem."""

    def __init__(self, path):
        self.path = path
        shutil.copytree(ONPREM, path)

    def edit(self, relpath, change):
        full = os.path.join(self.path, relpath)
        data = {}
        if os.path.exists(full):
            with open(full) as handle:
                data = yaml.safe_load(handle) or {}
        change(data)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            yaml.safe_dump(data, handle)

    def set_var(self, relpath, name, value):
        self.edit(relpath, lambda data: data.__setitem__(name, value))

    def hosts(self, change):
        self.edit("hosts.yml", lambda data: change(data["all"]["children"]))


def run_inventory_gate(inventory_path, tmp_path, vault_password=None):
    trap_log = tmp_path / "ssh-calls.log"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.timer",
               ANSIBLE_SSH_EXECUTABLE=os.path.join(REPO, "tests", "bin", "no-ssh"),
               KILN_NO_SSH_LOG=str(trap_log), ANSIBLE_CACHE_PLUGIN="memory")
    # The sample site's secrets are vault-encrypted with the example password kept beside them.
    if vault_password is None and os.path.exists(os.path.join(inventory_path, "vault-password.example.txt")):
        vault_password = os.path.join(inventory_path, "vault-password.example.txt")
    if vault_password:
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = vault_password
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "playbooks/preflight.yml", "-i", inventory_path, "--tags", "inventory"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert not trap_log.exists(), "preflight --tags inventory contacted a host: %s" % trap_log.read_text()
    # The json callback's document comes first; the timer's line follows it.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    gate = [t for play in report["plays"] for t in play["tasks"]
            if t["task"]["name"].endswith("Validate the inventory model (all findings at once)")]
    assert len(gate) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = gate[0]["hosts"]["localhost"]
    return proc.returncode, result


def findings(result):
    return sorted((f["host"], f["variable"], f["problem"]) for f in result["findings"])


@pytest.fixture
def inventory(tmp_path):
    return Inventory(str(tmp_path / "inventory"))


def test_sample_inventory_passes(tmp_path):
    rc, result = run_inventory_gate(ONPREM, tmp_path)
    assert rc == 0
    assert result["findings"] == []
    assert result["hosts_checked"] == 12


def test_issue_example_reports_all_three_problems_at_once(inventory, tmp_path):
    """Duplicate address, even control plane, pod CIDR overlapping the node network."""
    def break_hosts(groups):
        groups["cpu_workers"]["hosts"]["cpu2"]["ansible_host"] = "10.20.1.41"
        del groups["k8s_cluster"]["children"]["control_plane"]["hosts"]["cp3"]
    inventory.hosts(break_hosts)
    inventory.set_var("group_vars/all/cluster.yml", "kiln_pod_cidr", "10.20.0.0/16")
    rc, result = run_inventory_gate(inventory.path, tmp_path)
    assert rc != 0
    assert result["failed"] is True
    assert "problem(s)" in result["msg"]
    assert findings(result) == sorted([
        ("group control_plane", "control_plane",
         "has 2 host(s) (cp1, cp2); etcd quorum needs an odd count of 1, 3 or 5"),
        ("cpu1", "ansible_host", "10.20.1.41 is also the address of cpu2"),
        ("cpu2", "ansible_host", "10.20.1.41 is also the address of cpu1"),
        (CLUSTER, "kiln_node_cidr/kiln_pod_cidr", "10.20.0.0/22 overlaps 10.20.0.0/16"),
    ] + [(host, "ansible_host", "%s lies inside kiln_pod_cidr 10.20.0.0/16" % address) for host, address in [
        ("cp1", "10.20.0.11"), ("cp2", "10.20.0.12"),
        ("hgx1", "10.20.1.21"), ("hgx2", "10.20.1.22"), ("hgx3", "10.20.1.23"), ("hgx4", "10.20.1.24"),
        ("a100a", "10.20.1.31"), ("a100b", "10.20.1.32"), ("cpu1", "10.20.1.41"), ("cpu2", "10.20.1.41"),
        ("mirror1", "10.20.0.5")]])
    # Every finding says how to fix it.
    assert all(f["fix"] for f in result["findings"])


CASES = [
    ("unsupported kubernetes version",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_kubernetes_version", "1.29.0"),
     [(CLUSTER, "kiln_kubernetes_version", "1.29.0 is not a version Kiln pins (supported: 1.36.1, 1.36.3)")]),
    ("unquoted version",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_kubernetes_version", 1.36),
     [(CLUSTER, "kiln_kubernetes_version", "is 1.36, expected a full version string such as \"1.36.3\"")]),
    ("vip is a node address",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_api_vip", "10.20.0.12"),
     [("cp2", "kiln_api_vip", "10.20.0.12 is the address of host cp2")]),
    ("vip outside node network",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_api_vip", "192.168.7.10"),
     [(CLUSTER, "kiln_api_vip", "192.168.7.10 is outside kiln_node_cidr 10.20.0.0/22")]),
    ("vip missing with three control planes",
     lambda inv: inv.edit("group_vars/all/cluster.yml", lambda d: d.pop("kiln_api_vip")),
     [(CLUSTER, "kiln_api_vip", "is not set")]),
    ("service range overlaps pods",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_service_cidr", "10.244.128.0/20"),
     [(CLUSTER, "kiln_pod_cidr/kiln_service_cidr", "10.244.0.0/16 overlaps 10.244.128.0/20")]),
    ("cidr with host bits",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_pod_cidr", "10.244.0.1/16"),
     [(CLUSTER, "kiln_pod_cidr", "is '10.244.0.1/16', expected a network in CIDR form with no host bits")]),
    ("offline without mirror",
     lambda inv: inv.edit("group_vars/all/cluster.yml", lambda d: d.pop("kiln_artifact_mirror_url")),
     [(CLUSTER, "kiln_artifact_mirror_url", "is not set")]),
    ("cluster variable differs between nodes",
     lambda inv: inv.set_var("host_vars/cpu1.yml", "kiln_pod_cidr", "10.245.0.0/16"),
     [(CLUSTER, "kiln_pod_cidr",
       "differs between nodes (10.244.0.0/16 on a100a, a100b, cp1, cp2, cp3, cpu2, hgx1, hgx2, hgx3, hgx4; "
       "10.245.0.0/16 on cpu1)")]),
    ("node outside node network",
     lambda inv: inv.hosts(lambda g: g["cpu_workers"]["hosts"]["cpu2"].__setitem__("ansible_host", "10.30.0.9")),
     [("cpu2", "ansible_host", "10.30.0.9 is outside kiln_node_cidr 10.20.0.0/22")]),
    ("host name not a kubernetes node name",
     lambda inv: inv.hosts(lambda g: g["cpu_workers"]["hosts"].__setitem__(
         "CPU_3", {"ansible_host": "10.20.1.43"})),
     [("CPU_3", "inventory_hostname",
       "is not a valid Kubernetes node name (lower-case letters, digits and '-')")]),
    ("gpu intent on a cpu worker",
     lambda inv: inv.set_var("host_vars/cpu1.yml", "kiln_gpu", {"model": "NVIDIA A30", "count": 1}),
     [("cpu1", "kiln_gpu", "is set but the host is not in gpu_workers")]),
    ("gpu intent malformed",
     lambda inv: inv.set_var("host_vars/a100a.yml", "kiln_gpu", {
         "model": "NVIDIA A100 80GB PCIe", "count": 0, "mig": {"layout": "nope"}, "time_slicing": {"replicas": 1}}),
     [("a100a", "kiln_gpu.count", "is 0, expected a positive integer"),
      ("a100a", "kiln_gpu.mig.layout",
       "names layout 'nope', which kiln_mig_layouts does not define "
       "(defined: a100-80-2x3g, h100-2x3g, h100-7x1g, h100-balanced)"),
      ("a100a", "kiln_gpu.time_slicing.replicas", "is 1, expected an integer of at least 2")]),
    ("mig gpu index out of range",
     lambda inv: inv.set_var("host_vars/hgx1.yml", "kiln_gpu", {
         "model": "NVIDIA H100 80GB HBM3", "count": 8, "mig": {"layout": "h100-balanced", "per_gpu": {"8": "none"}}}),
     [("hgx1", "kiln_gpu.mig.per_gpu[8]", "GPU index 8 does not exist (the node has 8 GPUs)")]),
    ("impossible mig layout",
     lambda inv: inv.edit("group_vars/all/gpu.yml",
                          lambda d: d["kiln_mig_layouts"].__setitem__("h100-balanced", ["3g.40gb", "3g.40gb", "1g.10gb"])),
     # hgx1-3 use h100-balanced on GPUs 0-5; hgx4 overrides it with h100-7x1g.
     [("hgx%d" % i, "kiln_gpu.mig (layout h100-balanced on GPU 0, 1, 2, 3, 4, 5)", None) for i in (1, 2, 3)]),
    ("registry mirror with a scheme",
     lambda inv: inv.set_var("group_vars/all/cluster.yml", "kiln_registry_mirror", "https://harbor.example.internal"),
     [(CLUSTER, "kiln_registry_mirror",
       "is 'https://harbor.example.internal', not a registry host name with an optional port")]),
    ("chart mirror that is not a URL",
     lambda inv: inv.set_var("group_vars/all/platform.yml", "kiln_chart_repository_url", "harbor.example.internal/charts"),
     [(CLUSTER, "kiln_chart_repository_url", "is 'harbor.example.internal/charts', not a chart repository URL")]),
    ("unknown chart version",
     lambda inv: inv.set_var("group_vars/all/platform.yml", "kiln_velero_chart_version", "9.9.9"),
     [(CLUSTER, "kiln_velero_chart_version", "is '9.9.9', but Kiln pins, mirrors and tests 10.1.0")]),
    # Role cluster_security's admission, quota and priority inputs: refused by the gate, not after the
    # node and Kubernetes layers ran.
    ("admission and quota input",
     lambda inv: [inv.set_var("group_vars/all/platform.yml", name, value) for name, value in (
         ("kiln_allowed_image_registries", ["registry.example.internal:5000", "https://r.example/x"]),
         ("kiln_gpu_quotas", {"dev": {"nvidia.com/gpu": -1}, "research": {"cpu": 2}}),
         ("kiln_priority_classes", [{"name": "system-x", "value": 1},
                                    {"name": "a", "value": 2, "preemption_policy": "Always", "global_default": True},
                                    {"name": "b", "value": 3, "global_default": True}]))],
     [(CLUSTER, "kiln_allowed_image_registries[1]", "is 'https://r.example/x', not a registry host name with an "
                                                     "optional port"),
      (CLUSTER, "kiln_gpu_quotas[dev][nvidia.com/gpu]", "is -1, expected a whole number of 0 or more"),
      (CLUSTER, "kiln_gpu_quotas[research]", "limits 'cpu', not a GPU resource"),
      (CLUSTER, "kiln_gpu_quotas[research]", "names namespace 'research', which Kiln does not create (known: dev, "
                                              "staging, prod, harbor, argocd, istio-system, istio-ingress, velero, "
                                              "monitoring, kserve, gpu-operator)"),
      (CLUSTER, "kiln_priority_classes", "marks 2 classes global_default (a, b)"),
      (CLUSTER, "kiln_priority_classes[0].name", "is 'system-x', expected a lower-case DNS label not starting with "
                                                 "system-"),
      (CLUSTER, "kiln_priority_classes[1].preemption_policy", "is 'Always'")]),
    ("two site registries",
     lambda inv: inv.hosts(lambda g: g.__setitem__("site_registry", {"hosts": {
         "reg1": {"ansible_host": "10.20.0.6"}, "reg2": {"ansible_host": "10.20.0.7"}}})),
     [("group site_registry", "site_registry", "has 2 hosts (reg1, reg2); Kiln runs one bootstrap registry")]),
    ("unknown gpu model",
     lambda inv: inv.set_var("host_vars/hgx2.yml", "kiln_gpu", {
         "model": "NVIDIA B300", "count": 8, "mig": {"layout": "h100-2x3g"}}),
     [("hgx2", "kiln_gpu.model", "unknown GPU model 'NVIDIA B300'; known models: A30-24GB, A100-40GB, A100-80GB, "
                                 "H100-80GB, H100-NVL-94GB, H200-141GB, GH200-96GB, GH200-144GB (or one of their "
                                 "nvidia-smi product names or PCI device ids)")]),
    # MIG asked of a GPU that has none: the fix is to drop kiln_gpu.mig, not to rename the model.
    ("mig on a gpu without mig",
     lambda inv: inv.set_var("host_vars/hgx2.yml", "kiln_gpu", {
         "model": "NVIDIA L40S", "count": 8, "mig": {"layout": "h100-2x3g"}}),
     [("hgx2", "kiln_gpu.mig", "NVIDIA L40S has no MIG (MIG needs an A30, A100, H100, H200 or GH200); "
                               "remove kiln_gpu.mig for it")]),
    # A list where a layout name belongs: a finding naming host and variable, not a Python type error.
    ("list as layout name",
     lambda inv: inv.set_var("host_vars/hgx2.yml", "kiln_gpu", {
         "model": "NVIDIA H100 80GB HBM3", "count": 8, "mig": {"layout": ["h100-2x3g"]}}),
     [("hgx2", "kiln_gpu.mig.layout", "is ['h100-2x3g'], expected the name of a layout")]),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_inventory_is_rejected_with_exact_findings(inventory, tmp_path, mutate, expected):
    mutate(inventory)
    rc, result = run_inventory_gate(inventory.path, tmp_path)
    assert rc != 0 and result["failed"] is True
    got = findings(result)
    # A None problem means "the planner's words"; the host and variable are still exact.
    assert [(h, v) for h, v, _ in got] == sorted((h, v) for h, v, _ in expected)
    for (host, variable, problem), (_, _, want) in zip(got, sorted(expected, key=lambda e: e[:2])):
        if want is not None:
            assert problem == want, (host, variable)
        else:
            assert problem.startswith("cannot be placed on ")
