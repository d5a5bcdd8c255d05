"""Parity check of the cloud copy: each kind of drift, made by altering a copy of inventories/onprem (or, for
what an inventory cannot change, the rendered cloud files), is found and named; declared differences pass.

The environments are rendered in-process the way playbooks/cloud-sync.yml renders them
(tests/unit/cloud_sync/cloud_sync_helpers.py); test_cloud_sync_playbook.py runs the playbook itself.
"""

import base64
import gzip
import json
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "cloud_sync"))

import cloud_sync_helpers as helpers  # noqa: E402

from ansible_collections.kiln.cluster.plugins.module_utils import cloud_sync_parity  # noqa: E402
from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync import CloudSyncError  # noqa: E402


def render_and_check(tmp_path, inventory, target="aws", **options):
    out = tmp_path / ("out-" + target)
    rendered = helpers.render_inventory(inventory, target, out, **options)
    rc, output, report = helpers.parity(out, *(["--instance-map", options["instance_map"]]
                                               if "instance_map" in options else []))
    return rc, output, report, rendered


def drift_keys(report):
    return sorted(row["key"] for row in report["rows"] if row["status"] == "DRIFT")


# --- the real inventory is in parity ------------------------------------------------------------------------


def test_onprem_inventory_is_in_parity_on_aws(tmp_path):
    rc, output, report, rendered = render_and_check(tmp_path, helpers.ONPREM, "aws")
    assert rc == 0, output
    assert report["drift"] == []
    rows = helpers.rows_by_key(report)
    assert sorted(k for k, r in rows.items() if r["status"] == "allowed") == [
        "node_group.a100-80gb.gpus_per_node", "platform.load_balancer", "platform.storage_class"]
    assert rows["kubernetes.minor"]["onprem"] == rows["kubernetes.minor"]["cloud"] == "1.36"
    assert rows["chart.gpu-operator.version"]["cloud"] == "v26.7.0"
    assert rows["mig_layout.hgx-h100-kiln-hgx1.h100-balanced"]["cloud"] == "H100-80GB: 3g.40gb 2g.20gb 1g.10gb 1g.10gb"
    groups = rendered["tfvars"]["node_groups"]
    assert dict((name, (g["instance_type"], g["node_count"], g["gpu_count"])) for name, g in groups.items()) == {
        "a100-80gb": ("p4de.24xlarge", 2, 8), "cpu-workers": ("m7i.4xlarge", 2, 0),
        "hgx-h100-kiln-hgx1": ("p5.48xlarge", 3, 8), "hgx-h100-h100-7x1g": ("p5.48xlarge", 1, 8)}
    # The time-sliced A100s and the MIG nodes select the same named configs as on premise.
    assert groups["a100-80gb"]["labels"]["nvidia.com/device-plugin.config"] == "ts-gpu-x4"
    assert groups["hgx-h100-h100-7x1g"]["labels"]["nvidia.com/mig.config"] == "h100-7x1g"
    assert "Parity of gpu-prod-1-aws (aws) with on premise, desired state: " in output
    assert "| ON-PREM" in output and "| CLOUD" in output


def test_onprem_inventory_is_in_parity_on_gcp(tmp_path):
    rc, output, report, rendered = render_and_check(tmp_path, helpers.ONPREM, "gcp")
    assert rc == 0, output
    groups = rendered["tfvars"]["node_groups"]
    # GCP has a 2-GPU A100 80GB machine, so the A100 group mirrors exactly (no allowed difference needed).
    assert (groups["a100-80gb"]["instance_type"], groups["a100-80gb"]["accelerator_type"]) == (
        "a2-ultragpu-2g", "nvidia-a100-80gb")
    assert helpers.rows_by_key(report)["node_group.a100-80gb.gpus_per_node"]["status"] == "ok"
    assert rendered["tfvars"]["project"] == "gpu-prod-1-staging"
    assert rendered["backend"] == ('bucket = "gpu-prod-1-kiln-tfstate"\nprefix = "cloud-sync/gpu-prod-1-gcp"\n')


def test_backend_config_for_s3_with_dynamodb_locking(tmp_path):
    _, _, _, rendered = render_and_check(tmp_path, helpers.ONPREM, "aws")
    assert rendered["backend"].splitlines() == [
        'bucket = "gpu-prod-1-kiln-tfstate"', 'key = "cloud-sync/gpu-prod-1-aws/terraform.tfstate"',
        'region = "eu-central-1"', "encrypt = true", 'dynamodb_table = "gpu-prod-1-kiln-tflock"']


