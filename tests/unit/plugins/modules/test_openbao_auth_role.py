"""kiln.cluster.openbao_auth_role against a real `bao server -dev` on 127.0.0.1: kubernetes auth roles (lists of
service accounts and namespaces, token_ttl "1h") idempotent on the second run whatever the spelling, a changed
setting really applied, check mode leaving the server untouched, settings that do not read back, deletion."""

import hvac
import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_auth_role


@pytest.fixture(scope="module", autouse=True)
def _auth_methods(bao):
    client = hvac.Client(url=bao[0], token=bao[1])
    client.sys.enable_auth_method("kubernetes")
    client.sys.enable_auth_method("approle")


@pytest.fixture
def role(run_bao):
    return lambda check_mode=False, **args: run_bao(openbao_auth_role, check_mode, **args)


def _read(client, path):
    try:
        return client.adapter.get("/v1/" + path)["data"]
    except hvac.exceptions.InvalidPath:
        return None


SETTINGS = {
    "bound_service_account_names": ["gpu-operator", "dcgm-exporter"],
    "bound_service_account_namespaces": ["gpu-operator"],
    "token_policies": ["gpu-operator", "default"],
    "token_ttl": "1h",
    "token_max_ttl": "24h",
    "token_no_default_policy": False,
}


def test_kubernetes_role_create_rerun_change_and_check_mode(role, client):
    path = "auth/kubernetes/role/gpu-operator"
    rc, result = role(check_mode=True, mount="kubernetes", name="gpu-operator", settings=SETTINGS)
    assert (rc, result["changed"], result["changes"]) == (0, True, ["create"]), result
    assert _read(client, path) is None, "check mode wrote the role"

    rc, result = role(mount="kubernetes", name="gpu-operator", settings=SETTINGS)
    assert (rc, result["changed"], result["path"]) == (0, True, path), result
    have = _read(client, path)
    assert have["bound_service_account_names"] == ["gpu-operator", "dcgm-exporter"]
    assert have["bound_service_account_namespaces"] == ["gpu-operator"]
    assert (have["token_ttl"], have["token_max_ttl"]) == (3600, 86400)

    rc, result = role(mount="kubernetes", name="gpu-operator", settings=SETTINGS)
    assert (rc, result["changed"], result["changes"], result["not_compared"]) == (0, False, [], []), result

    # The same role spelt otherwise: comma strings, other orders, seconds, minutes, a string bool.
    same = {
        "bound_service_account_names": "dcgm-exporter, gpu-operator",
        "bound_service_account_namespaces": "gpu-operator",
        "token_policies": ["default", "gpu-operator"],
        "token_ttl": 3600,
        "token_max_ttl": "1440m",
        "token_no_default_policy": "no",
    }
    rc, result = role(mount="/kubernetes/", name="gpu-operator", settings=same)
    assert (rc, result["changed"]) == (0, False), result

    longer = dict(SETTINGS, token_ttl="2h", bound_service_account_namespaces=["gpu-operator", "monitoring"])
    rc, result = role(check_mode=True, mount="kubernetes", name="gpu-operator", settings=longer)
    assert (rc, result["changed"], result["changes"]) == (0, True, ["bound_service_account_namespaces", "token_ttl"]), result
    assert (result["diff"]["before"]["token_ttl"], result["diff"]["after"]["token_ttl"]) == (3600, "2h")
    have = _read(client, path)
    assert (have["token_ttl"], have["bound_service_account_namespaces"]) == (3600, ["gpu-operator"]), "check mode wrote"

    rc, result = role(mount="kubernetes", name="gpu-operator", settings=longer)
    assert (rc, result["changed"]) == (0, True), result
    have = _read(client, path)
    assert (have["token_ttl"], have["bound_service_account_namespaces"]) == (7200, ["gpu-operator", "monitoring"])
    assert have["token_max_ttl"] == 86400

    rc, result = role(mount="kubernetes", name="gpu-operator", settings=longer)
    assert (rc, result["changed"]) == (0, False), result

    # Only the settings named are compared; the rest stay as they are.
    rc, result = role(mount="kubernetes", name="gpu-operator", settings={"token_ttl": "90m"})
    assert (rc, result["changed"], result["changes"]) == (0, True, ["token_ttl"]), result
    have = _read(client, path)
    assert (have["token_ttl"], have["bound_service_account_names"]) == (5400, ["gpu-operator", "dcgm-exporter"])


def test_approle_role_is_generic_too(role, client):
    settings = {"token_policies": "b,a", "secret_id_ttl": "10m", "secret_id_bound_cidrs": [], "bind_secret_id": True}
    assert role(mount="approle", name="ci", settings=settings)[1]["changed"] is True
    have = _read(client, "auth/approle/role/ci")
    assert (sorted(have["token_policies"]), have["secret_id_ttl"]) == (["a", "b"], 600)
    rc, result = role(mount="approle", name="ci", settings=settings)
    assert (rc, result["changed"]) == (0, False), result


def test_a_setting_that_does_not_read_back_is_not_compared(role, client, module_warnings):
    settings = {"token_policies": ["a"]}
    assert role(mount="approle", name="unknown", settings=settings)[1]["changed"] is True
    rc, result = role(mount="approle", name="unknown", settings=dict(settings, kiln_unknown_setting="x"))
    assert (rc, result["changed"], result["not_compared"]) == (0, False, ["kiln_unknown_setting"]), result
    assert any("does not read back kiln_unknown_setting: not compared" in w for w in module_warnings), module_warnings


def test_absent_deletes_and_check_mode_keeps(role, client):
    path = "auth/kubernetes/role/gone"
    settings = {"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"]}
    assert role(mount="kubernetes", name="gone", settings=settings)[1]["changed"] is True
    rc, result = role(check_mode=True, mount="kubernetes", name="gone", state="absent")
    assert (rc, result["changed"], result["changes"]) == (0, True, ["delete"]), result
    assert _read(client, path) is not None
    rc, result = role(mount="kubernetes", name="gone", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _read(client, path) is None
    assert role(mount="kubernetes", name="gone", state="absent")[1]["changed"] is False


def test_a_refused_role_fails_with_the_servers_reason(role, client, bao):
    rc, result = role(mount="kubernetes", name="bad", settings={"token_ttl": "not-a-duration"})
    assert rc == 1
    assert "writing auth/kubernetes/role/bad failed" in result["msg"]
    assert bao[1] not in str(result)
