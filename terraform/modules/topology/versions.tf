terraform {
  # Cross-variable validation (edge mode vs region) needs Terraform 1.9.
  required_version = ">= 1.9"
}
