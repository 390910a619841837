terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State: give a backend at `terraform init` (docs/deploy.md), e.g.
  #   terraform init -backend-config="bucket=my-tf-state" -backend-config="key=dispatch/prod.tfstate"
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first az_count zones are used (local.azs), so a zone AWS adds later does not change the subnets
  state = "available"
}

locals {
  prefix     = "${var.name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  ssm_prefix = "/${var.name}/${var.environment}"
  api_domain = var.api_domain_name != "" ? var.api_domain_name : "api.${var.inbox_domain}"
  https      = var.acm_certificate_arn != "" || var.route53_zone_id != ""
  api_url    = local.https ? "https://${local.api_domain}" : "http://${aws_lb.api.dns_name}"
}
