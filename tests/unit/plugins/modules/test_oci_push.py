"""oci_push against a real registry (the bundle's distribution build, TLS on 127.0.0.1): an image archive and a
packaged chart are pushed once, a second push changes nothing, check mode pushes nothing, a changed archive is
pushed again, and a registry that is not trusted is an error naming the reference."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from registry_server import REPO_ROOT, bundle_path, registry_server

from ansible_collections.kiln.cluster.plugins.modules import oci_push

OCI_IMAGE = os.path.join(REPO_ROOT, "roles", "artifact_bundle", "files", "oci_image.py")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with registry_server(str(tmp_path_factory.mktemp("registry"))) as server:
        yield server


def _image_archive(tmp_path, content, name="probe"):
    payload = tmp_path / ("%s.txt" % name)
    payload.write_text(content)
    out = tmp_path / ("%s.tar" % name)
    done = subprocess.run([sys.executable, OCI_IMAGE, "--ref", "docker.io/kiln/%s:v1" % name, "--out", str(out),
                           "--file", "%s:/%s.txt:0644" % (payload, name)], check=True, capture_output=True, text=True)
    return str(out), json.loads(done.stdout)["digest"]


def _remote_digest(registry, ref):
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", os.path.dirname(registry["ca"]),
                          "docker://" + ref], check=True, capture_output=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_image_is_pushed_once_at_its_digest(registry, tmp_path, run_main):
    archive, digest = _image_archive(tmp_path, "one")
    dest = registry["address"] + "/dockerhub/kiln/probe:v1"
    args = {"src": archive, "dest": dest, "ca_cert": registry["ca"]}

    rc, result = run_main(oci_push, dict(args, _ansible_check_mode=True))
    assert (rc, result["changed"], result["digest"]) == (0, True, digest)
    with pytest.raises(subprocess.CalledProcessError):
        _remote_digest(registry, dest)  # check mode sent nothing

    rc, result = run_main(oci_push, args)
    assert (rc, result["changed"], result["digest"]) == (0, True, digest)
    assert _remote_digest(registry, dest) == digest

    rc, result = run_main(oci_push, args)
    assert (rc, result["changed"]) == (0, False)

    # Another archive under the same tag replaces it.
    other, other_digest = _image_archive(tmp_path, "two")
    rc, result = run_main(oci_push, dict(args, src=other))
    assert (rc, result["changed"], result["digest"]) == (0, True, other_digest)
    assert _remote_digest(registry, dest) == other_digest != digest


def test_chart_is_pushed_once_as_an_oci_artifact(registry, tmp_path, run_main, monkeypatch):
    helm = bundle_path("helm")
    if not os.access(helm, os.X_OK):
        pytest.skip("helm is not in the bundle: run `make bundle`")
    chart = tmp_path / "probe-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe-chart\nversion: 1.2.3\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\n")
    subprocess.run([helm, "package", str(chart), "--destination", str(tmp_path)], check=True, capture_output=True)
    package = str(tmp_path / "probe-chart-1.2.3.tgz")
    args = {"src": package, "dest": registry["address"] + "/charts/probe-chart:1.2.3", "kind": "chart",
            "ca_cert": registry["ca"], "helm": helm}
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm"))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))

    rc, result = run_main(oci_push, args)
    assert (rc, result["changed"]) == (0, True)
    with open(package, "rb") as handle:
        assert result["digest"] == "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    rc, result = run_main(oci_push, args)
    assert (rc, result["changed"]) == (0, False)
    # Helm itself reads the chart back from the registry.
    shown = subprocess.run([helm, "show", "chart", "oci://%s/charts/probe-chart" % registry["address"],
                            "--version", "1.2.3", "--ca-file", registry["ca"]], check=True, capture_output=True, text=True)
    assert "name: probe-chart" in shown.stdout


def test_chart_whose_file_name_does_not_match_the_reference_is_refused(registry, tmp_path, run_main):
    package = tmp_path / "other-1.0.0.tgz"
    package.write_bytes(b"not a chart")
    rc, result = run_main(oci_push, {"src": str(package), "dest": registry["address"] + "/charts/probe:1.0.0",
                                     "kind": "chart", "ca_cert": registry["ca"]})
    assert rc == 1 and "must be named probe-1.0.0.tgz" in result["msg"]


def test_untrusted_registry_is_an_error_naming_the_reference(registry, tmp_path, run_main):
    archive, _ = _image_archive(tmp_path, "three", name="untrusted")
    dest = registry["address"] + "/dockerhub/kiln/untrusted:v1"
    rc, result = run_main(oci_push, {"src": archive, "dest": dest})
    assert rc == 1 and result["msg"].startswith(dest + ": could not read " + dest)
    assert "certificate" in result["msg"]


@pytest.mark.parametrize("dest", ["https://127.0.0.1:5000/a:b", "127.0.0.1:5000/UPPER:v1", "127.0.0.1:5000/a"])
def test_malformed_reference_is_refused(tmp_path, run_main, dest):
    archive, _ = _image_archive(tmp_path, "x")
    rc, result = run_main(oci_push, {"src": archive, "dest": dest})
    assert rc == 1 and "is not a registry reference" in result["msg"]
