"""Lab smoke test: real nodes, site.yml twice (the second run changes nothing),
and a real kubeadm cluster at the end: Ready nodes, pod networking across
nodes, Services and cluster DNS, and the GPU intent as (simulated) capacity.
The cluster starts one patch release behind the pin (KILN_UPGRADE_FROM) so
that playbooks/upgrade.yml is exercised; everything after runs at the pin.

Recreates the lab from scratch (lab-down, lab-up) and removes it afterwards.
"""

import base64
import json
import os
import subprocess
import sys
import time

import hvac
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from awx_runner import run_job_template  # noqa: E402
from lab_tools import (OPENBAO_STATE, OUTPUT_DIR, REPO, gitops_push, kubectl, lab, lab_setting,  # noqa: E402
                       openbao_admin_client, openbao_client, openbao_vault_file, playbook, total_changed, velero_drill)
from lab_tools import lab_inventory_var as _lab_inventory_var, pinned as _pinned, wait_for as _wait  # noqa: E402

NAMESPACE = "kiln-smoke"
PROBE_IMAGE = "kiln.local/netcheck:v1"
# Lab nodes with the GPU intent of inventories/lab/host_vars/*.yml.
GPU_NODES = ("gpu1", "gpu2")
NODES = ("cp1",) + GPU_NODES
# The Makefile builds the bundle for both versions (make bundle, bundle-upgrade-from).
UPGRADE_FROM = os.environ.get("KILN_UPGRADE_FROM", "1.36.1")
PINNED = lab_setting("kiln_kubernetes_version")
FROM = ("-e", "kiln_kubernetes_version=" + UPGRADE_FROM)


@pytest.fixture(scope="module")
def fresh_lab():
    lab("down")
    lab("up")
    yield
    lab("down")


@pytest.fixture(scope="module")
def converged(fresh_lab):
    _, first, _ = playbook("site.yml", "site-first", *FROM)
    return first


def test_site_converges_then_reruns_with_no_change(converged):
    assert set(converged) >= {"cp1", "gpu1", "gpu2"}
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in converged.values())
    assert total_changed(converged) > 0, "a first converge of bare nodes must change them"

    # The rerun goes the way operators run Kiln: AWX's "Kiln deploy site" job template through ansible-runner,
    # with the template's survey defaults as extra vars.
    runner = run_job_template("Kiln deploy site", "inventories/lab", {"kiln_kubernetes_version": UPGRADE_FROM},
                              private_data_dir=os.path.join(REPO, ".lab", "awx-runner"))
    output = runner.stdout.read()
    with open(os.path.join(OUTPUT_DIR, "site-second.log"), "w") as handle:
        handle.write(output)
    assert (runner.status, runner.rc) == ("successful", 0), output[-4000:]
    assert set(runner.stats["ok"]) >= {"cp1", "gpu1", "gpu2"}, runner.stats
    assert runner.stats["changed"] == {}, "the site rerun through AWX's job template changed something: %s\n%s" % (
        runner.stats["changed"], output[-4000:])


def _assert_no_change(recap, what, output):
    changed = dict((host, r["changed"]) for host, r in recap.items() if r["changed"])
    assert not changed, "%s changed something: %s\n%s" % (what, changed, output[-4000:])
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap


# --- the platform layer (playbooks/platform.yml, the last layer of site.yml) ----------------------------------

RENDERED = os.path.join(REPO, "out", "platform", lab_setting("kiln_cluster_name"))
CREDENTIALS = ("harbor/admin", "argocd/admin", "grafana/admin")


def _openbao_address():
    return _node_sh("cp1", "hostname -I").split()[0]


@pytest.fixture(scope="module")
def platform_secrets(converged):
    """Every secret Kiln made for the platform, read while OpenBao runs (before the lifecycle tests)."""
    init = openbao_vault_file("init.vault")
    approle = openbao_vault_file("approle.vault")
    client = openbao_admin_client(_openbao_address())
    secrets = list(init["keys_base64"]) + [init["root_token"], approle["secret_id"]]
    for path in CREDENTIALS:
        secrets += list(client.secrets.kv.v2.read_secret_version(
            mount_point="kiln", path=path, raise_on_deleted_version=True)["data"]["data"].values())
    # The Secrets encryption key (role control_plane), kept in OpenBao by role openbao.
    secrets.append(client.secrets.kv.v2.read_secret_version(
        mount_point="kiln", path="cluster/encryption-at-rest", raise_on_deleted_version=True)["data"]["data"]["secret"])
    assert all(len(secret) >= 16 for secret in secrets)
    return secrets


