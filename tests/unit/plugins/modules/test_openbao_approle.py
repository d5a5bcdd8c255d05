"""kiln.cluster.openbao_approle_secret_id and openbao_token_revoked against a real `bao server -dev` on
127.0.0.1: Kiln's AppRole credentials are made once and kept while they log in; a root-equivalent token is
revoked once, and a revoked token is already revoked on the rerun."""

import hvac
import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_approle_secret_id, openbao_token_revoked

POLICY = 'path "kiln/*" {\n  capabilities = ["read"]\n}\n'


@pytest.fixture
def approle(client):
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy("kiln-admin", POLICY)
    client.adapter.post("/v1/auth/approle/role/kiln", json={"token_policies": ["kiln-admin"], "secret_id_ttl": 0})
    return client


def test_credentials_are_made_once_and_kept_while_they_log_in(run_bao, approle, bao):
    rc, result = run_bao(openbao_approle_secret_id, check_mode=True, role="kiln")
    assert (rc, result["changed"], result["secret_id"]) == (0, True, ""), result

    rc, first = run_bao(openbao_approle_secret_id, role="kiln")
    assert (rc, first["changed"]) == (0, True), first
    assert first["token"] and first["secret_id"] and first["role_id"]
    login = hvac.Client(url=bao[0], token=first["token"]).auth.token.lookup_self()["data"]
    assert login["policies"] == ["default", "kiln-admin"]

    kept = {"role_id": first["role_id"], "secret_id": first["secret_id"]}
    rc, again = run_bao(openbao_approle_secret_id, role="kiln", current=kept)
    assert (rc, again["changed"]) == (0, False), again
    # Ansible masks any returned value equal to a no_log option: the kept secret id never comes back in clear.
    assert first["secret_id"] not in str(again)
    assert hvac.Client(url=bao[0], token=again["token"]).auth.token.lookup_self()["data"]["policies"] == [
        "default", "kiln-admin"]

    # A secret id the server no longer honours is replaced.
    approle.adapter.post("/v1/auth/approle/role/kiln/secret-id/destroy", json={"secret_id": first["secret_id"]})
    rc, replaced = run_bao(openbao_approle_secret_id, role="kiln", current=kept)
    assert (rc, replaced["changed"]) == (0, True), replaced
    assert replaced["secret_id"] != first["secret_id"]


def test_a_missing_role_is_an_error_that_names_it(run_bao, approle):
    rc, result = run_bao(openbao_approle_secret_id, role="nobody")
    assert rc == 1 and "auth/approle/role/nobody does not exist" in result["msg"], result


def test_a_token_is_revoked_once(run_main, bao, client):
    token = client.auth.token.create(policies=["root"])["auth"]["client_token"]
    args = dict(url=bao[0], token=token)
    rc, result = run_main(openbao_token_revoked, dict(args, _ansible_check_mode=True))
    assert (rc, result["changed"]) == (0, True), result
    assert client.auth.token.lookup(token)["data"]["id"] == token, "check mode revoked the token"
    rc, result = run_main(openbao_token_revoked, args)
    assert (rc, result["changed"]) == (0, True), result
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup(token)
    rc, result = run_main(openbao_token_revoked, args)
    assert (rc, result["changed"]) == (0, False), result
