data "google_client_config" "this" {}

locals {
  endpoint = "https://${google_container_cluster.this.endpoint}"
  ca       = base64decode(google_container_cluster.this.master_auth[0].cluster_ca_certificate)
}

provider "kubernetes" {
  host                   = local.endpoint
  cluster_ca_certificate = local.ca
  token                  = data.google_client_config.this.access_token
}

provider "helm" {
  kubernetes = {
    host                   = local.endpoint
    cluster_ca_certificate = local.ca
    token                  = data.google_client_config.this.access_token
  }
}

module "platform" {
  source = "../modules/platform"

  charts            = var.charts
  values_dir        = var.values_dir
  gpu_operator      = var.gpu_operator
  security_baseline = var.security_baseline

  depends_on = [google_container_node_pool.this]
}