def test_openbao_is_initialised_once_unsealed_and_holds_the_platform_credentials(converged, platform_secrets):
    for name in ("init.vault", "approle.vault"):
        assert oct(os.stat(os.path.join(OPENBAO_STATE, name)).st_mode & 0o777) == "0o600", name
    init = openbao_vault_file("init.vault")
    client = openbao_admin_client(_openbao_address())
    assert client.auth.token.lookup_self()["data"]["policies"] == ["default", "kiln-admin"]
    # The inventory asks for the root token to be revoked once Kiln has its AppRole.
    with pytest.raises(hvac.exceptions.Forbidden):
        openbao_client(_openbao_address(), init["root_token"]).auth.token.lookup_self()
    status = client.sys.read_seal_status()
    assert status["initialized"] and not status["sealed"], status
    assert (status["n"], status["t"]) == (3, 2)
    assert {"kiln/", "pki/", "pki_int/"} <= set(client.sys.list_mounted_secrets_engines()["data"])
    assert "kubernetes/" in client.sys.list_auth_methods()["data"]
    for path in CREDENTIALS:
        secret = client.secrets.kv.v2.read_secret_version(mount_point="kiln", path=path, raise_on_deleted_version=True)
        assert len(secret["data"]["data"]["password"]) >= 32, path


def test_every_rendered_platform_resource_is_in_the_cluster_as_rendered(converged):
    """The API server accepted every resource Kiln rendered (its own schema validation, against the upstream
    CRDs for custom resources), and holds them exactly: a server-side diff of each role's set is empty."""
    roles = sorted(os.listdir(RENDERED))
    assert "cluster_security" in roles, roles
    for role in roles:
        if role == "values":
            continue
        node_dir = "/etc/kiln/platform/" + role
        proc = _node_run("cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf diff --server-side -f " + node_dir)
        assert proc.returncode == 0, "%s differs from the cluster:\n%s%s" % (role, proc.stdout[-3000:], proc.stderr)
    namespaces = json.loads(kubectl("get", "namespaces", "-l", "app.kubernetes.io/managed-by=kiln", "-o", "json"))
    labels = dict((n["metadata"]["name"], n["metadata"]["labels"]) for n in namespaces["items"])
    assert labels["dev"]["pod-security.kubernetes.io/enforce"] == "restricted"
    denies = json.loads(kubectl("get", "networkpolicies", "-A", "--field-selector", "metadata.name=default-deny",
                                "-o", "json"))["items"]
    assert set(p["metadata"]["namespace"] for p in denies) == set(labels)


def test_pod_security_is_enforced_in_the_environments(converged):
    """A privileged pod is refused in a restricted namespace by the real admission controller."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kiln-psa-probe", "namespace": "dev"},
           "spec": {"containers": [{"name": "probe", "image": PROBE_IMAGE,
                                    "securityContext": {"privileged": True}}]}}
    proc = _node_run("cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf apply --dry-run=server -f -",
                     stdin=json.dumps(pod))
    assert proc.returncode != 0 and "violates PodSecurity" in proc.stderr, proc.stdout + proc.stderr


def _dry_run(pod):
    """The API server's answer to creating pod (all admission, nothing stored): (admitted, message)."""
    proc = _node_run("cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf apply --dry-run=server -f -",
                     stdin=json.dumps(pod))
    return proc.returncode == 0, proc.stdout + proc.stderr


def _gpu_pod(name, namespace, image=PROBE_IMAGE, gpus=0):
    pod = _restricted_pod(name, namespace, ["serve", ":8080"])
    pod["spec"]["containers"][0]["image"] = image
    if gpus:
        pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    return pod


def test_admission_policies_and_gpu_quotas_refuse_what_the_baseline_forbids(converged):
    """Kiln's ValidatingAdmissionPolicies and GPU quotas (role cluster_security, lab inventory: dev may use one
    GPU), each proven by the real API server refusing an object; a conforming pod is admitted."""
    # Quota admission counts against the quota's status, which the controller manager fills in.
    _wait("the dev GPU quota's status", lambda: kubectl("get", "resourcequota", "-n", "dev", "kiln-gpu", "-o",
                                                        "jsonpath={.status.hard}").strip() not in ("", "{}"))
    admitted, message = _dry_run(_gpu_pod("kiln-admission-ok", "dev", gpus=1))
    assert admitted, message
    refused = {
        "kiln-image-tag-pinned": _gpu_pod("kiln-latest", "dev", image="kiln.local/netcheck:latest"),
        "kiln-image-registry-allowed": _gpu_pod("kiln-elsewhere", "dev", image="registry.invalid.example/netcheck:v1"),
        "kiln-gpu-namespaces": _gpu_pod("kiln-gpu-in-staging", "staging", gpus=1),
        "exceeded quota: kiln-gpu": _gpu_pod("kiln-over-quota", "dev", gpus=2),
    }
    for expected, pod in refused.items():
        admitted, message = _dry_run(pod)
        assert not admitted and expected in message, (expected, message)
    classes = json.loads(kubectl("get", "priorityclasses", "-l", "app.kubernetes.io/managed-by=kiln", "-o", "json"))
    assert [(c["metadata"]["name"], c["value"]) for c in classes["items"]] == [("kiln-gpu-training", 1000)]


