"""Host-side preflight checks of one node, read-only.

The checks read files under ``root`` (``/`` on a node, a fake tree in tests)
and may call ``run(argv) -> (rc, stdout)`` for the few facts only a command
knows. Each check yields a dict with ``name``, ``status`` (ok, warn, fail or
skip), ``detail`` and ``fix``.
"""

import os
import platform

SUPPORTED_OS = {
    # ID from /etc/os-release -> supported VERSION_ID major(.minor) values
    "debian": ("12",),
    "ubuntu": ("22.04", "24.04"),
    "rhel": ("9",),
    "rocky": ("9",),
    "almalinux": ("9",),
}
SUPPORTED_ARCH = ("x86_64", "aarch64")


def _read(root, path):
    try:
        with open(os.path.join(root, path.lstrip("/"))) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _exists(root, path):
    return os.path.exists(os.path.join(root, path.lstrip("/")))


def _check(name, status, detail, fix=""):
    return {"name": name, "status": status, "detail": detail, "fix": fix}


def os_release(root):
    values = {}
    for line in (_read(root, "/etc/os-release") or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip('"')
    return values


def in_container(root):
    """True inside a container (podman/docker/systemd-nspawn), where host kernel state is not ours."""
    marker = (_read(root, "/run/systemd/container") or "").strip()
    return bool(marker) or _exists(root, "/run/.containerenv") or _exists(root, "/.dockerenv")


def check_os(root):
    release = os_release(root)
    os_id, version = release.get("ID", "unknown"), release.get("VERSION_ID", "")
    wanted = SUPPORTED_OS.get(os_id)
    if wanted and (version in wanted or version.split(".")[0] in wanted):
        return _check("os", "ok", "%s %s" % (os_id, version))
    supported = ", ".join("%s %s" % (k, "/".join(v)) for k, v in sorted(SUPPORTED_OS.items()))
    return _check("os", "fail", "%s %s is not supported" % (os_id, version),
                  "install one of: %s" % supported)


def check_arch(machine=None):
    machine = machine or platform.machine()
    if machine in SUPPORTED_ARCH:
        return _check("arch", "ok", machine)
    return _check("arch", "fail", "%s is not supported" % machine, "use an x86_64 or aarch64 server")


def check_memory(root, min_mb):
    total_kb = 0
    for line in (_read(root, "/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total_kb = int(line.split()[1])
    total_mb = total_kb // 1024
    if total_mb >= min_mb:
        return _check("memory", "ok", "%d MiB" % total_mb)
    return _check("memory", "fail", "%d MiB, below the %d MiB minimum" % (total_mb, min_mb),
                  "add memory or lower preflight_min_memory_mb for a test system")


def check_disk(path, min_gb, statvfs=os.statvfs):
    try:
        stat = statvfs(path)
    except OSError as err:
        return _check("disk", "fail", "cannot stat %s: %s" % (path, err), "create %s" % path)
    free_gb = stat.f_bavail * stat.f_frsize // (1024 ** 3)
    if free_gb >= min_gb:
        return _check("disk", "ok", "%d GiB free on %s" % (free_gb, path))
    return _check("disk", "fail", "%d GiB free on %s, below the %d GiB minimum" % (free_gb, path, min_gb),
                  "free space or grow the filesystem")


def check_swap(root):
    lines = [l for l in (_read(root, "/proc/swaps") or "").splitlines()[1:] if l.strip()]
    if not lines:
        return _check("swap", "ok", "off")
    return _check("swap", "warn", "on (%s)" % ", ".join(l.split()[0] for l in lines),
                  "os_baseline turns swap off for the kubelet")


# What a module provides once active, for built-ins that have no /sys/module entry.
ACTIVE_PROBES = {
    "overlay": lambda root: "\toverlay" in (_read(root, "/proc/filesystems") or ""),
    "br_netfilter": lambda root: _exists(root, "/proc/sys/net/bridge/bridge-nf-call-iptables"),
}


def kernel_module_state(root, name, release):
    """'loaded', 'built-in', 'loadable' or 'missing'."""
    loaded = name in [line.split(" ", 1)[0] for line in (_read(root, "/proc/modules") or "").splitlines()]
    if loaded:
        return "loaded"
    probe = ACTIVE_PROBES.get(name)
    if _exists(root, "/sys/module/%s" % name) or (probe and probe(root)):
        return "built-in"
    builtin = _read(root, "/lib/modules/%s/modules.builtin" % release) or ""
    if "/%s.ko" % name in builtin:
        return "built-in"
    deps = _read(root, "/lib/modules/%s/modules.dep" % release) or ""
    if "/%s.ko" % name in deps:
        return "loadable"
    config = _read(root, "/boot/config-%s" % release) or ""
    symbol = {"overlay": "CONFIG_OVERLAY_FS", "br_netfilter": "CONFIG_BRIDGE_NETFILTER"}.get(name)
    if symbol and "%s=y" % symbol in config:
        return "built-in"
    return "missing"


def check_kernel_modules(root, names, release=None):
    release = release or platform.release()
    states = dict((name, kernel_module_state(root, name, release)) for name in names)
    missing = sorted(n for n, s in states.items() if s == "missing")
    detail = ", ".join("%s %s" % (n, states[n]) for n in names)
    if missing:
        return _check("kernel_modules", "fail", detail,
                      "install the kernel modules package for %s (need %s)" % (release, ", ".join(missing)))
    return _check("kernel_modules", "ok", detail)


def check_time_sync(root, run, container):
    if container:
        return _check("time_sync", "skip", "container: the clock is the host's", "")
    rc, out = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if rc == 0 and out.strip() == "yes":
        return _check("time_sync", "ok", "synchronised")
    return _check("time_sync", "warn", "not synchronised yet", "os_baseline configures chrony with kiln_ntp_servers")


def check_gpu_host(root, container, driver_mode):
    """IOMMU, secure boot and nouveau: what the NVIDIA driver install depends on."""
    if container:
        reason = "container: IOMMU, secure boot and nouveau are the host kernel's; check them on the server"
        return [_check(name, "skip", reason) for name in ("iommu", "secure_boot", "nouveau")]
    results = []
    groups = os.listdir(os.path.join(root, "sys/kernel/iommu_groups")) if _exists(root, "/sys/kernel/iommu_groups") else []
    results.append(_check("iommu", "ok" if groups else "warn",
                          "%d IOMMU groups" % len(groups) if groups else "off",
                          "" if groups else "enable VT-d/AMD-Vi in firmware and set os_baseline_iommu: true"))
    efivars = os.path.join(root, "sys/firmware/efi/efivars")
    secure = False
    if os.path.isdir(efivars):
        for entry in os.listdir(efivars):
            if entry.startswith("SecureBoot-"):
                with open(os.path.join(efivars, entry), "rb") as handle:
                    data = handle.read()
                secure = len(data) >= 5 and data[4] == 1
    if secure and driver_mode == "host":
        results.append(_check("secure_boot", "warn", "enabled",
                              "enrol the signing key (MOK) for the NVIDIA modules or disable secure boot"))
    else:
        results.append(_check("secure_boot", "ok", "enabled" if secure else "disabled"))
    nouveau = _exists(root, "/sys/module/nouveau")
    results.append(_check("nouveau", "warn" if nouveau else "ok", "loaded" if nouveau else "not loaded",
                          "nvidia_driver blacklists nouveau and rebuilds the initramfs; reboot after" if nouveau else ""))
    return results


def run_checks(root, run, min_memory_mb, min_disk_gb, disk_path, modules, gpu_node, driver_mode):
    container = in_container(root)
    checks = [check_os(root), check_arch(), check_memory(root, min_memory_mb),
              check_disk(os.path.join(root, disk_path.lstrip("/")), min_disk_gb),
              check_swap(root), check_kernel_modules(root, modules), check_time_sync(root, run, container)]
    if gpu_node:
        checks.extend(check_gpu_host(root, container, driver_mode))
    summary = ["%-5s %-15s %s" % (c["status"], c["name"], c["detail"]) for c in checks]
    release = platform.release()
    module_states = dict((name, kernel_module_state(root, name, release)) for name in modules)
    return {"container": container, "checks": checks, "summary": summary, "kernel_modules": module_states}
