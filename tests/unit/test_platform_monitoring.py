"""Role monitoring rendered for real for inventories/onprem (controller only, no host contacted).

PromQL is checked two ways. Always: a small PromQL parser below (tokens, selectors with label matchers, range and
subquery brackets, offset, functions with their argument counts, aggregations with by/without, binary operators
with bool/on/ignoring/group_left/group_right and Prometheus' precedence); it proves every expression is well formed
and yields the metric names each one reads, which are then checked against what exists (DCGM's exporter fields,
kube-state-metrics, Istio, node-exporter textfiles Kiln writes, OpenBao, Kiln's own recording rules). It does not
check types (e.g. a range vector passed where an instant vector is due). With the bundle's promtool (Prometheus'
own, the release the chart runs), every rule group is checked as Prometheus loads it, and `promtool test rules`
fires alerts on series.
"""

import json
import os
import re
import subprocess

import pytest
import yaml

from crd_schema import shared_catalog
from platform_render import ONPREM, assert_refused_before_rendering, render

ROLE = "monitoring"
FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBkiln-test-ca\n-----END CERTIFICATE-----\n"

# dcgm-exporter's default field list as the GPU Operator runs it (dcp-metrics-included.csv), names only.
DCGM_DEFAULT_FIELDS = {
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_RETIRED_SBE", "DCGM_FI_DEV_RETIRED_DBE", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_DRIVER_VERSION",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES",
}
# Metrics other exporters provide (kube-state-metrics, Prometheus itself, Istio sidecars, OpenBao), and the
# node-exporter textfile metrics Kiln's node roles write.
OTHER_METRICS = {
    "up", "kube_node_status_condition", "kube_node_role",
    "istio_requests_total", "istio_request_duration_milliseconds_bucket",
    "vault_core_unsealed",
    "kiln_etcd_backup_last_success_timestamp_seconds", "kiln_certificate_expiry_timestamp_seconds",
    # The clock event reasons field under its pre-DCGM-3.3 name, read as a fallback.
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
}


# -- PromQL syntax check ----------------------------------------------------------------------------------------

_FUNCTIONS = {  # name: (min args, max args)
    "abs": (1, 1), "absent": (1, 1), "absent_over_time": (1, 1), "ceil": (1, 1), "changes": (1, 1),
    "clamp": (3, 3), "clamp_max": (2, 2), "clamp_min": (2, 2), "count_over_time": (1, 1), "delta": (1, 1),
    "deriv": (1, 1), "exp": (1, 1), "floor": (1, 1), "histogram_quantile": (2, 2), "idelta": (1, 1),
    "increase": (1, 1), "irate": (1, 1), "label_replace": (5, 5), "label_join": (3, 99), "ln": (1, 1),
    "max_over_time": (1, 1), "min_over_time": (1, 1), "avg_over_time": (1, 1), "sum_over_time": (1, 1),
    "quantile_over_time": (2, 2), "last_over_time": (1, 1), "rate": (1, 1), "resets": (1, 1), "round": (1, 2),
    "scalar": (1, 1), "sort": (1, 1), "sort_desc": (1, 1), "sqrt": (1, 1), "time": (0, 0), "timestamp": (1, 1),
    "vector": (1, 1),
}
_AGGREGATIONS = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
                 "count_values"}
_PARAMETER_AGGREGATIONS = {"topk", "bottomk", "quantile", "count_values"}
# Binary operators by precedence, lowest first; ^ is right-associative.
_PRECEDENCE = [("or",), ("and", "unless"), ("==", "!=", ">", "<", ">=", "<="), ("+", "-"),
               ("*", "/", "%", "atan2"), ("^",)]
_COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>[0-9]+(?:ms|s|m|h|d|w|y)(?:[0-9]+(?:ms|s|m|h|d|w|y))*(?![A-Za-z0-9_]))
  | (?P<number>(?:[0-9]*\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^<>=(){}\[\],:])