def test_the_api_server_audits_requests_and_keeps_secrets_encrypted_in_etcd(converged, platform_secrets):
    """kube-apiserver's audit log holds a request by a test user; a Secret's raw etcd value is secretbox
    ciphertext under the key Kiln made once and keeps in OpenBao; OpenBao's own audit device logs requests."""
    probe_user = "kiln-audit-probe-%d" % int(time.time())
    _node_run("cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf --as=%s get configmaps -n dev" % probe_user)
    log = "/var/log/kubernetes/audit/audit.log"
    lines = _wait("the audit log to name " + probe_user,
                  lambda: _node_run("cp1", "grep -h -- %s %s*" % (probe_user, log)).stdout.splitlines())
    event = json.loads(lines[0])
    assert (event["impersonatedUser"]["username"], event["verb"], event["objectRef"]["resource"],
            event["objectRef"]["namespace"], event["responseStatus"]["code"]) == (probe_user, "list", "configmaps",
                                                                                  "dev", 403), event
    assert "requestObject" not in event and "responseObject" not in event  # metadata only, never a body
    assert _node_sh("cp1", "stat -c %a /var/log/kubernetes/audit").strip() == "700"

    token = "kiln-plaintext-%d" % int(time.time())
    kubectl("create", "secret", "generic", "kiln-encryption-probe", "-n", "dev", "--from-literal=token=" + token)
    try:
        # The node's etcdctl (role etcd_backup): the etcd image holds only etcd.
        raw = json.loads(_node_sh("cp1", "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 "
                                  "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt "
                                  "--key=/etc/kubernetes/pki/etcd/server.key -w json "
                                  "get /registry/secrets/dev/kiln-encryption-probe"))
        value = base64.b64decode(raw["kvs"][0]["value"])
        assert value.startswith(b"k8s:enc:secretbox:v1:kiln-1:"), value[:40]
        assert token.encode() not in value
    finally:
        kubectl("delete", "secret", "-n", "dev", "kiln-encryption-probe")
    kept = openbao_admin_client(_openbao_address()).secrets.kv.v2.read_secret_version(
        mount_point="kiln", path="cluster/encryption-at-rest", raise_on_deleted_version=True)["data"]["data"]
    on_node = _node_sh("cp1", "grep -A0 'secret:' /etc/kubernetes/encryption/config.yaml").split("secret:")[1].strip()
    assert (kept["provider"], kept["name"], kept["secret"]) == ("secretbox", "kiln-1", on_node)
    assert _node_sh("cp1", "stat -c %a /etc/kubernetes/encryption/config.yaml").strip() == "600"

    # OpenBao's declarative file audit device: the read above is in its log (path in clear, values HMAC'd).
    bao_log = "/var/log/openbao/audit.log"
    assert _node_sh("cp1", "stat -c %a " + bao_log).strip() == "600"
    assert _wait("OpenBao's audit log to show the read",
                 lambda: "kiln/data/cluster/encryption-at-rest" in _node_sh("cp1", "cat " + bao_log))
    assert on_node not in _node_sh("cp1", "cat " + bao_log)


# --- the air-gap path: site registry, chart mirror, containerd's mirror drop-ins -------------------------------

SITE_REGISTRY_CA = os.path.join(REPO, ".lab", "site-registry", "ca.crt")
# The lab has its site registry unless LAB_SITE_REGISTRY=0 (lab/lab.py).
needs_site_registry = pytest.mark.skipif(os.environ.get("LAB_SITE_REGISTRY", "1") == "0",
                                         reason="the lab runs without its site registry (LAB_SITE_REGISTRY=0)")


def _registry_get(path):
    import ssl
    import urllib.request
    context = ssl.create_default_context(cafile=SITE_REGISTRY_CA)
    url = "https://%s%s" % (_lab_inventory_var("kiln_registry_mirror"), path)
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return json.loads(response.read())


