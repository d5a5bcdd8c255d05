output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig for the live parity check (cloud_sync_cloud_kubeconfig)."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name} --kubeconfig <file>"
}

output "releases" {
  description = "Installed platform release -> chart version."
  value       = module.platform.releases
}
