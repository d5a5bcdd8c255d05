"""Role velero rendered for real for inventories/onprem (controller only, no host contacted), and the pure logic of
playbooks/restore-test.yml (filter plugin velero_restore)."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.kiln.cluster.plugins.filter.velero_restore import (
    FilterModule, velero_latest_backup, velero_restore, velero_scratch_namespace)
from crd_schema import shared_catalog
from platform_render import ONPREM, assert_refused_before_rendering, render


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("velero")
    first = render(tmp_path, ["velero"]).ok()
    second = render(tmp_path, ["velero"]).ok()
    return first, second


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_resource_is_valid_against_the_upstream_crds(rendered):
    documents = rendered[0].documents("velero")
    assert [doc["kind"] for _, doc in documents] == ["BackupStorageLocation", "Schedule", "Schedule"]
    for name, document in documents:
        assert shared_catalog().knows(document), name
        assert shared_catalog().errors(document) == [], name


def test_backups_go_to_the_site_object_store_with_the_openbao_credential(rendered):
    (location,) = rendered[0].by_kind("velero", "BackupStorageLocation")
    assert location["metadata"]["name"] == "default" and location["spec"]["default"] is True
    assert location["spec"]["provider"] == "aws"
    assert location["spec"]["objectStorage"] == {"bucket": "kiln-backups", "prefix": "gpu-prod-1"}
    assert location["spec"]["config"] == {"region": "site-1", "s3Url": "https://s3.gpu-prod-1.example.internal",
                                          "s3ForcePathStyle": "true"}
    assert location["spec"]["credential"] == {"name": "cloud-credentials", "key": "cloud"}
    with open(os.path.join(str(rendered[0].render_dir), "values", "velero", "velero.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["credentials"] == {"useSecret": True, "existingSecret": "cloud-credentials"}
    assert values["configuration"]["backupStorageLocation"] == []
    assert values["initContainers"][0]["image"] == "docker.io/velero/velero-plugin-for-aws:v1.14.3"


def test_the_chart_runs_the_served_velero_release_and_its_crds(rendered):
    """Chart 10.1.0 ships Velero 1.16.2, which the module proxy does not serve: the values run 1.18.3 (the bundle's
    build); 1.18.3's CRDs come from the bundle's velero binary (tasks/main.yml), not the chart's hook, whose
    kubectl image needs a shell (its default, bitnami/kubectl, is no longer published)."""
    with open(os.path.join(str(rendered[0].render_dir), "values", "velero", "velero.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["image"] == {"repository": "docker.io/velero/velero", "tag": "v1.18.3"}
    assert values["upgradeCRDs"] is False
    assert "kubectl" not in values
    # 1.18 removed --keep-latest-maintenance-jobs (the chart's flag from latestJobsCount): its ConfigMap says it.
    maintenance = values["configuration"]["repositoryMaintenanceJob"]["repositoryConfigData"]
    assert maintenance["global"] == {"keepLatestMaintenanceJobs": 3}
    assert values["configuration"]["repositoryMaintenanceJob"]["latestJobsCount"] is None


BUNDLE = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "bundle")
CHART = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "charts", "velero-10.1.0")


def _bundle_binary(relative):
    path = os.path.join(BUNDLE, relative)
    if not os.path.exists(path):
        pytest.skip("the bundle has no %s (make bundle)" % relative)
    return path


def test_the_pinned_chart_with_kiln_values_passes_only_flags_the_bundled_velero_knows(rendered):
    """The upstream chart rendered by Helm with Kiln's values: every flag it passes to Velero's server and node
    agent is one the bundle's velero accepts (chart 10.1.0 was written for 1.16, whose flags 1.18 changed)."""
    import re
    import subprocess
    helm = _bundle_binary("helm-v%s/helm" % _pin("kiln_helm_version"))
    velero = _bundle_binary("velero-v%s/velero" % _pin("kiln_velero_version"))
    values = os.path.join(str(rendered[0].render_dir), "values", "velero", "velero.yaml")
    manifests = subprocess.run([helm, "template", "velero", CHART, "-n", "velero", "-f", values],
                               capture_output=True, text=True, check=True).stdout
    workloads = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(manifests)
                 if doc and doc["kind"] in ("Deployment", "DaemonSet")}
    assert set(workloads) == {"velero", "node-agent"}
    assert "--uploader-type" in " ".join(workloads["velero"]["spec"]["template"]["spec"]["containers"][0]["args"])
    for name, workload in workloads.items():
        container = workload["spec"]["template"]["spec"]["containers"][0]
        command = [arg for arg in container["args"] if not arg.startswith("-")]
        flags = [arg.split("=")[0] for arg in container["args"] if arg.startswith("--")]
        known = set(re.findall(r"(--[a-z0-9-]+)", subprocess.run(
            [velero] + command + ["--help"], capture_output=True, text=True, check=True).stdout))
        assert set(flags) <= known, (name, sorted(set(flags) - known))
        assert container["image"] == "docker.io/velero/velero:v" + _pin("kiln_velero_version")