@needs_site_registry
def test_the_site_registry_serves_the_bundle_over_tls_from_its_own_ca(converged):
    """The lab's registry host runs the bundle's registry build; mirror seeding put the platform images under the
    mirror projects containerd asks for, and the charts under the chart mirror (verified with Kiln's CA only)."""
    assert oct(os.stat(SITE_REGISTRY_CA).st_mode & 0o777) == "0o644"
    repositories = set(_registry_get("/v2/_catalog?n=1000")["repositories"])
    assert {"dockerhub/cloudnativelabs/kube-router", "dockerhub/library/registry"} <= repositories, repositories
    assert {"charts/velero", "charts/argo-cd", "charts/gpu-operator"} <= repositories, repositories
    assert _registry_get("/v2/charts/velero/tags/list")["tags"] == [_pinned("kiln_velero_chart_version")]
    # Every node trusts the registry's CA through the system store, as containerd and Helm read it.
    for node in NODES:
        _node_sh(node, "curl -sf https://%s/v2/ >/dev/null" % _lab_inventory_var("kiln_registry_mirror"))


@needs_site_registry
def test_platform_images_are_pulled_through_the_mirror_not_side_loaded(converged):
    """kube-router (NetworkPolicy) runs on every node from docker.io/cloudnativelabs/kube-router, which no node
    imported: containerd resolved it through hosts.toml to the site registry, whose log shows each pull."""
    ref = "docker.io/cloudnativelabs/kube-router:v" + _pinned("kiln_kube_router_version")
    pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-l", "app.kubernetes.io/name=kiln-kube-router",
                              "-o", "json"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(NODES)
    for pod in pods:
        assert all(c["ready"] for c in pod["status"]["containerStatuses"]), pod["status"]
        assert pod["status"]["containerStatuses"][0]["image"] == ref
    for node in NODES:
        hosts_toml = _node_sh(node, "cat /etc/containerd/certs.d/docker.io/hosts.toml")
        assert "https://%s/v2/dockerhub" % _lab_inventory_var("kiln_registry_mirror") in hosts_toml
        assert not _node_sh(node, "ls /var/lib/kiln/images 2>/dev/null | grep -i kube-router || true").strip()
    pulls = _node_sh("registry", "journalctl -u kiln-registry --no-pager -o cat | "
                                 "grep -c 'GET /v2/dockerhub/cloudnativelabs/kube-router/manifests/' || true")
    assert int(pulls.strip()) >= len(NODES), pulls


def _restricted_pod(name, namespace, command, node="gpu1", restart="Never"):
    """A netcheck pod that Pod Security's restricted level admits."""
    pod = _pod(name, node, command, restart)
    pod["metadata"]["namespace"] = namespace
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 65534,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    pod["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False,
                                                       "capabilities": {"drop": ["ALL"]}}
    return pod


