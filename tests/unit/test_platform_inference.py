"""Role inference rendered for real for inventories/onprem (controller only, no host contacted)."""

import os

import pytest
import yaml

from crd_schema import shared_catalog
from platform_render import ONPREM, assert_refused_before_rendering, render

ROLE = "inference"
MIRROR = "harbor.gpu-prod-1.example.internal"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("inference")
    first = render(tmp_path, [ROLE]).ok()
    second = render(tmp_path, [ROLE]).ok()
    return first, second


def _named(result, kind):
    return dict((doc["metadata"]["name"], doc) for doc in result.by_kind(ROLE, kind))


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_resource_is_valid_against_the_upstream_crds(rendered):
    catalog = shared_catalog()
    documents = [doc for _, doc in rendered[0].documents(ROLE)]
    assert set(doc["kind"] for doc in documents) == {"ClusterServingRuntime", "InferenceService"}
    for doc in documents:
        assert catalog.knows(doc), doc["kind"]
        assert catalog.errors(doc) == [], doc["metadata"]["name"]


def test_one_runtime_per_server_and_advertised_gpu_resource(rendered):
    runtimes = _named(rendered[0], "ClusterServingRuntime")
    # The onprem plan (mixed strategy) advertises whole GPUs and 1g.10gb, 2g.20gb, 3g.40gb slices.
    expected = {}
    for server in ("triton", "vllm"):
        expected["kiln-" + server] = "nvidia.com/gpu"
        for profile in ("1g.10gb", "2g.20gb", "3g.40gb"):
            expected["kiln-%s-mig-%s" % (server, profile.replace(".", "-"))] = "nvidia.com/mig-" + profile
    assert set(runtimes) == set(expected)
    for name, runtime in runtimes.items():
        (container,) = runtime["spec"]["containers"]
        gpu = dict((k, v) for k, v in container["resources"]["limits"].items() if k.startswith("nvidia.com/"))
        assert gpu == {expected[name]: "1"}, name
        assert container["image"].startswith(MIRROR + "/"), container["image"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert runtime["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                   "effect": "NoSchedule"}]
        # Only the whole-GPU runtime is picked automatically for a model format.
        assert all(f["autoSelect"] == (expected[name] == "nvidia.com/gpu")
                   for f in runtime["spec"]["supportedModelFormats"])
    assert runtimes["kiln-triton"]["spec"]["containers"][0]["image"] == \
        MIRROR + "/nvcr/nvidia/tritonserver:25.08-py3"
    assert runtimes["kiln-vllm"]["spec"]["containers"][0]["image"] == MIRROR + "/dockerhub/vllm/vllm-openai:v0.10.1"


def _affinity(service):
    terms = service["spec"]["predictor"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    (term,) = terms
    return dict((e["key"], (e["operator"], e["values"])) for e in term["matchExpressions"])


def test_one_example_per_gpu_kind_on_the_right_nodes(rendered):
    services = _named(rendered[0], "InferenceService")
    assert set(services) == {"kiln-example-h100-80gb-hbm3", "kiln-example-a100-80gb-pcie"}
    runtimes = _named(rendered[0], "ClusterServingRuntime")

    h100 = services["kiln-example-h100-80gb-hbm3"]
    model = h100["spec"]["predictor"]["model"]
    # The largest slice of the H100 layouts: 3g.40gb, on hgx1-3 (h100-balanced); hgx4 has only 1g.10gb slices.
    assert model["resources"] == {"limits": {"nvidia.com/mig-3g.40gb": "1"}}
    assert model["runtime"] == "kiln-vllm-mig-3g-40gb" and model["modelFormat"] == {"name": "vllm"}
    assert _affinity(h100) == {"nvidia.com/gpu.product": ("In", ["NVIDIA-H100-80GB-HBM3"]),
                               "nvidia.com/mig.config": ("In", ["kiln-hgx1", "kiln-hgx2", "kiln-hgx3"])}
    assert h100["metadata"]["annotations"]["kiln.io/gpu-nodes"] == "hgx1,hgx2,hgx3"

    a100 = services["kiln-example-a100-80gb-pcie"]
    model = a100["spec"]["predictor"]["model"]
    assert model["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert model["runtime"] == "kiln-triton"
    assert _affinity(a100) == {"nvidia.com/gpu.product": ("In", ["NVIDIA-A100-80GB-PCIe"]),
                               "nvidia.com/mig.config": ("In", ["all-disabled"])}

    for service in services.values():
        predictor = service["spec"]["predictor"]
        assert service["metadata"]["namespace"] == "dev"
        assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
        assert predictor["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert predictor["model"]["runtime"] in runtimes
        assert predictor["model"]["storageUri"].startswith("pvc://kiln-models/")


def test_the_examples_request_what_the_gpu_plan_advertises(rendered, tmp_path):
    # The plan the worker role uses to label nodes and the GPU Operator role to configure the device plugin.
    result = render(tmp_path, ["gpu_operator"], ONPREM, {"gpu_operator_render_dir": str(tmp_path / "gpu")}).ok()
    plan = [r for r in result.tasks().values() if "plan" in r][0]["plan"]
    for service in _named(rendered[0], "InferenceService").values():
        (resource,) = service["spec"]["predictor"]["model"]["resources"]["limits"]
        nodes = service["metadata"]["annotations"]["kiln.io/gpu-nodes"].split(",")
        assert all(plan["nodes"][node]["resources"].get(resource, 0) > 0 for node in nodes), (resource, nodes)
        configs = _affinity(service)["nvidia.com/mig.config"][1]
        assert configs == sorted(set(plan["node_labels"][node]["nvidia.com/mig.config"] for node in nodes))


def test_chart_values_and_skip(rendered):
    with open(str(rendered[0].render_dir / "values" / ROLE / "kserve.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["kserve"]["controller"]["deploymentMode"] == "RawDeployment"
    assert values["kserve"]["controller"]["gateway"]["domain"] == "gpu-prod-1.example.internal"
    assert values["kserve"]["storage"]["image"] == MIRROR + "/dockerhub/kserve/storage-initializer"
    messages = [r.get("msg") for r in rendered[0].tasks().values() if isinstance(r.get("msg"), list)]
    (skip,) = [m for m in messages if m[0].startswith("KServe install skipped")]
    assert "kserve-crd and kserve v0.15.2" in skip[1] and "values/inference/kserve.yaml" in skip[1]
    assert "kiln_chart_repository_url" in skip[2]


@pytest.mark.parametrize("variables,expected", [
    ({"inference_example_namespace": "qa"}, "inference_example_namespace (qa) must be one of kiln_environments"),
    ({"inference_runtimes": [{"name": "Triton", "image": "tritonserver", "version": "1", "model_formats": []}]},
     "inference_runtimes needs unique lowercase names"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, ROLE, variables, expected)


def test_check_mode_writes_nothing(tmp_path):
    result = render(tmp_path, [ROLE], ONPREM, None, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
