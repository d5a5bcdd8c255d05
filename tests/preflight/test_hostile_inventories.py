"""Hostile inventories against the real gate (`playbooks/preflight.yml --tags inventory`).

Every value below would run a command or read a file if anything templated it. The gate must refuse each one,
naming host and variable, before any host is contacted; no marker file may appear and nothing may be written
outside the test's own directory (the repository stays as it was).
"""

import os
import subprocess

import pytest

from test_inventory_preflight import CLUSTER, REPO, Inventory, findings, run_inventory_gate


def _pipe(marker):
    return "{{ lookup('pipe', 'touch %s') }}" % marker


def _write(inventory, relpath, text):
    full = os.path.join(inventory.path, relpath)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def _billion_laughs():
    lines = ["---", "kiln_node_labels:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join(["*l%d" % (level - 1) if level > 1 else "*a"] * 10)
        lines.append("  l%d: &l%d [%s]" % (level, level, refs))
    return "\n".join(lines) + "\n"


KEY = "{{ lookup('file', '/etc/hostname') }}"
# (id, change(inventory, marker), [(host, variable)] the findings must name exactly)
CASES = [
    ("lookup in ansible_host",
     lambda inv, m: inv.hosts(lambda c: c["k8s_cluster"]["children"]["control_plane"]["hosts"]["cp2"].update(
         ansible_host=_pipe(m))),
     [("cp2", "ansible_host")]),
    ("lookup in kiln_gpu.model",
     lambda inv, m: inv.set_var("host_vars/hgx4.yml", "kiln_gpu", {"model": _pipe(m), "count": 8}),
     [("hgx4", "kiln_gpu.model")]),
    ("statement in a cluster-wide variable",
     lambda inv, m: inv.set_var("group_vars/all/cluster.yml", "kiln_cluster_name",
                                "{%% set x = lookup('pipe', 'touch %s') %%}gpu" % m),
     [(CLUSTER, "kiln_cluster_name")]),
    ("template in a mapping key of kiln_mig_layouts",
     lambda inv, m: inv.edit("group_vars/all/gpu.yml", lambda d: d["kiln_mig_layouts"].update({KEY: ["7g.80gb"]})),
     [(CLUSTER, "kiln_mig_layouts (key %r)" % KEY)]),
    ("template deep in a list of mappings",
     lambda inv, m: inv.set_var("group_vars/all/platform.yml", "kiln_operator_groups",
                                [{"group": "ops", "cluster_role": "view", "namespaces": ["dev", _pipe(m)]}]),
     [(CLUSTER, "kiln_operator_groups[0].namespaces[1]")]),
    # Connection variables apply to the controller's own implicit localhost too: the gate's play pins its own.
    ("lookup in ansible_connection and the interpreter",
     lambda inv, m: (inv.set_var("group_vars/all/cluster.yml", "ansible_connection", _pipe(m)),
                     inv.set_var("group_vars/all/cluster.yml", "ansible_python_interpreter", _pipe(m + "2"))),
     [(CLUSTER, "ansible_connection"), (CLUSTER, "ansible_python_interpreter")]),
    ("template in an extra-vars style role input",
     lambda inv, m: inv.set_var("group_vars/all/platform.yml", "velero_s3_url", _pipe(m)),
     [(CLUSTER, "velero_s3_url")]),
    ("shell metacharacters in ansible_host",
     lambda inv, m: inv.hosts(lambda c: c["gpu_workers"]["children"]["hgx_h100"]["hosts"]["hgx1"].update(
         ansible_host="10.20.1.21; touch %s" % m)),
     [("hgx1", "ansible_host")]),
    ("command substitution in a registry host name",
     lambda inv, m: inv.set_var("group_vars/all/cluster.yml", "kiln_registry_mirror", "$(touch %s)" % m),
     [(CLUSTER, "kiln_registry_mirror")]),
    ("over-long and non-ASCII host names",
     lambda inv, m: inv.hosts(lambda c: c["cpu_workers"]["hosts"].update(
         {"n" * 300: {"ansible_host": "10.20.2.1"}, "gpü1": {"ansible_host": "10.20.2.2"}})),
     [("n" * 300, "inventory_hostname"), ("gpü1", "inventory_hostname")]),
    ("YAML alias bomb",
     lambda inv, m: _write(inv, "group_vars/all/labels.yml", _billion_laughs()),
     [(CLUSTER, "kiln_node_labels")]),
    ("a string where a list belongs, and a misspelled name",
     lambda inv, m: (inv.set_var("group_vars/all/platform.yml", "kiln_environments", "dev"),
                     inv.set_var("group_vars/all/platform.yml", "kiln_enviroments", ["dev"])),
     [(CLUSTER, "kiln_environments"), (CLUSTER, "kiln_enviroments")]),
]


def _repo_state():
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(scope="module")
def repo_before():
    return _repo_state()


@pytest.mark.parametrize("change,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_value_is_refused_and_never_evaluated(tmp_path, repo_before, change, expected):
    inventory = Inventory(str(tmp_path / "inventory"))
    marker = str(tmp_path / "PWNED")
    change(inventory, marker)
    rc, result = run_inventory_gate(inventory.path, tmp_path)
    assert rc != 0 and result["failed"] is True
    assert [(h, v) for h, v, _ in findings(result)] == sorted(expected), result["msg"]
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith("PWNED")], "an inventory value was evaluated"
    assert _repo_state() == repo_before, "the gate wrote into the repository"


def test_python_object_tags_are_refused_by_the_loader(tmp_path):
    """PyYAML's object tags never construct anything: Ansible's loader refuses the file before any host."""
    inventory = Inventory(str(tmp_path / "inventory"))
    marker = str(tmp_path / "PWNED")
    _write(inventory, "group_vars/all/evil.yml",
           "---\nkiln_node_labels: !!python/object/apply:os.system [\"touch %s\"]\n" % marker)
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "playbooks/preflight.yml",
                           "-i", inventory.path, "--tags", "inventory"], cwd=REPO, capture_output=True, text=True,
                          check=False,
                          env=dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(
                              inventory.path, "vault-password.example.txt")))
    assert proc.returncode != 0
    # ansible-core 2.19's message names the tag, not the file (the gate never runs: vars loading stops first).
    assert "Could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'" in (
        proc.stdout + proc.stderr)
    assert not os.path.exists(marker)