def _fetch_from(namespace, client, url):
    """One HTTP GET from a running client pod; the body, or None when the request failed (refused, timed out)."""
    proc = subprocess.run(["podman", "exec", "-i", os.environ.get("LAB_NAME", "kiln-lab") + "-cp1", "kubectl",
                           "--kubeconfig", "/etc/kubernetes/admin.conf", "exec", "-n", namespace, client, "--",
                           "/netcheck", "get", url], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


@needs_site_registry
def test_network_policies_are_enforced(converged):
    """cluster_security's default-deny and allows, enforced by kube-router (role network_policy): a server in the
    dev environment answers its own namespace and monitoring (allowed), not staging (its egress is denied) nor
    an unmanaged namespace (dev's ingress is denied), on the same node and across nodes.

    The clients are long-running pods, probed with `kubectl exec`: kube-router adds a new pod's address to the
    policies' address sets a moment after the pod starts (a pod that fetches as it starts is denied by the
    allow rules it is not in yet). The proof waits for the policies to have converged (the allowed fetches
    answer and the unmanaged one is refused, in one round), then checks the denied ones again."""
    unmanaged = "kiln-np-probe"
    kubectl("create", "namespace", unmanaged, check=False)
    clients = {"dev": "gpu2", "monitoring": "gpu1", "staging": "gpu2", unmanaged: "gpu1"}
    pods = [_restricted_pod("np-server", "dev", ["serve", ":8080"], node="gpu1", restart="Always")]
    pods += [_restricted_pod("np-client", ns, ["serve", ":8081"], node=node, restart="Always")
             for ns, node in clients.items()]
    try:
        for pod in pods:
            kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        for ns in clients:
            kubectl("wait", "--for=condition=Ready", "pod/np-client", "-n", ns, "--timeout=120s")
        ip = _wait("np-server running", lambda: kubectl("get", "pod", "-n", "dev", "np-server", "-o",
                                                        "jsonpath={.status.phase}/{.status.podIP}").strip().partition(
                                                            "Running/")[2])
        url = "http://%s:8080/" % ip
        allowed = ("dev", "monitoring")

        def converged_round():
            results = {ns: _fetch_from(ns, "np-client", url) for ns in allowed + (unmanaged,)}
            return results if all(results[ns] == "np-server\n" for ns in allowed) and results[unmanaged] is None \
                else None

        _wait("the policies to allow dev and monitoring and deny an unmanaged namespace", converged_round, timeout=120)
        # Converged: the denied stay denied (the request never reaches the server), the allowed stay allowed.
        for denied in ("staging", unmanaged):
            assert _fetch_from(denied, "np-client", url) is None, denied
        for ns in allowed:
            assert _fetch_from(ns, "np-client", url) == "np-server\n", ns
    finally:
        for pod in pods:
            kubectl("delete", "pod", "-n", pod["metadata"]["namespace"], pod["metadata"]["name"], "--wait=false")
        kubectl("delete", "namespace", unmanaged, "--wait=false")


@needs_site_registry
def test_velero_backs_up_a_volume_to_the_lab_s3_store_and_restore_test_brings_it_back(converged):
    """Velero (chart from the lab's chart mirror, images through its registry) backs a namespace up, with the
    data of a pod volume (file-system backup by the node agent, kopia), to the lab's S3 store; the namespace is
    deleted; playbooks/restore-test.yml restores the newest backup into its scratch namespace and the data is
    there (lab_tools.velero_drill, which `make bench` times too)."""
    drill = velero_drill("kiln-backup-probe", "gpu2", "smoke-velero")
    assert drill["written"] == drill["token"]
    assert drill["backup_status"]["phase"] == "Completed", drill["backup_status"]
    assert drill["volume_backups"] == [("data", "Completed")], drill["volume_backups"]
    # In the store, under the cluster's prefix: Velero's metadata of the backup and kopia's repository.
    assert "velero-backup.json" in drill["backup_objects"], drill
    assert "kopia.repository" in drill["kopia_objects"], drill["kopia_objects"]
    assert [r["status"]["phase"] for r in drill["restores"]] == ["Completed"], drill["restores"]
    assert drill["restored"] == drill["token"]
    print("velero drill: backup %.0f s, restore-test.yml %.0f s, backup age at restore %.0f s"
          % (drill["backup_seconds"], drill["restore_seconds"], drill["backup_age_at_restore"]))


def _gitops_revision():
    found = kubectl("get", "configmap", "-n", "dev", "kiln-gitops-proof", "-o", "json", check=False)
    return json.loads(found)["data"]["revision"] if found else None


def test_argo_cd_syncs_the_app_of_apps_from_git_and_a_push_reaches_the_cluster(converged):
    """Argo CD (chart from the lab's chart mirror, images the bundle built, pulled through the registry) runs
    under the argocd namespace's restricted Pod Security and default-deny policies; its root Application follows
    the lab's Git server over SSH (deploy key from OpenBao, host key checked) and syncs the child Application
    in apps/, which deploys a ConfigMap into dev. A commit pushed to Git then reaches the cluster."""
    pods = json.loads(kubectl("get", "pods", "-n", "argocd", "-o", "json"))["items"]
    running = [p for p in pods if p["status"].get("phase") != "Succeeded"]
    names = {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in running}
    assert {"argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-redis"} <= names, names
    for pod in running:
        ready = [c["status"] for c in pod["status"].get("conditions", []) if c["type"] == "Ready"]
        assert ready == ["True"], (pod["metadata"]["name"], pod["status"])
    images = {c["image"] for p in running for c in p["spec"]["containers"]}
    assert images == {"quay.io/argoproj/argocd:v" + _pinned("kiln_argocd_version"),
                      "docker.io/library/redis:" + _pinned("kiln_argocd_redis_version")}, images

    assert _wait("the first sync from Git", lambda: _gitops_revision() == "initial", timeout=300)
    token = "r" + os.urandom(6).hex()
    sha = gitops_push(token)
    start = time.monotonic()
    # What a Git webhook does: ask for a refresh now instead of at the next poll.
    kubectl("annotate", "applications.argoproj.io", "-n", "argocd", "kiln-root", "kiln-gitops-proof",
            "argocd.argoproj.io/refresh=normal", "--overwrite")
    assert _wait("the pushed commit in the cluster", lambda: _gitops_revision() == token, timeout=300)
    seconds = time.monotonic() - start
    app = json.loads(kubectl("get", "applications.argoproj.io", "-n", "argocd", "kiln-gitops-proof", "-o", "json"))
    assert app["status"]["sync"]["status"] == "Synced", app["status"]["sync"]
    assert app["status"]["sync"]["revision"] == sha, (app["status"]["sync"], sha)
    print("gitops: commit %s reached the cluster %.0f s after the push" % (sha[:10], seconds))


def test_helm_from_the_bundle_is_on_the_first_control_plane(converged):
    """The chart installs run Helm on cp1: the platform layer put the bundle's pinned build there."""
    import yaml
    with open(os.path.join(REPO, "roles", "kiln", "defaults", "main", "versions.yml")) as handle:
        pinned = yaml.safe_load(handle)["kiln_helm_version"]
    assert _node_sh("cp1", "/usr/local/bin/helm version --template '{{.Version}}'").strip() == "v" + pinned


def _certificate_expiries(node):
    """{path: expiry} of the certificate metric file role certificate_metrics keeps on a node; and its mode."""
    text = _node_sh(node, "stat -c '%a' /var/lib/kiln/node-exporter/kiln_certificates.prom;"
                          " cat /var/lib/kiln/node-exporter/kiln_certificates.prom")
    mode, body = text.split("\n", 1)
    expiries = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            assert series.startswith('kiln_certificate_expiry_timestamp_seconds{path="'), line
            expiries[series.split('"')[1]] = float(value)
    return mode, expiries


def test_certificate_expiry_times_are_there_for_monitoring(converged):
    """role monitoring alerts on kiln_certificate_expiry_timestamp_seconds: every node writes it for its
    certificates, a control-plane node for its PKI and the kubeconfigs' embedded client certificates too."""
    now = time.time()
    mode, cp1 = _certificate_expiries("cp1")
    assert mode == "644"
    assert {"/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/etcd/server.crt",
            "/etc/kubernetes/admin.conf", "/var/lib/kubelet/pki/kubelet-client-current.pem"} <= set(cp1), cp1
    # kubeadm issues leaf certificates for a year and its CAs for ten.
    assert 360 * 86400 < cp1["/etc/kubernetes/pki/apiserver.crt"] - now < 366 * 86400, cp1
    assert cp1["/etc/kubernetes/pki/ca.crt"] - now > 9 * 365 * 86400, cp1
    _, gpu1 = _certificate_expiries("gpu1")
    assert "/var/lib/kubelet/pki/kubelet-client-current.pem" in gpu1 and "/etc/kubernetes/admin.conf" not in gpu1


def _kubelet_versions():
    return {node: _node_sh(node, "/usr/local/bin/kubelet --version").strip() for node in NODES}


def test_site_refuses_to_swap_kubernetes_under_a_running_cluster(converged):
    """With the pin moved past the running version, site.yml stops and points to upgrade.yml; no binary moved."""
    _, _, output = playbook("site.yml", "site-refused", expect_failure=True)
    assert "site.yml does not upgrade a running cluster" in output
    assert "playbooks/upgrade.yml" in output
    assert set(_kubelet_versions().values()) == {"Kubernetes v" + UPGRADE_FROM}


def test_upgrade_moves_every_node_to_the_pin_then_reruns_with_no_change(converged):
    _, first, output = playbook("playbooks/upgrade.yml", "upgrade")
    assert "Kubernetes v%s -> v%s" % (UPGRADE_FROM, PINNED) in output
    assert all(first[node]["changed"] > 0 for node in NODES), first
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v" + PINNED}
    assert not any(n["spec"].get("unschedulable") for n in nodes), "a node was left cordoned"
    pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-l", "tier=control-plane", "-o", "json"))["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"] if "etcd" not in c["image"]}
    assert images and all(i.endswith(":v" + PINNED) for i in images), images
    assert set(_kubelet_versions().values()) == {"Kubernetes v" + PINNED}

    _, again, output = playbook("playbooks/upgrade.yml", "upgrade-again")
    assert "nothing to upgrade" in output
    _assert_no_change(again, "upgrade.yml rerun", output)
    # The pinned site.yml now agrees with the upgraded cluster.
    _, site, output = playbook("site.yml", "site-after-upgrade")
    _assert_no_change(site, "site.yml after the upgrade", output)


def test_every_node_is_ready_at_the_pinned_version(converged):
    def ready():
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        states = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
                  for n in nodes}
        return nodes if set(states) == {"cp1", "gpu1", "gpu2"} and set(states.values()) == {"True"} else None

    nodes = _wait("all nodes Ready", ready)
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v" + PINNED}
    assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"containerd://2.2.9"}
    # The controller manager gave each node its own slice of the pod network.
    cidrs = [n["spec"]["podCIDR"] for n in nodes]
    assert len(set(cidrs)) == 3 and all(c.startswith("10.244.") for c in cidrs)