def _pin(name):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "roles", "kiln", "defaults", "main",
                           "versions.yml")) as handle:
        return str(yaml.safe_load(handle)[name])


def test_schedules_come_from_the_inventory(rendered):
    schedules = dict((s["metadata"]["name"], s["spec"]) for s in rendered[0].by_kind("velero", "Schedule"))
    assert schedules["environments-daily"]["schedule"] == "0 2 * * *"
    assert schedules["environments-daily"]["template"]["includedNamespaces"] == ["dev", "staging", "prod"]
    assert schedules["environments-daily"]["template"]["ttl"] == "720h"
    assert schedules["prod-hourly"]["template"]["storageLocation"] == "default"


@pytest.mark.parametrize("variables,expected", [
    ({"kiln_velero_schedules": [{"name": "nightly", "schedule": "0 2 * *", "included_namespaces": ["prod"],
                                 "ttl": "720h"}]}, "now '0 2 * *'"),
    ({"kiln_velero_schedules": [{"name": "nightly", "schedule": "0 2 * * *", "included_namespaces": ["prod"],
                                 "ttl": "30d"}]}, "now '30d'"),
    ({"kiln_velero_s3_bucket": ""}, "kiln_velero_s3_bucket an S3 bucket name"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, "velero", variables, expected)


def test_check_mode_writes_nothing_and_says_why_the_chart_was_skipped(tmp_path):
    result = render(tmp_path, ["velero"], ONPREM, {"kiln_chart_repository_url": ""}, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
    message = result.tasks()["Say why the Velero chart was not installed"]["msg"]
    assert "kiln_chart_repository_url is empty" in message and "velero 10.1.0" in message


# --- restore-test.yml's logic -------------------------------------------------------------------------------------

def _backup(name, phase, completed, included=None, excluded=None):
    spec = {}
    if included is not None:
        spec["includedNamespaces"] = included
    if excluded is not None:
        spec["excludedNamespaces"] = excluded
    return {"metadata": {"name": name}, "spec": spec,
            "status": {"phase": phase, "completionTimestamp": completed}}


BACKUPS = [
    _backup("daily-1", "Completed", "2026-11-20T02:05:00Z", ["dev", "staging", "prod"]),
    _backup("daily-2", "Completed", "2026-11-21T02:05:00Z", ["dev", "staging", "prod"]),
    _backup("daily-3", "PartiallyFailed", "2026-11-22T02:05:00Z", ["dev", "staging", "prod"]),
    _backup("prod-only", "Completed", "2026-11-23T01:15:00Z", ["prod"]),
    _backup("everything-but-dev", "Completed", "2026-11-23T03:00:00Z", ["*"], ["dev"]),
    _backup("running", "InProgress", None, ["dev"]),
]


def test_the_newest_completed_backup_that_includes_the_namespace_is_chosen():
    assert velero_latest_backup(BACKUPS, "dev") == "daily-2"          # newer ones failed, exclude dev or run
    assert velero_latest_backup(BACKUPS, "prod") == "everything-but-dev"
    assert velero_latest_backup(BACKUPS, "staging") == "everything-but-dev"
    # An empty includedNamespaces means every namespace, as Velero reads it.
    assert velero_latest_backup([_backup("all", "Completed", "2026-01-01T00:00:00Z")], "kserve") == "all"


def test_no_backup_is_an_empty_answer_and_bad_input_is_an_error():
    assert velero_latest_backup(BACKUPS[:4], "kserve") == ""    # only backups naming other namespaces
    assert velero_latest_backup([_backup("all-but", "Completed", "2026-01-01T00:00:00Z", [], ["*"])], "dev") == ""
    assert velero_latest_backup([], "prod") == ""
    with pytest.raises(AnsibleFilterError):
        velero_latest_backup({"items": []}, "prod")


def test_the_scratch_namespace_is_a_valid_name_that_is_not_the_original():
    assert velero_scratch_namespace("prod", "20261123180000") == "prod-restore-test-20261123180000"
    long_name = "a" * 40 + "-" + "b" * 22
    scratch = velero_scratch_namespace(long_name, "20261123180000")
    assert len(scratch) == 63 and scratch.endswith("-restore-test-20261123180000")
    assert "--" not in scratch
    for bad in ("Prod", "", "-x"):
        with pytest.raises(AnsibleFilterError):
            velero_scratch_namespace(bad, "20261123180000")


def test_the_restore_maps_the_namespace_into_the_scratch_namespace_and_is_valid():
    restore = velero_restore("daily-2", "dev", "dev-restore-test-20261123180000")
    assert restore["spec"]["backupName"] == "daily-2"
    assert restore["spec"]["includedNamespaces"] == ["dev"]
    assert restore["spec"]["namespaceMapping"] == {"dev": "dev-restore-test-20261123180000"}
    assert restore["metadata"]["namespace"] == "velero"
    assert shared_catalog().errors(restore) == []
    with pytest.raises(AnsibleFilterError):
        velero_restore("daily-2", "dev", "dev")
    assert sorted(FilterModule().filters()) == ["velero_latest_backup", "velero_restore", "velero_scratch_namespace"]