def test_backend_config_uses_the_s3_lockfile_without_a_table(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.alter(inventory, "group_vars/all/cloud_sync.yml",
                  lambda data: data["cloud_sync_environments"]["aws"]["state"].pop("dynamodb_table"))
    _, _, _, rendered = render_and_check(tmp_path, inventory, "aws")
    assert rendered["backend"].splitlines()[-1] == "use_lockfile = true"


# --- each kind of drift -----------------------------------------------------------------------------------------


def test_another_kubernetes_minor_in_the_cloud_is_drift(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", kubernetes_version="1.35")
    rc, output, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert drift_keys(report) == ["kubernetes.minor"]
    assert "DRIFT kubernetes.minor: on-prem 1.36, cloud 1.35" in output


def test_another_chart_version_is_drift(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", chart_versions={"harbor": "1.16.0"})
    rc, output, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert drift_keys(report) == ["chart.harbor.version"]
    assert "DRIFT chart.harbor.version: on-prem 1.17.2, cloud 1.16.0" in output


def test_other_chart_values_are_drift_naming_the_value(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", chart_values={"gpu-operator": {"mig": {"strategy": "single"}}})
    rc, _, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert drift_keys(report) == ["chart.gpu-operator.values"]
    assert helpers.rows_by_key(report)["chart.gpu-operator.values"]["detail"] == "differs at mig.strategy"


def test_a_mig_layout_whose_gpu_maps_to_no_cloud_instance_is_drift(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.add_gpu_group(inventory, "h100_nvl", ["nvl1"],
                          {"model": "NVIDIA H100 NVL", "count": 2, "mig": {"layout": "nvl-2x3g"}},
                          layouts={"nvl-2x3g": ["3g.47gb", "3g.47gb"]})
    rc, output, report, rendered = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert drift_keys(report) == ["mig_layout.h100-nvl.nvl-2x3g", "node_group.h100-nvl.gpu_model"]
    rows = helpers.rows_by_key(report)
    assert rows["mig_layout.h100-nvl.nvl-2x3g"]["cloud"] == (
        "H100-NVL-94GB maps to no aws instance type (cloud-sync/gpu-instance-map.yml)")
    assert rows["mig_layout.h100-nvl.nvl-2x3g"]["onprem"] == "H100-NVL-94GB: 3g.47gb 3g.47gb"
    assert rendered["tfvars"]["node_groups"]["h100-nvl"]["instance_type"] == ""
    assert rendered["notes"][0] == ("node group h100-nvl: H100-NVL-94GB maps to no aws instance type in "
                                    "cloud-sync/gpu-instance-map.yml")
    assert "DRIFT mig_layout.h100-nvl.nvl-2x3g" in output


def test_a_mig_profile_the_mapped_cloud_gpu_lacks_is_drift(tmp_path):
    """The map sends H100 80GB to a machine with another GPU: the H100 profiles do not exist there."""
    instance_map = helpers.load_yaml(helpers.INSTANCE_MAP)
    instance_map["gpu_models"]["H100-80GB"]["aws"] = {"gpu_model": "A100-40GB", "instance_types": {8: "p4d.24xlarge"}}
    path = str(tmp_path / "map.yml")
    helpers.dump_yaml(path, instance_map)
    rc, _, report, _ = render_and_check(tmp_path, helpers.ONPREM, instance_map=path)
    assert rc == 1
    assert drift_keys(report) == [
        "mig_layout.hgx-h100-h100-7x1g.h100-7x1g", "mig_layout.hgx-h100-kiln-hgx1.h100-balanced",
        "node_group.hgx-h100-h100-7x1g.gpu_model", "node_group.hgx-h100-kiln-hgx1.gpu_model"]
    cloud = helpers.rows_by_key(report)["mig_layout.hgx-h100-kiln-hgx1.h100-balanced"]["cloud"]
    assert cloud.startswith("not possible on A100-40GB (p4d.24xlarge): profile '3g.40gb' is not valid for A100-40GB")


def test_another_security_baseline_is_drift(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", security={"pod_security_standard": "baseline", "audit_logging": False})
    rc, _, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert drift_keys(report) == ["security.audit_logging", "security.pod_security_standard"]


def test_all_three_drifts_of_the_issue_are_named_together(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", kubernetes_version="1.35", chart_versions={"kserve": "v0.15.0"})
    helpers.add_gpu_group(inventory, "h100_nvl", ["nvl1"],
                          {"model": "NVIDIA H100 NVL", "count": 2, "mig": {"layout": "nvl-2x3g"}},
                          layouts={"nvl-2x3g": ["3g.47gb", "3g.47gb"]})
    rc, output, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 1
    assert report["drift"] == ["chart.kserve.version", "kubernetes.minor", "mig_layout.h100-nvl.nvl-2x3g",
                               "node_group.h100-nvl.gpu_model"]
    assert report["summary"]["DRIFT"] == 4
    for key in report["drift"]:
        assert "DRIFT %s:" % key in output


# What an inventory cannot change, but a hand-edited or stale rendered environment can.


def _edit_json(path, change):
    with open(str(path)) as handle:
        data = json.load(handle)
    change(data)
    with open(str(path), "w") as handle:
        json.dump(data, handle)


def test_a_missing_platform_component_is_drift(tmp_path):
    out = tmp_path / "out"
    helpers.render_inventory(helpers.ONPREM, "aws", out)
    _edit_json(out / "terraform.tfvars.json", lambda tfvars: tfvars["charts"].pop("velero"))
    rc, output, report = helpers.parity(out)
    assert rc == 1
    assert report["drift"] == ["chart.velero.values", "chart.velero.version", "platform.components"]
    rows = helpers.rows_by_key(report)
    assert rows["chart.velero.version"]["cloud"] == "(missing)"
    assert "velero" in rows["platform.components"]["onprem"] and "velero" not in rows["platform.components"]["cloud"]


def test_other_gpu_operator_settings_are_drift(tmp_path):
    out = tmp_path / "out"
    helpers.render_inventory(helpers.ONPREM, "aws", out)

    def change(tfvars):
        gpu = tfvars["gpu_operator"]
        gpu["mig_strategy"] = "single"
        configs = json.loads(gpu["mig_parted_config"])
        configs["mig-configs"]["h100-7x1g"][0]["mig-devices"]["1g.10gb"] = 6
        gpu["mig_parted_config"] = json.dumps(configs)
        sharing = json.loads(gpu["time_slicing_configs"]["ts-gpu-x4"])
        sharing["sharing"]["timeSlicing"]["resources"][0]["replicas"] = 2
        gpu["time_slicing_configs"]["ts-gpu-x4"] = json.dumps(sharing)

    _edit_json(out / "terraform.tfvars.json", change)
    rc, _, report = helpers.parity(out)
    assert rc == 1
    assert report["drift"] == ["gpu_operator.mig_parted_config", "gpu_operator.mig_strategy",
                               "gpu_operator.time_slicing_configs"]
    rows = helpers.rows_by_key(report)
    assert rows["gpu_operator.mig_parted_config"]["detail"] == "differs at mig-configs.h100-7x1g"
    assert rows["gpu_operator.time_slicing_configs"]["detail"] == "differs at ts-gpu-x4.sharing.timeSlicing.resources"


def test_a_missing_values_file_is_drift(tmp_path):
    out = tmp_path / "out"
    helpers.render_inventory(helpers.ONPREM, "aws", out)
    os.remove(str(out / "values" / "gpu-operator.yaml"))
    rc, _, report = helpers.parity(out)
    assert rc == 1
    assert report["drift"] == ["chart.gpu-operator.values"]
    assert helpers.rows_by_key(report)["chart.gpu-operator.values"]["cloud"] == "(no values file)"


# --- declared differences ---------------------------------------------------------------------------------------


def test_a_declared_difference_is_allowed_with_its_reason(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", kubernetes_version="1.35")
    helpers.alter(inventory, "group_vars/all/cloud_sync.yml",
                  lambda data: data["cloud_sync_environments"]["aws"]["allowed_differences"].append(
                      {"key": "kubernetes.*", "reason": "EKS does not offer 1.36 yet"}))
    rc, output, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 0, output
    row = helpers.rows_by_key(report)["kubernetes.minor"]
    assert (row["status"], row["detail"]) == ("allowed", "allowed: EKS does not offer 1.36 yet")


def test_a_declared_difference_without_reason_is_refused(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.alter(inventory, "group_vars/all/cloud_sync.yml",
                  lambda data: data["cloud_sync_environments"]["aws"]["allowed_differences"].append(
                      {"key": "kubernetes.minor"}))
    with pytest.raises(CloudSyncError) as err:
        helpers.render_inventory(inventory, "aws", tmp_path / "out")
    assert "cloud_sync_environments.aws.allowed_differences[3] (needs key and reason)" in err.value.message


def test_missing_settings_are_all_named(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)

    def change(data):
        del data["cloud_sync_environments"]["gcp"]["project"]
        del data["cloud_sync_environments"]["gcp"]["state"]["prefix"]
    helpers.alter(inventory, "group_vars/all/cloud_sync.yml", change)
    with pytest.raises(CloudSyncError) as err:
        helpers.render_inventory(inventory, "gcp", tmp_path / "out")
    assert err.value.message == (
        "cloud-sync settings missing or empty: cloud_sync_environments.gcp.project, "
        "cloud_sync_environments.gcp.state.prefix; set them in the inventory (group_vars/all/cloud_sync.yml)")


def test_parity_without_a_rendered_environment_says_what_to_run(tmp_path):
    rc, output, report = helpers.parity(tmp_path)
    assert rc == 2 and report is None
    assert "run playbooks/cloud-sync.yml first" in output


# --- live state ---------------------------------------------------------------------------------------------------


def _release_secret(name, version):
    release = {"name": name, "chart": {"metadata": {"name": name, "version": version}}, "info": {"status": "deployed"}}
    return base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()


def _snapshot(minor, releases, crds, gpus_per_node):
    nodes = [{"name": "n%d" % i, "allocatable": {"cpu": "64", "nvidia.com/gpu": str(count)}}
             for i, count in enumerate(gpus_per_node)]
    return cloud_sync_parity.live_state(minor, crds, [_release_secret(n, v) for n, v in releases.items()], nodes)


def test_live_state_reads_releases_crds_and_gpu_resources():
    state = _snapshot("1.36", {"gpu-operator": "v26.7.0"},
                      ["clusterpolicies.nvidia.com", "widgets.example.org", "applications.argoproj.io"], [8, 8])
    assert state == {"live.kubernetes.minor": "1.36", "live.release.gpu-operator.version": "v26.7.0",
                     "live.crds": ["applications.argoproj.io", "clusterpolicies.nvidia.com"],
                     "live.gpu.nvidia.com/gpu": 16}


def test_live_drift_is_named():
    onprem = _snapshot("1.36", {"gpu-operator": "v26.7.0", "harbor": "1.17.2"},
                       ["clusterpolicies.nvidia.com"], [8, 8])
    cloud = _snapshot("1.35", {"gpu-operator": "v26.7.0"}, [], [8, 8])
    rows, _ = cloud_sync_parity.compare(onprem, cloud, [])
    assert sorted(r["key"] for r in rows if r["status"] == "DRIFT") == [
        "live.crds", "live.kubernetes.minor", "live.release.harbor.version"]
    assert [r["status"] for r in rows if r["key"] == "live.gpu.nvidia.com/gpu"] == ["ok"]


def test_parity_json_is_rewritten_only_when_it_changes(tmp_path):
    out = tmp_path / "out"
    helpers.render_inventory(helpers.ONPREM, "aws", out)
    first = helpers.parity(out)[1]
    second = helpers.parity(out)[1]
    assert "parity.json: written" in first and "parity.json: unchanged" in second
    with open(str(out / "parity.json")) as handle:
        assert yaml.safe_load(handle)["summary"] == {"ok": 50, "allowed": 3, "DRIFT": 0}


@pytest.mark.parametrize("target,model,count,instance,accelerator", [
    ("aws", "NVIDIA L40S", 4, "g6e.12xlarge", ""),
    ("aws", "NVIDIA L4", 1, "g6.xlarge", ""),
    ("aws", "NVIDIA A10G", 8, "g5.48xlarge", ""),
    ("aws", "Tesla T4", 1, "g4dn.xlarge", ""),
    ("gcp", "NVIDIA L4", 2, "g2-standard-24", "nvidia-l4"),
    ("gcp", "Tesla T4", 4, "n1-standard-32", "nvidia-tesla-t4"),
])
def test_boards_without_mig_map_to_their_cloud_instances(tmp_path, target, model, count, instance, accelerator):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.add_gpu_group(inventory, "inference", ["inf1", "inf2"], {"model": model, "count": count})
    rc, output, report, rendered = render_and_check(tmp_path, inventory, target)
    assert rc == 0, output
    group = rendered["tfvars"]["node_groups"]["inference"]
    assert (group["instance_type"], group["gpu_count"], group["node_count"]) == (instance, count, 2)
    assert group.get("accelerator_type", "") == accelerator
    rows = helpers.rows_by_key(report)
    assert rows["node_group.inference.gpu_model"]["onprem"] == rows["node_group.inference.gpu_model"]["cloud"]


@pytest.mark.parametrize("model,target", [("NVIDIA L40S", "gcp"), ("NVIDIA A10G", "gcp")])
def test_a_board_the_cloud_does_not_rent_is_drift(tmp_path, model, target):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.add_gpu_group(inventory, "inference", ["inf1"], {"model": model, "count": 1})
    rc, output, report, rendered = render_and_check(tmp_path, inventory, target)
    assert rc == 1
    assert drift_keys(report) == ["node_group.inference.gpu_model"]
    assert rendered["tfvars"]["node_groups"]["inference"]["instance_type"] == ""


def test_an_allowed_difference_that_no_longer_differs_is_reported_stale(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.alter(inventory, "group_vars/all/cloud_sync.yml",
                  lambda data: data["cloud_sync_environments"]["aws"]["allowed_differences"].append(
                      {"key": "kubernetes.minor", "reason": "EKS lagged behind"}))
    rc, output, report, _ = render_and_check(tmp_path, inventory)
    assert rc == 0, output
    assert report["stale_allowed_differences"] == [{"key": "kubernetes.minor", "reason": "EKS lagged behind"}]
    assert ("STALE allowed difference kubernetes.minor (reason: EKS lagged behind): nothing differs there any more; "
            "remove it from allowed_differences") in output
