"""The gpu_operator role's rendering, run for real: tests/playbooks/gpu-operator-render.yml with inventories/onprem.

Each run has ssh replaced by a trap (tests/bin/no-ssh): rendering must never contact a host. The rendered
ClusterPolicy is validated against the GPU Operator's own CRD schema (shared/fixtures/crds), with a validator
that is shown to reject broken policies too.
"""

import json
import os
import shutil

import jsonschema
import pytest
import yaml

from conftest import REPO_ROOT, SHARED_FIXTURES
from crd_schema import to_json_schema
from playbook_runner import run_playbook

PLAYBOOK = os.path.join("tests", "playbooks", "gpu-operator-render.yml")
ONPREM = os.path.join("inventories", "onprem")
CLUSTER_POLICY_CRD = os.path.join(SHARED_FIXTURES, "crds", "gpu-operator", "nvidia.com_clusterpolicies.yaml")
REGISTRY = "harbor.gpu-prod-1.example.internal"
RENDERED = ["cluster-policy.yaml", "mig-parted-config.yaml", "node-labels.yaml", "time-slicing-config.yaml",
            "values.yaml"]


def render(tmp_path, render_dir, *options):
    return run_playbook(tmp_path, PLAYBOOK, ONPREM, {"gpu_operator_render_dir": str(render_dir)}, *options)


