"""kiln.cluster.openbao_status, openbao_init and openbao_unseal against a real, non-dev OpenBao server (raft
storage in a temporary directory, listening on 127.0.0.1 only): the whole life from uninitialised to unsealed,
each step idempotent; PGP-encrypted key shares that decrypt with gpg and unseal; no secret in any message."""

import base64
import json
import os
import shutil
import subprocess

import hvac
import pytest

from ansible_collections.kiln.cluster.plugins.modules import openbao_init, openbao_status, openbao_unseal
from openbao_server import free_port_pair, raft_server, wait_active

SHARES, THRESHOLD = 3, 2


@pytest.fixture
def bao(tmp_path):
    with raft_server(tmp_path) as url:
        yield url


def _secrets_absent(text, secrets):
    leaked = [index for index, secret in enumerate(secrets) if secret and secret in text]
    assert not leaked, "secret number(s) %s appear in: %s" % (leaked, text[:300])


def test_status_init_unseal_lifecycle(run_main, bao):
    rc, status = run_main(openbao_status, {"url": bao})
    assert rc == 0, status
    assert (status["changed"], status["initialized"], status["sealed"], status["storage_type"]) == (False, False, True, "raft")
    assert status["ha"] is None

    rc, result = run_main(openbao_init, {"url": bao, "secret_shares": SHARES, "secret_threshold": THRESHOLD,
                                         "_ansible_check_mode": True})
    assert (rc, result["changed"], result["initialized"]) == (0, True, False), result
    assert "keys" not in result and "root_token" not in result
    assert run_main(openbao_status, {"url": bao})[1]["initialized"] is False, "check mode initialised the server"

    rc, init = run_main(openbao_init, {"url": bao, "secret_shares": SHARES, "secret_threshold": THRESHOLD})
    assert (rc, init["changed"], init["initialized"]) == (0, True, True), {k: v for k, v in init.items() if "key" not in k}
    assert len(init["keys"]) == SHARES and len(init["keys_base64"]) == SHARES
    assert (init["secret_shares"], init["secret_threshold"], init["pgp_encrypted"]) == (SHARES, THRESHOLD, False)
    assert init["root_token"]
    secrets = init["keys"] + init["keys_base64"] + [init["root_token"]]

    rc, again = run_main(openbao_init, {"url": bao, "secret_shares": SHARES, "secret_threshold": THRESHOLD})
    assert (rc, again["changed"]) == (0, False), again
    assert not {"keys", "keys_base64", "root_token"} & set(again)
    _secrets_absent(json.dumps(again), secrets)

    rc, status = run_main(openbao_status, {"url": bao})
    assert (status["initialized"], status["sealed"], status["threshold"], status["shares"], status["progress"]) == (
        True, True, THRESHOLD, SHARES, 0)

    # A wrong key is refused; the failure names its position, never a key.
    wrong = base64.b64encode(b"\x01" * 33).decode()
    rc, failed = run_main(openbao_unseal, {"url": bao, "keys": [init["keys"][0], wrong], "reset": True})
    assert rc == 1 and failed["failed"] is True
    assert "unseal key number 2 of 2" in failed["msg"], failed["msg"]
    _secrets_absent(json.dumps(failed), secrets + [wrong])
    assert run_main(openbao_status, {"url": bao})[1]["sealed"] is True

    # Too few keys: still sealed, said without the key.
    rc, failed = run_main(openbao_unseal, {"url": bao, "keys": init["keys"][:THRESHOLD - 1], "reset": True})
    assert rc == 1 and "still sealed after all 1 unseal key(s)" in failed["msg"], failed["msg"]
    assert "threshold %d" % THRESHOLD in failed["msg"]
    _secrets_absent(json.dumps(failed), secrets)

    rc, result = run_main(openbao_unseal, {"url": bao, "keys": init["keys"], "reset": True, "_ansible_check_mode": True})
    assert (rc, result["changed"], result["keys_used"], result["sealed"]) == (0, True, 0, True), result
    assert run_main(openbao_status, {"url": bao})[1]["sealed"] is True, "check mode unsealed the server"

    # Base64 and hex shares both unseal; it stops at the threshold.
    rc, result = run_main(openbao_unseal, {"url": bao, "keys": init["keys_base64"], "reset": True})
    assert (rc, result["changed"], result["keys_used"], result["sealed"]) == (0, True, THRESHOLD, False), result
    assert result["threshold"] == THRESHOLD
    _secrets_absent(json.dumps(result), secrets)

    rc, result = run_main(openbao_unseal, {"url": bao, "keys": init["keys"]})
    assert (rc, result["changed"], result["keys_used"], result["sealed"]) == (0, False, 0, False), result

    wait_active(bao)
    rc, status = run_main(openbao_status, {"url": bao})
    assert (rc, status["changed"], status["initialized"], status["sealed"]) == (0, False, True, False), status
    assert status["ha"]["ha_enabled"] is True and status["ha"]["is_self"] is True
    assert status["ha"]["leader_address"] == bao
    assert status["cluster_id"]

    client = hvac.Client(url=bao, token=init["root_token"])
    assert client.is_authenticated()


