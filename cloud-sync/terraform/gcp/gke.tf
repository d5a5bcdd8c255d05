# Secrets encryption at rest, as on premise (security baseline).
resource "google_kms_key_ring" "this" {
  count    = var.security_baseline.secrets_encryption_at_rest ? 1 : 0
  name     = var.cluster_name
  location = var.region
}

resource "google_kms_crypto_key" "secrets" {
  count           = var.security_baseline.secrets_encryption_at_rest ? 1 : 0
  name            = "${var.cluster_name}-secrets"
  key_ring        = google_kms_key_ring.this[0].id
  rotation_period = "7776000s"
}

resource "google_container_cluster" "this" {
  name     = var.cluster_name
  location = var.region
  # The on-prem minor, pinned: no release channel moves it.
  min_master_version = var.kubernetes_version
  release_channel {
    channel = "UNSPECIFIED"
  }
  node_locations           = var.network.zones
  network                  = google_compute_network.this.id
  subnetwork               = google_compute_subnetwork.nodes.id
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true
  resource_labels          = { for key, value in var.tags : replace(lower(key), "/[^a-z0-9_-]/", "_") => lower(value) }

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = var.security_baseline.private_api_endpoint
  }

  dynamic "database_encryption" {
    for_each = google_kms_crypto_key.secrets
    content {
      state    = "ENCRYPTED"
      key_name = database_encryption.value.id
    }
  }

  logging_config {
    enable_components = var.security_baseline.audit_logging ? ["SYSTEM_COMPONENTS", "APISERVER", "WORKLOADS"] : ["SYSTEM_COMPONENTS"]
  }
}

locals {
  taint_effects = {
    NoSchedule       = "NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
  }
  # GKE's own device plugin stays off GPU nodes: the GPU Operator runs it, with Kiln's configs, as on premise.
  gpu_node_labels = { "gke-no-default-nvidia-gpu-device-plugin" = "true" }
}

# One node pool per on-prem worker group. GPU pools run Ubuntu without GKE's driver installer: the GPU Operator
# installs driver and toolkit as it does on premise, so both sides share one GPU Operator configuration.
resource "google_container_node_pool" "this" {
  for_each = var.node_groups

  name       = each.key
  cluster    = google_container_cluster.this.id
  location   = var.region
  node_count = each.value.node_count

  node_config {
    machine_type = each.value.instance_type
    image_type   = "UBUNTU_CONTAINERD"
    disk_size_gb = each.value.disk_size_gb
    labels       = merge(each.value.labels, each.value.role == "gpu" ? local.gpu_node_labels : {})
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]

    dynamic "taint" {
      for_each = each.value.taints
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = local.taint_effects[taint.value.effect]
      }
    }

    dynamic "guest_accelerator" {
      for_each = each.value.role == "gpu" ? [each.value] : []
      content {
        type  = guest_accelerator.value.accelerator_type
        count = guest_accelerator.value.gpu_count
        gpu_driver_installation_config {
          gpu_driver_version = "INSTALLATION_DISABLED"
        }
      }
    }
  }
}
