# A template that needs no cloud account and no provider download:
# terraform_data is built into OpenTofu (>= 1.6). Use it to try provisioner
# end to end, or as the skeleton of a new template.

terraform {
  required_version = ">= 1.6.0"
}

variable "greeting" {
  type        = string
  default     = "hello"
  description = "Echoed back as an output, to show that variables arrive."
}

variable "instances" {
  type        = number
  default     = 2
  description = "How many placeholder resources to create."
}

resource "terraform_data" "environment" {
  input = {
    greeting = var.greeting
  }
}

resource "terraform_data" "instance" {
  count = var.instances
  input = "instance-${count.index}"
}

output "greeting" {
  value = terraform_data.environment.output.greeting
}

output "instance_ids" {
  value = terraform_data.instance[*].id
}