def test_unseal_of_an_uninitialised_server_fails_clearly(run_main, bao):
    keys = [base64.b64encode(b"\x02" * 33).decode()]
    rc, failed = run_main(openbao_unseal, {"url": bao, "keys": keys})
    assert rc == 1 and "not initialised" in failed["msg"] and "openbao_init" in failed["msg"]
    _secrets_absent(json.dumps(failed), keys)


def test_init_refuses_bad_arguments_before_touching_the_server(run_main, bao):
    rc, failed = run_main(openbao_init, {"url": bao, "secret_shares": 2, "secret_threshold": 3})
    assert rc == 1 and "secret_threshold" in failed["msg"]
    armored = base64.b64encode(b"-----BEGIN PGP PUBLIC KEY BLOCK-----").decode()
    rc, failed = run_main(openbao_init, {"url": bao, "secret_shares": 1, "secret_threshold": 1, "pgp_keys": [armored]})
    assert rc == 1 and "pgp_keys[0] is not a base64-encoded binary PGP public key" in failed["msg"]
    rc, failed = run_main(openbao_init, {"url": bao, "secret_shares": 2, "secret_threshold": 1, "pgp_keys": ["mQEN"]})
    assert rc == 1 and "one per share" in failed["msg"]
    assert run_main(openbao_status, {"url": bao})[1]["initialized"] is False


def test_status_of_a_server_that_does_not_answer_fails_clearly(run_main):
    url = "http://127.0.0.1:%d" % free_port_pair()  # nothing listens there
    rc, failed = run_main(openbao_status, {"url": url, "token": "kiln-test-unused-token", "timeout": 5})
    assert rc == 1 and failed["msg"].startswith("reading the seal status failed: ConnectionError"), failed["msg"]
    assert "kiln-test-unused-token" not in str(failed)


def _gpg(home, *args, data=None):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet", "--no-tty", "--pinentry-mode", "loopback",
                           "--passphrase", ""] + list(args), input=data, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture
def gnupg(tmp_path):
    """A throwaway GnuPG home with one RSA key that can encrypt -> (home, base64 public key)."""
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed: cannot make a PGP key to test PGP-encrypted key shares")
    home = str(tmp_path / "gnupg")
    os.makedirs(home, mode=0o700)
    try:
        _gpg(home, "--quick-gen-key", "kiln test <kiln-test@example.invalid>", "rsa2048", "sign", "never")
        fingerprint = [line.split(":")[9] for line in _gpg(home, "--with-colons", "--list-keys").decode().splitlines()
                       if line.startswith("fpr:")][0]
        _gpg(home, "--quick-add-key", fingerprint, "rsa2048", "encr", "never")
        yield home, base64.b64encode(_gpg(home, "--export", fingerprint)).decode()
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True, timeout=30)


