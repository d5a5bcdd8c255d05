output "releases" {
  description = "Installed release -> chart version."
  value       = { for name, release in helm_release.component : name => release.version }
}
