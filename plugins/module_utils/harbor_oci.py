# -*- coding: utf-8 -*-
"""Pushes an OCI image archive (an OCI image layout in a tar, as the artifact bundle writes them) to a registry
through the OCI distribution API (/v2/), the way Harbor serves it. No container engine or skopeo is needed on
the controller, so an air-gapped controller seeds Harbor with what Kiln already has.

What it does, per archive: read index.json, verify every blob's sha256 against its name, then for the image (or
each manifest of an image index) check blobs with HEAD, upload missing ones monolithically (POST an upload
session, PUT its Location with ?digest=), and PUT the manifest under the tag. Before anything, HEAD of the tag:
if the registry already serves the same manifest digest there, nothing is sent (read-compare-write; check mode
stops after this comparison).

Authentication follows the registry token flow Harbor uses: a 401 with `WWW-Authenticate: Bearer realm=...,
service=..., scope=...` makes the client fetch a token from the realm with basic authentication, then retry with
it; a `Basic` challenge is answered with basic authentication directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re
import tarfile

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode, urljoin
from ansible.module_utils.urls import Request, make_context

MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
]
INDEX_TYPES = MANIFEST_TYPES[1::2]


class OciError(Exception):
    """A failure to report as the module's msg; never carries the password or a token."""


class OciArchive(object):
    """An OCI image layout inside a tar file: blobs are read on demand and checked against their digest."""

    def __init__(self, path):
        self.path = path
        try:
            self._tar = tarfile.open(path)
            self._members = dict((m.name.lstrip("./"), m) for m in self._tar.getmembers() if m.isfile())
            self.index = json.loads(self._read("index.json"))
        except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
            raise OciError("%s is not an OCI image archive (a tar of an OCI image layout with index.json): %s"
                           % (path, exc))
        if not self.index.get("manifests"):
            raise OciError("%s: index.json lists no manifest" % path)

    def close(self):
        self._tar.close()

    def _read(self, name):
        return self._tar.extractfile(self._members[name]).read()

    def blob(self, digest):
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256":
            raise OciError("%s: blob %s uses an unsupported digest algorithm" % (self.path, digest))
        try:
            data = self._read("blobs/sha256/" + hexdigest)
        except KeyError:
            raise OciError("%s: blob %s is missing from the archive" % (self.path, digest))
        if hashlib.sha256(data).hexdigest() != hexdigest:
            raise OciError("%s: blob %s does not match its digest (damaged archive)" % (self.path, digest))
        return data

    def image(self):
        """The descriptor of the archive's image: the only manifest of index.json (what the bundle writes)."""
        manifests = self.index["manifests"]
        if len(manifests) != 1:
            raise OciError("%s: index.json lists %d manifests; Kiln pushes archives of exactly one image"
                           % (self.path, len(manifests)))
        return manifests[0]


def _parse_challenge(header):
    scheme, _, params = (header or "").partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