def test_init_with_pgp_keys_returns_encrypted_shares_that_unseal(run_main, bao, gnupg):
    home, public_key = gnupg
    rc, init = run_main(openbao_init, {"url": bao, "secret_shares": SHARES, "secret_threshold": THRESHOLD,
                                       "pgp_keys": [public_key] * SHARES, "root_token_pgp_key": public_key})
    assert (rc, init["changed"], init["pgp_encrypted"], init["root_token_pgp_encrypted"]) == (0, True, True, True)
    assert len(init["keys_base64"]) == SHARES

    shares = [_gpg(home, "--decrypt", data=base64.b64decode(encrypted)).decode() for encrypted in init["keys_base64"]]
    root_token = _gpg(home, "--decrypt", data=base64.b64decode(init["root_token"])).decode()
    for share in shares:
        assert share not in json.dumps(init), "a share came back in the clear"
    assert root_token not in json.dumps(init), "the root token came back in the clear"

    rc, result = run_main(openbao_unseal, {"url": bao, "keys": shares})
    assert (rc, result["changed"], result["keys_used"], result["sealed"]) == (0, True, THRESHOLD, False), result
    _secrets_absent(json.dumps(result), shares)
    wait_active(bao)
    assert hvac.Client(url=bao, token=root_token).is_authenticated()


def test_a_new_raft_node_joins_by_unsealing_with_the_cluster_keys(run_main, tmp_path):
    """A second raft node with retry_join comes up sealed (uninitialised until it reaches the leader); raft_join
    unseals it with the cluster's threshold of keys, after which both nodes are raft peers."""
    (tmp_path / "leader").mkdir()
    (tmp_path / "follower").mkdir()
    with raft_server(tmp_path / "leader", node_id="leader") as leader:
        rc, init = run_main(openbao_init, {"url": leader, "secret_shares": SHARES, "secret_threshold": THRESHOLD})
        assert rc == 0, {k: v for k, v in init.items() if "key" not in k and k != "root_token"}
        keys = init["keys_base64"][:THRESHOLD]
        assert run_main(openbao_unseal, {"url": leader, "keys": keys})[0] == 0
        wait_active(leader)
        with raft_server(tmp_path / "follower", node_id="follower", join=leader) as follower:
            # Uninitialised until retry_join has reached the leader, then initialised but sealed: either way sealed.
            rc, status = run_main(openbao_status, {"url": follower})
            assert (rc, status["sealed"]) == (0, True), status

            rc, joined = run_main(openbao_unseal, {"url": follower, "keys": keys, "raft_join": True})
            assert (rc, joined["changed"], joined["sealed"]) == (0, True, False), joined
            _secrets_absent(json.dumps(joined), keys + [init["root_token"]])

            peers = hvac.Client(url=leader, token=init["root_token"]).sys.read_raft_config()["data"]["config"]["servers"]
            assert sorted(p["node_id"] for p in peers) == ["follower", "leader"]

            rc, again = run_main(openbao_unseal, {"url": follower, "keys": keys, "raft_join": True})
            assert (rc, again["changed"]) == (0, False)


def test_a_joining_node_waits_while_its_leader_is_still_sealed(run_main, tmp_path):
    """Kiln unseals every control-plane node in one task: a follower may get its keys before the first node is
    unsealed. It answers "not initialized" until its retry_join reaches an unsealed leader; raft_join waits for
    that instead of failing."""
    import threading
    (tmp_path / "leader").mkdir()
    (tmp_path / "follower").mkdir()
    with raft_server(tmp_path / "leader", node_id="leader") as leader:
        rc, init = run_main(openbao_init, {"url": leader, "secret_shares": SHARES, "secret_threshold": THRESHOLD})
        assert rc == 0
        keys = init["keys_base64"][:THRESHOLD]
        with raft_server(tmp_path / "follower", node_id="follower", join=leader) as follower:
            # The leader is unsealed a few seconds after the follower got its keys.
            timer = threading.Timer(4, lambda: hvac.Client(url=leader).sys.submit_unseal_keys(keys))
            timer.start()
            try:
                rc, joined = run_main(openbao_unseal, {"url": follower, "keys": keys, "raft_join": True})
            finally:
                timer.join()
            assert (rc, joined["changed"], joined["sealed"]) == (0, True, False), joined
            wait_active(leader)
            peers = hvac.Client(url=leader, token=init["root_token"]).sys.read_raft_config()["data"]["config"]["servers"]
            assert sorted(p["node_id"] for p in peers) == ["follower", "leader"]