def _encrypted(tmp_path, secret, password):
    password_file = tmp_path / "other-vault-password"
    password_file.write_text(password + "\n")
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-vault"), "encrypt_string",
                           "--vault-password-file", str(password_file), "--name", "kiln_openbao_init_vault_password",
                           secret], capture_output=True, text=True, check=True)
    return proc.stdout


def test_a_vault_value_that_does_not_decrypt_names_its_file(tmp_path):
    inventory = Inventory(str(tmp_path / "inventory"))
    _write(inventory, "group_vars/all/vault.yml",
           "---\n" + _encrypted(tmp_path, "a-secret-of-twenty-chars", "not-the-sites-password"))
    rc, result = run_inventory_gate(inventory.path, tmp_path)
    assert rc != 0
    (host, variable, problem), = findings(result)
    assert (host, variable) == (CLUSTER, "kiln_openbao_init_vault_password")
    assert "(set in group_vars/all/vault.yml:2) but cannot be decrypted" in problem, problem
    assert "a-secret-of-twenty-chars" not in result["msg"]


def test_the_platform_layer_without_its_vault_secret_fails_in_preflight(tmp_path):
    """No kiln_openbao_init_vault_password and no PGP keys: role openbao would stop after the node and Kubernetes
    layers ran; the gate says so first."""
    inventory = Inventory(str(tmp_path / "inventory"))
    os.remove(os.path.join(inventory.path, "group_vars", "all", "vault.yml"))
    rc, result = run_inventory_gate(inventory.path, tmp_path)
    assert rc != 0
    assert [(h, v) for h, v, _ in findings(result)] == [(CLUSTER, "kiln_openbao_init_vault_password")]
    assert "is not set, and the platform layer needs it" in result["msg"]


def test_site_yml_stops_at_the_gate_before_any_host(tmp_path):
    """The whole of site.yml with that inventory: it fails in the inventory gate and no host is contacted."""
    inventory = Inventory(str(tmp_path / "inventory"))
    os.remove(os.path.join(inventory.path, "group_vars", "all", "vault.yml"))
    trap_log = tmp_path / "ssh-calls.log"
    env = dict(os.environ, ANSIBLE_SSH_EXECUTABLE=os.path.join(REPO, "tests", "bin", "no-ssh"),
               KILN_NO_SSH_LOG=str(trap_log), ANSIBLE_CACHE_PLUGIN="memory")
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "site.yml", "-i", inventory.path],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "kiln_openbao_init_vault_password: is not set" in proc.stdout, proc.stdout[-3000:]
    assert not trap_log.exists(), trap_log.read_text()