class RegistryClient(object):
    """The few /v2/ endpoints a push needs."""

    def __init__(self, url, username, password, ca_cert=None, validate_certs=True, timeout=60):
        self.base = url.rstrip("/")
        self._username, self._password = username, password
        self._http = Request(timeout=timeout, follow_redirects="none",
                             context=make_context(cafile=ca_cert, validate_certs=validate_certs))
        self._tokens = {}
        self.requests = []

    def _basic(self):
        raw = ("%s:%s" % (self._username, self._password)).encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _token(self, challenge):
        realm = challenge.get("realm")
        if not realm:
            raise OciError("the registry's Bearer challenge names no realm")
        query = dict((k, challenge[k]) for k in ("service", "scope") if challenge.get(k))
        key = (realm, query.get("scope"))
        if key not in self._tokens:
            try:
                resp = self._http.open("GET", realm + ("?" + urlencode(query) if query else ""),
                                       headers={"Authorization": self._basic()})
                body = json.loads(resp.read().decode("utf-8"))
            except HTTPError as exc:
                raise OciError("token request to %s refused: HTTP %s (check the user name and password)"
                               % (realm, exc.code))
            except (URLError, OSError, ValueError) as exc:
                raise OciError("token request to %s failed: %s" % (realm, exc))
            self._tokens[key] = body.get("token") or body.get("access_token")
        return "Bearer " + self._tokens[key]

    def request(self, method, path, data=None, headers=None, ok=(200,), missing_ok=False):
        """-> (status, body bytes, headers); path is absolute (/v2/...) or a full Location URL."""
        url = path if path.startswith("http") else self.base + path
        send = dict(headers or {})
        auth = None
        for attempt in range(2):
            if auth:
                send["Authorization"] = auth
            self.requests.append((method, path.split("?", 1)[0]))
            try:
                resp = self._http.open(method, url, data=data, headers=send)
                return resp.getcode(), resp.read(), dict((k.lower(), v) for k, v in resp.headers.items())
            except HTTPError as exc:
                if exc.code == 401 and attempt == 0:
                    scheme, challenge = _parse_challenge(exc.headers.get("WWW-Authenticate"))
                    auth = self._token(challenge) if scheme == "bearer" else self._basic()
                    continue
                if exc.code == 404 and missing_ok:
                    return 404, b"", {}
                raise OciError("%s %s: HTTP %s %s" % (method, path.split("?", 1)[0], exc.code, _error_text(exc)))
            except (URLError, OSError, ValueError) as exc:
                raise OciError("%s %s: cannot reach the registry at %s: %s" % (method, path, self.base, exc))
        raise OciError("%s %s: still unauthorized after authenticating as %s" % (method, path, self._username))

    def manifest_digest(self, repository, reference):
        status, _, headers = self.request("HEAD", "/v2/%s/manifests/%s" % (repository, reference),
                                          headers={"Accept": ", ".join(MANIFEST_TYPES)}, missing_ok=True)
        return headers.get("docker-content-digest") if status == 200 else None

    def blob_exists(self, repository, digest):
        status, _, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (repository, digest), missing_ok=True)
        return status == 200

    def upload_blob(self, repository, digest, data):
        _, _, headers = self.request("POST", "/v2/%s/blobs/uploads/" % repository, data=b"")
        location = headers.get("location")
        if not location:
            raise OciError("the registry opened an upload for %s without a Location" % repository)
        location = urljoin(self.base + "/", location)
        location += ("&" if "?" in location else "?") + urlencode({"digest": digest})
        self.request("PUT", location, data=data, headers={"Content-Type": "application/octet-stream"})

    def put_manifest(self, repository, reference, data, media_type):
        _, _, headers = self.request("PUT", "/v2/%s/manifests/%s" % (repository, reference), data=data,
                                     headers={"Content-Type": media_type})
        return headers.get("docker-content-digest")


def _error_text(exc):
    try:
        body = json.loads(exc.read().decode("utf-8"))
        return "; ".join("%s %s" % (e.get("code", ""), e.get("message", "")) for e in body.get("errors", []))
    except Exception:  # the body is optional and may be anything; the status says enough then
        return exc.reason or ""


def _push_manifest(client, archive, repository, descriptor, reference, stats):
    data = archive.blob(descriptor["digest"])
    media_type = descriptor.get("mediaType") or json.loads(data).get("mediaType")
    manifest = json.loads(data)
    if media_type in INDEX_TYPES:
        for child in manifest.get("manifests") or []:
            _push_manifest(client, archive, repository, child, child["digest"], stats)
    else:
        for blob in [manifest["config"]] + list(manifest.get("layers") or []):
            if client.blob_exists(repository, blob["digest"]):
                stats["blobs_present"] += 1
            else:
                client.upload_blob(repository, blob["digest"], archive.blob(blob["digest"]))
                stats["blobs_uploaded"] += 1
    digest = client.put_manifest(repository, reference, data, media_type)
    if digest and digest != descriptor["digest"]:
        raise OciError("the registry stored %s:%s as %s, not %s" % (repository, reference, digest,
                                                                    descriptor["digest"]))


def push_archive(client, path, repository, tag, check_mode=False):
    """Push the archive's image as repository:tag. -> (changed, {"digest", "previous_digest", "blobs_uploaded",
    "blobs_present"})."""
    archive = OciArchive(path)
    try:
        descriptor = archive.image()
        result = {"digest": descriptor["digest"], "blobs_uploaded": 0, "blobs_present": 0,
                  "previous_digest": client.manifest_digest(repository, tag)}
        if result["previous_digest"] == descriptor["digest"]:
            return False, result
        if not check_mode:
            _push_manifest(client, archive, repository, descriptor, tag, result)
        return True, result
    finally:
        archive.close()


def split_image_ref(ref):
    """'registry.k8s.io/coredns/coredns:v1.14.2' -> ('registry.k8s.io', 'coredns/coredns', 'v1.14.2').
    A name without a registry host is Docker Hub's (docker.io, library/ for one-part names)."""
    name, _, digest = ref.partition("@")
    tag = "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry == "docker.io" and "/" not in path:
        path = "library/" + path
    return registry, path, tag if not digest else digest
