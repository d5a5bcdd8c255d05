"""Role cluster_security rendered for real for inventories/onprem (controller only, no host contacted)."""

import os

import pytest

from platform_render import ONPREM, altered_inventory, assert_refused_before_rendering, render


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cluster-security")
    first = render(tmp_path, ["cluster_security"]).ok()
    second = render(tmp_path, ["cluster_security"]).ok()
    return first, second


def _namespaces(result):
    return dict((d["metadata"]["name"], d) for d in result.by_kind("cluster_security", "Namespace"))


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_namespace_is_restricted_unless_an_exception_says_why(rendered):
    namespaces = _namespaces(rendered[0])
    assert set(["dev", "staging", "prod", "argocd", "istio-system", "velero", "monitoring", "kserve"]) <= set(namespaces)
    for name, namespace in namespaces.items():
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.36", name
        assert labels["pod-security.kubernetes.io/warn"] == "restricted", name
        if labels["pod-security.kubernetes.io/enforce"] != "restricted":
            assert len(namespace["metadata"]["annotations"]["kiln.io/pod-security-reason"]) > 20, name
    assert _namespaces(rendered[0])["dev"]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert namespaces["gpu-operator"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def _policies(result):
    found = {}
    for policy in result.by_kind("cluster_security", "NetworkPolicy"):
        found.setdefault(policy["metadata"]["namespace"], {})[policy["metadata"]["name"]] = policy["spec"]
    return found


def test_every_namespace_denies_by_default_and_allows_dns(rendered):
    policies = _policies(rendered[0])
    assert set(policies) == set(_namespaces(rendered[0]))
    for namespace, by_name in policies.items():
        assert by_name["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, namespace
        (rule,) = by_name["allow-dns"]["egress"]
        assert [p["port"] for p in rule["ports"]] == [53, 53], namespace


def test_environments_are_reached_only_from_the_gateway_and_monitoring(rendered):
    dev = _policies(rendered[0])["dev"]
    (rule,) = dev["allow-ingress-from-istio-ingress-monitoring"]["ingress"]
    assert [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]] == [
        "istio-ingress", "monitoring"]
    assert "allow-external" not in dev and "allow-apiserver" not in dev


def test_operators_reach_the_api_server_on_the_control_plane_addresses_only(rendered):
    (rule,) = _policies(rendered[0])["argocd"]["allow-apiserver"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6443}]
    assert [peer["ipBlock"]["cidr"] for peer in rule["to"]] == [
        "10.20.0.10/32", "10.20.0.11/32", "10.20.0.12/32", "10.20.0.13/32"]


def test_operator_groups_become_bindings(rendered):
    bindings = [(d["kind"], d["metadata"].get("namespace"), d["subjects"][0]["name"], d["roleRef"]["name"])
                for _, d in rendered[0].documents("cluster_security") if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert sorted(bindings, key=str) == sorted([
        ("ClusterRoleBinding", None, "gpu-platform-admins", "cluster-admin"),
        ("RoleBinding", "dev", "ml-engineers", "edit"),
        ("RoleBinding", "staging", "ml-engineers", "edit"),
        ("RoleBinding", "prod", "ml-engineers", "view"),
        ("ClusterRoleBinding", None, "auditors", "view")], key=str)


@pytest.mark.parametrize("variables,expected", [
    ({"cluster_security_platform_namespaces": [{"name": "gpu-operator", "pod_security": "privileged"}]},
     "anything but restricted needs pod_security_reason"),
    ({"kiln_environments": ["Dev"]}, "namespace Dev"),
    ({"kiln_operator_groups": [{"group": "ops", "cluster_role": "root"}]},
     "kiln_operator_groups entry ops is not valid"),
    ({"kiln_operator_groups": [{"group": "ops", "cluster_role": "view", "namespaces": ["nope"]}]},
     "(unknown: nope)"),
    ({"kiln_environments": ["dev", "dev"]}, "declared twice"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, "cluster_security", variables, expected)


ADMISSION = {"kiln_allowed_image_registries": ["registry.example.internal:5000"],
             "kiln_gpu_quotas": {"dev": {"nvidia.com/gpu": 2, "nvidia.com/mig-1g.10gb": 7}},
             "kiln_priority_classes": [{"name": "gpu-training", "value": 1000, "preemption_policy": "Never"}]}


def test_admission_rules_quotas_and_priorities_are_rendered(tmp_path):
    result = render(tmp_path, ["cluster_security"], altered_inventory(tmp_path, **ADMISSION)).ok()
    policies = dict((d["metadata"]["name"], d) for d in result.by_kind("cluster_security", "ValidatingAdmissionPolicy"))
    bindings = dict((d["metadata"]["name"], d) for d in result.by_kind("cluster_security",
                                                                        "ValidatingAdmissionPolicyBinding"))
    assert sorted(policies) == sorted(bindings) == ["kiln-gpu-namespaces", "kiln-image-registry-allowed",
                                                    "kiln-image-tag-pinned"]
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings.values())
    registries = policies["kiln-image-registry-allowed"]["spec"]["validations"][0]["expression"]
    # The site registry, the registries it mirrors and the extra one, as one CEL list literal.
    assert '"docker.io", "registry.k8s.io", "quay.io", "ghcr.io", "nvcr.io", "registry.example.internal:5000"]' in registries
    quota, = result.by_kind("cluster_security", "ResourceQuota")
    assert (quota["metadata"]["namespace"], quota["spec"]["hard"]) == (
        "dev", {"requests.nvidia.com/gpu": "2", "requests.nvidia.com/mig-1g.10gb": "7"})
    priority, = result.by_kind("cluster_security", "PriorityClass")
    assert (priority["metadata"]["name"], priority["value"], priority["preemptionPolicy"]) == ("gpu-training", 1000,
                                                                                               "Never")
    namespaces = _namespaces(result)
    assert sorted(n for n, d in namespaces.items() if d["metadata"]["labels"].get("kiln.io/gpu") == "true") == [
        "dev", "gpu-operator"]


@pytest.mark.parametrize("variables,expected", [
    ({"kiln_gpu_quotas": {"nope": {"nvidia.com/gpu": 1}}}, "kiln_gpu_quotas must map declared namespaces"),
    ({"kiln_gpu_quotas": {"dev": {"cpu": 1}}}, "kiln_gpu_quotas must map declared namespaces"),
    ({"kiln_gpu_quotas": {"dev": {"nvidia.com/gpu": "two"}}}, "kiln_gpu_quotas must map declared namespaces"),
    ({"kiln_allowed_image_registries": ["https://r.example/x"]}, "must be host[:port] names"),
    ({"kiln_priority_classes": [{"name": "system-x", "value": 1}]}, "kiln_priority_classes"),
    ({"kiln_priority_classes": [{"name": "a", "value": 1, "preemption_policy": "Always"}]}, "kiln_priority_classes"),
])
def test_bad_admission_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, "cluster_security", variables, expected)


def test_check_mode_writes_nothing(tmp_path):
    result = render(tmp_path, ["cluster_security"], ONPREM, None, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
