"""kiln.cluster.openbao_pki_ca against a real `bao server -dev` on 127.0.0.1: an internal root and an intermediate
it signs, each made once; the offline-root flow (CSR out, signed certificate in); check mode generating nothing."""

import hvac
from cryptography import x509

from ansible_collections.kiln.cluster.plugins.modules import openbao_mount, openbao_pki_ca




def _mount(run_bao, path):
    rc, result = run_bao(openbao_mount, path=path, type="pki", tune={"max_lease_ttl": "87600h"})
    assert rc == 0, result


def _cert(pem):
    return x509.load_pem_x509_certificate(pem.encode())


def test_internal_root_and_intermediate_made_once(run_bao):
    _mount(run_bao, "pki")
    _mount(run_bao, "pki_int")
    rc, result = run_bao(openbao_pki_ca, check_mode=True, mount="pki", kind="root", common_name="Kiln test root", ttl="87600h")
    assert (rc, result["changed"], result["certificate"]) == (0, True, ""), result

    rc, root = run_bao(openbao_pki_ca, mount="pki", kind="root", common_name="Kiln test root", ttl="87600h")
    assert (rc, root["changed"]) == (0, True), root
    root_cert = _cert(root["certificate"])
    assert root_cert.subject == root_cert.issuer

    rc, intermediate = run_bao(openbao_pki_ca, mount="pki_int", kind="intermediate", common_name="Kiln test intermediate",
                           issuer_mount="pki", ttl="43800h")
    assert (rc, intermediate["changed"], intermediate["csr"]) == (0, True, ""), intermediate
    assert _cert(intermediate["certificate"]).issuer == root_cert.subject

    for mount, kind in (("pki", "root"), ("pki_int", "intermediate")):
        rc, again = run_bao(openbao_pki_ca, mount=mount, kind=kind, common_name="another name", issuer_mount="pki")
        assert (rc, again["changed"]) == (0, False), again
    assert run_bao(openbao_pki_ca, mount="pki", kind="root", common_name="x")[1]["certificate"] == root["certificate"]


def test_offline_root_flow(run_bao, bao):
    _mount(run_bao, "offline_root")
    _mount(run_bao, "pki_off")
    rc, root = run_bao(openbao_pki_ca, mount="offline_root", kind="root", common_name="Offline root", ttl="87600h")
    assert rc == 0

    rc, pending = run_bao(openbao_pki_ca, mount="pki_off", kind="intermediate", common_name="Site intermediate")
    assert (rc, pending["changed"], pending["certificate"]) == (0, True, ""), pending
    assert pending["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")

    # The operator signs the CSR with the offline root (here: another engine standing in for it).
    signed = hvac.Client(url=bao[0], token=bao[1]).adapter.post(
        "/v1/offline_root/root/sign-intermediate", json={"csr": pending["csr"], "common_name": "Site intermediate",
                                                          "format": "pem_bundle"})["data"]["certificate"]
    rc, done = run_bao(openbao_pki_ca, mount="pki_off", kind="intermediate", common_name="Site intermediate",
                   signed_certificate=signed)
    assert (rc, done["changed"], done["csr"]) == (0, True, ""), done
    assert _cert(done["certificate"]).issuer == _cert(root["certificate"]).subject
    rc, again = run_bao(openbao_pki_ca, mount="pki_off", kind="intermediate", common_name="Site intermediate")
    assert (rc, again["changed"]) == (0, False)
