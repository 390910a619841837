# Mail in:  SES receipt rule -> S3 (raw mail) -> S3 event notification -> SQS -> worker
# Mail out: SES (domain identity, configuration set) -> SNS outbound feedback -> /v1/webhooks/sns

locals {
  mail_bucket     = "${local.prefix}-inbound-mail-${local.account_id}"
  logs_bucket     = "${local.prefix}-logs-${local.account_id}"
  inbound_prefix  = "inbound/"
  receipt_ruleset = "${local.prefix}-inbound"
}

# --- the raw mail bucket -----------------------------------------------------------------

resource "aws_s3_bucket" "mail" {
  #checkov:skip=CKV_AWS_144:raw mail is transient (expired after raw_mail_expiration_days); the database holds the copy that matters and is backed up
  #checkov:skip=CKV_AWS_145:SSE-S3, as SES's S3 action writes without a KMS grant; the objects live a few days
  bucket = local.mail_bucket
}

resource "aws_s3_bucket_versioning" "mail" {
  bucket = aws_s3_bucket.mail.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "mail" {
  bucket = aws_s3_bucket.mail.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "mail" {
  bucket                  = aws_s3_bucket.mail.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "mail" {
  bucket = aws_s3_bucket.mail.id

  rule {
    id     = "expire-raw-mail"
    status = "Enabled"

    filter {}

    expiration {
      days = var.raw_mail_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "mail" {
  bucket        = aws_s3_bucket.mail.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.mail_bucket}/"
}

data "aws_iam_policy_document" "mail_bucket" {
  statement {
    sid       = "AllowSESPuts"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.mail.arn}/${local.inbound_prefix}*"]

    principals {
      type        = "Service"
      identifiers = ["ses.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "AWS:SourceArn"
      values   = ["arn:${local.partition}:ses:${var.aws_region}:${local.account_id}:receipt-rule-set/${local.receipt_ruleset}:receipt-rule/*"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.mail.arn, "${aws_s3_bucket.mail.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "mail" {
  bucket = aws_s3_bucket.mail.id
  policy = data.aws_iam_policy_document.mail_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.mail]
}

resource "aws_s3_bucket_notification" "mail" {
  bucket = aws_s3_bucket.mail.id

  queue {
    queue_arn     = aws_sqs_queue.inbound.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = local.inbound_prefix
  }

  depends_on = [aws_sqs_queue_policy.inbound]
}

# --- the queue the worker reads, and its dead-letter queue --------------------------------

resource "aws_sqs_queue" "inbound_dlq" {
  name                      = "${local.prefix}-inbound-dlq"
  message_retention_seconds = 1209600 # 14 days, the longest
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "inbound" {
  name                      = "${local.prefix}-inbound"
  message_retention_seconds = 1209600
  receive_wait_time_seconds = 20
  # the worker sets each receive's visibility itself (DISPATCH_WORKER_VISIBILITY_SECONDS)
  visibility_timeout_seconds = 300
  kms_master_key_id          = aws_kms_key.main.arn

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.inbound_dlq.arn
    maxReceiveCount     = var.worker_max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "inbound_dlq" {
  queue_url = aws_sqs_queue.inbound_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.inbound.arn]
  })
}

data "aws_iam_policy_document" "inbound_queue" {
  statement {
    sid       = "S3SendsInboundNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.inbound.arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.mail.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "inbound" {
  queue_url = aws_sqs_queue.inbound.id
  policy    = data.aws_iam_policy_document.inbound_queue.json
}

# --- SNS: SES's inbound notifications, and outbound feedback (bounces, complaints, ...) ---

resource "aws_sns_topic" "inbound" {
  name              = "${local.prefix}-ses-inbound"
  kms_master_key_id = aws_kms_key.main.id
}

resource "aws_sns_topic" "outbound_feedback" {
  name              = "${local.prefix}-ses-feedback"
  kms_master_key_id = aws_kms_key.main.id
}

data "aws_iam_policy_document" "ses_publishes" {
  for_each = {
    inbound           = aws_sns_topic.inbound.arn
    outbound_feedback = aws_sns_topic.outbound_feedback.arn
  }

  statement {
    sid       = "SESPublishes"
    actions   = ["sns:Publish"]
    resources = [each.value]

    principals {
      type        = "Service"
      identifiers = ["ses.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "inbound" {
  arn    = aws_sns_topic.inbound.arn
  policy = data.aws_iam_policy_document.ses_publishes["inbound"].json
}

resource "aws_sns_topic_policy" "outbound_feedback" {
  arn    = aws_sns_topic.outbound_feedback.arn
  policy = data.aws_iam_policy_document.ses_publishes["outbound_feedback"].json
}

# --- SES: the domain, the receipt rule, the configuration set for sending -----------------

resource "aws_sesv2_email_identity" "inbox_domain" {
  email_identity         = var.inbox_domain
  configuration_set_name = aws_sesv2_configuration_set.main.configuration_set_name
}

resource "aws_sesv2_configuration_set" "main" {
  configuration_set_name = local.prefix

  delivery_options {
    tls_policy = "REQUIRE"
  }

  reputation_options {
    reputation_metrics_enabled = true
  }
}

resource "aws_sesv2_configuration_set_event_destination" "feedback" {
  configuration_set_name = aws_sesv2_configuration_set.main.configuration_set_name
  event_destination_name = "feedback-to-sns"

  event_destination {
    enabled              = true
    matching_event_types = ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY"]

    sns_destination {
      topic_arn = aws_sns_topic.outbound_feedback.arn
    }
  }
}

resource "aws_ses_receipt_rule_set" "inbound" {
  rule_set_name = local.receipt_ruleset
}

resource "aws_ses_receipt_rule" "store" {
  name          = "store-in-s3"
  rule_set_name = aws_ses_receipt_rule_set.inbound.rule_set_name
  recipients    = [var.inbox_domain]
  enabled       = true
  scan_enabled  = true
  tls_policy    = "Optional"

  s3_action {
    position          = 1
    bucket_name       = aws_s3_bucket.mail.id
    object_key_prefix = local.inbound_prefix
    topic_arn         = aws_sns_topic.inbound.arn
  }

  depends_on = [aws_s3_bucket_policy.mail, aws_sns_topic_policy.inbound]
}

# An account has one active receipt rule set per region: this replaces any other.
resource "aws_ses_active_receipt_rule_set" "inbound" {
  count         = var.activate_receipt_rule_set ? 1 : 0
  rule_set_name = aws_ses_receipt_rule_set.inbound.rule_set_name
}

# --- DNS for the inbox domain, when the zone is managed here -------------------------------

resource "aws_route53_record" "mx" {
  count   = var.route53_zone_id != "" ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.inbox_domain
  type    = "MX"
  ttl     = 300
  records = [local.mx_record]
}

resource "aws_route53_record" "dkim" {
  count   = var.route53_zone_id != "" ? 3 : 0
  zone_id = var.route53_zone_id
  name    = "${aws_sesv2_email_identity.inbox_domain.dkim_signing_attributes[0].tokens[count.index]}._domainkey.${var.inbox_domain}"
  type    = "CNAME"
  ttl     = 300
  records = ["${aws_sesv2_email_identity.inbox_domain.dkim_signing_attributes[0].tokens[count.index]}.dkim.amazonses.com"]
}

locals {
  mx_record = var.enable_smtp ? "10 ${try(aws_lb.smtp[0].dns_name, "")}" : "10 inbound-smtp.${var.aws_region}.amazonaws.com"
}

# --- the bucket of access logs (ALB, NLB, the mail bucket) -------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:this is the access-log bucket; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:access logs, kept for the log retention only; no replica needed
  #checkov:skip=CKV_AWS_145:ELB access logs can only be written to SSE-S3 buckets
  #checkov:skip=CKV2_AWS_62:nothing reacts to new log objects
  bucket = local.logs_bucket
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "LoadBalancersWriteAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*", "${aws_s3_bucket.logs.arn}/nlb/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "LogDeliveryWrites"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com", "logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "LogDeliveryReadsAcl"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.logs.arn]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
