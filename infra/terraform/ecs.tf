# The image registry and the Fargate cluster: api, worker and (optionally) smtp services
# from one image. Terraform makes placeholder task definitions; the deploy workflow
# (.github/workflows/deploy.yml) registers the real ones from infra/ecs/*.json and rolls the
# services to them, so `task_definition` is ignored here after creation.

resource "aws_ecr_repository" "app" {
  name                 = local.prefix
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name

  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 50 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 50
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "main" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = toset(["api", "smtp", "worker", "migrate"])
  name              = "/ecs/${local.prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  services = merge(
    {
      api    = { cpu = 512, memory = 1024, desired = var.api_desired_count }
      worker = { cpu = 256, memory = 512, desired = var.worker_desired_count }
    },
    var.enable_smtp ? { smtp = { cpu = 512, memory = 1024, desired = var.smtp_desired_count } } : {}
  )
  # The services behind a load balancer, and their container ports.
  container_ports = { api = 8080, smtp = 2525 }
  target_groups = merge(
    { api = aws_lb_target_group.api.arn },
    var.enable_smtp ? { smtp = aws_lb_target_group.smtp[0].arn } : {}
  )
}

# Placeholders until the first deploy: a container that sleeps.
resource "aws_ecs_task_definition" "placeholder" {
  for_each                 = local.services
  family                   = "${local.prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = "public.ecr.aws/docker/library/busybox:1.36"
    command                = ["sleep", "infinity"]
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    # the load balancer's target port must be declared, even by a placeholder
    portMappings = contains(keys(local.container_ports), each.key) ? [{ containerPort = local.container_ports[each.key], protocol = "tcp" }] : []
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "app" {
  #checkov:skip=CKV_AWS_333:no NAT gateway by design: tasks in the public subnets need a public IP to reach AWS APIs; the security group admits only the load balancers
  for_each                           = local.services
  name                               = each.key
  cluster                            = aws_ecs_cluster.main.id
  task_definition                    = aws_ecs_task_definition.placeholder[each.key].arn
  desired_count                      = each.value.desired
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = each.key == "worker" ? null : 30

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.public[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = true
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.target_groups), each.key) ? [local.target_groups[each.key]] : []
    content {
      target_group_arn = load_balancer.value
      container_name   = each.key
      container_port   = local.container_ports[each.key]
    }
  }

  lifecycle {
    ignore_changes = [task_definition]
  }

  depends_on = [aws_lb_listener.http]
}
