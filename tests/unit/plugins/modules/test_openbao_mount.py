"""kiln.cluster.openbao_mount against a real `bao server -dev` on 127.0.0.1: create, idempotence, a changed
setting really applied, check mode leaving the server untouched, the refusal to remount another type, removal."""

import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_mount


@pytest.fixture
def mount(run_bao):
    return lambda check_mode=False, **args: run_bao(openbao_mount, check_mode, **args)


def _entry(client, path):
    return client.sys.list_mounted_secrets_engines()["data"].get(path + "/")


def test_kv_v2_create_rerun_change_and_check_mode(mount, client):
    want = dict(path="kiln", type="kv-v2", description="Kiln secrets", tune={"default_lease_ttl": "1h", "max_lease_ttl": "24h"})
    rc, result = mount(**want)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["changes"] == ["enable"]
    entry = _entry(client, "kiln")
    assert (entry["type"], entry["options"]["version"], entry["description"]) == ("kv", "2", "Kiln secrets")
    assert (entry["config"]["default_lease_ttl"], entry["config"]["max_lease_ttl"]) == (3600, 86400)

    rc, result = mount(**want)
    assert (rc, result["changed"], result["changes"]) == (0, False, []), result
    # The same settings spelt differently: seconds instead of durations, kv + options.version instead of kv-v2.
    rc, result = mount(path="/kiln/", type="kv", options={"version": 2},
                       tune={"default_lease_ttl": 3600, "max_lease_ttl": "1440m"})
    assert (rc, result["changed"]) == (0, False), result

    rc, result = mount(check_mode=True, **dict(want, tune={"max_lease_ttl": "48h"}))
    assert (rc, result["changed"], result["changes"]) == (0, True, ["tune.max_lease_ttl"]), result
    assert result["diff"]["before"]["tune"] == {"max_lease_ttl": 86400}
    assert result["diff"]["after"]["tune"] == {"max_lease_ttl": "48h"}
    assert _entry(client, "kiln")["config"]["max_lease_ttl"] == 86400, "check mode wrote to the server"

    rc, result = mount(**dict(want, description="Kiln cluster secrets", tune={"max_lease_ttl": "48h"}))
    assert (rc, result["changed"]) == (0, True), result
    assert sorted(result["changes"]) == ["description", "tune.max_lease_ttl"]
    entry = _entry(client, "kiln")
    assert (entry["config"]["max_lease_ttl"], entry["description"]) == (172800, "Kiln cluster secrets")
    assert entry["config"]["default_lease_ttl"] == 3600, "a setting not asked for was touched"

    rc, result = mount(**dict(want, description="Kiln cluster secrets", tune={"max_lease_ttl": "48h"}))
    assert (rc, result["changed"]) == (0, False), result


def test_list_tune_settings_compare_in_any_order(mount, client):
    want = dict(path="kiln-lists", type="kv", tune={"passthrough_request_headers": ["X-B", "X-A"]})
    assert mount(**want)[1]["changed"] is True
    assert _entry(client, "kiln-lists")["config"]["passthrough_request_headers"] == ["X-B", "X-A"]
    rc, result = mount(**dict(want, tune={"passthrough_request_headers": ["X-A", "X-B"]}))
    assert (rc, result["changed"]) == (0, False), result
    rc, result = mount(**dict(want, tune={"passthrough_request_headers": ["X-A"]}))
    assert (rc, result["changed"]) == (0, True), result
    assert _entry(client, "kiln-lists")["config"]["passthrough_request_headers"] == ["X-A"]


def test_kv_v1_is_upgraded_to_v2_in_place(mount, client):
    assert mount(path="kiln-v1", type="kv")[1]["changed"] is True
    assert (_entry(client, "kiln-v1")["options"] or {}).get("version") != "2"
    rc, result = mount(path="kiln-v1", type="kv-v2")
    assert (rc, result["changed"], result["changes"]) == (0, True, ["options.version"]), result
    assert _entry(client, "kiln-v1")["options"]["version"] == "2"
    assert mount(path="kiln-v1", type="kv-v2")[1]["changed"] is False


def test_check_mode_create_writes_nothing(mount, client):
    rc, result = mount(check_mode=True, path="kiln-check", type="transit")
    assert (rc, result["changed"], result["changes"]) == (0, True, ["enable"]), result
    assert result["diff"] == {"before": {}, "after": {"type": "transit", "description": ""}}
    assert _entry(client, "kiln-check") is None


def test_another_type_is_never_remounted(mount, client):
    assert mount(path="kiln-typed", type="kv")[1]["changed"] is True
    rc, result = mount(path="kiln-typed", type="pki", tune={"max_lease_ttl": "1h"})
    assert rc == 1 and result["failed"] is True
    assert "kiln-typed/" in result["msg"] and "type kv" in result["msg"] and "not pki" in result["msg"]
    assert "refusing to remount" in result["msg"]
    rc, result = mount(path="kiln-typed", type="pki", state="absent")
    assert rc == 1 and "refusing to disable" in result["msg"]
    entry = _entry(client, "kiln-typed")
    assert entry["type"] == "kv" and entry["config"]["max_lease_ttl"] == 0


def test_absent_removes_and_check_mode_keeps(mount, client):
    assert mount(path="kiln-gone", type="kv")[1]["changed"] is True
    rc, result = mount(check_mode=True, path="kiln-gone", state="absent")
    assert (rc, result["changed"], result["changes"]) == (0, True, ["disable"]), result
    assert _entry(client, "kiln-gone") is not None
    rc, result = mount(path="kiln-gone", type="kv", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _entry(client, "kiln-gone") is None
    rc, result = mount(path="kiln-gone", state="absent")
    assert (rc, result["changed"]) == (0, False), result


def test_a_refused_request_fails_with_the_servers_reason_and_no_token(mount, bao):
    rc, result = mount(path="kiln-bad", type="no-such-engine")
    assert rc == 1
    assert "enabling secrets engine kiln-bad/ failed" in result["msg"]
    assert bao[1] not in str(result)


def test_a_bad_token_fails_without_showing_it(run_main, bao):
    wrong = "kiln-test-wrong-token-0123456789"
    rc, result = run_main(openbao_mount, dict(url=bao[0], token=wrong, path="kiln", type="kv"))
    assert rc == 1
    assert "permission denied" in result["msg"]
    assert wrong not in str(result) and bao[1] not in str(result)
