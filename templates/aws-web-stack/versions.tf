terraform {
  required_version = ">= 1.6.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
  # State stays in S3, so that a destroyed-and-redeployed environment keeps one
  # history and several daemons never share a local state file. Fill the
  # settings per workspace through `backend_config` in the provisioner config.
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      ManagedBy   = "provisioner"
      Environment = var.environment
    }
  }
}
