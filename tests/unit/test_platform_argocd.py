"""Role argocd rendered for real for inventories/onprem (controller only, no host contacted), and the Secret data it
builds from a real OpenBao dev server (admin password hash stable across runs, Git credential fields)."""

import json
import os
import re

import bcrypt
import pytest
import yaml

from conftest import REPO_ROOT
from crd_schema import shared_catalog
from platform_render import ONPREM, assert_refused_before_rendering, render
from playbook_runner import run_playbook

REPO = "https://git.gpu-prod-1.example.internal/platform/gpu-prod-1.git"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("argocd")
    first = render(tmp_path, ["argocd"]).ok()
    second = render(tmp_path, ["argocd"]).ok()
    return first, second


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_resource_is_valid_against_the_upstream_crds(rendered):
    documents = rendered[0].documents("argocd")
    assert sorted(doc["kind"] for _, doc in documents) == ["AppProject", "Application", "VirtualService"]
    for name, document in documents:
        assert shared_catalog().knows(document), name
        assert shared_catalog().errors(document) == [], name


def test_the_project_confines_git_to_the_site_repository_and_listed_namespaces(rendered):
    (project,) = rendered[0].by_kind("argocd", "AppProject")
    spec = project["spec"]
    assert spec["sourceRepos"] == [REPO]
    assert [d["namespace"] for d in spec["destinations"]] == ["argocd", "monitoring", "kserve", "dev", "staging", "prod"]
    assert set(d["server"] for d in spec["destinations"]) == {"https://kubernetes.default.svc"}
    assert spec["clusterResourceWhitelist"] == [
        {"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"},
        {"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"}]
    assert {"group": "networking.k8s.io", "kind": "NetworkPolicy"} in spec["namespaceResourceBlacklist"]
    assert not any("*" in (r["group"] + r["kind"]) for r in spec["clusterResourceWhitelist"])


