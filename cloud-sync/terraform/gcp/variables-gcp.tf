# GKE only; the declarations both clouds share are in ../common/variables.tf.

variable "project" {
  description = "Google Cloud project."
  type        = string
}
