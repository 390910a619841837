# VPC: public subnets for the load balancers and the ECS tasks (public IPs, so no NAT
# gateway is needed to reach AWS APIs), isolated subnets without any route out for RDS.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.prefix }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = local.prefix }
}

resource "aws_subnet" "public" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = false # ECS assigns public IPs to its tasks itself

  tags = { Name = "${local.prefix}-public-${local.azs[count.index]}" }
}

resource "aws_subnet" "database" {
  count             = var.az_count
  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, 100 + count.index)

  tags = { Name = "${local.prefix}-database-${local.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${local.prefix}-public" }
}

resource "aws_route_table_association" "public" {
  count          = var.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# No route out: the database subnets reach only the VPC.
resource "aws_route_table" "database" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.prefix}-database" }
}

resource "aws_route_table_association" "database" {
  count          = var.az_count
  subnet_id      = aws_subnet.database[count.index].id
  route_table_id = aws_route_table.database.id
}

# The default security group allows nothing; every resource gets its own below.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
}

resource "aws_flow_log" "main" {
  vpc_id          = aws_vpc.main.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

# --- security groups: internet -> ALB :80/:443 -> API :8080; NLB :25 -> SMTP :2525;
# --- tasks -> RDS :5432; tasks -> the internet :443 (AWS APIs, Stripe, webhooks) ----------

resource "aws_security_group" "alb" {
  name        = "${local.prefix}-alb"
  description = "The API load balancer: HTTP and HTTPS from anywhere"
  vpc_id      = aws_vpc.main.id

  #checkov:skip=CKV_AWS_260:port 80 is open only to redirect to HTTPS (or, without a certificate, by the operator's choice)
  ingress {
    description = "HTTP from the internet (redirected to HTTPS when there is a certificate)"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    description = "HTTPS from the internet"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "To the API tasks"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_security_group" "tasks" {
  name        = "${local.prefix}-tasks"
  description = "The ECS tasks (api, smtp, worker, migrate)"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "API from the load balancer"
    from_port       = 8080
    to_port         = 8080
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }

  # An NLB keeps the client's address: SMTP comes from anywhere.
  ingress {
    description = "SMTP from the internet through the network load balancer"
    from_port   = 2525
    to_port     = 2525
    protocol    = "tcp"
    cidr_blocks = var.enable_smtp ? ["0.0.0.0/0"] : [var.vpc_cidr]
  }

  #checkov:skip=CKV_AWS_382:tasks call AWS APIs, Stripe, RPC endpoints and customers' webhook URLs over HTTPS, whose addresses are not known in advance (no NAT, no proxy)
  egress {
    description = "HTTPS to AWS APIs, Stripe and webhook endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  # DNS (the SPF, DKIM and DMARC checks) goes to the VPC's resolver, which security
  # groups do not filter.

  egress {
    description = "PostgreSQL in the database subnets"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = aws_subnet.database[*].cidr_block
  }
}

resource "aws_security_group" "database" {
  name        = "${local.prefix}-database"
  description = "RDS PostgreSQL: only from the ECS tasks"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "PostgreSQL from the ECS tasks"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.tasks.id]
  }
}