def load(render_dir, name):
    with open(os.path.join(str(render_dir), name)) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Render once with the defaults; then render again into the same directory."""
    tmp_path = tmp_path_factory.mktemp("gpu-operator")
    render_dir = tmp_path / "out"
    first = render(tmp_path, render_dir)
    second = render(tmp_path, render_dir)
    return render_dir, first, second


def test_render_succeeds_and_writes_every_file(rendered):
    render_dir, (rc, report, stderr), _ = rendered
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    assert sorted(os.listdir(str(render_dir))) == RENDERED
    for name in RENDERED:
        with open(os.path.join(str(render_dir), name)) as handle:
            assert handle.read().startswith("# "), name  # says where it came from


def test_second_render_changes_nothing(rendered):
    _, _, (rc, report, _) = rendered
    assert rc == 0
    assert report["stats"]["localhost"]["changed"] == 0


def test_install_is_skipped_and_says_so(rendered):
    render_dir, (_, report, _), _ = rendered
    tasks = dict((t["task"]["name"].split(" : ", 1)[-1], t["hosts"]["localhost"])
                 for play in report["plays"] for t in play["tasks"])
    skipped = tasks["Say why the GPU Operator was not installed"]["msg"]
    assert skipped[0].startswith("GPU Operator install skipped: gpu_operator_install is false")
    assert str(render_dir) in skipped[1]
    assert tasks["Install the GPU Operator"].get("skipped") is True


def test_check_mode_writes_nothing(tmp_path):
    rc, report, stderr = render(tmp_path, tmp_path / "check", "--check")
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    assert not (tmp_path / "check").exists()


# --- what was rendered -----------------------------------------------------------------------------------


def test_values_for_the_onprem_site(rendered):
    values = load(rendered[0], "values.yaml")
    assert values["mig"] == {"strategy": "mixed"}
    assert values["driver"]["enabled"] is True and values["driver"]["usePrecompiled"] is False
    assert values["toolkit"]["enabled"] is True
    assert values["devicePlugin"]["config"] == {"name": "kiln-time-slicing-config", "default": "no-time-slicing",
                                                "create": False}
    assert values["migManager"]["enabled"] is True
    assert values["migManager"]["config"] == {"name": "kiln-mig-parted-config", "default": "all-disabled",
                                              "create": False}
    # Kiln's monitoring role scrapes dcgm-exporter and lists its fields; the operator's ServiceMonitor stays off.
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    assert values["dcgmExporter"]["config"] == {"name": "kiln-dcgm-metrics"}


def _repositories(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "repository":
                yield path, value
            else:
                for found in _repositories(value, path + "." + key):
                    yield found


def test_offline_site_pulls_every_image_through_its_registry(rendered):
    repositories = dict(_repositories(load(rendered[0], "values.yaml")))
    assert len(repositories) == 11
    for path, repository in repositories.items():
        assert repository.startswith(REGISTRY + "/"), path
    # The same Harbor proxy-cache projects the containerd role mirrors upstream registries to.
    assert repositories[".toolkit"] == REGISTRY + "/nvcr/nvidia/k8s"
    assert repositories[".node-feature-discovery.image"] == REGISTRY + "/k8s/nfd/node-feature-discovery"


def _is_subset(part, whole):
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _is_subset(v, whole[k]) for k, v in part.items())
    return part == whole


def test_cluster_policy_is_what_the_values_say(rendered):
    policy = load(rendered[0], "cluster-policy.yaml")
    assert (policy["apiVersion"], policy["kind"], policy["metadata"]["name"]) == (
        "nvidia.com/v1", "ClusterPolicy", "cluster-policy")
    # The chart copies these fields from the value at the same path.
    assert _is_subset(policy["spec"], load(rendered[0], "values.yaml"))


def test_configmaps_hold_the_configs_the_labels_name(rendered):
    mig = load(rendered[0], "mig-parted-config.yaml")
    sharing = load(rendered[0], "time-slicing-config.yaml")
    nodes = load(rendered[0], "node-labels.yaml")
    assert (mig["kind"], mig["metadata"]["name"], mig["metadata"]["namespace"]) == (
        "ConfigMap", "kiln-mig-parted-config", "gpu-operator")
    assert list(mig["data"]) == ["config.yaml"]
    mig_configs = yaml.safe_load(mig["data"]["config.yaml"])
    assert mig_configs["version"] == "v1"
    assert sorted(mig_configs["mig-configs"]) == ["all-disabled", "h100-7x1g", "kiln-hgx1", "kiln-hgx2", "kiln-hgx3"]
    assert sorted(sharing["data"]) == ["no-time-slicing", "ts-gpu-x4"]
    assert yaml.safe_load(sharing["data"]["ts-gpu-x4"]) == {
        "version": "v1", "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}}
    assert nodes["kind"] == "List"
    labels = dict((item["metadata"]["name"], item["metadata"]["labels"]) for item in nodes["items"])
    assert sorted(labels) == ["a100a", "a100b", "hgx1", "hgx2", "hgx3", "hgx4"]
    assert labels["hgx4"] == {"nvidia.com/mig.config": "h100-7x1g"}
    for node_labels in labels.values():
        assert node_labels["nvidia.com/mig.config"] in mig_configs["mig-configs"]
        assert node_labels.get("nvidia.com/device-plugin.config", "no-time-slicing") in sharing["data"]


def test_host_driver_mode_leaves_driver_and_toolkit_to_kiln(tmp_path, validator):
    rc, report, stderr = render(tmp_path, tmp_path / "host", "-e", "gpu_operator_driver_mode=host")
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    spec = load(tmp_path / "host", "cluster-policy.yaml")["spec"]
    assert spec["driver"]["enabled"] is False
    assert spec["toolkit"]["enabled"] is False
    assert validate(load(tmp_path / "host", "cluster-policy.yaml"), validator) == []


# --- the plan playbook (same action plugin) -------------------------------------------------------------------


def test_plan_playbook_writes_the_plan_without_contacting_a_host(tmp_path):
    out = tmp_path / "plan"
    rc, report, stderr = run_playbook(tmp_path, "playbooks/gpu-plan.yml", ONPREM, {"gpu_plan_output_dir": str(out)})
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    assert sorted(os.listdir(str(out))) == ["plan.json", "plan.svg"]
    with open(str(out / "plan.json")) as handle:
        plan = json.load(handle)
    assert plan["totals"] == {"nvidia.com/gpu": 22, "nvidia.com/mig-1g.10gb": 92, "nvidia.com/mig-2g.20gb": 18,
                              "nvidia.com/mig-3g.40gb": 18}
    shown = [t["hosts"]["localhost"]["msg"] for play in report["plays"] for t in play["tasks"]
             if t["task"]["name"] == "Show the plan"]
    assert shown[0].splitlines()[0] == "GPU plan: 6 nodes, 36 GPUs (26 MIG, 10 whole), MIG strategy mixed"
    said = [t["hosts"]["localhost"]["msg"] for play in report["plays"] for t in play["tasks"]
            if t["task"]["name"] == "Say where the plan was written"]
    assert said == [[str(out / "plan.json"), str(out / "plan.svg")]]


def test_plan_playbook_fails_cleanly_on_an_impossible_layout(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(os.path.join(REPO_ROOT, ONPREM), str(inventory))
    with open(str(inventory / "host_vars" / "hgx3.yml"), "w") as handle:
        yaml.safe_dump({"kiln_gpu": {"model": "NVIDIA H100 80GB HBM3", "count": 8, "nvswitch": True,
                                     "mig": {"layout": "h100-balanced", "per_gpu": {"5": "h100-2x3g-plus"}}}}, handle)
    with open(str(inventory / "group_vars" / "all" / "gpu.yml")) as handle:
        gpu = yaml.safe_load(handle)
    gpu["kiln_mig_layouts"]["h100-2x3g-plus"] = ["3g.40gb", "3g.40gb", "1g.10gb"]
    with open(str(inventory / "group_vars" / "all" / "gpu.yml"), "w") as handle:
        yaml.safe_dump(gpu, handle)
    rc, report, _ = run_playbook(tmp_path, "playbooks/gpu-plan.yml", str(inventory),
                                 {"gpu_plan_output_dir": str(tmp_path / "plan")})
    assert rc == 2
    (result,) = [t["hosts"]["localhost"] for play in report["plays"] for t in play["tasks"]
                 if t["task"]["name"] == "Plan the GPUs of every GPU worker"]
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("GPU plan failed: hgx3: GPU 5: MIG layout h100-2x3g-plus")
    assert "1g.10gb does not fit on H100-80GB" in result["msg"]
    assert not (tmp_path / "plan").exists()


# --- the CRD schema -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator():
    with open(CLUSTER_POLICY_CRD) as handle:
        crd = yaml.safe_load(handle)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = to_json_schema(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def validate(policy, schema_validator):
    """Every schema error as "path: message", sorted; empty when the policy is valid."""
    return sorted("%s: %s" % ("/".join(str(p) for p in error.absolute_path), error.message)
                  for error in schema_validator.iter_errors(policy))


def test_rendered_cluster_policy_matches_the_crd(rendered, validator):
    assert validate(load(rendered[0], "cluster-policy.yaml"), validator) == []


def _broken(policy, path, value):
    policy = json.loads(json.dumps(policy))
    node = policy
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return policy


@pytest.mark.parametrize("path,value,expected", [
    (["spec", "mig", "strategy"], "balanced",
     "spec/mig/strategy: 'balanced' is not one of ['none', 'single', 'mixed']"),
    (["spec", "mig", "strategy"], 1, ["spec/mig/strategy: 1 is not of type 'string'",
                                      "spec/mig/strategy: 1 is not one of ['none', 'single', 'mixed']"]),
    (["spec", "driver", "enabled"], "yes", "spec/driver/enabled: 'yes' is not of type 'boolean'"),
    (["spec", "migManager", "config", "default"], "all-enabled",
     "spec/migManager/config/default: 'all-enabled' is not one of ['all-disabled', '']"),
    (["spec", "devicePlugin", "confg"], {"name": "x"},
     "spec/devicePlugin: Additional properties are not allowed ('confg' was unexpected)"),
    (["spec", "toolkit"], KeyError, "spec: 'toolkit' is a required property"),
    (["spec", "driver", "upgradePolicy", "maxUnavailable"], 2.5,
     "spec/driver/upgradePolicy/maxUnavailable: 2.5 is not valid under any of the given schemas"),
])
def test_validator_rejects_a_broken_policy(rendered, validator, path, value, expected):
    expected = expected if isinstance(expected, list) else [expected]
    assert validate(_broken(load(rendered[0], "cluster-policy.yaml"), path, value), validator) == sorted(expected)


@pytest.mark.parametrize("value", [1, "25%"])
def test_int_or_string_accepts_both(rendered, validator, value):
    policy = _broken(load(rendered[0], "cluster-policy.yaml"), ["spec", "driver", "upgradePolicy", "maxUnavailable"],
                     value)
    assert validate(policy, validator) == []
