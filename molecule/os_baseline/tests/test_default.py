"""What os_baseline must leave on a node, read from the live system."""


def test_baseline_packages_installed(host):
    for name in ("chrony", "conntrack", "socat", "ipset", "iptables"):
        assert host.package(name).is_installed, name


def test_sysctls_live_and_persistent(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.bridge.bridge-nf-call-iptables") == 1
    assert host.sysctl("fs.inotify.max_user_instances") == 8192
    conf = host.file("/etc/sysctl.d/90-kiln.conf")
    assert conf.contains("^net.bridge.bridge-nf-call-iptables=1$")


def test_kubernetes_kernel_features_active(host):
    # Built in on this kernel, or loaded by the role: either way active now.
    assert "overlay" in host.file("/proc/filesystems").content_string
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists


def test_swap_off(host):
    assert len(host.file("/proc/swaps").content_string.strip().splitlines()) == 1


def test_chrony_configured_not_running_in_container(host):
    conf = host.file("/etc/chrony/chrony.conf")
    assert conf.contains("^server 192.0.2.10 iburst$")
    assert not conf.contains("pool ")
    # A container shares the host clock: chrony is masked, never started.
    assert not host.service("chrony").is_running
    assert host.file("/etc/systemd/system/chrony.service").linked_to == "/dev/null"


def test_hosts_file_names_cluster_nodes(host):
    hosts = host.file("/etc/hosts").content_string
    assert "# BEGIN Kiln cluster nodes" in hosts
    assert host.ansible.get_variables()["inventory_hostname"] in hosts


def test_limits_and_journald(host):
    assert host.file("/etc/security/limits.d/90-kiln.conf").contains("hard nofile 1048576")
    assert host.file("/etc/systemd/journald.conf.d/90-kiln.conf").contains("^SystemMaxUse=2G$")
    assert host.service("systemd-journald").is_running


def test_kernel_cmdline_written_for_grub(host):
    grub = host.file("/etc/default/grub.d/90-kiln.cfg")
    assert grub.contains('GRUB_CMDLINE_LINUX="\\$GRUB_CMDLINE_LINUX iommu=pt"')
