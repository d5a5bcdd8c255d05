"""Helpers shared by the lab smoke test and the benchmarks: drive the lab and
ansible-playbook, and read PLAY RECAP totals from a run's output."""

import os
import re
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LAB_INVENTORY = os.path.join(REPO, "inventories", "lab")
OUTPUT_DIR = os.path.join(REPO, "tests", "output")
RECAP_RE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def lab(action):
    subprocess.run(["python3", os.path.join(REPO, "lab", "lab.py"), action], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)


def playbook(name, log_name, *extra, expect_failure=False):
    """Runs a playbook against the lab; returns (seconds, recap, output). Output is kept under tests/output.
    With expect_failure, a run that succeeds is the error."""
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", name, "-i", LAB_INVENTORY] + list(extra), cwd=REPO,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    with open(os.path.join(OUTPUT_DIR, log_name + ".log"), "w") as handle:
        handle.write(output)
    if expect_failure and proc.returncode == 0:
        raise AssertionError("%s succeeded, a failure was expected:\n%s" % (name, output[-6000:]))
    if proc.returncode != 0 and not expect_failure:
        raise AssertionError("%s failed (rc %d):\n%s" % (name, proc.returncode, output[-6000:]))
    recap = dict((m.group(1), {"ok": int(m.group(2)), "changed": int(m.group(3)),
                               "unreachable": int(m.group(4)), "failed": int(m.group(5))})
                 for m in RECAP_RE.finditer(output))
    return seconds, recap, output


def lab_setting(key):
    """A cluster setting of the lab inventory (inventories/lab/group_vars/all/cluster.yml)."""
    import yaml
    with open(os.path.join(LAB_INVENTORY, "group_vars", "all", "cluster.yml")) as handle:
        return yaml.safe_load(handle)[key]


def total_changed(recap):
    return sum(host["changed"] for host in recap.values())


def kubectl(*args, stdin=None, check=True):
    """kubectl on the lab's first control-plane node (admin kubeconfig stays there)."""
    proc = subprocess.run(["podman", "exec", "-i", os.environ.get("LAB_NAME", "kiln-lab") + "-cp1", "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
                          + list(args), input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("kubectl %s failed (rc %d): %s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc.stdout


OPENBAO_STATE = os.path.join(REPO, ".lab", "openbao")


def openbao_vault_file(name):
    """A JSON document Kiln keeps ansible-vault encrypted in the lab's OpenBao state directory
    (init.vault: unseal keys and root token; approle.vault: Kiln's AppRole credentials)."""
    import json
    from ansible.parsing.vault import VaultLib, VaultSecret
    with open(os.path.join(OPENBAO_STATE, "vault-password")) as handle:
        password = handle.read().strip()
    with open(os.path.join(OPENBAO_STATE, name)) as handle:
        text = handle.read()
    return json.loads(VaultLib([("filter_default", VaultSecret(password.encode()))]).decrypt(text))


def openbao_client(address, token=None):
    import hvac
    return hvac.Client(url="https://%s:8200" % address, token=token, verify=os.path.join(OPENBAO_STATE, "ca.crt"))


def openbao_admin_client(address):
    """A client logged in as Kiln: with its AppRole when Kiln has one (the root token is then revoked), else
    with the root token."""
    client = openbao_client(address)
    if os.path.exists(os.path.join(OPENBAO_STATE, "approle.vault")):
        approle = openbao_vault_file("approle.vault")
        client.auth.approle.login(role_id=approle["role_id"], secret_id=approle["secret_id"])
    else:
        client.token = openbao_vault_file("init.vault")["root_token"]
    return client
