output "cluster_name" {
  description = "GKE cluster name."
  value       = google_container_cluster.this.name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = local.endpoint
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig for the live parity check (cloud_sync_cloud_kubeconfig)."
  value       = "KUBECONFIG=<file> gcloud container clusters get-credentials ${google_container_cluster.this.name} --region ${var.region} --project ${var.project}"
}

output "storage_class" {
  description = "Default StorageClass (GKE's own, a declared difference from on premise)."
  value       = var.storage_class
}

output "releases" {
  description = "Installed platform release -> chart version."
  value       = module.platform.releases
}
