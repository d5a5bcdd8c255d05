# -*- coding: utf-8 -*-
"""Push OCI image archives (skopeo) and Helm charts (helm push) to an OCI registry, read-compare-write.

An image is pushed only when the registry does not serve the archive's manifest digest under the tag; a chart only
when the tag's chart layer is not the package's sha256. The digests are read with ``skopeo inspect --raw``.
Functions take a ``run`` callable (argv -> (rc, stdout, stderr)), so the module passes AnsibleModule.run_command.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
REF_PATTERN = re.compile(r"^(?P<registry>[A-Za-z0-9.-]+(:[0-9]+)?)/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
                         r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")
ABSENT = ("manifest unknown", "not found", "name unknown", "404")


class PushError(Exception):
    pass


def parse_reference(ref):
    """registry[:port]/repository:tag -> (registry, repository, tag); anything else is refused."""
    match = REF_PATTERN.match(ref or "")
    if not match:
        raise PushError("%r is not a registry reference of the form host[:port]/repository:tag" % (ref,))
    return match.group("registry"), match.group("repository"), match.group("tag")


def archive_digest(path):
    """The manifest digest of the one image in an OCI image archive (tar of an OCI image layout)."""
    try:
        with tarfile.open(path) as tar:
            index = json.load(tar.extractfile("index.json"))
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        raise PushError("%s is not an OCI image archive: %s" % (path, exc))
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise PushError("%s holds %d images; Kiln pushes archives of exactly one" % (path, len(manifests)))
    return manifests[0]["digest"]


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class CertDir(object):
    """A directory holding only the registry's CA as ca.crt, the layout skopeo's --cert-dir reads."""

    def __init__(self, ca_cert):
        self.ca_cert = ca_cert
        self.path = None

    def __enter__(self):
        if self.ca_cert:
            self.path = tempfile.mkdtemp(prefix="kiln-oci-")
            shutil.copyfile(self.ca_cert, os.path.join(self.path, "ca.crt"))
        return self.path

    def __exit__(self, *exc):
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)


def _tls_args(flag, cert_dir):
    return ["--%s=%s" % (flag, cert_dir)] if cert_dir else []


def remote_manifest(run, skopeo, ref, cert_dir):
    """The raw manifest bytes the registry serves for ref, or None when the tag does not exist."""
    rc, out, err = run([skopeo, "inspect", "--raw", "--retry-times", "2"] + _tls_args("cert-dir", cert_dir)
                       + ["docker://" + ref])
    if rc == 0:
        return out
    if any(word in (err or "").lower() for word in ABSENT):
        return None
    raise PushError("could not read %s from the registry: %s" % (ref, (err or out).strip()))


def push_image(run, skopeo, archive, ref, cert_dir, check_mode):
    """Returns (changed, digest)."""
    parse_reference(ref)
    want = archive_digest(archive)
    raw = remote_manifest(run, skopeo, ref, cert_dir)
    if raw is not None and "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == want:
        return False, want
    if check_mode:
        return True, want
    rc, out, err = run([skopeo, "copy", "--quiet", "--preserve-digests", "--retry-times", "2"]
                       + _tls_args("dest-cert-dir", cert_dir) + ["oci-archive:" + archive, "docker://" + ref])
    if rc != 0:
        raise PushError("skopeo could not push %s to %s: %s" % (archive, ref, (err or out).strip()))
    raw = remote_manifest(run, skopeo, ref, cert_dir)
    got = "sha256:" + hashlib.sha256((raw or "").encode()).hexdigest()
    if got != want:
        raise PushError("%s was pushed but the registry serves %s, not the archive's %s" % (ref, got, want))
    return True, want


def chart_layer(raw):
    layers = [l for l in json.loads(raw).get("layers", []) if l.get("mediaType") == CHART_LAYER]
    return layers[0]["digest"] if layers else None


def push_chart(run, skopeo, helm, package, ref, ca_cert, cert_dir, check_mode):
    """Push a packaged chart (NAME-VERSION.tgz) so that ref (registry/dir/NAME:VERSION) serves it.
    Returns (changed, digest of the chart layer)."""
    registry, repository, tag = parse_reference(ref)
    name = repository.rsplit("/", 1)[-1]
    if os.path.basename(package) != "%s-%s.tgz" % (name, tag):
        raise PushError("helm pushes %s as <chart>:<version> from its Chart.yaml; %s must be named %s-%s.tgz"
                        % (ref, package, name, tag))
    want = file_digest(package)
    raw = remote_manifest(run, skopeo, ref, cert_dir)
    if raw is not None and chart_layer(raw) == want:
        return False, want
    if check_mode:
        return True, want
    target = "oci://%s/%s" % (registry, repository.rsplit("/", 1)[0]) if "/" in repository else "oci://" + registry
    rc, out, err = run([helm, "push", package, target] + (["--ca-file", ca_cert] if ca_cert else []))
    if rc != 0:
        raise PushError("helm could not push %s to %s: %s" % (package, target, (err or out).strip()))
    raw = remote_manifest(run, skopeo, ref, cert_dir)
    if raw is None or chart_layer(raw) != want:
        raise PushError("%s was pushed but the registry does not serve it as %s" % (package, ref))
    return True, want
