"""What the containerd role must leave on a node, read from the live daemon.

Runs after the side effect: the NVIDIA Container Toolkit's drop-in
conf.d/99-nvidia.toml is in place next to Kiln's own files.
"""

import hashlib
import os
import pathlib
import re
import tomllib

import yaml

CRI = "io.containerd.grpc.v1.cri"
MIRROR = "harbor.kiln.test"
PROJECTS = {
    "docker.io": "dockerhub",
    "registry.k8s.io": "k8s",
    "quay.io": "quay",
    "ghcr.io": "ghcr",
    "nvcr.io": "nvcr",
}
TOOLKIT_DROPIN = "/etc/containerd/conf.d/99-nvidia.toml"


def pinned_pause_image():
    root = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    versions = yaml.safe_load((root / "roles/kiln/defaults/main/versions.yml").read_text())
    return versions["kiln_pause_image"]


def live_config(host):
    return tomllib.loads(host.check_output("containerd config dump"))


def test_containerd_running_and_enabled(host):
    service = host.service("containerd")
    assert service.is_running
    assert service.is_enabled


def test_live_config_carries_kiln_settings(host):
    cri = live_config(host)["plugins"][CRI]
    registry, image = pinned_pause_image().split("/", 1)
    # Offline: the pinned pause image, rewritten to the mirror's project.
    assert cri["sandbox_image"] == f"{MIRROR}/{PROJECTS[registry]}/{image}"
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["cni"]["bin_dir"] == "/opt/cni/bin"


def test_toolkit_runtime_is_live(host):
    config = live_config(host)
    containerd = config["plugins"][CRI]["containerd"]
    nvidia = containerd["runtimes"]["nvidia"]
    assert nvidia["runtime_type"] == "io.containerd.runc.v2"
    assert nvidia["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert nvidia["options"]["SystemdCgroup"] is True
    # Only the toolkit's drop-in (--set-as-default) sets this; Kiln keeps runc.
    assert containerd["default_runtime_name"] == "nvidia"
    assert set(config["imports"]) == {
        "/etc/containerd/config.toml",
        "/etc/containerd/conf.d/20-kiln-nvidia.toml",
        TOOLKIT_DROPIN,
    }


def test_toolkit_dropin_untouched(host):
    written = host.file("/var/lib/kiln-molecule/99-nvidia.toml").content
    assert hashlib.sha256(host.file(TOOLKIT_DROPIN).content).hexdigest() == hashlib.sha256(written).hexdigest()
    assert b"Kiln" not in host.file(TOOLKIT_DROPIN).content


def test_kiln_owns_only_its_files(host):
    config = host.file("/etc/containerd/config.toml").content_string
    assert config.startswith("# Managed by Kiln (containerd)")
    assert 'imports = ["/etc/containerd/conf.d/*.toml"]' in config
    dropins = sorted(host.check_output("ls /etc/containerd/conf.d").split())
    assert dropins == ["20-kiln-nvidia.toml", "99-nvidia.toml"]
    kiln_dropin = tomllib.loads(host.file("/etc/containerd/conf.d/20-kiln-nvidia.toml").content_string)
    runtimes = kiln_dropin["plugins"][CRI]["containerd"]["runtimes"]
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    # The whole CRI table, or containerd 1.x would drop the rest of it.
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True


def test_daemon_runs_the_current_files(host):
    plugins = host.check_output("ctr plugins ls")
    assert re.search(r"^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$", plugins, re.M), plugins
    assert re.search(r"^io\.containerd\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok\s*$", plugins, re.M), plugins
    started = int(host.check_output(
        "date -d \"$(systemctl show -p ActiveEnterTimestamp --value containerd)\" +%s"))
    newest = int(host.check_output(
        "stat -c %Y /etc/containerd/config.toml /etc/containerd/conf.d/*.toml | sort -n | tail -1"))
    assert started >= newest


def test_ctr_talks_to_the_daemon(host):
    version = host.check_output("ctr version")
    server = version.split("Server:", 1)[1]
    assert re.search(r"Version:\s+1\.6\.", server), version
    assert "UUID:" in server


def test_registry_host_files(host):
    for registry, project in PROJECTS.items():
        hosts = tomllib.loads(host.file(f"/etc/containerd/certs.d/{registry}/hosts.toml").content_string)
        endpoint = f"https://{MIRROR}/v2/{project}"
        # server is the mirror too: no fallback to the upstream registry.
        assert hosts["server"] == endpoint
        assert hosts["override_path"] is True
        assert hosts["host"][endpoint] == {"capabilities": ["pull", "resolve"], "override_path": True}
    site = tomllib.loads(host.file("/etc/containerd/certs.d/registry.site.test:5000/hosts.toml").content_string)
    assert site["host"]["https://registry.site.test:5000"]["capabilities"] == ["pull", "resolve", "push"]


def requested_urls(host, image):
    # The side effect maps every registry name to 127.0.0.1: the pull fails
    # at connect time, after containerd logged where it would fetch from.
    pull = host.run(f"ctr --debug -n k8s.io images pull --hosts-dir /etc/containerd/certs.d {image}")
    assert pull.rc != 0
    return re.findall(r'msg="do request".* url="([^"]+)"', pull.stderr)


def test_pulls_resolve_through_the_mirror_only(host):
    registry, image = pinned_pause_image().split("/", 1)
    name, tag = image.rsplit(":", 1)
    urls = requested_urls(host, pinned_pause_image())
    assert urls, "containerd made no request"
    assert all(url.startswith(f"https://{MIRROR}/v2/k8s/{name}/manifests/{tag}") for url in urls), urls
    urls = requested_urls(host, "docker.io/library/busybox:1.37")
    assert urls and all(url.startswith(f"https://{MIRROR}/v2/dockerhub/library/busybox/manifests/1.37") for url in urls), urls
