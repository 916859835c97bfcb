variable "environment" {
  type        = string
  description = "Name of the environment; used in resource names and tags."
}

variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "allowed_cidrs" {
  type        = list(string)
  default     = []
  description = "CIDR blocks allowed to reach the web server on port 443."
}
