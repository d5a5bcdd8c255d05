locals {
  managed_by = { "app.kubernetes.io/managed-by" = "kiln" }
  # Platform namespaces (charts), and one namespace per environment under the Pod Security baseline.
  chart_namespaces = toset([for chart in values(var.charts) : chart.namespace])
  environments     = toset(var.security_baseline.environments)
}

resource "kubernetes_namespace_v1" "platform" {
  for_each = local.chart_namespaces
  metadata {
    name   = each.value
    labels = local.managed_by
  }
}

resource "kubernetes_namespace_v1" "environment" {
  for_each = local.environments
  metadata {
    name = each.value
    labels = merge(local.managed_by, {
      "pod-security.kubernetes.io/enforce" = var.security_baseline.pod_security_standard
      "pod-security.kubernetes.io/audit"   = var.security_baseline.pod_security_standard
      "pod-security.kubernetes.io/warn"    = var.security_baseline.pod_security_standard
    })
  }
}

resource "kubernetes_network_policy_v1" "default_deny" {
  for_each = var.security_baseline.default_deny_network_policies ? local.environments : toset([])
  metadata {
    name      = "default-deny"
    namespace = kubernetes_namespace_v1.environment[each.value].metadata[0].name
  }
  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]
  }
}

# The MIG manager and the device plugin read their named configs from these; the chart does not create them
# (the values say so), exactly as on premise.
resource "kubernetes_config_map_v1" "mig_parted" {
  metadata {
    name      = var.gpu_operator.mig_config_name
    namespace = kubernetes_namespace_v1.platform[var.gpu_operator.namespace].metadata[0].name
    labels    = local.managed_by
  }
  data = {
    "config.yaml" = yamlencode(jsondecode(var.gpu_operator.mig_parted_config))
  }
}

resource "kubernetes_config_map_v1" "time_slicing" {
  metadata {
    name      = var.gpu_operator.time_slicing_config_name
    namespace = kubernetes_namespace_v1.platform[var.gpu_operator.namespace].metadata[0].name
    labels    = local.managed_by
  }
  data = { for name, config in var.gpu_operator.time_slicing_configs : name => yamlencode(jsondecode(config)) }
}

resource "helm_release" "component" {
  for_each = var.charts

  name             = each.key
  chart            = each.value.chart
  version          = each.value.version
  repository       = each.value.repository
  namespace        = kubernetes_namespace_v1.platform[each.value.namespace].metadata[0].name
  create_namespace = false
  values           = [file("${var.values_dir}/${each.value.values_file}")]
  atomic           = true
  timeout          = 900

  depends_on = [kubernetes_config_map_v1.mig_parted, kubernetes_config_map_v1.time_slicing]
}
