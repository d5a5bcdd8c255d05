# The variables both clouds declare (aws/ and gcp/ link this file as their variables.tf). Kiln renders their
# values into cloud-sync/generated/<environment>/terraform.tfvars.json from the inventory (playbooks/cloud-sync.yml);
# tests/unit/test_cloud_sync_tfvars.py checks that file against these declarations.

variable "environment" {
  description = "Name of the cloud environment (cloud_sync_environments.<target>.name)."
  type        = string
}

variable "cluster_name" {
  description = "Name of the cloud cluster."
  type        = string
}

variable "region" {
  description = "Cloud region."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version, the on-prem cluster's (X.Y)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.36."
  }
}

variable "network" {
  description = "Network CIDR and the zones the subnets span."
  type = object({
    cidr  = string
    zones = list(string)
  })
}

variable "node_groups" {
  description = "Node groups mirroring the on-prem worker groups (GPU instance types from cloud-sync/gpu-instance-map.yml)."
  type = map(object({
    role             = string
    instance_type    = string
    node_count       = number
    gpu_model        = string
    gpu_count        = number
    accelerator_type = string
    labels           = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
    disk_size_gb = number
    mig_layouts  = map(list(string))
  }))
  validation {
    condition     = alltrue([for group in values(var.node_groups) : group.instance_type != ""])
    error_message = "A node group's GPU model maps to no instance type in cloud-sync/gpu-instance-map.yml; see parity.json."
  }
}

variable "charts" {
  description = "Platform charts at the on-prem pinned versions."
  type = map(object({
    chart       = string
    version     = string
    repository  = string
    namespace   = string
    values_file = string
  }))
}

variable "values_dir" {
  description = "Directory of the rendered values files."
  type        = string
}

variable "gpu_operator" {
  description = "GPU Operator configuration from the on-prem GPU plan."
  type = object({
    namespace                   = string
    mig_strategy                = string
    mig_config_name             = string
    mig_parted_config           = string
    mig_default_config          = string
    time_slicing_config_name    = string
    time_slicing_configs        = map(string)
    time_slicing_default_config = string
  })
}

variable "security_baseline" {
  description = "The on-prem security baseline."
  type = object({
    pod_security_standard         = string
    environments                  = list(string)
    default_deny_network_policies = bool
    secrets_encryption_at_rest    = bool
    audit_logging                 = bool
    private_api_endpoint          = bool
  })
}

variable "storage_class" {
  description = "Default StorageClass of the cloud cluster (a declared difference from on premise)."
  type        = string
}

variable "load_balancer_type" {
  description = "Load balancer type of Services of type LoadBalancer (a declared difference from on premise)."
  type        = string
}

variable "tags" {
  description = "Tags or labels put on every cloud resource."
  type        = map(string)
  default     = {}
}
