"""node_checks against fake node trees: every check's ok, warn, fail and skip paths."""

import os

import pytest

from ansible_collections.kiln.cluster.plugins.module_utils import node_checks

RELEASE = "6.1.0-28-amd64"


def write(root, path, content="", mode="w"):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, mode) as handle:
        handle.write(content)


def status(check):
    return check["status"]


@pytest.mark.parametrize("os_id,version,expected", [
    ("debian", "12", "ok"), ("ubuntu", "22.04", "ok"), ("ubuntu", "24.04", "ok"), ("rocky", "9.4", "ok"),
    ("rhel", "9.5", "ok"), ("almalinux", "9.3", "ok"), ("ubuntu", "20.04", "fail"), ("debian", "11", "fail"),
    ("centos", "7", "fail"),
])
def test_os_support(tmp_path, os_id, version, expected):
    write(tmp_path, "/etc/os-release", 'ID=%s\nVERSION_ID="%s"\n' % (os_id, version))
    check = node_checks.check_os(str(tmp_path))
    assert status(check) == expected
    if expected == "fail":
        assert "ubuntu 22.04/24.04" in check["fix"]


def test_arch():
    assert status(node_checks.check_arch("x86_64")) == "ok"
    assert status(node_checks.check_arch("aarch64")) == "ok"
    assert status(node_checks.check_arch("ppc64le")) == "fail"


def test_memory(tmp_path):
    write(tmp_path, "/proc/meminfo", "MemTotal:        2048000 kB\nMemFree: 1 kB\n")
    assert node_checks.check_memory(str(tmp_path), 1700)["detail"] == "2000 MiB"
    failed = node_checks.check_memory(str(tmp_path), 4096)
    assert status(failed) == "fail" and "below the 4096 MiB minimum" in failed["detail"]


def test_disk():
    class Stat(object):
        f_bavail = 5 * 1024 ** 2
        f_frsize = 4096

    assert status(node_checks.check_disk("/var", 10, statvfs=lambda _: Stat())) == "ok"
    assert status(node_checks.check_disk("/var", 30, statvfs=lambda _: Stat())) == "fail"

    def missing(_):
        raise OSError("no such directory")
    assert status(node_checks.check_disk("/nope", 1, statvfs=missing)) == "fail"


def test_swap(tmp_path):
    header = "Filename\tType\tSize\tUsed\tPriority\n"
    write(tmp_path, "/proc/swaps", header)
    assert status(node_checks.check_swap(str(tmp_path))) == "ok"
    write(tmp_path, "/proc/swaps", header + "/swapfile file 1048572 0 -2\n")
    check = node_checks.check_swap(str(tmp_path))
    assert status(check) == "warn" and "/swapfile" in check["detail"]


@pytest.mark.parametrize("files,expected", [
    ({"/proc/modules": "br_netfilter 32768 0 - Live 0x0\n"}, "loaded"),
    ({"/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n"}, "built-in"),
    ({"/lib/modules/%s/modules.builtin" % RELEASE: "kernel/net/bridge/br_netfilter.ko\n"}, "built-in"),
    ({"/lib/modules/%s/modules.dep" % RELEASE: "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n"},
     "loadable"),
    ({"/boot/config-%s" % RELEASE: "CONFIG_BRIDGE_NETFILTER=y\n"}, "built-in"),
    ({"/boot/config-%s" % RELEASE: "CONFIG_BRIDGE_NETFILTER=m\n"}, "missing"),
    ({}, "missing"),
])
def test_kernel_module_state(tmp_path, files, expected):
    for path, content in files.items():
        write(tmp_path, path, content)
    assert node_checks.kernel_module_state(str(tmp_path), "br_netfilter", RELEASE) == expected


def test_kernel_modules_check_names_the_missing_ones(tmp_path):
    write(tmp_path, "/proc/filesystems", "nodev\toverlay\n")
    check = node_checks.check_kernel_modules(str(tmp_path), ["overlay", "br_netfilter"], RELEASE)
    assert status(check) == "fail"
    assert check["detail"] == "overlay built-in, br_netfilter missing"
    assert "need br_netfilter" in check["fix"]


def test_container_detection(tmp_path):
    assert not node_checks.in_container(str(tmp_path))
    write(tmp_path, "/run/.containerenv")
    assert node_checks.in_container(str(tmp_path))


def test_time_sync():
    assert status(node_checks.check_time_sync("/", lambda argv: (0, "yes\n"), False)) == "ok"
    assert status(node_checks.check_time_sync("/", lambda argv: (0, "no\n"), False)) == "warn"
    assert status(node_checks.check_time_sync("/", lambda argv: (127, ""), False)) == "warn"
    skipped = node_checks.check_time_sync("/", lambda argv: (0, "yes\n"), True)
    assert status(skipped) == "skip" and "host" in skipped["detail"]


def test_gpu_host_checks_on_a_server(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), "sys/kernel/iommu_groups/0"))
    os.makedirs(os.path.join(str(tmp_path), "sys/kernel/iommu_groups/1"))
    # EFI variable: 4 attribute bytes, then the value (1 = secure boot on).
    write(tmp_path, "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
          b"\x06\x00\x00\x00\x01", mode="wb")
    os.makedirs(os.path.join(str(tmp_path), "sys/module/nouveau"))
    checks = dict((c["name"], c) for c in node_checks.check_gpu_host(str(tmp_path), False, "host"))
    assert (status(checks["iommu"]), checks["iommu"]["detail"]) == ("ok", "2 IOMMU groups")
    assert status(checks["secure_boot"]) == "warn" and "MOK" in checks["secure_boot"]["fix"]
    assert status(checks["nouveau"]) == "warn"
    # With the operator installing the driver, secure boot is not Kiln's concern.
    operator = dict((c["name"], c) for c in node_checks.check_gpu_host(str(tmp_path), False, "operator"))
    assert status(operator["secure_boot"]) == "ok"


def test_gpu_host_checks_skipped_in_containers(tmp_path):
    checks = node_checks.check_gpu_host(str(tmp_path), True, "host")
    assert [c["name"] for c in checks] == ["iommu", "secure_boot", "nouveau"]
    assert all(status(c) == "skip" and "container" in c["detail"] for c in checks)


def test_run_checks_report(tmp_path):
    write(tmp_path, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
    write(tmp_path, "/proc/meminfo", "MemTotal: 8192000 kB\n")
    write(tmp_path, "/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n")
    write(tmp_path, "/proc/filesystems", "nodev\toverlay\n")
    write(tmp_path, "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n")
    write(tmp_path, "/run/systemd/container", "podman\n")
    os.makedirs(os.path.join(str(tmp_path), "var"))
    report = node_checks.run_checks(str(tmp_path), lambda argv: (1, ""), 1024, 0, "/var",
                                    ["overlay", "br_netfilter"], True, "host")
    assert report["container"] is True
    assert report["kernel_modules"] == {"overlay": "built-in", "br_netfilter": "built-in"}
    names = [c["name"] for c in report["checks"]]
    assert names == ["os", "arch", "memory", "disk", "swap", "kernel_modules", "time_sync",
                     "iommu", "secure_boot", "nouveau"]
    assert not [c for c in report["checks"] if c["status"] == "fail"]
    assert report["summary"][0].startswith("ok    os")
