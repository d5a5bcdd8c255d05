"""A real OCI registry (the bundle's distribution build) on 127.0.0.1 with TLS from a throwaway CA, for the tests
of the oci_push module. The binary is ${KILN_CACHE:-~/.cache/kiln}/bundle/registry-v<kiln_registry_version>/registry
(`make bundle`); without it, or without skopeo, the tests skip.
"""

import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSIONS = os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main", "versions.yml")
LOOPBACK = "127.0.0.1"


def bundle_path(name):
    with open(VERSIONS) as handle:
        versions = yaml.safe_load(handle)
    cache = os.environ.get("KILN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
    names = {"registry": "registry-v%s/registry" % versions["kiln_registry_version"],
             "helm": "helm-v%s/helm" % versions["kiln_helm_version"]}
    return os.path.join(cache, "bundle", names[name])


def require_tools():
    registry = bundle_path("registry")
    if not os.access(registry, os.X_OK):
        pytest.skip("the registry is not in the bundle (%s): run `make bundle`" % registry)
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed: run `make setup`")
    return registry


def _write_tls(directory):
    """A CA and a server certificate for 127.0.0.1, as PEM files in directory."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiln test registry CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM),
             "registry.crt": cert.public_bytes(serialization.Encoding.PEM),
             "registry.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())}
    # The CA alone in its own directory: the layout skopeo's --cert-dir reads (a stray *.key there is taken
    # for a client certificate's).
    paths = {}
    for name, data in files.items():
        sub = os.path.join(directory, "ca" if name == "ca.crt" else "server")
        os.makedirs(sub, exist_ok=True)
        paths[name] = os.path.join(sub, name)
        with open(paths[name], "wb") as handle:
            handle.write(data)
    return paths


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def registry_server(workdir):
    """Yields {"address": "127.0.0.1:PORT", "ca": path}; the registry stops when the block ends."""
    binary = require_tools()
    tls = _write_tls(workdir)
    port = _free_port()
    config = os.path.join(workdir, "config.yml")
    with open(config, "w") as handle:
        yaml.safe_dump({"version": 0.1, "log": {"level": "warn"},
                        "storage": {"filesystem": {"rootdirectory": os.path.join(workdir, "data")}},
                        "http": {"addr": "%s:%d" % (LOOPBACK, port),
                                 "tls": {"certificate": tls["registry.crt"], "key": tls["registry.key"]}}}, handle)
    log = open(os.path.join(workdir, "registry.log"), "w")
    proc = subprocess.Popen([binary, "serve", config], stdout=log, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=tls["ca.crt"])
    try:
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen("https://%s:%d/v2/" % (LOOPBACK, port), context=context, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the registry did not start: %s" % open(log.name).read()[-2000:])
                time.sleep(0.2)
        yield {"address": "%s:%d" % (LOOPBACK, port), "ca": tls["ca.crt"]}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
