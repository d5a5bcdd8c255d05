"""Real OpenBao servers for the openbao_* module tests, on 127.0.0.1 only.

The `bao` binary is the bundle's (`make bundle`): ${KILN_CACHE:-~/.cache/kiln}/bundle/openbao-v<version>/bao, with
<version> read from kiln_openbao_version in roles/kiln/defaults/main/versions.yml. Without it the tests skip.
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSIONS_FILE = os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main", "versions.yml")
LOOPBACK = "127.0.0.1"


def openbao_version():
    with open(VERSIONS_FILE) as handle:
        return str(yaml.safe_load(handle)["kiln_openbao_version"])


def bao_binary():
    cache = os.environ.get("KILN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
    return os.path.join(cache, "bundle", "openbao-v%s" % openbao_version(), "bao")


def require_bao():
    path = bao_binary()
    if not os.access(path, os.X_OK):
        pytest.skip("OpenBao's bao is not in the bundle (%s): run `make bundle`" % path)
    return path


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port_pair():
    """A port p on 127.0.0.1 with p+1 free too (the API and the cluster listener)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port < 65535 and _port_free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports on %s" % LOOPBACK)


def _get_json(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read().decode())


class BaoProcess:
    def __init__(self, args, workdir):
        self.log_path = os.path.join(workdir, "bao.log")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir}  # no token file in the real HOME
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([require_bao()] + args, cwd=workdir, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self):
        with open(self.log_path, "rb") as handle:
            return handle.read()[-3000:].decode(errors="replace")

    def wait_listening(self, url, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bao exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                _get_json(url + "/v1/sys/seal-status")
                return
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.1)
        raise RuntimeError("bao did not answer on %s within %ss:\n%s" % (url, timeout, self.log_tail()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@contextlib.contextmanager
def dev_server(workdir):
    """`bao server -dev` on 127.0.0.1 with a random root token -> (url, token)."""
    require_bao()
    port = free_port_pair()
    token = "kiln-test-" + secrets.token_hex(12)
    url = "http://%s:%d" % (LOOPBACK, port)
    bao = BaoProcess(["server", "-dev", "-dev-no-store-token", "-dev-root-token-id=" + token,
                      "-dev-listen-address=%s:%d" % (LOOPBACK, port)], str(workdir))
    try:
        bao.wait_listening(url)
        yield url, token
    finally:
        bao.stop()


@contextlib.contextmanager
def raft_server(workdir, node_id="kiln-test", join=None):
    """A real (non-dev) server with raft storage in workdir, uninitialised and sealed -> url. join: the URL of
    a raft leader to join (retry_join)."""
    require_bao()
    workdir = str(workdir)
    port = free_port_pair()
    url = "http://%s:%d" % (LOOPBACK, port)
    data = os.path.join(workdir, "raft")
    os.makedirs(data, mode=0o700)
    config = os.path.join(workdir, "config.hcl")
    with open(config, "w") as handle:
        handle.write("""
storage "raft" {
  path = "%(data)s"
  node_id = "%(node_id)s"
%(join)s  # Shorter raft timings than the default (5) so that init and leadership take about a second.
  performance_multiplier = 1
}

# Plain HTTP is acceptable here only because the listener is on the loopback address of a throwaway test server;
# real deployments use TLS.
listener "tcp" {
  address = "%(host)s:%(port)d"
  cluster_address = "%(host)s:%(cluster)d"
  tls_disable = true
}

api_addr = "http://%(host)s:%(port)d"
cluster_addr = "http://%(host)s:%(cluster)d"
disable_mlock = true
ui = false
""" % {"data": data, "host": LOOPBACK, "port": port, "cluster": port + 1, "node_id": node_id,
       "join": '  retry_join {\n    leader_api_addr = "%s"\n  }\n' % join if join else ""})
    bao = BaoProcess(["server", "-config=" + config], workdir)
    try:
        bao.wait_listening(url)
        yield url
    finally:
        bao.stop()


def wait_active(url, timeout=20):
    """Waits until an unsealed server is the active node (raft leader); -> sys/leader."""
    deadline = time.monotonic() + timeout
    leader = None
    while time.monotonic() < deadline:
        try:
            leader = _get_json(url + "/v1/sys/leader")
            if leader.get("is_self"):
                return leader
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError("%s is not the active node after %ss: %s" % (url, timeout, leader))