""", re.VERBOSE)


class PromQLError(Exception):
    pass


def _tokens(text):
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise PromQLError("unexpected character %r at %d" % (text[pos], pos))
        pos = match.end()
        if match.lastgroup != "space":
            out.append((match.lastgroup, match.group()))
    return out + [("end", "")]


class _Parser(object):
    """Recursive descent over PromQL's grammar; collects the metric names read."""

    def __init__(self, text):
        self.tokens, self.pos, self.metrics = _tokens(text), 0, set()

    def peek(self, value=None, kind=None):
        tok_kind, tok_value = self.tokens[self.pos]
        return (value is None or tok_value == value) and (kind is None or tok_kind == kind)

    def take(self, value=None, kind=None):
        if not self.peek(value, kind):
            raise PromQLError("expected %s, found %r" % (value or kind, self.tokens[self.pos][1] or "end"))
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self):
        self.expression(0)
        self.take(kind="end")
        return self.metrics

    def expression(self, level):
        if level == len(_PRECEDENCE):
            return self.unary()
        self.expression(level + 1)
        while self.tokens[self.pos][1] in _PRECEDENCE[level]:
            operator = self.take()
            if operator in _COMPARISONS and self.peek("bool"):
                self.take()
            self.matching()
            # ^ is right-associative: its right side may hold another ^.
            self.expression(level if operator == "^" else level + 1)

    def matching(self):
        if self.peek("on") or self.peek("ignoring"):
            self.take()
            self.labels()
            if self.peek("group_left") or self.peek("group_right"):
                self.take()
                if self.peek("("):
                    self.labels()

    def labels(self):
        self.take("(")
        while not self.peek(")"):
            self.take(kind="ident")
            if not self.peek(")"):
                self.take(",")
        self.take(")")

    def unary(self):
        if self.peek("-") or self.peek("+"):
            self.take()
        self.postfix()

    def postfix(self):
        self.primary()
        while True:
            if self.peek("["):
                self.take("[")
                self.take(kind="duration")
                if self.peek(":"):
                    self.take(":")
                    if self.peek(kind="duration"):
                        self.take()
                self.take("]")
            elif self.peek("offset"):
                self.take()
                if self.peek("-"):
                    self.take()
                self.take(kind="duration")
            else:
                return

    def primary(self):
        kind, value = self.tokens[self.pos]
        if value == "(":
            self.take("(")
            self.expression(0)
            self.take(")")
        elif kind in ("number", "string"):
            self.take()
        elif kind == "ident" and value in _AGGREGATIONS:
            self.aggregation()
        elif kind == "ident" and self.tokens[self.pos + 1][1] == "(":
            if value not in _FUNCTIONS:
                raise PromQLError("unknown function %s" % value)
            self.take()
            self.take("(")
            count = 0
            while not self.peek(")"):
                self.expression(0)
                count += 1
                if not self.peek(")"):
                    self.take(",")
            self.take(")")
            low, high = _FUNCTIONS[value]
            if not low <= count <= high:
                raise PromQLError("%s takes %d to %d arguments, not %d" % (value, low, high, count))
        elif kind == "ident" or value == "{":
            self.selector()
        else:
            raise PromQLError("unexpected %r" % (value or "end"))

    def aggregation(self):
        name = self.take()
        if self.peek("by") or self.peek("without"):
            self.take()
            self.labels()
        self.take("(")
        if name in _PARAMETER_AGGREGATIONS:
            self.expression(0)
            self.take(",")
        self.expression(0)
        self.take(")")
        if self.peek("by") or self.peek("without"):
            self.take()
            self.labels()

    def selector(self):
        named = self.peek(kind="ident")
        if named:
            self.metrics.add(self.take())
        if self.peek("{"):
            self.take("{")
            matchers = 0
            while not self.peek("}"):
                self.take(kind="ident")
                if self.tokens[self.pos][1] not in ("=", "!=", "=~", "!~"):
                    raise PromQLError("expected a label matcher operator, found %r" % self.tokens[self.pos][1])
                self.take()
                literal = self.take(kind="string")
                if self.tokens[self.pos - 2][1] in ("=~", "!~"):
                    re.compile(literal[1:-1].encode().decode("unicode_escape"))
                matchers += 1
                if not self.peek("}"):
                    self.take(",")
            self.take("}")
            if not named and matchers == 0:
                raise PromQLError("a selector needs a metric name or a label matcher")


def promql_metrics(expr):
    """The metric names expr reads; raises PromQLError when it is not well-formed PromQL."""
    return _Parser(expr).parse()


def test_the_promql_check_refuses_what_prometheus_refuses():
    assert promql_metrics('sum by (node) (rate(x_total{a=~"b|c"}[5m])) / 1000 > bool 2') == {"x_total"}
    assert promql_metrics("(a > on (node) b) or (a unless on (node) b)") == {"a", "b"}
    for bad in ("sum by (node (up)", "rate(up[5m]", 'up{job="x}', "up{job=x}", "nofunc(up)", "rate(up[5m], 1)",
                "up[5]", "a and", "{}", 'up{job=~"("}'):
        with pytest.raises((PromQLError, re.error)):
            promql_metrics(bad)


