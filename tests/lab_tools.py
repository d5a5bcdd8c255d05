"""Helpers shared by the lab smoke test and the benchmarks: drive the lab and
ansible-playbook, and read PLAY RECAP totals from a run's output."""

import json
import os
import re
import subprocess
import time
import uuid

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


def wait_for(what, probe, timeout=180):
    """probe() until it returns something true (returned), or AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(3)


def lab_inventory_var(name):
    """A variable lab/lab.py wrote into the lab inventory (inventories/lab/hosts.yml, all.vars)."""
    import yaml
    with open(os.path.join(LAB_INVENTORY, "hosts.yml")) as handle:
        return yaml.safe_load(handle)["all"]["vars"][name]


def pinned(name):
    """A pin of roles/kiln/defaults/main/versions.yml."""
    import yaml
    with open(os.path.join(REPO, "roles", "kiln", "defaults", "main", "versions.yml")) as handle:
        return str(yaml.safe_load(handle)[name])


def s3_entries(path):
    """Names in a folder of the lab's S3 bucket (lab/lab.py), read with SeaweedFS's admin shell on the registry
    host: the store takes only signed requests, and the test holds no key."""
    proc = subprocess.run(["podman", "exec", "-i", os.environ.get("LAB_NAME", "kiln-lab") + "-registry",
                           "/usr/local/bin/weed", "shell", "-master=%s:9333" % lab_inventory_var(
                               "kiln_velero_s3_url").split("//")[1].split(":")[0]],
                          input="fs.ls /buckets/%s/%s\n" % (lab_inventory_var("kiln_velero_s3_bucket"), path.strip("/")),
                          capture_output=True, text=True, check=False)
    return [line.strip() for line in proc.stdout.splitlines() if line.strip() and not line.startswith(">")]


def _velero_get(kind, name):
    return json.loads(kubectl("get", kind, "-n", "velero", name, "-o", "json"))


def velero_drill(namespace, node, log_prefix="velero-drill"):
    """The backup and restore drill, as an operator runs it: a pod writes a random token into its volume in
    namespace; a Velero Backup of the namespace (file-system backup of the volume by the node agent); the
    namespace is deleted; playbooks/restore-test.yml restores the newest backup into its scratch namespace
    (kept); the token is read back there. Returns what the caller asserts on and the drill's figures."""
    token = uuid.uuid4().hex
    kubectl("create", "namespace", namespace, check=False)
    # A pod the restricted Pod Security level admits, on Velero's own image (it has a shell).
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "data-holder", "namespace": namespace},
           "spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}],
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "containers": [{"name": "holder", "image": "docker.io/velero/velero:v" + pinned("kiln_velero_version"),
                                    "command": ["/bin/sh", "-c"],
                                    "args": ["printf %s " + token + " > /data/proof && exec sleep 86400"],
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                    "securityContext": {"allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    kubectl("wait", "--for=condition=Ready", "pod/data-holder", "-n", namespace, "--timeout=180s")
    written = kubectl("exec", "-n", namespace, "data-holder", "--", "cat", "/data/proof")
    location = wait_for("the backup location to be Available", lambda: _velero_get(
        "backupstoragelocations.velero.io", "default").get("status", {}).get("phase") == "Available" and "Available")

    backup = "%s-%d" % (namespace, time.time())
    kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": backup, "namespace": "velero"},
        "spec": {"includedNamespaces": [namespace], "defaultVolumesToFsBackup": True,
                 "storageLocation": "default", "ttl": "2h"}}))
    started = time.monotonic()
    ended = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")
    status = wait_for("backup " + backup + " to end", lambda: (lambda st: st if st.get("phase") in ended else None)(
        _velero_get("backups.velero.io", backup).get("status", {})), timeout=300)
    backup_seconds = time.monotonic() - started
    backed_up_at = time.time()
    volume_backups = json.loads(kubectl("get", "podvolumebackups.velero.io", "-n", "velero", "-l",
                                        "velero.io/backup-name=" + backup, "-o", "json"))["items"]
    prefix = lab_setting("kiln_cluster_name")
    drill = {"token": token, "written": written, "location": location, "backup": backup, "backup_status": status,
             "volume_backups": [(v["spec"]["volume"], v.get("status", {}).get("phase")) for v in volume_backups],
             "backup_objects": s3_entries("%s/backups/%s" % (prefix, backup)),
             "kopia_objects": s3_entries("%s/kopia/%s" % (prefix, namespace)), "prefix": prefix,
             "backup_seconds": backup_seconds}
    if status.get("phase") != "Completed":
        return drill

    kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s")
    drill["restore_seconds"], _, _ = playbook("playbooks/restore-test.yml", log_prefix + "-restore-test",
                                              "-e", "velero_restore_test_namespace=" + namespace,
                                              "-e", "velero_restore_test_keep=true")
    drill["backup_age_at_restore"] = time.time() - backed_up_at
    drill["restores"] = [r for r in json.loads(kubectl("get", "restores.velero.io", "-n", "velero", "-l",
                                                       "kiln.io/restore-test=true", "-o", "json"))["items"]
                         if r["spec"]["backupName"] == backup]
    if len(drill["restores"]) == 1:
        scratch = drill["scratch"] = drill["restores"][0]["metadata"]["name"]
        try:
            kubectl("wait", "--for=condition=Ready", "pod/data-holder", "-n", scratch, "--timeout=180s")
            drill["restored"] = kubectl("exec", "-n", scratch, "data-holder", "-c", "holder", "--", "cat", "/data/proof")
        finally:
            kubectl("delete", "namespace", scratch, "--wait=false")
    return drill


def _lab_module():
    """lab/lab.py as a module (its Git server settings and the environment that reaches it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("kiln_lab", os.path.join(REPO, "lab", "lab.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gitops_push(revision):
    """Pushes a commit to the lab's Git server (the site repository Argo CD follows) that sets the GitOps
    proof's ConfigMap data to revision; returns the commit's sha."""
    import tempfile
    env = _lab_module().git_env()
    url = lab_inventory_var("kiln_argocd_repo_url")
    with tempfile.TemporaryDirectory() as work:
        def git(*args):
            return subprocess.run(["git", "-C", work] + list(args), env=env, capture_output=True, text=True,
                                  check=True).stdout.strip()
        subprocess.run(["git", "clone", "-q", url, work], env=env, capture_output=True, text=True, check=True)
        path = os.path.join(work, "workloads", "gitops-proof", "configmap.json")
        with open(path) as handle:
            document = json.load(handle)
        document["data"]["revision"] = revision
        with open(path, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        git("commit", "-q", "-am", "GitOps proof: revision " + revision)
        git("push", "-q", "origin", "main")
        return git("rev-parse", "HEAD")
