output "mx_record" {
  description = "The MX record to give the inbox domain (made already when route53_zone_id is set)."
  value       = "${var.inbox_domain}. MX ${local.mx_record}"
}

output "ses_dkim_records" {
  description = "CNAME records that verify the inbox domain with SES and sign its mail (Easy DKIM); made already when route53_zone_id is set."
  value = [
    for token in aws_sesv2_email_identity.inbox_domain.dkim_signing_attributes[0].tokens :
    "${token}._domainkey.${var.inbox_domain}. CNAME ${token}.dkim.amazonses.com"
  ]
}

output "api_url" {
  description = "Where the API answers (HTTPS when a certificate is in place)."
  value       = local.api_url
}

output "alb_dns_name" {
  description = "DNS name of the API load balancer (point the API's host name at it when Route53 is not managed here)."
  value       = aws_lb.api.dns_name
}

output "smtp_dns_name" {
  description = "DNS name of the SMTP load balancer (port 25), when enable_smtp is true; empty otherwise."
  value       = try(aws_lb.smtp[0].dns_name, "")
}

output "sns_subscription_url" {
  description = "The HTTPS endpoint to subscribe to both SNS topics once the API runs (the server confirms the subscription itself)."
  value       = "${local.api_url}/v1/webhooks/sns"
}

output "sns_topic_arns" {
  description = "SES's inbound notifications and outbound feedback topics (DISPATCH_SNS_TOPIC_ARNS)."
  value = {
    inbound           = aws_sns_topic.inbound.arn
    outbound_feedback = aws_sns_topic.outbound_feedback.arn
  }
}

output "ecr_repository_url" {
  description = "The image repository the deploy workflow pushes to."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "The ECS cluster of the api, worker and smtp services."
  value       = aws_ecs_cluster.main.name
}

output "ecs_services" {
  description = "The ECS services the deploy workflow rolls."
  value       = [for service in aws_ecs_service.app : service.name]
}

output "task_subnet_ids" {
  description = "Subnets for one-off tasks (the migration), as the services use."
  value       = aws_subnet.public[*].id
}

output "task_security_group_id" {
  description = "Security group for one-off tasks (the migration), as the services use."
  value       = aws_security_group.tasks.id
}

output "ssm_prefix" {
  description = "SSM path of the runtime settings and secrets; set the secrets' real values here."
  value       = local.ssm_prefix
}

output "inbound_bucket" {
  description = "The bucket SES stores raw inbound mail in."
  value       = aws_s3_bucket.mail.id
}

output "inbound_queue_url" {
  description = "The queue the worker reads."
  value       = aws_sqs_queue.inbound.id
}

output "database_endpoint" {
  description = "The RDS endpoint (host:port), reachable from the tasks only."
  value       = aws_db_instance.main.endpoint
}

output "deploy_role_arn" {
  description = "The role the GitHub workflows assume through OIDC (empty without github_repository)."
  value       = try(aws_iam_role.deploy[0].arn, "")
}

output "receipt_rule_set" {
  description = "The SES receipt rule set; activate it yourself when activate_receipt_rule_set is false."
  value       = aws_ses_receipt_rule_set.inbound.rule_set_name
}
