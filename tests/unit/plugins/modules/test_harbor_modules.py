"""kiln.cluster.harbor_* modules against the fake Harbor of tests/unit/harbor_swagger.py, which checks every
request against Harbor's published API definition (../shared/fixtures/harbor/swagger.yaml). Not a live Harbor:
these tests prove the requests and bodies are ones the API defines and that the modules' read-compare-write logic
is honest (create, rerun unchanged, update, check mode sending nothing that changes anything)."""

import io
import json
import os
import tarfile
import subprocess
import sys

import pytest

from ansible_collections.kiln.cluster.plugins.modules import (
    harbor_image_push,
    harbor_info,
    harbor_project,
    harbor_retention,
    harbor_robot,
)
from ansible_collections.kiln.cluster.plugins.module_utils.harbor import HarborClient, HarborError
from ansible_collections.kiln.cluster.plugins.module_utils.harbor_oci import split_image_ref
from harbor_swagger import FakeHarbor, Spec

PASSWORD = "Adm1n-pass-for-tests"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PULL = [{"namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]


@pytest.fixture
def harbor(monkeypatch):
    for name in ("HARBOR_URL", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with FakeHarbor(password=PASSWORD) as fake:
        yield fake
        # Whatever the test did: every request was one the API defines, with a body that validates.
        assert fake.violations == []
        assert fake.unimplemented == []
        assert all(template for method, path, template in fake.log if path.startswith("/") and
                   not path.startswith(("/v2", "/service"))), fake.log


@pytest.fixture
def run(run_main, harbor):
    def _run(module, check_mode=False, **args):
        args.update(url=harbor.url, password=PASSWORD, _ansible_check_mode=check_mode)
        return run_main(module, args)
    return _run


# --- the validator itself --------------------------------------------------------------------------------------

def test_the_validator_catches_what_the_api_does_not_define():
    spec = Spec.load()

    def problems(method, path, body=None, query=None, headers=None):
        return spec.check_request(method, path, query or {}, headers or {}, body)[3]

    good = {"project_name": "k8s", "metadata": {"public": "true"}, "registry_id": 3}
    assert problems("POST", "/projects", good) == []
    assert problems("POST", "/projects", dict(good, storage_limit=None)) == []  # x-nullable
    assert any("'project_nam' was unexpected" in p for p in problems("POST", "/projects", {"project_nam": "k8s"}))
    assert any("is not of type 'string'" in p for p in problems("POST", "/projects", {"metadata": {"public": True}}))
    assert any("is not of type 'boolean'" in p for p in problems("POST", "/registries", {"name": "x", "insecure": "no"}))
    assert any("body (project) is required" in p for p in problems("POST", "/projects"))
    assert any("takes no body" in p for p in problems("GET", "/projects/k8s", {"x": 1}))
    assert any("no such path" in p for p in problems("GET", "/projectz"))
    assert any("defines no PATCH" in p for p in problems("PATCH", "/projects/k8s", {}))
    assert any("query parameter limit is not declared" in p for p in problems("GET", "/robots", query={"limit": ["1"]}))
    assert any("above its maximum" in p for p in problems("GET", "/robots", query={"page_size": ["500"]}))
    assert any("robot_id='abc' is not an integer" in p for p in problems("GET", "/robots/abc"))
    assert any("header X-Made-Up is not declared" in p for p in problems("GET", "/robots", headers={"X-Made-Up": "1"}))
    rule = {"template": "latestPushedK", "params": {"latestPushedK": 10}, "tag_selectors": [{"kind": "doublestar",
                                                                                             "pattern": "**"}]}
    assert problems("POST", "/retentions", {"algorithm": "or", "rules": [rule]}) == []
    assert any("is not of type 'array'" in p for p in problems("POST", "/retentions", {"rules": rule}))
    assert problems("POST", "/robots", {"name": "r", "level": "system", "permissions": [
        {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]}) == []
    assert any("'actions' was unexpected" in p for p in problems("POST", "/robots", {"permissions": [
        {"access": [{"resource": "repository", "actions": "pull"}]}]}))


def test_the_fake_server_records_a_bad_request_and_refuses_it(harbor):
    client = HarborClient(harbor.url, "admin", PASSWORD)
    with pytest.raises(HarborError, match="HTTP 400"):
        client.request("POST", "/projects", body={"project_name": "x", "public_": True})
    assert len(harbor.violations) == 1 and "'public_' was unexpected" in harbor.violations[0]
    assert "x" not in harbor.projects
    harbor.violations.clear()
    with pytest.raises(HarborError, match="HTTP 401") as exc:
        HarborClient(harbor.url, "admin", "wrong-password-123").get("/projects/library")
    assert "wrong-password-123" not in str(exc.value)


# --- harbor_project ---------------------------------------------------------------------------------------------

def test_a_normal_project_is_created_once_and_updated_by_difference(run, harbor):
    rc, result = run(harbor_project, check_mode=True, name="kiln", metadata={"auto_scan": True})
    assert (rc, result["changed"], result["project_id"]) == (0, True, None), result
    assert harbor.mutations() == [] and "kiln" not in harbor.projects

    rc, result = run(harbor_project, name="kiln", metadata={"auto_scan": True})
    assert (rc, result["changed"], result["metadata_changed"]) == (0, True, ["auto_scan", "public"]), result
    assert harbor.projects["kiln"]["metadata"] == {"public": "false", "auto_scan": "true"}
    assert result["project_id"] == harbor.projects["kiln"]["project_id"]

    harbor.reset_log()
    rc, result = run(harbor_project, name="kiln", metadata={"auto_scan": True})
    assert (rc, result["changed"]) == (0, False) and harbor.mutations() == []

    rc, result = run(harbor_project, check_mode=True, name="kiln", public=True, metadata={"auto_scan": True})
    assert (rc, result["changed"], result["metadata_changed"]) == (0, True, ["public"])
    assert harbor.mutations() == [] and harbor.projects["kiln"]["metadata"]["public"] == "false"

    rc, result = run(harbor_project, name="kiln", public=True, metadata={"auto_scan": True})
    assert (rc, result["changed"]) == (0, True)
    assert harbor.mutations() == [("PUT", "/projects/kiln")]
    assert harbor.projects["kiln"]["metadata"] == {"public": "true", "auto_scan": "true"}


def test_a_proxy_cache_project_keeps_its_upstream_registry(run, harbor):
    cache = {"type": "docker-registry", "url": "https://registry.k8s.io"}
    rc, result = run(harbor_project, check_mode=True, name="k8s", public=True, proxy_cache=cache)
    assert (rc, result["changed"]) == (0, True) and harbor.mutations() == [] and harbor.registries == {}

    rc, result = run(harbor_project, name="k8s", public=True, proxy_cache=cache)
    assert (rc, result["changed"], result["registry"]["name"]) == (0, True, "k8s-upstream"), result
    (registry,) = harbor.registries.values()
    assert (registry["type"], registry["url"], registry["insecure"]) == ("docker-registry", "https://registry.k8s.io", False)
    assert harbor.projects["k8s"]["registry_id"] == registry["id"] == result["registry"]["id"]

    harbor.reset_log()
    rc, result = run(harbor_project, name="k8s", public=True, proxy_cache=dict(cache, url="https://registry.k8s.io/"))
    assert (rc, result["changed"]) == (0, False) and harbor.mutations() == []

    rc, result = run(harbor_project, name="k8s", public=True,
                     proxy_cache=dict(cache, url="https://k8s-mirror.example", credential={
                         "access_key": "puller", "access_secret": "upstream-secret-1"}))
    assert (rc, result["changed"], result["registry"]["fields_changed"]) == (
        0, True, ["access_key", "credential_type", "url", "access_secret"]), result
    assert harbor.mutations() == [("PUT", "/registries/%d" % registry["id"])]
    assert registry["credential"]["access_secret"] == "upstream-secret-1"
    assert "upstream-secret-1" not in json.dumps(result)

    # The secret cannot be read back: unchanged unless update_secret asks to send it again.
    new = dict(cache, url="https://k8s-mirror.example", credential={"access_key": "puller",
                                                                     "access_secret": "upstream-secret-2"})
    rc, result = run(harbor_project, name="k8s", public=True, proxy_cache=new)
    assert (rc, result["changed"]) == (0, False)
    rc, result = run(harbor_project, name="k8s", public=True, proxy_cache=dict(new, update_secret=True))
    assert (rc, result["changed"]) == (0, True) and registry["credential"]["access_secret"] == "upstream-secret-2"


def test_a_project_never_switches_between_normal_and_proxy_cache(run, harbor):
    assert run(harbor_project, name="k8s")[0] == 0
    rc, result = run(harbor_project, name="k8s", proxy_cache={"type": "docker-registry", "url": "https://registry.k8s.io"})
    assert rc == 1 and "cannot change a project between normal and proxy cache" in result["msg"], result
    assert harbor.projects["k8s"].get("registry_id") is None


def test_a_registry_type_change_is_refused(run, harbor):
    assert run(harbor_project, name="ghcr", proxy_cache={"type": "github-ghcr", "url": "https://ghcr.io"})[0] == 0
    rc, result = run(harbor_project, name="ghcr", proxy_cache={"type": "docker-registry", "url": "https://ghcr.io"})
    assert rc == 1 and "cannot change a registry's type" in result["msg"]


# --- harbor_robot -------------------------------------------------------------------------------------------------

def test_a_robot_is_created_once_and_its_secret_returned_only_then(run, harbor):
    rc, result = run(harbor_robot, check_mode=True, name="kiln-nodes", permissions=PULL)
    assert (rc, result["changed"], result["created"]) == (0, True, True) and "secret" not in result
    assert harbor.mutations() == [] and harbor.robots == {}

    rc, result = run(harbor_robot, name="kiln-nodes", description="containerd pulls", permissions=PULL)
    assert (rc, result["changed"], result["full_name"]) == (0, True, "robot$kiln-nodes"), result
    (robot,) = harbor.robots.values()
    assert result["secret"] == robot["_secret"] and robot["level"] == "system"
    assert robot["permissions"] == [{"kind": "project", "namespace": "*",
                                     "access": [{"resource": "repository", "action": "pull"}]}]

    harbor.reset_log()
    rc, result = run(harbor_robot, name="kiln-nodes", description="containerd pulls", permissions=PULL)
    assert (rc, result["changed"]) == (0, False) and "secret" not in result and harbor.mutations() == []

    push = [{"namespace": "*", "access": [{"resource": "repository", "action": "push"},
                                          {"resource": "repository", "action": "pull"}]}]
    rc, result = run(harbor_robot, check_mode=True, name="kiln-nodes", description="containerd pulls", permissions=push)
    assert (rc, result["changed"], result["fields_changed"]) == (0, True, ["permissions"]) and harbor.mutations() == []
    rc, result = run(harbor_robot, name="kiln-nodes", description="containerd pulls", permissions=push)
    assert (rc, result["changed"], result["fields_changed"]) == (0, True, ["permissions"])
    assert harbor.mutations() == [("PUT", "/robots/%d" % robot["id"])] and "secret" not in result
    assert sorted(a["action"] for a in robot["permissions"][0]["access"]) == ["pull", "push"]


def test_a_lost_robot_secret_is_refreshed_on_request(run, harbor):
    first = run(harbor_robot, name="kiln-ci", permissions=PULL)[1]["secret"]
    rc, result = run(harbor_robot, check_mode=True, name="kiln-ci", permissions=PULL, refresh_secret=True)
    assert (rc, result["changed"]) == (0, True) and "secret" not in result
    (robot,) = harbor.robots.values()
    assert robot["_secret"] == first
    rc, result = run(harbor_robot, name="kiln-ci", permissions=PULL, refresh_secret=True)
    assert (rc, result["changed"], result["secret_refreshed"]) == (0, True, True)
    assert result["secret"] == robot["_secret"] != first


def test_bad_robot_permissions_fail_early(run, harbor):
    rc, result = run(harbor_robot, name="x", permissions=[{"namespace": "*", "access": [{"resource": "repository"}]}])
    assert rc == 1 and "needs resource and action" in result["msg"] and harbor.log == []


# --- harbor_retention ---------------------------------------------------------------------------------------------

def test_retention_is_bound_once_and_replaced_when_it_differs(run, harbor):
    run(harbor_project, name="kiln")
    rules = [{"template": "latestPushedK", "count": 10}, {"template": "nDaysSinceLastPull", "count": 30,
                                                          "repositories": "ci/**"}]
    rc, result = run(harbor_retention, check_mode=True, project="kiln", schedule="0 0 3 * * *", rules=rules)
    assert (rc, result["changed"], result["created"]) == (0, True, True) and harbor.retentions == {}

    rc, result = run(harbor_retention, project="kiln", schedule="0 0 3 * * *", rules=rules)
    assert (rc, result["changed"], result["created"]) == (0, True, True), result
    policy = harbor.retentions[result["retention_id"]]
    assert harbor.projects["kiln"]["metadata"]["retention_id"] == str(result["retention_id"])
    assert policy["scope"] == {"level": "project", "ref": harbor.projects["kiln"]["project_id"]}
    assert policy["trigger"]["settings"] == {"cron": "0 0 3 * * *"}
    assert [r["params"] for r in policy["rules"]] == [{"latestPushedK": 10}, {"nDaysSinceLastPull": 30}]
    assert policy["rules"][1]["scope_selectors"]["repository"][0]["pattern"] == "ci/**"

    harbor.reset_log()
    rc, result = run(harbor_retention, project="kiln", schedule="0 0 3 * * *", rules=rules)
    assert (rc, result["changed"]) == (0, False) and harbor.mutations() == []

    rules[0]["count"] = 5
    rc, result = run(harbor_retention, check_mode=True, project="kiln", schedule="0 0 3 * * *", rules=rules)
    assert (rc, result["changed"]) == (0, True) and harbor.mutations() == []
    rc, result = run(harbor_retention, project="kiln", schedule="0 0 3 * * *", rules=rules)
    assert (rc, result["changed"], result["created"]) == (0, True, False)
    assert harbor.mutations() == [("PUT", "/retentions/%d" % result["retention_id"])]
    assert harbor.retentions[result["retention_id"]]["rules"][0]["params"] == {"latestPushedK": 5}


def test_retention_input_is_checked_before_any_request(run, harbor):
    rc, result = run(harbor_retention, project="kiln", rules=[{"template": "latestPushedK"}])
    assert rc == 1 and "needs count" in result["msg"]
    rc, result = run(harbor_retention, project="kiln", schedule="0 3 * * *", rules=[{"template": "always"}])
    assert rc == 1 and "6-field cron" in result["msg"]
    assert harbor.log == []
    rc, result = run(harbor_retention, project="nope", rules=[{"template": "always"}])
    assert rc == 1 and "project nope does not exist" in result["msg"]


# --- harbor_info ----------------------------------------------------------------------------------------------------

def test_info_reads_version_and_health(run, harbor):
    rc, result = run(harbor_info)
    assert (rc, result["changed"], result["health_status"]) == (0, False, "healthy")
    assert result["harbor_version"] == "v2.14.0-fake" and result["components"]["registry"] == "healthy"
    assert harbor.mutations() == []


# --- harbor_image_push (registry API, outside the definition; the fake implements its few endpoints) -----------

def _archive(tmp_path, content=b"kiln test image\n", ref="registry.k8s.io/kiln-test:v1"):
    src = tmp_path / "payload.txt"
    src.write_bytes(content)
    out = tmp_path / ("image-%d.tar" % len(content))
    printed = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "roles", "artifact_bundle", "files", "oci_image.py"),
         "--ref", ref, "--out", str(out), "--file", "%s:/payload.txt" % src, "--cmd", '["/payload.txt"]'],
        check=True, capture_output=True, text=True).stdout
    return str(out), json.loads(printed)["digest"]


def test_an_archive_is_pushed_once_and_its_blobs_reused(run, harbor, tmp_path):
    run(harbor_project, name="k8s")
    path, digest = _archive(tmp_path)
    rc, result = run(harbor_image_push, check_mode=True, archive=path, repository="k8s/kiln-test", tag="v1")
    assert (rc, result["changed"], result["previous_digest"]) == (0, True, None), result
    assert harbor.manifests == {} and harbor.blobs == {}

    rc, result = run(harbor_image_push, archive=path, repository="k8s/kiln-test", tag="v1")
    assert (rc, result["changed"], result["digest"], result["blobs_uploaded"]) == (0, True, digest, 2), result
    assert harbor.manifests[("k8s/kiln-test", "v1")][0] == digest
    assert harbor.manifests[("k8s/kiln-test", "v1")][1] == "application/vnd.oci.image.manifest.v1+json"

    rc, result = run(harbor_image_push, archive=path, repository="k8s/kiln-test", tag="v1")
    assert (rc, result["changed"], result["blobs_uploaded"]) == (0, False, 0)

    rc, result = run(harbor_image_push, archive=path, repository="k8s/kiln-test", tag="v1-copy")
    assert (rc, result["changed"], result["blobs_uploaded"], result["blobs_present"]) == (0, True, 0, 2)


def test_a_push_into_a_proxy_cache_project_fails_with_harbors_reason(run, harbor, tmp_path):
    run(harbor_project, name="k8s", proxy_cache={"type": "docker-registry", "url": "https://registry.k8s.io"})
    path, _ = _archive(tmp_path)
    rc, result = run(harbor_image_push, archive=path, repository="k8s/kiln-test", tag="v1")
    assert rc == 1 and "proxy project" in result["msg"] and PASSWORD not in json.dumps(result)


def test_a_damaged_archive_is_refused_before_upload(run, harbor, tmp_path):
    run(harbor_project, name="kiln")
    path, digest = _archive(tmp_path)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(path) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.size > 1000:  # the layer
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    rc, result = run(harbor_image_push, archive=str(damaged), repository="kiln/kiln-test", tag="v1")
    assert rc == 1 and "does not match its digest" in result["msg"], result
    assert ("kiln/kiln-test", "v1") not in harbor.manifests


def test_image_references_split_into_registry_path_and_tag():
    assert split_image_ref("registry.k8s.io/coredns/coredns:v1.14.2") == ("registry.k8s.io", "coredns/coredns", "v1.14.2")
    assert split_image_ref("nvcr.io/nvidia/k8s/dcgm-exporter:4.2") == ("nvcr.io", "nvidia/k8s/dcgm-exporter", "4.2")
    assert split_image_ref("busybox") == ("docker.io", "library/busybox", "latest")
    assert split_image_ref("localhost:5000/x/y") == ("localhost:5000", "x/y", "latest")
