terraform {
  # S3 state locking with use_lockfile needs 1.10 (Terraform and OpenTofu).
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.20.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.0.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "2.38.0"
    }
  }
  # Bucket, key, region and DynamoDB table (or lockfile) come from the inventory:
  # init -backend-config=cloud-sync/generated/<environment>/backend.hcl
  backend "s3" {}
}
