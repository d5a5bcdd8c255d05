"""Role network_policy rendered for real for inventories/onprem (controller only, no host contacted): kube-router
in firewall-only mode on every node, from the upstream image name the site registry mirrors."""

import os

import pytest
import yaml

from platform_render import REPO_ROOT, assert_refused_before_rendering, render


def _pinned(name):
    with open(os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main", "versions.yml")) as handle:
        return str(yaml.safe_load(handle)[name])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("network-policy")
    first = render(tmp_path, ["network_policy"]).ok()
    second = render(tmp_path, ["network_policy"]).ok()
    return first, second


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_kube_router_runs_only_its_firewall_on_every_node(rendered):
    (daemonset,) = rendered[0].by_kind("network_policy", "DaemonSet")
    spec = daemonset["spec"]["template"]["spec"]
    assert daemonset["metadata"]["namespace"] == "kube-system"
    assert spec["tolerations"] == [{"operator": "Exists"}], "a node without the firewall accepts what policies deny"
    assert spec["hostNetwork"] is True and spec["priorityClassName"] == "system-node-critical"
    (container,) = spec["containers"]
    assert container["image"] == "docker.io/cloudnativelabs/kube-router:v" + _pinned("kiln_kube_router_version")
    args = container["args"]
    assert {"--run-router=false", "--run-firewall=true", "--run-service-proxy=false"} <= set(args)
    assert "--service-cluster-ip-range=10.96.0.0/12" in args
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["xtables-lock"] == "/run/xtables.lock"


def test_its_service_account_may_only_read_what_the_firewall_needs(rendered):
    (role,) = rendered[0].by_kind("network_policy", "ClusterRole")
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert {"networkpolicies", "pods", "namespaces"} <= resources
    (binding,) = rendered[0].by_kind("network_policy", "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kiln-kube-router", "namespace": "kube-system"}]


def test_disabled_enforcement_renders_nothing(tmp_path):
    result = render(tmp_path, ["network_policy"], extra_vars={"network_policy_enabled": False}).ok()
    assert not os.path.exists(str(result.render_dir / "network_policy"))


def test_an_image_without_a_tag_is_refused_before_rendering(tmp_path):
    assert_refused_before_rendering(tmp_path, "network_policy", {"network_policy_image": "kube-router"},
                                    "network_policy_image must be registry/repository:tag")