def test_the_root_application_syncs_the_app_of_apps_directory(rendered):
    (root,) = rendered[0].by_kind("argocd", "Application")
    assert root["metadata"]["name"] == "kiln-root"
    assert root["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert root["spec"]["project"] == "kiln-platform"
    assert root["spec"]["source"] == {"repoURL": REPO, "targetRevision": "main", "path": "clusters/gpu-prod-1/apps",
                                      "directory": {"recurse": True}}
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_chart_values_leave_the_admin_secret_to_kiln(rendered):
    path = os.path.join(str(rendered[0].render_dir), "values", "argocd", "argo-cd.yaml")
    with open(path) as handle:
        values = yaml.safe_load(handle)
    assert values["configs"]["secret"] == {"createSecret": False}
    assert values["configs"]["params"]["server.insecure"] is True
    assert values["fullnameOverride"] == "argocd"
    assert values["redis"]["image"]["repository"].startswith("docker.io/")
    # Never applied as a manifest: platform_apply takes every *.yaml under the role's own directory.
    assert not os.path.exists(os.path.join(str(rendered[0].render_dir), "argocd", "values"))


BUNDLE = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "bundle")
CHART = os.path.join(REPO_ROOT, "..", "shared", "charts", "argo-cd-8.3.0")
KNOWN_HOST = "[10.0.0.5]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _yaml(*parts):
    with open(os.path.join(REPO_ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def _pin(name):
    return str(_yaml("roles", "kiln", "defaults", "main", "versions.yml")[name])


def test_known_hosts_and_the_bundled_redis_go_into_the_values(tmp_path):
    result = render(tmp_path, ["argocd"], ONPREM, {"kiln_argocd_ssh_known_hosts": [KNOWN_HOST]}).ok()
    with open(os.path.join(str(result.render_dir), "values", "argocd", "argo-cd.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["configs"]["ssh"]["extraHosts"] == KNOWN_HOST
    assert values["redis"]["image"] == {"repository": "docker.io/library/redis", "tag": _pin("kiln_argocd_redis_version")}


def test_the_pinned_chart_with_kiln_values_runs_only_what_the_bundle_builds(rendered):
    """The upstream chart rendered by Helm with Kiln's values: every image is one the bundle builds (same
    repository and tag, so a site mirroring the official images needs no other values), and every program a
    container starts is in that image (the argocd links, redis-server)."""
    import subprocess
    helm = os.path.join(BUNDLE, "helm-v%s" % _pin("kiln_helm_version"), "helm")
    if not os.path.exists(helm):
        pytest.skip("the bundle has no helm (make bundle)")
    values = os.path.join(str(rendered[0].render_dir), "values", "argocd", "argo-cd.yaml")
    manifests = subprocess.run([helm, "template", "argocd", CHART, "-n", "argocd", "-f", values],
                               capture_output=True, text=True, check=True).stdout
    images = {image["name"]: image for image in _yaml("roles", "artifact_bundle", "vars", "main.yml")[
        "artifact_bundle_platform_images"] if image["name"] in ("argocd", "redis")}
    argocd_ref = "quay.io/argoproj/argocd:v" + _pin("kiln_argocd_version")
    redis_ref = "docker.io/library/redis:" + _pin("kiln_argocd_redis_version")
    programs = {argocd_ref: {link.split(":")[0] for link in images["argocd"]["links"]}
                | {"/usr/local/bin/argocd", "/bin/cp", "argocd"},
                redis_ref: set()}
    started = set()
    for doc in yaml.safe_load_all(manifests):
        if not doc or doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert container["image"] in programs, (doc["metadata"]["name"], container["image"])
            argv = container.get("command") or container.get("args") or []
            if container["image"] == argocd_ref:
                assert container.get("command", argv)[0] in programs[argocd_ref], (doc["metadata"]["name"], argv)
            else:
                # Flags only: the image's entrypoint (redis-server) runs them.
                assert "command" not in container and argv[0].startswith("--"), (doc["metadata"]["name"], argv)
            started.add(doc["metadata"]["name"])
    assert {"argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-redis"} <= started
    assert images["redis"]["entrypoint"] == ["/usr/bin/redis-server"]
    assert images["argocd"]["user"] == "999"


@pytest.mark.parametrize("variables,expected", [
    ({"kiln_argocd_repo_url": "git.example/repo"}, "kiln_argocd_repo_url must be an https://"),
    ({"kiln_argocd_ssh_known_hosts": [KNOWN_HOST + "\ngit.evil ssh-ed25519 AAAA"]}, "kiln_argocd_ssh_known_hosts must"),
    ({"kiln_argocd_ssh_known_hosts": ['@cert-authority * ssh-ed25519 AAAA']}, "kiln_argocd_ssh_known_hosts must"),
    ({"argocd_project_cluster_resources": [{"group": "*", "kind": "ClusterRole"}]}, "no\nwildcard".replace("\n", " ")),
    ({"argocd_values_overrides": {"configs": {"secret": {"createSecret": True}}}}, "configs.secret.createSecret false"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, "argocd", variables, expected)


def test_check_mode_writes_nothing_and_says_why_the_chart_was_skipped(tmp_path):
    result = render(tmp_path, ["argocd"], ONPREM, {"kiln_chart_repository_url": ""}, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
    message = result.tasks()["Say why the Argo CD chart was not installed"]["msg"]
    assert "skipped" in message and "argo-cd 8.3.0" in message and "kiln_chart_repository_url" in message


# --- The Secret data built from OpenBao (the lookups the role's tasks use) ---------------------------------------

SECRET_PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {root}/roles/kiln/defaults/main/cluster.yml
    - {root}/roles/argocd/defaults/main.yml
    - {root}/roles/argocd/vars/main.yml
  tasks:
    - name: Show the Secret data (test only; the role never shows it)
      ansible.builtin.debug:
        msg:
          admin: "{{{{ argocd__admin_string_data }}}}"
          repo: "{{{{ argocd__repo_string_data }}}}"
          repo_keys: "{{{{ argocd__repo_kv_keys }}}}"
"""


def _secret_data(tmp_path, bao):
    playbook = tmp_path / "secret-data.yml"
    playbook.write_text(SECRET_PLAYBOOK.format(root=REPO_ROOT))
    variables = {"kiln_openbao_url": bao[0], "kiln_openbao_token": bao[1], "kiln_openbao_kv_mount": "secret",
                 "kiln_openbao_ca_cert": "", "kiln_cluster_name": "gpu-prod-1", "kiln_argocd_repo_url": REPO,
                 "kiln_platform_render_dir": str(tmp_path), "kiln_argocd_chart_version": "8.3.0",
                 "kiln_chart_repository_url": "", "kiln_environments": ["dev"]}
    rc, report, stderr = run_playbook(tmp_path, str(playbook), "localhost,", variables)
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    (result,) = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]]
    return result["msg"]


def test_admin_hash_is_stable_and_changes_with_the_password(tmp_path, client, bao):
    client.secrets.kv.v2.create_or_update_secret(path="argocd/admin", secret={"password": "first-password"},
                                                 mount_point="secret")
    client.secrets.kv.v2.create_or_update_secret(
        path="argocd/repository", secret={"username": "kiln", "password": "git-token", "ignored": "x"},
        mount_point="secret")
    first = _secret_data(tmp_path, bao)
    again = _secret_data(tmp_path, bao)
    assert first["admin"] == again["admin"]
    assert bcrypt.checkpw(b"first-password", first["admin"]["admin.password"].encode())
    version = client.secrets.kv.v2.read_secret_version(path="argocd/admin", mount_point="secret",
                                                     raise_on_deleted_version=True)["data"]["metadata"]
    # In whole seconds, as argocd-server writes it back when it saves the Secret (else every first rerun changes it).
    assert first["admin"]["admin.passwordMtime"] == re.sub(r"[.][0-9]+Z$", "Z", version["created_time"])
    assert re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", first["admin"]["admin.passwordMtime"])
    assert first["repo"] == {"type": "git", "url": REPO, "project": "kiln-platform",
                             "username": "kiln", "password": "git-token"}
    assert sorted(first["repo_keys"]) == ["ignored", "password", "username"]

    client.secrets.kv.v2.create_or_update_secret(path="argocd/admin", secret={"password": "second-password"},
                                                 mount_point="secret")
    rotated = _secret_data(tmp_path, bao)
    assert rotated["admin"]["admin.password"] != first["admin"]["admin.password"]
    assert bcrypt.checkpw(b"second-password", rotated["admin"]["admin.password"].encode())
    assert rotated["admin"]["admin.passwordMtime"] != first["admin"]["admin.passwordMtime"]