# -- the render --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("monitoring")
    ca = tmp_path / "ca.crt"
    ca.write_text(FAKE_CA)
    first = render(tmp_path, [ROLE], ONPREM, {"kiln_openbao_ca_cert": str(ca)}).ok()
    second = render(tmp_path, [ROLE], ONPREM, {"kiln_openbao_ca_cert": str(ca)}).ok()
    return first, second


def _named(result, kind):
    return dict((doc["metadata"]["name"], doc) for doc in result.by_kind(ROLE, kind))


def _rules(result):
    return [rule for doc in result.by_kind(ROLE, "PrometheusRule")
            for group in doc["spec"]["groups"] for rule in group["rules"]]


def _dashboard(result):
    (config_map,) = [d for d in result.by_kind(ROLE, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]]
    return config_map, json.loads(config_map["data"]["kiln-gpus.json"])


def _dcgm_fields(result):
    csv = _named(result, "ConfigMap")["kiln-dcgm-metrics"]["data"]["dcgm-metrics.csv"]
    return set(line.split(",")[0].strip() for line in csv.splitlines() if line and not line.startswith("#"))


def test_second_render_changes_nothing(rendered):
    assert rendered[0].changed > 0
    assert rendered[1].changed == 0


def test_every_custom_resource_is_valid_against_the_upstream_crds(rendered):
    catalog = shared_catalog()
    documents = [doc for _, doc in rendered[0].documents(ROLE)]
    kinds = set(doc["kind"] for doc in documents)
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds
    for doc in documents:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            assert catalog.knows(doc), doc["kind"]
        if catalog.knows(doc):
            assert catalog.errors(doc) == [], doc["metadata"]["name"]
    # Chart values are not applied: they live outside the role's render directory.
    values = rendered[0].render_dir / "values" / ROLE / "kube-prometheus-stack.yaml"
    assert values.exists() and not str(values).startswith(str(rendered[0].render_dir / ROLE))


def test_dcgm_exporter_is_scraped_as_the_gpu_operator_names_it(rendered):
    monitor = _named(rendered[0], "ServiceMonitor")["kiln-dcgm-exporter"]["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": ["gpu-operator"]}
    assert monitor["selector"] == {"matchLabels": {"app": "nvidia-dcgm-exporter"}}
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == "gpu-metrics" and endpoint["path"] == "/metrics"
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node",
            "action": "replace"} in endpoint["relabelings"]
    policy = _named(rendered[0], "NetworkPolicy")["kiln-allow-ingress-from-monitoring"]
    assert policy["metadata"]["namespace"] == "gpu-operator"
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9400}]


def test_dcgm_field_list_keeps_the_default_and_adds_what_the_alerts_need(rendered):
    fields = _dcgm_fields(rendered[0])
    assert DCGM_DEFAULT_FIELDS <= fields
    assert fields - DCGM_DEFAULT_FIELDS == {"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"}
    assert _named(rendered[0], "ConfigMap")["kiln-dcgm-metrics"]["metadata"]["namespace"] == "gpu-operator"


