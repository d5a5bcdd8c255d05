terraform {
  required_version = ">= 1.10.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "7.24.0"
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
  # Bucket and prefix come from the inventory (GCS locks the state itself):
  # init -backend-config=cloud-sync/generated/<environment>/backend.hcl
  backend "gcs" {}
}
