"""Role harbor and playbooks/mirror.yml, run for real with ansible-playbook on the controller against the fake
Harbor of tests/unit/harbor_swagger.py (every request checked against Harbor's API definition; NOT a live Harbor)
and a real OpenBao dev server (the admin password is read from it, robot secrets are written to it).

Without a chart mirror the install is skipped with a message after the values are rendered and checked; the API
configuration then runs because harbor_api_url names a Harbor. A second run changes nothing; no secret appears in
the output. (Refreshing a robot secret lost from OpenBao is tested on the module, test_harbor_modules.py.)"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import REPO_ROOT
from harbor_swagger import FakeHarbor
from playbook_runner import run_playbook, task_results

ADMIN_PASSWORD = "Harbor-admin-from-OpenBao-1"
MIRROR_PROJECTS = {"docker.io": "dockerhub", "registry.k8s.io": "k8s", "quay.io": "quay", "ghcr.io": "ghcr",
                   "nvcr.io": "nvcr"}


@pytest.fixture(scope="module")
def kv(bao):
    import hvac
    client = hvac.Client(url=bao[0], token=bao[1])
    client.sys.enable_secrets_engine("kv", path="kiln", options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(mount_point="kiln", path="harbor/admin",
                                                 secret={"password": ADMIN_PASSWORD})
    return client


def _playbook(tmp_path, tasks_from=None):
    role = {"name": "harbor"} if tasks_from is None else {"name": "harbor", "tasks_from": tasks_from}
    play = [{"name": "Harbor", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "roles": ["kiln"], "tasks": [{"name": "Harbor role", "ansible.builtin.include_role": role}]}]
    path = tmp_path / ("harbor-%s.yml" % (tasks_from or "main"))
    path.write_text(yaml.safe_dump(play))
    return str(path)


def _inventory(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_python_interpreter": sys.executable}},
                                            "vars": {"kiln_cluster_name": "harbor-test"}}}))
    return str(path)


def _changed(report):
    return report["stats"]["localhost"]["changed"]


def test_the_role_renders_skips_the_install_and_configures_harbor(tmp_path, bao, kv):
    render_dir = tmp_path / "out"
    with FakeHarbor(password=ADMIN_PASSWORD) as harbor:
        extra = {"kiln_platform_render_dir": str(render_dir), "harbor_api_url": harbor.url, "harbor_wait_seconds": 0,
                 "harbor_openbao_url": bao[0], "harbor_openbao_token": bao[1], "harbor_openbao_ca_cert": "",
                 "kiln_chart_repository_url": ""}
        playbook, inventory = _playbook(tmp_path), _inventory(tmp_path)

        rc, report, stderr = run_playbook(tmp_path, playbook, inventory, extra)
        output = json.dumps(report) + stderr
        assert rc == 0, output[-4000:]
        tasks = task_results(report)
        assert "Harbor install skipped: no chart mirror" in json.dumps(tasks["Say why Harbor was not installed"])
        values = yaml.safe_load((render_dir / "values" / "harbor" / "harbor.yaml").read_text())
        assert values["existingSecretAdminPassword"] == "harbor-admin"
        assert values["existingSecretAdminPasswordKey"] == "HARBOR_ADMIN_PASSWORD"
        assert values["externalURL"] == "https://harbor.harbor-test.internal"
        assert ADMIN_PASSWORD not in (render_dir / "values" / "harbor" / "harbor.yaml").read_text()

        # Proxy caches under containerd's project names, one upstream registry each; the kiln project; retention.
        for registry, project in MIRROR_PROJECTS.items():
            reg = harbor.registries[harbor.projects[project]["registry_id"]]
            assert reg["name"] == registry and harbor.projects[project]["metadata"]["public"] == "true"
        assert harbor.projects["kiln"]["metadata"]["public"] == "false" and "registry_id" not in harbor.projects["kiln"]
        (policy,) = harbor.retentions.values()
        assert policy["rules"][0]["params"] == {"latestPushedK": 10}
        robots = dict((r["name"], r) for r in harbor.robots.values())
        assert sorted(robots) == ["robot$kiln-ci", "robot$kiln-nodes"]
        for name in ("kiln-nodes", "kiln-ci"):
            stored = kv.secrets.kv.v2.read_secret_version(mount_point="kiln", path="harbor/robots/" + name,
                                                          raise_on_deleted_version=True)["data"]["data"]
            assert stored == {"username": "robot$" + name, "secret": robots["robot$" + name]["_secret"]}
            assert stored["secret"] not in output
        assert ADMIN_PASSWORD not in output
        assert harbor.violations == [] and harbor.unimplemented == []

        harbor.reset_log()
        rc, report, stderr = run_playbook(tmp_path, playbook, inventory, extra)
        assert (rc, _changed(report)) == (0, 0), (json.dumps(report) + stderr)[-4000:]
        assert harbor.mutations() == []


def test_bad_settings_stop_before_anything_is_rendered(tmp_path):
    rc, report, stderr = run_playbook(tmp_path, _playbook(tmp_path), _inventory(tmp_path), {
        "kiln_platform_render_dir": str(tmp_path / "out"), "harbor_chart_version": "latest",
        "harbor_retention_policies": [{"project": "nope", "rules": [{"template": "always"}]}]})
    assert rc != 0
    message = json.dumps(task_results(report)["Check the Harbor settings"])
    assert "harbor_chart_version (latest) is a pinned x.y.z" in message
    assert not (tmp_path / "out" / "harbor").exists()


def test_mirror_pushes_the_bundle_images_once(tmp_path):
    bundle = tmp_path / "bundle"
    images = bundle / "images-kubernetes-v1.36.3"
    images.mkdir(parents=True)
    files = {}
    for name, ref in (("pause", "registry.k8s.io/pause:3.10.2"), ("netcheck", "kiln.local/netcheck:v1")):
        payload = tmp_path / (name + ".bin")
        payload.write_bytes(("payload of %s\n" % name).encode())
        printed = subprocess.run(
            [sys.executable, os.path.join(REPO_ROOT, "roles", "artifact_bundle", "files", "oci_image.py"), "--ref", ref,
             "--out", str(images / (name + ".tar")), "--file", "%s:/%s" % (payload, name)],
            check=True, capture_output=True, text=True).stdout
        files["images-kubernetes-v1.36.3/%s.tar" % name] = {"image": {"ref": ref, "digest": json.loads(printed)["digest"]}}
    (bundle / "manifest-kubernetes-v1.36.3.json").write_text(json.dumps({"files": files}))

    with FakeHarbor(password=ADMIN_PASSWORD) as harbor:
        playbook = os.path.join(REPO_ROOT, "playbooks", "mirror.yml")
        extra = {"harbor_api_url": harbor.url, "harbor_admin_password": ADMIN_PASSWORD, "harbor_bundle_dir": str(bundle),
                 "kiln_kubernetes_version": "1.36.3", "harbor_upstream_mode": "local"}
        rc, report, stderr = run_playbook(tmp_path, playbook, _inventory(tmp_path), extra)
        output = json.dumps(report) + stderr
        assert rc == 0, output[-4000:]
        assert harbor.manifests[("k8s/pause", "3.10.2")][0] == files["images-kubernetes-v1.36.3/pause.tar"]["image"]["digest"]
        assert harbor.manifests[("kiln/netcheck", "v1")][0] == files["images-kubernetes-v1.36.3/netcheck.tar"]["image"]["digest"]
        assert "registry_id" not in harbor.projects["k8s"] and ADMIN_PASSWORD not in output
        assert harbor.violations == []

        harbor.reset_log()
        rc, report, stderr = run_playbook(tmp_path, playbook, _inventory(tmp_path), extra)
        assert (rc, _changed(report)) == (0, 0), (json.dumps(report) + stderr)[-4000:]
        assert harbor.mutations() == []

        rc, report, stderr = run_playbook(tmp_path, playbook, _inventory(tmp_path), dict(extra, harbor_upstream_mode="proxy_cache"))
        assert rc != 0 and "set harbor_upstream_mode: local" in json.dumps(report)
