# Runtime configuration in SSM Parameter Store under /NAME/ENVIRONMENT/, read by the tasks
# through their task definitions' `secrets` (the execution role may read only this path).
# Secrets get a value at creation and are then left alone: operators set the real ones out of
# band (`aws ssm put-parameter --overwrite`, docs/deploy.md) without Terraform undoing it.

resource "random_password" "jwt" {
  length  = 64
  special = false
}

resource "random_password" "ops_token" {
  length  = 40
  special = false
}

locals {
  secret_names = ["DATABASE_URL", "JWT_SECRET_KEY", "DISPATCH_OPS_TOKEN", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]
  secrets = {
    DATABASE_URL          = "postgresql://dispatch:${random_password.database.result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/dispatch"
    JWT_SECRET_KEY        = random_password.jwt.result
    DISPATCH_OPS_TOKEN    = random_password.ops_token.result
    STRIPE_SECRET_KEY     = "unset"
    STRIPE_WEBHOOK_SECRET = "unset"
  }
  # Derived from the infrastructure: Terraform keeps these up to date.
  config = {
    DISPATCH_INBOX_DOMAIN          = var.inbox_domain
    DISPATCH_SMTP_HOSTNAME         = "mx.${var.inbox_domain}"
    DISPATCH_AWS_REGION            = var.aws_region
    DISPATCH_SES_REGION            = var.aws_region
    DISPATCH_SES_CONFIGURATION_SET = aws_sesv2_configuration_set.main.configuration_set_name
    DISPATCH_SES_INBOUND_S3_BUCKET = aws_s3_bucket.mail.id
    DISPATCH_SQS_QUEUE_URL         = aws_sqs_queue.inbound.id
    DISPATCH_SQS_DLQ_URL           = aws_sqs_queue.inbound_dlq.id
    DISPATCH_SNS_TOPIC_ARNS        = "${aws_sns_topic.inbound.arn},${aws_sns_topic.outbound_feedback.arn}"
    DISPATCH_TRUSTED_PROXIES       = var.vpc_cidr
    DISPATCH_WORKER_MAX_ATTEMPTS   = tostring(var.worker_max_attempts)
    DISPATCH_BILLING_SUCCESS_URL   = "${local.api_url}/console?checkout=success"
    DISPATCH_BILLING_CANCEL_URL    = "${local.api_url}/console?checkout=cancelled"
  }
}

resource "aws_ssm_parameter" "secret" {
  for_each    = toset(local.secret_names)
  name        = "${local.ssm_prefix}/${each.key}"
  description = "Dispatch secret ${each.key} (set out of band; Terraform ignores later changes)"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = local.secrets[each.key]

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "config" {
  for_each    = local.config
  name        = "${local.ssm_prefix}/${each.key}"
  description = "Dispatch setting ${each.key} (kept by Terraform)"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = each.value
}
