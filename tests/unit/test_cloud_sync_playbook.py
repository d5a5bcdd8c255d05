"""playbooks/cloud-sync.yml end to end, on the controller only (an ssh trap fails the test if a host is contacted):
the on-prem inventory renders and checks without error and without credentials; an inventory altered to drift
(another Kubernetes minor in the cloud, another chart version, a MIG layout whose GPU maps to no cloud machine)
fails the play, naming each difference."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "cloud_sync"))

import cloud_sync_helpers as helpers  # noqa: E402

PLAYBOOK = "playbooks/cloud-sync.yml"
# No cloud credentials reach the playbook, whatever the caller's environment holds.
CREDENTIALS = ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
               "GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN"]


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch):
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def onprem_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cloud-sync")
    generated = tmp_path / "generated"
    result = helpers.run_playbook(tmp_path, PLAYBOOK, helpers.ONPREM,
                                  {"cloud_sync_target": "aws", "cloud_sync_generated_dir": str(generated)})
    return generated / "gpu-prod-1-aws", result


def test_onprem_renders_and_checks_without_credentials(onprem_run):
    env_dir, (rc, report, stderr) = onprem_run
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    for name in ["terraform.tfvars.json", "backend.hcl", "onprem-state.json", "parity.json",
                 "values/gpu-operator.yaml", "onprem/gpu-operator/values.yaml"]:
        assert (env_dir / name).is_file(), name
    tasks = helpers.task_results(report)
    assert tasks["Say how the tfvars were checked"]["msg"][-1].endswith(": valid")
    assert tasks["Say why plan and apply are skipped"]["msg"].startswith("plan/apply skipped: cloud_sync_apply is false")
    assert tasks["Say why init and validate are skipped"]["msg"].startswith("init/validate skipped: no ")
    table = tasks["Show the parity table"]["msg"]
    assert table[0] == "Parity of gpu-prod-1-aws (aws) with on premise, desired state: 50 ok, 3 allowed, 0 drift"
    assert tasks["Fail on undeclared drift, naming each difference"].get("skipped") is True


def test_the_cloud_gets_the_gpu_operator_values_rendered_on_premise(onprem_run):
    env_dir, _ = onprem_run
    onprem = helpers.load_yaml(str(env_dir / "onprem" / "gpu-operator" / "values.yaml"))
    cloud = helpers.load_yaml(str(env_dir / "values" / "gpu-operator.yaml"))
    assert cloud == onprem and cloud["mig"] == {"strategy": "mixed"}
    with open(str(env_dir / "parity.json")) as handle:
        rows = helpers.rows_by_key(json.load(handle))
    assert rows["chart.gpu-operator.values"]["status"] == "ok"


def test_fmt_runs_when_a_binary_exists_and_says_so_otherwise(onprem_run):
    _, (_, report, _) = onprem_run
    tasks = helpers.task_results(report)
    found = tasks["Say which Terraform binary is used"]["msg"]
    if found.startswith("Terraform binary: "):
        assert tasks["Check the formatting of the Terraform code (fmt -check)"]["rc"] == 0
    else:
        assert found.startswith("No terraform or tofu binary")
        assert tasks["Check the formatting of the Terraform code (fmt -check)"].get("skipped") is True


def test_drift_fails_the_play_naming_each_difference(tmp_path):
    inventory = helpers.copy_inventory(tmp_path)
    helpers.override(inventory, "aws", kubernetes_version="1.35", chart_versions={"harbor": "1.16.0"})
    helpers.add_gpu_group(inventory, "h100_nvl", ["nvl1"],
                          {"model": "NVIDIA H100 NVL", "count": 2, "mig": {"layout": "nvl-2x3g"}},
                          layouts={"nvl-2x3g": ["3g.47gb", "3g.47gb"]})
    rc, report, stderr = helpers.run_playbook(tmp_path, PLAYBOOK, inventory,
                                              {"cloud_sync_target": "aws",
                                               "cloud_sync_generated_dir": str(tmp_path / "generated")})
    assert rc == 2, json.dumps(report)[-3000:] + stderr[-2000:]
    failed = helpers.task_results(report)["Fail on undeclared drift, naming each difference"]
    assert failed["failed"] is True
    assert failed["msg"].startswith("Parity check failed for gpu-prod-1-aws: 4 undeclared difference(s): ")
    for named in ["kubernetes.minor: on-prem 1.36, cloud 1.35", "chart.harbor.version: on-prem 1.17.2, cloud 1.16.0",
                  "mig_layout.h100-nvl.nvl-2x3g: on-prem H100-NVL-94GB: 3g.47gb 3g.47gb, cloud H100-NVL-94GB maps to "
                  "no aws instance type", "node_group.h100-nvl.gpu_model"]:
        assert named in failed["msg"], named
    with open(str(tmp_path / "generated" / "gpu-prod-1-aws" / "parity.json")) as handle:
        assert json.load(handle)["drift"] == ["chart.harbor.version", "kubernetes.minor",
                                              "mig_layout.h100-nvl.nvl-2x3g", "node_group.h100-nvl.gpu_model"]
