"""The execution environment: `ansible-builder create` on execution-environment.yml, offline, and its context.

The test builds the kiln.cluster tarball the way the EE file expects it (build/ee/, git-ignored; from the files
git tracks, as a clean clone has them), lets
ansible-builder write the context, installs the collection from the context's galaxy requirements as the
image's galaxy stage would, and runs the context's own introspection to get the Python packages the image
would install: exactly Kiln's runtime pins from requirements.txt, none of the controller-only tools.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO_ROOT

BIN = os.path.dirname(sys.executable)
EE_FILE = os.path.join(REPO_ROOT, "execution-environment.yml")
DEV_ONLY = {"ansible-lint", "molecule", "molecule-plugins", "pytest", "pytest-testinfra", "yamllint"}


def _pins(path):
    pins = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                name, version = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$", line).groups()
                pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _image_env():
    """No project ansible.cfg, as in the image: the repository's collections path would count as installed."""
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.devnull
    return env


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    version = _load(os.path.join(REPO_ROOT, "galaxy.yml"))["version"]
    out = os.path.join(REPO_ROOT, "build", "ee")
    os.makedirs(out, exist_ok=True)
    tarball = os.path.join(out, "kiln-cluster-%s.tar.gz" % version)
    if os.path.exists(tarball):
        os.remove(tarball)
    # Built from a snapshot of the files git knows (not ignored), as from a clean clone: the working tree also
    # holds caches and generated files that other processes rewrite while ansible-galaxy hashes them.
    source = tmp_path_factory.mktemp("collection-source")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if os.path.isfile(os.path.join(REPO_ROOT, name)):
            os.makedirs(os.path.dirname(str(source / name)), exist_ok=True)
            shutil.copy2(os.path.join(REPO_ROOT, name), str(source / name))
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", out,
                    str(source)], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    ctx = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", EE_FILE, "--context", str(ctx)],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ctx, version


def test_requirements_are_requirements_txt_pins_without_dev_tools():
    controller = _pins(os.path.join(REPO_ROOT, "requirements.txt"))
    ee = _pins(os.path.join(REPO_ROOT, "execution-environment", "requirements.txt"))
    assert ee and all(controller.get(name) == version for name, version in ee.items()), (ee, controller)
    assert not set(ee) & DEV_ONLY
    for needed in ("ansible", "kubernetes", "hvac"):
        assert needed in ee
    deps = _load(EE_FILE)["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==" + controller["ansible-core"]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==" + controller["ansible-runner"]


def test_create_writes_a_containerfile_with_kilns_pins(context):
    ctx, _ = context
    containerfile = (ctx / "Containerfile").read_text()
    controller = _pins(os.path.join(REPO_ROOT, "requirements.txt"))
    assert 'ARG EE_BASE_IMAGE="%s"' % _load(EE_FILE)["images"]["base_image"]["name"] in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        controller["ansible-core"], controller["ansible-runner"]) in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert (ctx / "_build" / "requirements.txt").read_text() == open(
        os.path.join(REPO_ROOT, "execution-environment", "requirements.txt"), encoding="utf-8").read()
    assert (ctx / "_build" / "exclude-collections.txt").read_text().split() == ["kiln.cluster"]


def test_the_context_installs_kiln_cluster_offline_and_only_kilns_runtime_packages(context, tmp_path):
    ctx, version = context
    build = ctx / "_build"
    assert (build / "collections" / ("kiln-cluster-%s.tar.gz" % version)).is_file()
    # The image's galaxy stage: install from the context's requirements.yml, from /build (here: _build).
    collections = tmp_path / "collections"
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
                           "--collections-path", str(collections), "--offline"],
                          cwd=str(build), capture_output=True, text=True, check=False, env=_image_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = collections / "ansible_collections" / "kiln" / "cluster"
    assert _load(str(installed / "MANIFEST.json"))["collection_info"]["version"] == version
    assert (installed / "plugins" / "modules" / "mig_plan.py").is_file()
    assert not (installed / ".venv").exists()

    # The builder stage's introspection: user requirements plus the collections' own, minus the excluded.
    def introspect(*extra):
        out = tmp_path / ("pip-%d.txt" % len(extra))
        subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect",
                        "--user-pip", str(build / "requirements.txt"), "--write-pip", str(out)] + list(extra)
                       + [str(collections)], check=True, capture_output=True, text=True)
        return set(re.split(r"[=<>\[ ]", line)[0].lower() for line in out.read_text().splitlines()
                   if line.strip() and not line.startswith("#"))

    wanted = introspect("--exclude-collection-reqs", str(build / "exclude-collections.txt"))
    assert wanted == set(_pins(os.path.join(REPO_ROOT, "execution-environment", "requirements.txt")))
    # Without the exclusion the collection's requirements.txt (the controller toolchain) would come in.
    assert DEV_ONLY & introspect()


def test_image_tag_is_the_collection_version(context):
    _, version = context
    assert _load(EE_FILE)["options"]["tags"] == ["kiln-ee:%s" % version]
    requirements = _load(os.path.join(REPO_ROOT, "execution-environment", "requirements.yml"))
    assert requirements["collections"] == [{"name": "collections/kiln-cluster-%s.tar.gz" % version, "type": "file"}]
