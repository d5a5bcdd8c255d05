"""Controller-side checks of a Kiln inventory, run before any host is touched.

Every check appends a Finding instead of raising, so one run reports every
problem in the inventory at once. The checks read plain data (host name ->
variables, group name -> host names), which keeps them testable without
Ansible.
"""

import ipaddress
import re

from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import MigPlanError, find_model, plan_layout

CLUSTER = "all hosts"
CONTROL_PLANE_SIZES = (1, 3, 5)
# RFC 1123 label: what Kubernetes accepts as a node name.
NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
NO_MIG = "none"

# Variables every host of the cluster reads; set them in group_vars/all.
CLUSTER_VARS = (
    "kiln_cluster_name", "kiln_kubernetes_version", "kiln_node_cidr", "kiln_pod_cidr",
    "kiln_service_cidr", "kiln_api_vip", "kiln_api_port", "kiln_offline",
    "kiln_artifact_mirror_url", "kiln_registry_mirror", "kiln_mig_layouts", "kiln_chart_repository_url",
    "kiln_openbao_init_vault_password", "kiln_openbao_pgp_keys", "kiln_openbao_key_shares",
    "kiln_openbao_key_threshold", "kiln_openbao_revoke_root_token", "kiln_environments",
    "kiln_allowed_image_registries", "kiln_gpu_quotas", "kiln_priority_classes", "cluster_security_platform_namespaces",
)
# Shortest ansible-vault password role openbao accepts for its init result.
VAULT_PASSWORD_MIN = 16
# The platform charts Kiln pins (roles/kiln/defaults/main/versions.yml), mirrors and tests; each is read
# cluster-wide too.
CHART_VERSION_VARS = (
    "kiln_argocd_chart_version", "kiln_gpu_operator_chart_version", "kiln_harbor_chart_version",
    "kiln_istio_chart_version", "kiln_kserve_chart_version", "kiln_kube_prometheus_stack_chart_version",
    "kiln_velero_chart_version",
)
# A DNS name (labels of letters, digits, '-', '_' for site-internal names) as ansible_host may hold.
HOST_NAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")
REGISTRY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
# Role cluster_security's defaults: the environments and the platform components' namespaces.
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")
PLATFORM_NAMESPACES = ("harbor", "argocd", "istio-system", "istio-ingress", "velero", "monitoring", "kserve",
                       "gpu-operator")
