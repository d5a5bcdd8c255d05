"""Role istio rendered for real for inventories/onprem (controller only, no host contacted)."""

import os

import pytest
import yaml

from crd_schema import shared_catalog
from platform_render import ONPREM, assert_refused_before_rendering, render

GATEWAY_PRINCIPAL = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("istio")
    first = render(tmp_path, ["istio"]).ok()
    second = render(tmp_path, ["istio"]).ok()
    return first, second


def _policies(result):
    found = {}
    for policy in result.by_kind("istio", "AuthorizationPolicy"):
        found.setdefault(policy["metadata"]["namespace"], {})[policy["metadata"]["name"]] = policy["spec"]
    return found


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_resource_is_valid_against_the_upstream_crds(rendered):
    documents = rendered[0].documents("istio")
    assert len(documents) == 1 + 1 + 3 * 3 + 1
    for name, document in documents:
        assert document["apiVersion"].endswith("/v1"), name
        assert shared_catalog().knows(document), name
        assert shared_catalog().errors(document) == [], name


def test_mutual_tls_is_strict_mesh_wide(rendered):
    (peer,) = rendered[0].by_kind("istio", "PeerAuthentication")
    assert (peer["metadata"]["name"], peer["metadata"]["namespace"]) == ("default", "istio-system")
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}


def test_the_gateway_serves_the_site_hosts_over_tls_only(rendered):
    (gateway,) = rendered[0].by_kind("istio", "Gateway")
    assert gateway["metadata"]["namespace"] == "istio-ingress"
    https, http = gateway["spec"]["servers"]
    assert https["hosts"] == ["argocd.gpu-prod-1.example.internal", "grafana.gpu-prod-1.example.internal",
                              "*.apps.gpu-prod-1.example.internal"]
    assert https["tls"] == {"mode": "SIMPLE", "credentialName": "kiln-ingress-tls"}
    assert http["hosts"] == https["hosts"] and http["tls"] == {"httpsRedirect": True}
    with open(os.path.join(str(rendered[0].render_dir), "values", "istio", "gateway.yaml")) as handle:
        values = yaml.safe_load(handle)
    # The Gateway selects the pods the chart labels, whose service account is the principal the environments admit.
    assert values["labels"] == gateway["spec"]["selector"]
    assert GATEWAY_PRINCIPAL.endswith("/sa/" + values["serviceAccount"]["name"])


def test_every_environment_denies_by_default_and_allows_explicitly(rendered):
    policies = _policies(rendered[0])
    assert set(policies) == {"dev", "staging", "prod"}
    for namespace, by_name in policies.items():
        assert by_name["default-deny"] == {}, namespace
        assert by_name["allow-same-namespace"]["rules"] == [{"from": [{"source": {"namespaces": [namespace]}}]}]
        gateway = by_name["allow-ingress-gateway"]
        assert gateway["selector"] == {"matchLabels": {"kiln.io/exposed": "true"}}
        assert gateway["rules"] == [{"from": [{"source": {"principals": [GATEWAY_PRINCIPAL]}}]}]
        assert set(spec.get("action", "ALLOW") for spec in by_name.values()) == {"ALLOW"}
    # The inventory's extra allow lands in prod only, with its ports as strings (the CRD's type).
    assert "allow-staging-evaluator" not in policies["dev"]
    assert policies["prod"]["allow-staging-evaluator"] == {
        "selector": {"matchLabels": {"app": "model-api"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/staging/sa/evaluator"]}}],
                   "to": [{"operation": {"ports": ["8080"], "methods": ["POST"]}}]}]}


def test_istiod_uses_the_cni_agent_and_the_root_namespace(rendered):
    with open(os.path.join(str(rendered[0].render_dir), "values", "istio", "istiod.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["pilot"]["cni"] == {"enabled": True}
    assert values["meshConfig"]["rootNamespace"] == "istio-system"
    assert values["meshConfig"]["trustDomain"] == GATEWAY_PRINCIPAL.split("/")[0]
    assert values["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


@pytest.mark.parametrize("variables,expected", [
    ({"kiln_ingress_hosts": ["Bad_Host.example"]}, "bad: Bad_Host.example"),
    ({"kiln_mesh_allows": [{"name": "open", "namespaces": ["qa"], "from_namespaces": ["dev"]}]}, "unknown: qa"),
    ({"kiln_mesh_allows": [{"name": "no-source", "ports": [70000]}]}, "kiln_mesh_allows entry no-source"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, "istio", variables, expected)


def test_check_mode_writes_nothing_and_says_why_the_charts_were_skipped(tmp_path):
    result = render(tmp_path, ["istio"], ONPREM, {"kiln_chart_repository_url": ""}, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
    message = result.tasks()["Say why the Istio charts were not installed"]["msg"]
    assert "kiln_chart_repository_url is empty" in message
    assert "base, cni, istiod, gateway 1.27.1" in message
