# The API's Application Load Balancer (HTTP -> HTTPS when there is a certificate), the
# optional ACM certificate and Route53 record, and the SMTP service's Network Load Balancer.

resource "aws_lb" "api" {
  #checkov:skip=CKV2_AWS_28:no WAF by default (cost); every route is authenticated by API keys or tokens and rate limited by the app (docs/rate-limits.md). Attach a web ACL to this ALB to add one
  name                       = "${local.prefix}-api"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  # /wait long polls last up to DISPATCH_WAIT_MAX_SECONDS (60) and event streams longer
  idle_timeout = 120

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; it reaches the tasks over HTTP inside the VPC, where only its security group may connect
  name                 = "${local.prefix}-api"
  port                 = 8080
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:this listener only redirects to HTTPS; it forwards plain HTTP only when the operator gave neither a certificate nor a zone
  #checkov:skip=CKV_AWS_103:TLS is set on the HTTPS listener; this one is plain HTTP by definition
  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.api.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

# --- the certificate and the API's DNS name ------------------------------------------------

resource "aws_acm_certificate" "api" {
  count             = var.acm_certificate_arn == "" && var.route53_zone_id != "" ? 1 : 0
  domain_name       = local.api_domain
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "api_certificate" {
  for_each = {
    for option in flatten([for cert in aws_acm_certificate.api : cert.domain_validation_options]) :
    option.domain_name => option
  }
  zone_id = var.route53_zone_id
  name    = each.value.resource_record_name
  type    = each.value.resource_record_type
  records = [each.value.resource_record_value]
  ttl     = 300
}

resource "aws_acm_certificate_validation" "api" {
  count                   = length(aws_acm_certificate.api)
  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = [for record in aws_route53_record.api_certificate : record.fqdn]
}

locals {
  certificate_arn = var.acm_certificate_arn != "" ? var.acm_certificate_arn : try(aws_acm_certificate_validation.api[0].certificate_arn, null)
}

resource "aws_route53_record" "api" {
  count   = var.route53_zone_id != "" ? 1 : 0
  zone_id = var.route53_zone_id
  name    = local.api_domain
  type    = "A"

  alias {
    name                   = aws_lb.api.dns_name
    zone_id                = aws_lb.api.zone_id
    evaluate_target_health = true
  }
}

# --- SMTP: port 25 on a Network Load Balancer to the listener's 2525 --------------------

resource "aws_lb" "smtp" {
  count                            = var.enable_smtp ? 1 : 0
  name                             = "${local.prefix}-smtp"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  enable_deletion_protection       = true
  enable_cross_zone_load_balancing = true

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "nlb"
    enabled = true
  }
}

resource "aws_lb_target_group" "smtp" {
  count                  = var.enable_smtp ? 1 : 0
  name                   = "${local.prefix}-smtp"
  port                   = 2525
  protocol               = "TCP"
  target_type            = "ip"
  vpc_id                 = aws_vpc.main.id
  deregistration_delay   = 60
  preserve_client_ip     = "true"
  connection_termination = true

  health_check {
    protocol = "TCP"
    interval = 15
  }
}

resource "aws_lb_listener" "smtp" {
  #checkov:skip=CKV_AWS_2:SMTP on port 25 is plain TCP by protocol; the listener offers STARTTLS itself (DISPATCH_SMTP_TLS_CERT)
  #checkov:skip=CKV_AWS_103:as above: TLS for SMTP is STARTTLS inside the connection, not at the load balancer
  count             = var.enable_smtp ? 1 : 0
  load_balancer_arn = aws_lb.smtp[0].arn
  port              = 25
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.smtp[0].arn
  }
}
