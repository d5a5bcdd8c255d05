"""kiln.cluster.openbao_kv_secret against a real `bao server -dev` on 127.0.0.1 (its KV v2 engine at secret/):
credentials generated once and never replaced, given values compared, other keys kept, check mode writing
nothing, and no value in any result."""

import json

import hvac
import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_kv_secret


@pytest.fixture
def kv(run_bao):
    return lambda check_mode=False, **args: run_bao(openbao_kv_secret, check_mode, mount="secret", **args)


def _read(client, path):
    try:
        return client.secrets.kv.v2.read_secret_version(mount_point="secret", path=path,
                                                        raise_on_deleted_version=True)["data"]["data"]
    except hvac.exceptions.InvalidPath:
        return None


def test_a_credential_is_generated_once_and_never_replaced(kv, client):
    rc, result = kv(check_mode=True, path="harbor/admin", generate={"password": 32})
    assert (rc, result["changed"], result["keys_generated"]) == (0, True, ["password"]), result
    assert _read(client, "harbor/admin") is None, "check mode wrote the secret"

    rc, result = kv(path="harbor/admin", generate={"password": 32})
    assert (rc, result["changed"], result["keys_generated"], result["keys"]) == (0, True, ["password"], ["password"])
    password = _read(client, "harbor/admin")["password"]
    assert len(password) == 32 and password.isalnum()
    assert password not in json.dumps(result)

    for length in (32, 64):
        rc, result = kv(path="harbor/admin", generate={"password": length})
        assert (rc, result["changed"], result["keys_generated"]) == (0, False, []), result
    assert _read(client, "harbor/admin")["password"] == password


def test_given_values_are_compared_and_other_keys_kept(kv, client):
    rc, result = kv(path="velero/s3", data={"access_key": "AKIA-test"}, generate={"secret_key": 40})
    assert (rc, result["changed"], result["keys_written"], result["keys_generated"]) == (0, True, ["access_key"], ["secret_key"])
    secret_key = _read(client, "velero/s3")["secret_key"]

    rc, result = kv(path="velero/s3", data={"access_key": "AKIA-test"})
    assert (rc, result["changed"]) == (0, False), result

    rc, result = kv(check_mode=True, path="velero/s3", data={"access_key": "AKIA-rotated"})
    assert (rc, result["changed"], result["keys_written"]) == (0, True, ["access_key"])
    assert _read(client, "velero/s3")["access_key"] == "AKIA-test"

    rc, result = kv(path="velero/s3", data={"access_key": "AKIA-rotated"})
    assert (rc, result["changed"]) == (0, True)
    assert _read(client, "velero/s3") == {"access_key": "AKIA-rotated", "secret_key": secret_key}
    assert "AKIA-rotated" not in json.dumps(result) and secret_key not in json.dumps(result)


def test_a_key_both_given_and_generated_is_refused(kv):
    rc, result = kv(path="x", data={"password": "given-value"}, generate={"password": 16})
    assert rc == 1 and "both given" in result["msg"]
    assert "given-value" not in result["msg"]


def test_a_failed_write_names_no_value(run_main, bao):
    rc, result = run_main(openbao_kv_secret, {"url": bao[0], "token": "not-a-token", "mount": "secret", "path": "p",
                                              "data": {"password": "super-secret-value"}})
    assert rc == 1
    assert "super-secret-value" not in json.dumps(result)