GPU_RESOURCE_RE = re.compile(r"^nvidia\.com/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
PRIORITY_MAX = 1000000000
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
CHART_REPOSITORY_RE = re.compile(r"^(oci|https?)://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?$")


class Finding(object):
    """One problem: where it is, which variable, what is wrong, how to fix it."""

    def __init__(self, host, variable, problem, fix):
        self.host = host
        self.variable = variable
        self.problem = problem
        self.fix = fix

    def as_dict(self):
        return {"host": self.host, "variable": self.variable, "problem": self.problem, "fix": self.fix}

    def __str__(self):
        return "%s: %s: %s. Fix: %s." % (self.host, self.variable, self.problem, self.fix)


def _network(value):
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None


def _address(value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


class InventoryChecker(object):
    """Collects findings for one inventory.

    hosts: host name -> its variables (inventory values merged over defaults).
    groups: group name -> host names, as Ansible's ``groups`` magic variable.
    """

    def __init__(self, hosts, groups, supported_versions, pinned_chart_versions=None, refused=None):
        self.hosts = hosts
        # host -> names whose values were refused already (template syntax, vault): not "missing" as well.
        self.refused = dict((h, set(n)) for h, n in (refused or {}).items())
        self.refused_names = set(n for names in self.refused.values() for n in names)
        self.groups = groups
        self.supported_versions = list(supported_versions)
        self.pinned_chart_versions = dict(pinned_chart_versions or {})
        self.findings = []

    def add(self, host, variable, problem, fix):
        self.findings.append(Finding(host, variable, problem, fix))

    def group(self, name):
        members = self.groups.get(name) or []
        return [m for m in members if isinstance(m, str)] if isinstance(members, (list, tuple)) else []

    def was_refused(self, name, hosts=None):
        if name not in self.refused_names:
            return False
        return any(name in self.refused.get(h, ()) for h in (self.refused if hosts is None else hosts))

    def run(self):
        cluster_hosts = self.check_groups()
        cluster = self.check_cluster_vars(cluster_hosts)
        self.check_openbao(cluster)
        self.check_registry(cluster)
        self.check_chart_versions(cluster_hosts)
        self.check_admission(cluster)
        self.check_host_names(cluster_hosts)
        addresses = self.check_addresses()
        self.check_networks(cluster, cluster_hosts, addresses)
        self.check_gpu_intent(cluster)
        return self.findings

    # -- groups ---------------------------------------------------------
    def check_groups(self):
        control_plane = self.group("control_plane")
        workers = self.group("workers")
        cluster = self.group("k8s_cluster")
        if len(control_plane) not in CONTROL_PLANE_SIZES:
            self.add("group control_plane", "control_plane",
                     "has %d host(s) (%s); etcd quorum needs an odd count of 1, 3 or 5"
                     % (len(control_plane), ", ".join(control_plane) or "none"),
                     "put 1, 3 or 5 hosts in the control_plane group")
        if not workers:
            self.add("group workers", "workers", "is empty", "add at least one host to the workers group")
        for host in control_plane + workers:
            if host not in cluster:
                self.add(host, "k8s_cluster", "is in control_plane or workers but not in k8s_cluster",
                         "make control_plane and workers the children of k8s_cluster")
        for host in self.group("gpu_workers"):
            if host not in workers:
                self.add(host, "gpu_workers", "is a GPU worker but not in the workers group",
                         "add %s to workers (gpu_workers is a subset of workers)" % host)
        return [h for h in self.group("all") if h in cluster]

    # -- cluster-wide variables -------------------------------------------
    def check_cluster_vars(self, cluster_hosts):
        """Cluster-wide variables must be set, typed, and equal on every node."""
        cluster = {}
        for name in CLUSTER_VARS:
            if self.was_refused(name, cluster_hosts):
                cluster[name] = None
                continue
            values = {}
            for host in cluster_hosts:
                value = self.hosts.get(host, {}).get(name)
                values.setdefault(repr(value), (value, []))[1].append(host)
            if len(values) > 1:
                # Most common value first, so the odd ones out stand out.
                ordered = sorted(values.values(), key=lambda vh: (-len(vh[1]), repr(vh[0])))
                secret = any(word in name for word in ("password", "token", "secret"))
                spread = "; ".join("%s on %s" % ("(a value)" if secret else v, ", ".join(sorted(hs)))
                                   for v, hs in ordered)
                self.add(CLUSTER, name, "differs between nodes (%s)" % spread,
                         "set %s once in group_vars/all" % name)
            cluster[name] = next(iter(values.values()))[0] if values else None

        def require(name, ok, expected, fix):
            value = cluster.get(name)
            if value is None:
                if not self.was_refused(name):
                    self.add(CLUSTER, name, "is not set", fix)
                return False
            if not ok(value):
                self.add(CLUSTER, name, "is %r, expected %s" % (value, expected), fix)
                return False
            return True

        require("kiln_cluster_name", lambda v: isinstance(v, str) and NODE_NAME_RE.match(v),
                "a lower-case DNS label", "set kiln_cluster_name to e.g. gpu-prod-1 in group_vars/all")
        if require("kiln_kubernetes_version", lambda v: isinstance(v, str) and VERSION_RE.match(v),
                   "a full version string such as \"%s\"" % self.supported_versions[-1],
                   "quote the version in group_vars/all: kiln_kubernetes_version: \"%s\""
                   % self.supported_versions[-1]):
            if cluster["kiln_kubernetes_version"] not in self.supported_versions:
                self.add(CLUSTER, "kiln_kubernetes_version",
                         "%s is not a version Kiln pins (supported: %s)"
                         % (cluster["kiln_kubernetes_version"], ", ".join(self.supported_versions)),
                         "choose one of the supported versions")
        for name in ("kiln_node_cidr", "kiln_pod_cidr", "kiln_service_cidr"):
            require(name, lambda v: _network(v) is not None, "a network in CIDR form with no host bits",
                    "set %s to e.g. 10.244.0.0/16" % name)
        require("kiln_api_port", lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536,
                "an integer port", "set kiln_api_port: 6443")
        require("kiln_offline", lambda v: isinstance(v, bool), "true or false",
                "set kiln_offline: true (air-gapped) or false")
        if len(self.group("control_plane")) > 1 or cluster.get("kiln_api_vip") is not None:
            require("kiln_api_vip", lambda v: _address(v) is not None, "an IP address",
                    "set kiln_api_vip to a free address in kiln_node_cidr (needed with several control-plane nodes)")
        if cluster.get("kiln_offline") is True:
            require("kiln_artifact_mirror_url",
                    lambda v: isinstance(v, str) and re.match(r"^https?://[^/\s]+", v),
                    "an http(s) URL", "set kiln_artifact_mirror_url to the site mirror (offline mode needs it)")
            require("kiln_registry_mirror", lambda v: isinstance(v, str) and v and " " not in v,
                    "a registry host name", "set kiln_registry_mirror to the site registry (offline mode needs it)")
        return cluster

    # -- OpenBao, the platform layer's first step ---------------------------
    def check_openbao(self, cluster):
        """What role openbao asserts only after the node and Kubernetes layers ran: caught here instead."""
        pgp_keys = cluster.get("kiln_openbao_pgp_keys") or []
        password = cluster.get("kiln_openbao_init_vault_password")
        shares = cluster.get("kiln_openbao_key_shares")
        threshold = cluster.get("kiln_openbao_key_threshold")
        if isinstance(shares, int) and isinstance(threshold, int) and not 1 <= threshold <= shares:
            self.add(CLUSTER, "kiln_openbao_key_threshold", "is %d, expected 1 to kiln_openbao_key_shares (%d)"
                     % (threshold, shares), "set a threshold no larger than the number of key shares")
        if pgp_keys and isinstance(shares, int) and isinstance(pgp_keys, list) and len(pgp_keys) != shares:
            self.add(CLUSTER, "kiln_openbao_pgp_keys", "has %d keys for %d key shares" % (len(pgp_keys), shares),
                     "give one PGP key per share (kiln_openbao_key_shares)")
        needs_password = not pgp_keys or cluster.get("kiln_openbao_revoke_root_token") is True
        if not needs_password or self.was_refused("kiln_openbao_init_vault_password"):
            return
        why = ("it encrypts OpenBao's init result" if not pgp_keys else
               "with kiln_openbao_revoke_root_token it encrypts Kiln's AppRole credentials")
        if password in (None, ""):
            self.add(CLUSTER, "kiln_openbao_init_vault_password", "is not set, and the platform layer needs it (%s)"
                     % why, "put it in an ansible-vault encrypted file (group_vars/all/vault.yml), %d+ characters, "
                     "or set kiln_openbao_pgp_keys" % VAULT_PASSWORD_MIN)
        elif not isinstance(password, str) or len(password) < VAULT_PASSWORD_MIN:
            self.add(CLUSTER, "kiln_openbao_init_vault_password", "is shorter than %d characters" % VAULT_PASSWORD_MIN,
                     "use a longer random password (ansible-vault encrypted)")

    # -- site registry and chart mirror ------------------------------------
    def check_registry(self, cluster):
        mirror = cluster.get("kiln_registry_mirror")
        reported = any(f.variable == "kiln_registry_mirror" for f in self.findings)
        if not reported and mirror not in (None, "") and not (isinstance(mirror, str) and REGISTRY_RE.match(mirror)):
            self.add(CLUSTER, "kiln_registry_mirror", "is %r, not a registry host name with an optional port" % (mirror,),
                     "set kiln_registry_mirror to host[:port] of the site registry, e.g. registry.example.internal:5000 "
                     "(no scheme, no path)")
        charts = cluster.get("kiln_chart_repository_url")
        if charts not in (None, "") and not (isinstance(charts, str) and CHART_REPOSITORY_RE.match(charts)):
            self.add(CLUSTER, "kiln_chart_repository_url", "is %r, not a chart repository URL" % (charts,),
                     "set kiln_chart_repository_url to oci://<registry>/<path> or https://<host>/<path>, "
                     "or leave it empty to skip the chart installs")
        registries = self.group("site_registry")
        if len(registries) > 1:
            self.add("group site_registry", "site_registry", "has %d hosts (%s); Kiln runs one bootstrap registry"
                     % (len(registries), ", ".join(registries)), "keep one host in the site_registry group")
        if registries and mirror in (None, ""):
            self.add(CLUSTER, "kiln_registry_mirror", "is not set, but %s runs the site registry" % registries[0],
                     "set kiln_registry_mirror to %s:<kiln_registry_port> (how nodes reach it)" % registries[0])

    # -- admission baseline, GPU quotas, priorities (role cluster_security) --
    def _namespaces(self, cluster):
        environments = cluster.get("kiln_environments")
        platform = cluster.get("cluster_security_platform_namespaces")
        names = list(environments) if isinstance(environments, list) else list(DEFAULT_ENVIRONMENTS)
        if isinstance(platform, list):
            names += [ns.get("name") for ns in platform if isinstance(ns, dict)]
        else:
            names += list(PLATFORM_NAMESPACES)
        return [n for n in names if isinstance(n, str)]

    def check_admission(self, cluster):
        """What role cluster_security would refuse only in the platform layer, after the other layers ran."""
        registries = cluster.get("kiln_allowed_image_registries")
        if isinstance(registries, list):
            for index, registry in enumerate(registries):
                if not (isinstance(registry, str) and REGISTRY_RE.match(registry)):
                    self.add(CLUSTER, "kiln_allowed_image_registries[%d]" % index,
                             "is %r, not a registry host name with an optional port" % (registry,),
                             "write host[:port] as images name it, e.g. registry.example.internal:5000 "
                             "(no scheme, no path)")
        quotas = cluster.get("kiln_gpu_quotas")
        if isinstance(quotas, dict):
            namespaces = self._namespaces(cluster)
            for namespace, hard in sorted(quotas.items(), key=lambda kv: str(kv[0])):
                variable = "kiln_gpu_quotas[%s]" % namespace
                if namespace not in namespaces:
                    self.add(CLUSTER, variable, "names namespace %r, which Kiln does not create (known: %s)"
                             % (namespace, ", ".join(namespaces)),
                             "add it to kiln_environments, or give the quota to one of those namespaces")
                if not isinstance(hard, dict) or not hard:
                    self.add(CLUSTER, variable, "is %r, expected {nvidia.com/<resource>: count}" % (hard,),
                             "e.g. %s: {nvidia.com/gpu: 2}" % namespace)
                    continue
                for resource, count in sorted(hard.items(), key=lambda kv: str(kv[0])):
                    if not (isinstance(resource, str) and GPU_RESOURCE_RE.match(resource)):
                        self.add(CLUSTER, variable, "limits %r, not a GPU resource" % (resource,),
                                 "name a resource nvidia.com/<resource>, e.g. nvidia.com/gpu or "
                                 "nvidia.com/mig-1g.10gb")
                    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                        self.add(CLUSTER, "%s[%s]" % (variable, resource),
                                 "is %r, expected a whole number of 0 or more" % (count,),
                                 "set how many of that resource the namespace may request")
        classes = cluster.get("kiln_priority_classes")
        if isinstance(classes, list):
            defaults = []
            for index, entry in enumerate(classes):
                variable = "kiln_priority_classes[%d]" % index
                if not isinstance(entry, dict):
                    self.add(CLUSTER, variable, "is %r, expected {name, value, ...}" % (entry,),
                             "see docs/variables.md for kiln_priority_classes")
                    continue
                name, value = entry.get("name"), entry.get("value")
                if not (isinstance(name, str) and NODE_NAME_RE.match(name)) or str(name).startswith("system-"):
                    self.add(CLUSTER, variable + ".name", "is %r, expected a lower-case DNS label not starting "
                             "with system-" % (name,), "name the class e.g. gpu-training")
                if not isinstance(value, int) or isinstance(value, bool) or not -PRIORITY_MAX <= value <= PRIORITY_MAX:
                    self.add(CLUSTER, variable + ".value", "is %r, expected a whole number up to %d"
                             % (value, PRIORITY_MAX), "higher values schedule (and preempt) first; e.g. 1000")
                policy = entry.get("preemption_policy", PREEMPTION_POLICIES[0])
                if policy not in PREEMPTION_POLICIES:
                    self.add(CLUSTER, variable + ".preemption_policy", "is %r" % (policy,),
                             "use %s" % " or ".join(PREEMPTION_POLICIES))
                if entry.get("global_default") is True:
                    defaults.append(str(name))
            if len(defaults) > 1:
                self.add(CLUSTER, "kiln_priority_classes", "marks %d classes global_default (%s)"
                         % (len(defaults), ", ".join(defaults)), "keep global_default on one class at most")

    def check_chart_versions(self, cluster_hosts):
        for name, pinned in sorted(self.pinned_chart_versions.items()):
            wrong = [(h, self.hosts.get(h, {}).get(name)) for h in cluster_hosts]
            wrong = [(h, v) for h, v in wrong if v is not None and str(v) != str(pinned)]
            fix = "remove the override (the chart mirror is seeded with %s from the bundle)" % pinned
            if wrong and len(wrong) == len(cluster_hosts) and len(set(repr(v) for _, v in wrong)) == 1:
                wrong = [(CLUSTER, wrong[0][1])]
            for host, value in wrong:
                self.add(host, name, "is %r, but Kiln pins, mirrors and tests %s" % (value, pinned), fix)

    # -- hosts ------------------------------------------------------------
    def check_host_names(self, cluster_hosts):
        seen = {}
        for host in cluster_hosts:
            if not NODE_NAME_RE.match(host):
                self.add(host, "inventory_hostname",
                         "is not a valid Kubernetes node name (lower-case letters, digits and '-')",
                         "rename the host in the inventory, e.g. %s" % re.sub(r"[^a-z0-9-]", "-", host.lower()))
            other = seen.setdefault(host.lower(), host)
            if other != host:
                self.add(host, "inventory_hostname", "names the same node as %s (names are case-insensitive)" % other,
                         "give every node a unique name")

    def check_addresses(self):
        """Returns host -> parsed address for the hosts whose address is an IP."""
        addresses = {}
        owners = {}
        for host in self.group("all"):
            value = self.hosts.get(host, {}).get("ansible_host", host)
            if "ansible_host" in self.hosts.get(host, {}) and not (
                    isinstance(value, str) and (_address(value) is not None or HOST_NAME_RE.match(value))):
                self.add(host, "ansible_host", "is %r, not an IP address or DNS name" % (value,),
                         "set ansible_host to the address Ansible reaches the host at, e.g. 10.0.0.11")
                continue
            owners.setdefault(str(value), []).append(host)
            parsed = _address(value)
            if parsed is not None:
                addresses[host] = parsed
        for value, hosts in owners.items():
            if len(hosts) > 1:
                for host in hosts:
                    self.add(host, "ansible_host", "%s is also the address of %s"
                             % (value, ", ".join(h for h in hosts if h != host)),
                             "give every host its own ansible_host")
        return addresses

    # -- networks ---------------------------------------------------------
    def check_networks(self, cluster, cluster_hosts, addresses):
        nets = {name: _network(cluster.get(name)) for name in ("kiln_node_cidr", "kiln_pod_cidr", "kiln_service_cidr")}
        names = [n for n in nets if nets[n] is not None]
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                if nets[first].overlaps(nets[second]):
                    self.add(CLUSTER, "%s/%s" % (first, second), "%s overlaps %s" % (nets[first], nets[second]),
                             "choose non-overlapping ranges for nodes, pods and services")
        for name in ("kiln_pod_cidr", "kiln_service_cidr"):
            net = nets[name]
            if net is None:
                continue
            for host in self.group("all"):
                if host in addresses and addresses[host] in net:
                    self.add(host, "ansible_host", "%s lies inside %s %s" % (addresses[host], name, net),
                             "move %s out of the node's address range or renumber the node" % name)
        node_net = nets["kiln_node_cidr"]
        if node_net is not None:
            for host in cluster_hosts:
                if host in addresses and addresses[host] not in node_net:
                    self.add(host, "ansible_host", "%s is outside kiln_node_cidr %s" % (addresses[host], node_net),
                             "widen kiln_node_cidr or correct the node's address")
        vip = _address(cluster.get("kiln_api_vip")) if cluster.get("kiln_api_vip") is not None else None
        if vip is None:
            return
        if node_net is not None and vip not in node_net:
            self.add(CLUSTER, "kiln_api_vip", "%s is outside kiln_node_cidr %s" % (vip, node_net),
                     "pick a free address inside the node network (keepalived moves it between the control-plane nodes)")
        if node_net is not None and vip in (node_net.network_address, node_net.broadcast_address):
            self.add(CLUSTER, "kiln_api_vip", "%s is the network or broadcast address of %s" % (vip, node_net),
                     "pick a usable host address")
        for host, address in addresses.items():
            if address == vip:
                self.add(host, "kiln_api_vip", "%s is the address of host %s" % (vip, host),
                         "pick an address no host uses for the API VIP")

    # -- GPU intent ---------------------------------------------------------
    def check_gpu_intent(self, cluster):
        layouts = cluster.get("kiln_mig_layouts") or {}
        if not isinstance(layouts, dict) or not all(
                isinstance(v, list) and all(isinstance(p, str) for p in v) for v in layouts.values()):
            self.add(CLUSTER, "kiln_mig_layouts", "must map layout names to lists of MIG profile names",
                     "e.g. kiln_mig_layouts: {h100-balanced: [3g.40gb, 2g.20gb, 1g.10gb, 1g.10gb]}")
            layouts = {}
        gpu_workers = self.group("gpu_workers")
        for host in self.group("all"):
            intent = self.hosts.get(host, {}).get("kiln_gpu")
            if host not in gpu_workers:
                if intent is not None:
                    self.add(host, "kiln_gpu", "is set but the host is not in gpu_workers",
                             "add the host to gpu_workers or remove kiln_gpu")
                continue
            if intent is None:
                if self.was_refused("kiln_gpu", [host]):
                    continue
                self.add(host, "kiln_gpu", "is not set on a GPU worker",
                         "declare at least kiln_gpu: {model: <nvidia-smi product name>, count: <GPUs>}")
                continue
            self.check_one_gpu_intent(host, intent, layouts)

    def check_one_gpu_intent(self, host, intent, layouts):
        if not isinstance(intent, dict):
            self.add(host, "kiln_gpu", "is %r, expected a mapping" % (intent,), "see docs/variables.md for kiln_gpu")
            return
        unknown = sorted(set(intent) - {"model", "count", "nvswitch", "mig", "time_slicing"})
        if unknown:
            self.add(host, "kiln_gpu", "has unknown key(s) %s" % ", ".join(unknown),
                     "use only model, count, nvswitch, mig, time_slicing")
        model = intent.get("model")
        if not isinstance(model, str) or not model:
            self.add(host, "kiln_gpu.model", "is not set", "set the GPU product name as nvidia-smi prints it")
            model = None
        count = intent.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            self.add(host, "kiln_gpu.count", "is %r, expected a positive integer" % (count,),
                     "set the number of GPUs in the node")
            count = None
        if "nvswitch" in intent and not isinstance(intent["nvswitch"], bool):
            self.add(host, "kiln_gpu.nvswitch", "is %r, expected true or false" % (intent["nvswitch"],),
                     "set nvswitch: true for HGX/DGX systems with NVSwitch")
        per_gpu_layouts = self.check_mig_intent(host, intent.get("mig"), count, layouts)
        self.check_time_slicing(host, intent.get("time_slicing"), per_gpu_layouts, layouts)
        if model is not None:
            self.check_mig_placement(host, model, per_gpu_layouts, layouts)

    def check_mig_intent(self, host, mig, count, layouts):
        """Returns GPU index -> layout name for the GPUs that use MIG."""
        if mig is None:
            return {}
        if not isinstance(mig, dict) or set(mig) - {"layout", "per_gpu"}:
            self.add(host, "kiln_gpu.mig", "is %r, expected {layout: NAME, per_gpu: {INDEX: NAME}}" % (mig,),
                     "name a layout from kiln_mig_layouts")
            return {}
        chosen = {}
        default = mig.get("layout")
        if default is not None:
            if self.layout_known(host, "kiln_gpu.mig.layout", default, layouts) and count:
                chosen = dict((i, default) for i in range(count))
        per_gpu = mig.get("per_gpu") or {}
        if not isinstance(per_gpu, dict):
            self.add(host, "kiln_gpu.mig.per_gpu", "is %r, expected a mapping of GPU index to layout name" % (per_gpu,),
                     "e.g. per_gpu: {\"0\": h100-7x1g}")
            per_gpu = {}
        for key, name in sorted(per_gpu.items(), key=lambda kv: str(kv[0])):
            variable = "kiln_gpu.mig.per_gpu[%s]" % key
            try:
                index = int(key)
            except (TypeError, ValueError):
                index = -1
            if index < 0 or (count and index >= count):
                self.add(host, variable, "GPU index %s does not exist (the node has %s GPUs)" % (key, count),
                         "use indices 0 to %d" % ((count or 1) - 1))
                continue
            if self.layout_known(host, variable, name, layouts):
                chosen[index] = name
        if default is None and not per_gpu:
            self.add(host, "kiln_gpu.mig", "names no layout", "set mig.layout or mig.per_gpu")
        return dict((i, n) for i, n in chosen.items() if n != NO_MIG)

    def layout_known(self, host, variable, name, layouts):
        if self.was_refused("kiln_mig_layouts"):
            return False  # the layouts themselves were refused: nothing to compare with
        if not isinstance(name, str):
            self.add(host, variable, "is %r, expected the name of a layout" % (name,),
                     "name one layout of kiln_mig_layouts (a string), e.g. layout: h100-balanced")
            return False
        if name == NO_MIG or name in layouts:
            return True
        self.add(host, variable, "names layout %r, which kiln_mig_layouts does not define (defined: %s)"
                 % (name, ", ".join(sorted(layouts)) or "none"),
                 "define it in kiln_mig_layouts or use %r for a whole GPU" % NO_MIG)
        return False

    def check_time_slicing(self, host, slicing, per_gpu_layouts, layouts):
        if slicing is None:
            return
        if not isinstance(slicing, dict) or set(slicing) - {"replicas", "per_profile"}:
            self.add(host, "kiln_gpu.time_slicing", "is %r, expected {replicas: N, per_profile: {PROFILE: N}}" % (slicing,),
                     "see docs/variables.md for kiln_gpu.time_slicing")
            return
        replicas = slicing.get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 2):
            self.add(host, "kiln_gpu.time_slicing.replicas", "is %r, expected an integer of at least 2" % (replicas,),
                     "set replicas to how many pods share one GPU")
        per_profile = slicing.get("per_profile") or {}
        if not isinstance(per_profile, dict):
            self.add(host, "kiln_gpu.time_slicing.per_profile", "is %r, expected a mapping of MIG profile to replicas"
                     % (per_profile,), "e.g. per_profile: {1g.10gb: 2}")
            per_profile = {}
        used = set(p for name in per_gpu_layouts.values() for p in layouts.get(name, []))
        for profile, value in sorted(per_profile.items(), key=lambda kv: str(kv[0])):
            variable = "kiln_gpu.time_slicing.per_profile[%s]" % profile
            if profile not in used:
                self.add(host, variable, "profile %s is not in any MIG layout of this node" % profile,
                         "slice only profiles the node's MIG layout creates")
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                self.add(host, variable, "is %r, expected an integer of at least 2" % (value,),
                         "set how many pods share one MIG instance")
        if replicas is None and not per_profile:
            self.add(host, "kiln_gpu.time_slicing", "sets neither replicas nor per_profile", "set replicas: N")

    def check_mig_placement(self, host, model, per_gpu_layouts, layouts):
        """Every distinct layout on the node must be placeable on its GPU model."""
        if per_gpu_layouts:
            try:
                find_model(model)
            except MigPlanError as err:
                self.add(host, "kiln_gpu.model" if "has no MIG" not in err.message else "kiln_gpu.mig", err.message,
                         "remove kiln_gpu.mig (time_slicing shares a GPU without MIG)" if "has no MIG" in err.message
                         else "set model to the product name nvidia-smi prints (docs/variables.md, kiln_gpu)")
                return
        by_layout = {}
        for index, name in sorted(per_gpu_layouts.items()):
            by_layout.setdefault(name, []).append(index)
        for name, indices in sorted(by_layout.items()):
            try:
                plan_layout(model, layouts[name])
            except MigPlanError as err:
                self.add(host, "kiln_gpu.mig (layout %s on GPU %s)" % (name, ", ".join(str(i) for i in indices)),
                         "cannot be placed on %s: %s" % (model, err),
                         "change the layout in kiln_mig_layouts or choose another for this node")


def check_inventory(hosts, groups, supported_versions, pinned_chart_versions=None, refused=None):
    """Runs every check; returns the list of findings (empty when the inventory is good)."""
    return InventoryChecker(hosts, groups, supported_versions, pinned_chart_versions, refused).run()
