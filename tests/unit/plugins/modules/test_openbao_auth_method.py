"""kiln.cluster.openbao_auth_method against a real `bao server -dev` on 127.0.0.1: enable, tune and configure the
kubernetes auth method; idempotence; write-only fields (token_reviewer_jwt) never compared nor shown; check mode;
the refusal to remount another type; removal."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kiln.cluster.plugins.modules import openbao_auth_method

JWT = "eyJhbGciOiJSUzI1NiJ9.kiln-test-reviewer.c2lnbmF0dXJl"


def _ca_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiln-test-kubernetes-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA_PEM = _ca_pem()


@pytest.fixture
def auth(run_bao):
    return lambda check_mode=False, **args: run_bao(openbao_auth_method, check_mode, **args)


def _entry(client, path):
    return client.sys.list_auth_methods()["data"].get(path + "/")


def _config(client, path):
    return client.adapter.get("/v1/auth/%s/config" % path)["data"]


def _kubernetes(**changes):
    args = dict(type="kubernetes", description="Kiln cluster service accounts",
                tune={"default_lease_ttl": "1h", "max_lease_ttl": "24h", "token_type": "service"},
                config={"kubernetes_host": "https://10.0.0.10:6443", "kubernetes_ca_cert": CA_PEM,
                        "disable_iss_validation": True},
                config_write_only={"token_reviewer_jwt": JWT})
    args.update(changes)
    return args


def test_kubernetes_enable_configure_rerun_and_change(auth, client, module_warnings):
    rc, result = auth(check_mode=True, **_kubernetes())
    assert (rc, result["changed"], result["changes"], result["config"]["changes"]) == (0, True, ["enable"], ["create"]), result
    assert _entry(client, "kubernetes") is None, "check mode enabled the method"

    rc, result = auth(**_kubernetes())
    assert (rc, result["changed"], result["path"]) == (0, True, "kubernetes"), result
    assert result["config"] == {"changes": ["create"], "not_compared": []}
    assert JWT not in str(result), "the write-only secret leaked into the result"
    entry = _entry(client, "kubernetes")
    assert (entry["type"], entry["description"]) == ("kubernetes", "Kiln cluster service accounts")
    assert (entry["config"]["default_lease_ttl"], entry["config"]["max_lease_ttl"], entry["config"]["token_type"]) == (3600, 86400, "service")
    config = _config(client, "kubernetes")
    assert (config["kubernetes_host"], config["token_reviewer_jwt_set"]) == ("https://10.0.0.10:6443", True)
    assert config["kubernetes_ca_cert"].strip() == CA_PEM.strip()

    del module_warnings[:]
    rc, result = auth(**_kubernetes())
    assert (rc, result["changed"], result["changes"], result["config"]["changes"]) == (0, False, [], []), result
    assert module_warnings == []
    # The certificate with extra trailing whitespace and seconds instead of durations are the same settings.
    same = _kubernetes(tune={"default_lease_ttl": 3600, "max_lease_ttl": "86400", "token_type": "service"})
    same["config"] = dict(same["config"], kubernetes_ca_cert=CA_PEM + "\n\n", disable_iss_validation="yes")
    rc, result = auth(**same)
    assert (rc, result["changed"]) == (0, False), result

    moved = _kubernetes()
    moved["config"] = dict(moved["config"], kubernetes_host="https://10.0.0.20:6443")
    rc, result = auth(check_mode=True, **moved)
    assert (rc, result["changed"], result["config"]["changes"]) == (0, True, ["kubernetes_host"]), result
    assert result["diff"]["before"]["config"]["kubernetes_host"] == "https://10.0.0.10:6443"
    assert result["diff"]["after"]["config"]["kubernetes_host"] == "https://10.0.0.20:6443"
    assert result["diff"]["after"]["config"]["token_reviewer_jwt"] == "********"
    assert _config(client, "kubernetes")["kubernetes_host"] == "https://10.0.0.10:6443", "check mode wrote the config"

    rc, result = auth(**moved)
    assert (rc, result["changed"], result["changes"], result["config"]["changes"]) == (0, True, [], ["kubernetes_host"]), result
    config = _config(client, "kubernetes")
    assert config["kubernetes_host"] == "https://10.0.0.20:6443"
    assert config["token_reviewer_jwt_set"] is True, "the whole config is written, write-only fields included"

    rc, result = auth(**dict(moved, tune={"max_lease_ttl": "48h"}))
    assert (rc, result["changed"], result["changes"], result["config"]["changes"]) == (0, True, ["tune.max_lease_ttl"], []), result
    entry = _entry(client, "kubernetes")
    assert (entry["config"]["max_lease_ttl"], entry["config"]["default_lease_ttl"]) == (172800, 3600)


def test_write_only_fields_are_written_always_only_when_asked(auth, client):
    args = dict(path="k8s-always", type="kubernetes",
                config={"kubernetes_host": "https://10.0.0.10:6443", "kubernetes_ca_cert": CA_PEM},
                config_write_only={"token_reviewer_jwt": JWT})
    assert auth(**args)[1]["changed"] is True
    assert auth(**args)[1]["changed"] is False
    rc, result = auth(update_write_only="always", **args)
    assert (rc, result["changed"], result["config"]["changes"]) == (0, True, ["token_reviewer_jwt"]), result
    assert JWT not in str(result)


def test_a_secret_in_config_is_refused_without_showing_it(auth, client):
    rc, result = auth(path="k8s-leak", type="kubernetes",
                      config={"kubernetes_host": "https://10.0.0.10:6443", "token_reviewer_jwt": JWT})
    assert rc == 1
    assert "token_reviewer_jwt" in result["msg"] and "config_write_only" in result["msg"]
    assert JWT not in result["msg"]


def test_a_config_field_that_does_not_read_back_is_not_compared(auth, client, module_warnings):
    """The server ignores a field it does not know and never reads it back: it cannot be compared."""
    args = dict(path="k8s-unknown", type="kubernetes",
                config={"kubernetes_host": "https://10.0.0.10:6443", "kubernetes_ca_cert": CA_PEM})
    assert auth(**args)[1]["changed"] is True
    args["config"] = dict(args["config"], kiln_unknown_field="x")
    rc, result = auth(**args)
    assert (rc, result["changed"], result["config"]) == (0, False, {"changes": [], "not_compared": ["kiln_unknown_field"]}), result
    assert any("does not read back kiln_unknown_field: not compared" in w for w in module_warnings), module_warnings


def test_another_type_is_never_remounted(auth, client):
    assert auth(path="kiln-userpass", type="userpass")[1]["changed"] is True
    rc, result = auth(path="kiln-userpass", type="approle")
    assert rc == 1
    assert "auth method kiln-userpass/ is of type userpass, not approle" in result["msg"]
    assert _entry(client, "kiln-userpass")["type"] == "userpass"


def test_absent_disables_and_check_mode_keeps(auth, client):
    assert auth(path="kiln-approle", type="approle")[1]["changed"] is True
    rc, result = auth(check_mode=True, path="kiln-approle", type="approle", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _entry(client, "kiln-approle") is not None
    rc, result = auth(path="kiln-approle", state="absent")
    assert (rc, result["changed"]) == (0, True), result
    assert _entry(client, "kiln-approle") is None
    assert auth(path="kiln-approle", state="absent")[1]["changed"] is False