def test_the_gpu_operator_reads_the_field_list_and_leaves_scraping_to_kiln(tmp_path):
    # Rendered together, as playbooks/platform.yml runs them: dcgm-exporter is pointed at the ConfigMap this role
    # writes, in the namespace it writes it to, and the operator's own ServiceMonitor stays off (no double scrape).
    ca = tmp_path / "ca.crt"
    ca.write_text(FAKE_CA)
    result = render(tmp_path, ["gpu_operator", ROLE], ONPREM, {"kiln_openbao_ca_cert": str(ca)}).ok()
    with open(str(result.render_dir / "gpu-operator" / "values.yaml"), encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    config_map = _named(result, "ConfigMap")[values["dcgmExporter"]["config"]["name"]]
    assert config_map["metadata"]["namespace"] == "gpu-operator"
    assert "dcgm-metrics.csv" in config_map["data"]
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    assert "kiln-dcgm-exporter" in _named(result, "ServiceMonitor")


def test_openbao_on_the_hosts_is_scraped_over_tls_through_an_endpoint_slice(rendered):
    service = _named(rendered[0], "Service")["kiln-openbao"]
    assert "selector" not in service["spec"]
    (endpoints,) = rendered[0].by_kind(ROLE, "EndpointSlice")
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kiln-openbao"
    assert [(e["nodeName"], e["addresses"]) for e in endpoints["endpoints"]] == [
        ("cp1", ["10.20.0.11"]), ("cp2", ["10.20.0.12"]), ("cp3", ["10.20.0.13"])]
    assert endpoints["ports"] == [{"name": "https-metrics", "port": 8200, "protocol": "TCP"}]
    monitor = _named(rendered[0], "ServiceMonitor")["kiln-openbao"]["spec"]
    assert monitor["serviceDiscoveryRole"] == "EndpointSlice"
    assert set(monitor["selector"]["matchLabels"].items()) <= set(service["metadata"]["labels"].items())
    (endpoint,) = monitor["endpoints"]
    assert (endpoint["scheme"], endpoint["path"], endpoint["params"]) == (
        "https", "/v1/sys/metrics", {"format": ["prometheus"]})
    assert endpoint["tlsConfig"]["ca"]["configMap"] == {"name": "kiln-openbao-ca", "key": "ca.crt"}
    assert _named(rendered[0], "ConfigMap")["kiln-openbao-ca"]["data"]["ca.crt"] == FAKE_CA


def test_every_issue_alert_exists_and_reads_metrics_that_exist(rendered):
    rules = _rules(rendered[0])
    alerts = dict((rule["alert"], rule) for rule in rules if "alert" in rule)
    assert {"KilnGpuXidError", "KilnGpuDoubleBitEccError", "KilnGpuFallenOffTheBus", "KilnGpuMissing",
            "KilnGpuThermalThrottling", "KilnNodeNotReady", "KilnEtcdBackupTooOld", "KilnEtcdBackupMissing",
            "KilnCertificateExpiresSoon", "KilnOpenBaoSealed", "KilnInferenceLatencyP95High",
            "KilnInferenceErrorBudgetBurnFast", "KilnInferenceErrorBudgetBurnSlow"} <= set(alerts)
    recorded = set(rule["record"] for rule in rules if "record" in rule)
    known = _dcgm_fields(rendered[0]) | OTHER_METRICS | recorded
    for rule in rules:
        metrics = promql_metrics(rule["expr"])
        # Only the plan's constants read no metric.
        assert metrics or rule.get("record") == "kiln:node_gpus_expected:count", rule
        assert metrics <= known, (rule.get("alert") or rule.get("record"), metrics - known)
        assert rule.get("labels", {}).get("severity", "warning") in ("warning", "critical")
        for text in rule.get("annotations", {}).values():
            assert text.count("{{") == text.count("}}") and "[[" not in text, text
    assert alerts["KilnGpuFallenOffTheBus"]["expr"].endswith("== 79")
    assert "kiln_etcd_backup_last_success_timestamp_seconds) > 10800" in alerts["KilnEtcdBackupTooOld"]["expr"]
    assert "< 2592000" in alerts["KilnCertificateExpiresSoon"]["expr"]


def test_missing_gpus_are_measured_against_the_gpu_plan(rendered):
    expected = [rule for rule in _rules(rendered[0]) if rule.get("record") == "kiln:node_gpus_expected:count"]
    found = dict((rule["labels"]["node"], int(re.match(r"vector\((\d+)\)$", rule["expr"]).group(1)))
                 for rule in expected)
    assert found == {"hgx1": 8, "hgx2": 8, "hgx3": 8, "hgx4": 8, "a100a": 2, "a100b": 2}


def test_slo_rules_hold_the_platform_objectives(rendered):
    rules = _rules(rendered[0])
    records = dict((rule["record"], rule["expr"]) for rule in rules if "record" in rule)
    alerts = dict((rule["alert"], rule["expr"]) for rule in rules if "alert" in rule)
    p95 = records["kiln:inference_request_duration_seconds:p95_rate5m"]
    assert p95.startswith("histogram_quantile(0.95, ") and p95.endswith(" / 1000")
    assert 'destination_workload_namespace=~"dev|staging|prod"' in p95
    assert alerts["KilnInferenceLatencyP95High"].count("> 2") == 2
    errors = records["kiln:inference_request_errors:ratio_rate1h"]
    assert 'response_code=~"5.."' in errors and "[1h]" in errors
    # Error budget 0.1 %: fast burn at 14.4x (1h and 5m) and 6x (6h and 30m).
    ratio = "kiln:inference_request_errors:ratio_rate"
    assert alerts["KilnInferenceErrorBudgetBurnFast"] == (
        "(%s1h > 0.0144 and %s5m > 0.0144) or (%s6h > 0.006 and %s30m > 0.006)" % (ratio, ratio, ratio, ratio))


PROMTOOL = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")), "bundle",
                        "prometheus-v%s" % yaml.safe_load(open(os.path.join(
                            os.path.dirname(__file__), "..", "..", "roles", "kiln", "defaults", "main",
                            "versions.yml")))["kiln_prometheus_version"], "promtool")


