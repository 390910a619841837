variable "name" {
  description = "Name of the deployment, the first part of every resource name and of the SSM path (/NAME/ENVIRONMENT/...)."
  type        = string
  default     = "dispatch"
}

variable "environment" {
  description = "Environment name (prod, staging, ...), the second part of every resource name."
  type        = string
  default     = "prod"
}

variable "aws_region" {
  description = "AWS region of the whole stack; SES must receive mail there (us-east-1, us-west-2, eu-west-1, ...)."
  type        = string
  default     = "us-east-1"
}

variable "inbox_domain" {
  description = "The domain inbox addresses live under (DISPATCH_INBOX_DOMAIN); its MX record points at SES or at the SMTP service."
  type        = string
}

variable "api_domain_name" {
  description = "Host name of the API (empty: api.INBOX_DOMAIN). Used for the certificate and the Route53 record."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route53 hosted zone of the domains (empty: no DNS records are made, create them yourself from the outputs). With it and no acm_certificate_arn, a DNS-validated ACM certificate is made."
  type        = string
  default     = ""
}

variable "acm_certificate_arn" {
  description = "An existing ACM certificate for the API's host name (empty: one is made when route53_zone_id is set; with neither, the ALB serves plain HTTP only)."
  type        = string
  default     = ""
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; public and database subnets are carved out of it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread subnets over (at least 2: the ALB and RDS need two)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "enable_smtp" {
  description = "Run the SMTP listener (dispatch-server smtp) behind a Network Load Balancer on port 25, for mail straight to Dispatch instead of through SES."
  type        = bool
  default     = false
}

variable "api_desired_count" {
  description = "API tasks (dispatch-server serve) to keep running."
  type        = number
  default     = 2
}

variable "worker_desired_count" {
  description = "Worker tasks (dispatch-server worker) to keep running; they share the queue."
  type        = number
  default     = 1
}

variable "smtp_desired_count" {
  description = "SMTP listener tasks to keep running when enable_smtp is true."
  type        = number
  default     = 2
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL major version of the RDS instance."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Upper bound of RDS storage autoscaling in GiB."
  type        = number
  default     = 100
}

variable "db_backup_retention_days" {
  description = "Days RDS keeps automated backups (point-in-time restore window)."
  type        = number
  default     = 14
}

variable "db_multi_az" {
  description = "Run RDS with a standby in a second availability zone (about twice the database cost)."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (set false only to tear the stack down)."
  type        = bool
  default     = true
}

variable "raw_mail_expiration_days" {
  description = "Days raw inbound mail stays in the S3 bucket; Dispatch keeps its own copy once the worker stored it."
  type        = number
  default     = 7
}

variable "worker_max_attempts" {
  description = "Receives before an inbound message goes to the dead-letter queue: the queue's maxReceiveCount and the worker's DISPATCH_WORKER_MAX_ATTEMPTS."
  type        = number
  default     = 8
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the services' logs and the VPC flow logs."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Email address subscribed to the alarms topic (empty: subscribe something yourself)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may deploy (an OIDC role is made for it; empty: none)."
  type        = string
  default     = ""
}

variable "activate_receipt_rule_set" {
  description = "Make this stack's SES receipt rule set the active one of the region (an account has one: this replaces any other). Set false to activate it yourself."
  type        = bool
  default     = true
}
