data "aws_eks_cluster_auth" "this" {
  name = aws_eks_cluster.this.name
}

provider "kubernetes" {
  host                   = aws_eks_cluster.this.endpoint
  cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
  token                  = data.aws_eks_cluster_auth.this.token
}

provider "helm" {
  kubernetes = {
    host                   = aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

# The default StorageClass (a declared difference: on premise it is the site's).
resource "kubernetes_storage_class_v1" "default" {
  metadata {
    name        = var.storage_class
    annotations = { "storageclass.kubernetes.io/is-default-class" = "true" }
  }
  storage_provisioner    = "ebs.csi.aws.com"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  parameters = {
    type      = "gp3"
    encrypted = "true"
  }
  depends_on = [aws_eks_addon.ebs_csi]
}

module "platform" {
  source = "../modules/platform"

  charts            = var.charts
  values_dir        = var.values_dir
  gpu_operator      = var.gpu_operator
  security_baseline = var.security_baseline

  depends_on = [aws_eks_node_group.this, kubernetes_storage_class_v1.default]
}
