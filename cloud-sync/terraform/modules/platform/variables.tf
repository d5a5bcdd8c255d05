# The platform layer of the cloud copy: the same charts, versions and values as on premise, the same GPU Operator
# ConfigMaps and the same security baseline. Inputs come from the root module's variables, which Kiln renders.

variable "charts" {
  description = "Component -> chart, pinned version, repository, namespace and values file (relative to values_dir)."
  type = map(object({
    chart       = string
    version     = string
    repository  = string
    namespace   = string
    values_file = string
  }))
}

variable "values_dir" {
  description = "Directory of the Kiln-rendered values files."
  type        = string
}

variable "gpu_operator" {
  description = "GPU Operator configuration from the on-prem GPU plan (configs as JSON text)."
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
  description = "Pod Security level and environments, default-deny network policies."
  type = object({
    pod_security_standard         = string
    environments                  = list(string)
    default_deny_network_policies = bool
    secrets_encryption_at_rest    = bool
    audit_logging                 = bool
    private_api_endpoint          = bool
  })
}