def _promtool():
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("the bundle has no promtool (make bundle builds it); the PromQL check above still ran")
    return PROMTOOL


def _write_rules(result, path):
    groups = [group for doc in result.by_kind(ROLE, "PrometheusRule") for group in doc["spec"]["groups"]]
    with open(path, "w") as handle:
        yaml.safe_dump({"groups": groups}, handle)
    return groups


def test_promtool_accepts_every_rule_and_dashboard_expression(rendered, tmp_path):
    """Prometheus' own promtool (the bundle's build of the release the chart runs) checks every rule group as
    Prometheus loads it, and every dashboard query (as recording rules, so its parser reads them too)."""
    promtool = _promtool()
    rules = tmp_path / "rules.yaml"
    groups = _write_rules(rendered[0], str(rules))
    _, dashboard = _dashboard(rendered[0])
    queries = [t["expr"].replace("$node", ".*") for p in dashboard["panels"] for t in p["targets"]]
    panels = tmp_path / "dashboard-queries.yaml"
    with open(str(panels), "w") as handle:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
            {"record": "kiln:dashboard_query_%d" % i, "expr": q} for i, q in enumerate(queries)]}]}, handle)
    result = subprocess.run([promtool, "check", "rules", str(rules), str(panels)], capture_output=True, text=True)
    assert result.returncode == 0 and "FAILED" not in result.stdout + result.stderr, result.stdout + result.stderr
    count = sum(len(g["rules"]) for g in groups)
    assert "SUCCESS: %d rules found" % count in result.stdout, result.stdout
    assert "SUCCESS: %d rules found" % len(queries) in result.stdout, result.stdout


