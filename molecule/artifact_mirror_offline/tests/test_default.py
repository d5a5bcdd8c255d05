"""An air-gapped node: packages and pip come from the site mirror only.

Runs on the node; the mirror is the scenario's own container on the same
internal podman network. Nothing here sends traffic beyond that network: the
node's isolation is read from its route table.
"""

import ipaddress

MIRROR = "http://10.213.77.10:8080"
SUBNET = ipaddress.ip_network("10.213.77.0/24")

testinfra_hosts = ["ansible://nodes"]


def test_node_has_no_route_out(host):
    routes = host.check_output("ip -4 route").splitlines()
    assert routes, "no IPv4 route at all"
    assert not [route for route in routes if route.startswith("default")], routes
    for route in routes:
        assert ipaddress.ip_network(route.split()[0]).subnet_of(SUBNET), route
    assert "default" not in host.check_output("ip -6 route")
    # A route lookup sends no packet: an outside address (TEST-NET-1) has no path.
    lookup = host.run("ip route get 192.0.2.1")
    assert lookup.rc != 0
    assert "unreachable" in lookup.stderr


def test_distribution_sources_moved_aside(host):
    assert not host.file("/etc/apt/sources.list").exists
    assert host.file("/etc/apt/kiln-disabled/sources.list").is_file
    assert host.check_output("ls /etc/apt/sources.list.d").split() == ["kiln-mirror.sources"]
    sources = host.file("/etc/apt/sources.list.d/kiln-mirror.sources").content_string
    assert "trusted=yes" not in sources.lower()
    assert "Trusted:" not in sources
    assert sources.count("Signed-By: /etc/apt/keyrings/kiln-mirror.asc") == 2
    assert f"URIs: {MIRROR}/debian\n" in sources
    assert f"URIs: {MIRROR}/debian-security\n" in sources


def test_key_is_the_mirrors(host):
    served = host.check_output(
        f"python3 -c \"import urllib.request; print(urllib.request.urlopen('{MIRROR}/kiln-mirror.asc').read().decode())\"")
    installed = host.file("/etc/apt/keyrings/kiln-mirror.asc").content_string
    assert installed.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert installed.strip() == served.strip()


def test_apt_update_uses_only_the_mirror(host):
    update = host.run("apt-get update")
    assert update.rc == 0, update.stderr
    fetched = [line for line in update.stdout.splitlines() if line.split(":", 1)[0] in ("Hit", "Get", "Ign", "Err")]
    assert fetched, update.stdout
    assert all(MIRROR + "/" in line and not line.startswith(("Ign", "Err")) for line in fetched), fetched
    assert not [line for line in update.stderr.splitlines() if line.startswith(("W:", "E:"))], update.stderr
    targets = host.check_output("apt-get indextargets --format '$(URI)'").split()
    assert targets and all(uri.startswith(MIRROR + "/") for uri in targets), targets


def test_repositories_verified_by_signature(host):
    # apt keeps a Release file only after checking its signature (Signed-By).
    lists = host.check_output("ls /var/lib/apt/lists").split()
    releases = [name for name in lists if name.endswith("InRelease")]
    assert sorted(releases) == [
        "10.213.77.10:8080_debian-security_dists_bookworm-security_InRelease",
        "10.213.77.10:8080_debian_dists_bookworm-updates_InRelease",
        "10.213.77.10:8080_debian_dists_bookworm_InRelease",
    ], lists
    for name in releases:
        assert "BEGIN PGP SIGNATURE" in host.file(f"/var/lib/apt/lists/{name}").content_string


def test_package_installed_from_the_mirror(host):
    assert host.package("python3-pip").is_installed
    policy = host.check_output("apt-cache policy python3-pip")
    assert f"{MIRROR}/debian bookworm/main" in policy, policy
    installed = [line.split()[1] for line in policy.splitlines() if line.strip().startswith("Installed:")]
    candidate = [line.split()[1] for line in policy.splitlines() if line.strip().startswith("Candidate:")]
    assert installed == candidate


def test_pip_uses_only_the_mirror(host):
    conf = host.file("/etc/pip.conf").content_string
    assert f"index-url = {MIRROR}/pypi/simple/" in conf
    download = host.run("python3 -m pip download --no-deps --dest /tmp/kiln-probe kiln-probe==1.0.0")
    assert download.rc == 0, download.stderr
    assert f"Looking in indexes: {MIRROR}/pypi/simple/" in download.stdout
    assert host.file("/tmp/kiln-probe/kiln_probe-1.0.0-py3-none-any.whl").is_file
