output "ids" {
  description = "Secret id -> full resource id (projects/<p>/secrets/<id>)."
  value       = { for k, s in google_secret_manager_secret.main : k => s.id }
}

output "names" {
  description = "Secret ids, for env var references in Cloud Run."
  value       = { for k, s in google_secret_manager_secret.main : k => s.secret_id }
}
