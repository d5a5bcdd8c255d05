"""kiln.cluster.openbao_policy against a real `bao server -dev` on 127.0.0.1: write, idempotence whatever the
trailing whitespace, a changed policy really applied, check mode leaving the server untouched, deletion."""

import hvac
import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_policy

POLICY = 'path "kiln/data/gpu-operator/*" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture
def policy(run_bao):
    return lambda check_mode=False, **args: run_bao(openbao_policy, check_mode, **args)


def _text(client, name):
    try:
        return client.adapter.get("/v1/sys/policies/acl/" + name)["data"]["policy"]
    except hvac.exceptions.InvalidPath:
        return None


def test_write_rerun_change_check_mode_and_delete(policy, client):
    rc, result = policy(check_mode=True, name="gpu-operator", policy=POLICY)
    assert (rc, result["changed"]) == (0, True), result
    assert _text(client, "gpu-operator") is None, "check mode wrote the policy"

    rc, result = policy(name="gpu-operator", policy=POLICY)
    assert (rc, result["changed"], result["name"]) == (0, True, "gpu-operator"), result
    assert result["diff"] == {"before": "", "after": POLICY}
    assert _text(client, "gpu-operator") == POLICY

    for same in (POLICY, POLICY.rstrip("\n"), POLICY + "\n\n", POLICY.replace("{\n", "{   \n")):
        rc, result = policy(name="gpu-operator", policy=same)
        assert (rc, result["changed"]) == (0, False), (same, result)

    wider = POLICY.replace('["read"]', '["read", "list"]')
    rc, result = policy(check_mode=True, name="gpu-operator", policy=wider)
    assert (rc, result["changed"]) == (0, True), result
    assert result["diff"] == {"before": POLICY, "after": wider}
    assert _text(client, "gpu-operator") == POLICY, "check mode wrote the policy"

    rc, result = policy(name="gpu-operator", policy=wider)
    assert (rc, result["changed"]) == (0, True), result
    assert _text(client, "gpu-operator") == wider

    rc, result = policy(check_mode=True, name="gpu-operator", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _text(client, "gpu-operator") == wider
    rc, result = policy(name="gpu-operator", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _text(client, "gpu-operator") is None
    assert policy(name="gpu-operator", state="absent")[1]["changed"] is False


def test_names_are_stored_in_lower_case(policy, client):
    rc, result = policy(name="Kiln-Platform", policy=POLICY)
    assert (rc, result["changed"], result["name"]) == (0, True, "kiln-platform"), result
    rc, result = policy(name="Kiln-Platform", policy=POLICY)
    assert (rc, result["changed"], result["name"]) == (0, False, "kiln-platform"), result


def test_invalid_hcl_fails_with_the_servers_reason(policy, client, bao):
    rc, result = policy(name="broken", policy='path "kiln/*" { capabilities = ["read"] ')
    assert rc == 1
    assert "writing policy broken failed" in result["msg"]
    assert bao[1] not in str(result)
    assert _text(client, "broken") is None


def test_present_needs_the_policy_text(policy):
    rc, result = policy(name="nothing")
    assert rc == 1 and "policy" in result["msg"]