def test_promtool_unit_tests_fire_the_cluster_alerts_on_their_series(rendered, tmp_path):
    """promtool test rules: series as the exporters name them make each cluster alert fire for the node at
    fault only (an old etcd snapshot, a control-plane node without one, a NotReady node, a sealed OpenBao)."""
    promtool = _promtool()
    _write_rules(rendered[0], str(tmp_path / "rules.yaml"))
    alerts = {r["alert"]: r for r in _rules(rendered[0]) if "alert" in r}
    openbao_job = re.search(r'job="([^"]+)"', alerts["KilnOpenBaoSealed"]["expr"]).group(1)
    not_ready_for = alerts["KilnNodeNotReady"]["for"]
    minutes = lambda text: int(text[:-1]) * {"m": 1, "h": 60}[text[-1]]  # noqa: E731
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            # cp1's last snapshot is ten days old at the start; cp2 snapshots every minute; cp3 never did.
            {"series": 'kiln_etcd_backup_last_success_timestamp_seconds{node="cp1"}', "values": "-864000x90"},
            {"series": 'kiln_etcd_backup_last_success_timestamp_seconds{node="cp2"}', "values": "0+60x90"},
            {"series": 'kube_node_role{node="cp1", role="control-plane"}', "values": "1x90"},
            {"series": 'kube_node_role{node="cp2", role="control-plane"}', "values": "1x90"},
            {"series": 'kube_node_role{node="cp3", role="control-plane"}', "values": "1x90"},
            {"series": 'kube_node_status_condition{node="gpu1", condition="Ready", status="true"}', "values": "0x90"},
            {"series": 'kube_node_status_condition{node="gpu2", condition="Ready", status="true"}', "values": "1x90"},
            {"series": 'vault_core_unsealed{job="%s", node="cp1", instance="10.0.0.1:8200"}' % openbao_job,
             "values": "0x90"},
            {"series": 'vault_core_unsealed{job="%s", node="cp2", instance="10.0.0.2:8200"}' % openbao_job,
             "values": "1x90"},
        ],
        "alert_rule_test": [
            # The annotations as operators read them: Prometheus' templates filled in.
            {"eval_time": "5m", "alertname": "KilnEtcdBackupTooOld",
             "exp_alerts": [{"exp_labels": {"node": "cp1", "severity": "critical"},
                             "exp_annotations": {"summary": "etcd snapshot too old", "description": (
                                 "The last good etcd snapshot on cp1 is 10d 0h 5m 0s old: check "
                                 "kiln-etcd-snapshot.service there.")}}]},
            {"eval_time": "30m", "alertname": "KilnEtcdBackupMissing", "exp_alerts": []},
            {"eval_time": "61m", "alertname": "KilnEtcdBackupMissing",
             "exp_alerts": [{"exp_labels": {"node": "cp3", "severity": "warning"},
                             "exp_annotations": {"summary": "No etcd snapshot metric from a control-plane node",
                                                 "description": (
                                 "cp3 reports no kiln_etcd_backup_last_success_timestamp_seconds: no snapshot has "
                                 "succeeded there, or node-exporter does not read the textfile directory.")}}]},
            {"eval_time": "%dm" % (minutes(not_ready_for) + 1), "alertname": "KilnNodeNotReady",
             "exp_alerts": [{"exp_labels": {"node": "gpu1", "condition": "Ready", "status": "true",
                                            "severity": "critical"},
                             "exp_annotations": {"summary": "Kubernetes node not Ready",
                                                 "description": "Node gpu1 has not been Ready for a while."}}]},
            {"eval_time": "2m", "alertname": "KilnOpenBaoSealed",
             "exp_alerts": [{"exp_labels": {"job": openbao_job, "node": "cp1", "instance": "10.0.0.1:8200",
                                            "severity": "critical"},
                             "exp_annotations": {"summary": "OpenBao is sealed", "description": (
                                 "OpenBao on cp1 is sealed: platform secrets cannot be read there. Unseal it "
                                 "(playbooks/platform.yml --tags openbao).")}}]},
        ]}]}
    with open(str(tmp_path / "tests.yaml"), "w") as handle:
        yaml.safe_dump(tests, handle)
    result = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=str(tmp_path), capture_output=True,
                            text=True)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_gpu_dashboard_reads_only_the_exporter_default_fields(rendered):
    config_map, dashboard = _dashboard(rendered[0])
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    titles = [panel["title"] for panel in dashboard["panels"]]
    for wanted in ("GPU utilisation", "Framebuffer memory used", "GPU temperature", "Power draw",
                   "MIG instances per profile per node"):
        assert wanted in titles
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            metrics = promql_metrics(target["expr"].replace("$node", ".*"))
            assert metrics and metrics <= DCGM_DEFAULT_FIELDS, (panel["title"], metrics)
            assert "[[" not in target["legendFormat"]
    mig = [p for p in dashboard["panels"] if p["title"] == "MIG instances per profile per node"][0]
    assert mig["targets"][0]["expr"].startswith("count by (node, GPU_I_PROFILE) ")
    assert len(set(panel["id"] for panel in dashboard["panels"])) == len(titles)


def test_chart_values_reference_the_grafana_secret_and_kiln_textfiles(rendered):
    with open(str(rendered[0].render_dir / "values" / ROLE / "kube-prometheus-stack.yaml")) as handle:
        values = yaml.safe_load(handle)
    assert values["grafana"]["admin"] == {"existingSecret": "kiln-grafana-admin", "userKey": "admin-user",
                                          "passwordKey": "admin-password"}
    assert "adminPassword" not in values["grafana"]
    assert values["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    assert "--collector.textfile.directory=/host/root/var/lib/kiln/node-exporter" in \
        values["prometheus-node-exporter"]["extraArgs"]
    assert values["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False


def test_chart_install_is_reported_as_skipped(rendered):
    messages = [r.get("msg") for r in rendered[0].tasks().values() if isinstance(r.get("msg"), list)]
    (skip,) = [m for m in messages if m[0].startswith("kube-prometheus-stack install skipped")]
    assert "kube-prometheus-stack 77.0.0" in skip[1]
    assert "values/monitoring/kube-prometheus-stack.yaml" in skip[1]
    assert "kiln_chart_repository_url" in skip[2]


@pytest.mark.parametrize("variables,expected", [
    ({"monitoring_slo_error_ratio": 5}, "monitoring_slo_error_ratio (5) a ratio between 0 and 1"),
    ({"monitoring_certificate_critical_days": 40}, "monitoring_certificate_critical_days (40)"),
])
def test_bad_input_is_refused_before_anything_is_rendered(tmp_path, variables, expected):
    assert_refused_before_rendering(tmp_path, ROLE, variables, expected)


def test_check_mode_writes_nothing(tmp_path):
    result = render(tmp_path, [ROLE], ONPREM, None, "--check").ok()
    assert not os.path.exists(str(result.render_dir))