def _pod(name, node, command, restart="Never"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"nodeName": node, "restartPolicy": restart, "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "probe", "image": PROBE_IMAGE, "imagePullPolicy": "Never",
                                     "args": command}]}}


def _run_to_end(pod):
    """Creates a pod, waits until it has run to the end, deletes it; returns (phase, logs)."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    phase = _wait(name + " to finish", lambda: kubectl("get", "pod", "-n", namespace, name, "-o",
                                                        "jsonpath={.status.phase}").strip() in ("Succeeded", "Failed")
                  and kubectl("get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}").strip())
    logs = kubectl("logs", "-n", namespace, name, check=False)
    kubectl("delete", "pod", "-n", namespace, name, "--wait=false")
    return phase, logs


def _run_probe(name, node, command):
    return _run_to_end(_pod(name, node, command))


def test_pods_reach_each_other_across_nodes_and_through_a_service(converged):
    kubectl("create", "namespace", NAMESPACE, check=False)
    servers = {}
    for node in GPU_NODES:
        name = "server-" + node
        kubectl("apply", "-f", "-", stdin=json.dumps(_pod(name, node, ["serve", ":8080"], restart="Always")))
        servers[node] = name
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "server", "namespace": NAMESPACE},
               "spec": {"selector": {"app": "server-gpu1"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(service))
    ips = {}
    for node, name in servers.items():
        ips[node] = _wait(name + " running", lambda: kubectl(
            "get", "pod", "-n", NAMESPACE, name, "-o",
            "jsonpath={.status.phase}/{.status.podIP}").strip().partition("Running/")[2])

    # cp1 -> pods on gpu1 and gpu2: crosses the static routes of the bridge network.
    for node, ip in ips.items():
        phase, logs = _run_probe("client-" + node, "cp1", ["get", "http://%s:8080/" % ip])
        assert (phase, logs.strip()) == ("Succeeded", servers[node]), logs

    # Cluster DNS (CoreDNS from the bundle) and the Service (kube-proxy).
    phase, logs = _run_probe("client-dns", "gpu2", ["get", "http://server.%s.svc.cluster.local/" % NAMESPACE])
    assert (phase, logs.strip()) == ("Succeeded", "server-gpu1"), logs
    kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def test_gpu_intent_is_advertised_as_simulated_capacity(converged):
    for node in GPU_NODES:
        info = json.loads(kubectl("get", "node", node, "-o", "json"))
        assert info["metadata"]["labels"].get("kiln.dev/gpu-simulated") == "true"
        gpu_resources = {k: v for k, v in info["status"]["capacity"].items() if k.startswith("nvidia.com/")}
        assert gpu_resources, "no GPU resources advertised on " + node
        assert all(int(v) > 0 for v in gpu_resources.values())
    cp1 = json.loads(kubectl("get", "node", "cp1", "-o", "json"))
    assert not any(k.startswith("nvidia.com/") for k in cp1["status"]["capacity"])


def _set_simulated_gpus(node, count):
    patch = json.dumps({"status": {"capacity": {"nvidia.com/gpu": str(count)},
                                   "allocatable": {"nvidia.com/gpu": str(count)}}})
    kubectl("patch", "node", node, "--subresource=status", "--type=merge", "-p", patch)


def test_verify_names_a_node_that_advertises_other_gpus_than_planned(converged):
    """gpu2 is planned as one A100 time-sliced x4 (nvidia.com/gpu=4). Advertising 1 (time-slicing silently not
    applied) makes verify.yml fail naming the node, the resource, what the plan expects and what was found."""
    _set_simulated_gpus("gpu2", 1)
    try:
        _, _, output = playbook("playbooks/verify.yml", "verify-wrong-gpus", expect_failure=True)
        text = " ".join(output.split())  # results are printed as YAML, which may fold a long line
        assert "gpu2: nvidia.com/gpu expected 4, found 1" in text, output[-3000:]
        assert "Cluster verification failed: GPUs advertised as planned" in text, output[-3000:]
        assert "gpu1: nvidia.com" not in text  # gpu1 is as planned
    finally:
        _set_simulated_gpus("gpu2", 4)


def test_a_removed_worker_rejoins_with_scale(converged):
    """remove-node.yml drains, deletes and resets gpu2; scale.yml --limit gpu2 joins it again."""
    playbook("playbooks/remove-node.yml", "remove-node", "-e", "kiln_remove_nodes=gpu2", "-e", "kiln_remove_confirm=yes")
    assert "gpu2" not in kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
    assert _node_sh("gpu2", "test -e /etc/kubernetes/kubelet.conf || echo reset").strip() == "reset"

    _, recap, _ = playbook("playbooks/scale.yml", "scale", "--limit", "gpu2")
    assert set(recap) == {"gpu2"}, "scale.yml touched other hosts: %s" % sorted(recap)
    test_every_node_is_ready_at_the_pinned_version(converged)


def _node_run(node, script, stdin=None):
    """A shell script on a lab node; the finished process (not checked)."""
    name = os.environ.get("LAB_NAME", "kiln-lab") + "-" + node
    return subprocess.run(["podman", "exec", "-i", name, "sh", "-c", script], input=stdin, capture_output=True,
                          text=True, check=False)


def _node_sh(node, script):
    proc = _node_run(node, script)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_etcd_snapshot_restores_the_cluster_state(converged):
    """A snapshot from the etcd_backup timer's service, restored by playbooks/etcd-restore.yml, brings back
    exactly the state at snapshot time. Runs last: it rewinds the cluster."""
    assert _node_sh("cp1", "systemctl is-enabled kiln-etcd-snapshot.timer").strip() == "enabled"
    kubectl("create", "configmap", "kiln-before-snapshot", "-n", "default", "--from-literal=k=v")
    _node_sh("cp1", "systemctl start kiln-etcd-snapshot.service")
    listing = _node_sh("cp1", "stat -c '%a %n' /var/backups/kiln/etcd /var/backups/kiln/etcd/etcd-*.db").split("\n")
    assert listing[0].startswith("700 ") and listing[1].startswith("600 "), listing
    # The time of the last good snapshot, for role monitoring's backup-age alert (node-exporter textfile).
    metric = _node_sh("cp1", "stat -c '%a' /var/lib/kiln/node-exporter/kiln_etcd_backup.prom;"
                             " cat /var/lib/kiln/node-exporter/kiln_etcd_backup.prom; date -u +%s").split("\n")
    assert metric[0] == "644", metric
    stamp = float(metric[3].split()[1])
    assert 0 <= float(metric[4]) - stamp < 300, metric
    kubectl("create", "configmap", "kiln-after-snapshot", "-n", "default", "--from-literal=k=v")

    playbook("playbooks/etcd-restore.yml", "etcd-restore", "-e", "kiln_restore_confirm=yes")

    names = kubectl("get", "configmaps", "-n", "default", "-o", "jsonpath={.items[*].metadata.name}").split()
    assert "kiln-before-snapshot" in names and "kiln-after-snapshot" not in names, names
    test_every_node_is_ready_at_the_pinned_version(converged)


def test_reset_returns_the_nodes_to_before_kubernetes(converged):
    """Last: reset.yml removes Kubernetes from every node; the node layer (containerd) stays."""
    playbook("playbooks/reset.yml", "reset", "-e", "kiln_reset_confirm=yes")
    for node in ("cp1", "gpu1", "gpu2"):
        state = _node_sh(node, "test -e /etc/kubernetes && echo k8s; test -e /var/lib/kubelet && echo kubelet;"
                               " test -e /sys/class/net/cni0 && echo bridge; ip route | grep -c '^10\\.244\\.' || true;"
                               " systemctl is-active kubelet || true; systemctl is-active containerd")
        assert state.split() == ["0", "inactive", "active"], (node, state)


def test_no_secret_appears_in_any_playbook_output(platform_secrets):
    """The unseal keys, the root token, Kiln's AppRole secret id and every generated credential are absent from
    every log this test run kept (tests/output/*.log: every site.yml, upgrade and lifecycle run above)."""
    logs = [name for name in os.listdir(OUTPUT_DIR) if name.endswith(".log")]
    assert {"site-first.log", "site-second.log", "site-after-upgrade.log"} <= set(logs)
    for name in logs:
        with open(os.path.join(OUTPUT_DIR, name)) as handle:
            text = handle.read()
        leaked = [i for i, secret in enumerate(platform_secrets) if secret in text]
        assert not leaked, "secret(s) %s of %d appear in tests/output/%s" % (leaked, len(platform_secrets), name)
