"""The real ECS task definitions, which the deploy workflow registers in place of
Terraform's placeholders: one per process (api, smtp, worker, migrate), all from the same
image, each with its command, ports, health check, logs, and every setting read from the SSM
parameters Terraform made under /NAME/ENVIRONMENT/ (infra/terraform/secrets.tf).

    python infra/ecs/render.py --service api --image IMAGE --account ID --region REGION \
        [--name dispatch --environment prod] > api.json
    aws ecs register-task-definition --cli-input-json file://api.json

Only the standard library: it runs on the CI runner's own Python."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# The parameters of infra/terraform/secrets.tf (a test holds the two lists equal).
SECRETS = (
    "DATABASE_URL",
    "JWT_SECRET_KEY",
    "DISPATCH_OPS_TOKEN",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
)
CONFIG = (
    "DISPATCH_INBOX_DOMAIN",
    "DISPATCH_SMTP_HOSTNAME",
    "DISPATCH_AWS_REGION",
    "DISPATCH_SES_REGION",
    "DISPATCH_SES_CONFIGURATION_SET",
    "DISPATCH_SES_INBOUND_S3_BUCKET",
    "DISPATCH_SQS_QUEUE_URL",
    "DISPATCH_SQS_DLQ_URL",
    "DISPATCH_SNS_TOPIC_ARNS",
    "DISPATCH_TRUSTED_PROXIES",
    "DISPATCH_WORKER_MAX_ATTEMPTS",
    "DISPATCH_BILLING_SUCCESS_URL",
    "DISPATCH_BILLING_CANCEL_URL",
)
# Fixed for every task; the image sets the listen addresses and ports.
ENVIRONMENT = {
    "DISPATCH_ENV": "production",
    "DISPATCH_OUTBOUND_PROVIDER": "ses",
    "DISPATCH_METRICS_ENABLED": "true",
}
HEALTHCHECK = ["CMD", "python", "/opt/dispatch/healthcheck.py"]


def size(service: str) -> tuple[str, str]:
    """CPU units and MiB, as Terraform's placeholders (infra/terraform/ecs.tf)."""
    return ("256", "512") if service in {"worker", "migrate"} else ("512", "1024")


def render(
    service: str, *, image: str, account: str, region: str, name: str, environment: str
) -> dict[str, Any]:
    prefix = f"{name}-{environment}"
    parameters = f"arn:aws:ssm:{region}:{account}:parameter/{name}/{environment}"
    container: dict[str, Any] = {
        "name": service,
        "image": image,
        "essential": True,
        "command": {"api": ["serve"]}.get(service, [service]),
        "readonlyRootFilesystem": False,  # uploads go to DISPATCH_ASSETS_PATH (/app/assets)
        "user": "10001:10001",
        "environment": [{"name": k, "value": v} for k, v in sorted(ENVIRONMENT.items())],
        "secrets": [
            {"name": key, "valueFrom": f"{parameters}/{key}"} for key in (*SECRETS, *CONFIG)
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{prefix}/{service}",
                "awslogs-region": region,
                "awslogs-stream-prefix": service,
            },
        },
        "stopTimeout": 30,
    }
    if service == "api":
        container["portMappings"] = [{"containerPort": 8080, "protocol": "tcp"}]
        container["healthCheck"] = {
            "command": HEALTHCHECK,
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 20,
        }
    elif service == "smtp":
        container["portMappings"] = [{"containerPort": 2525, "protocol": "tcp"}]
    cpu, memory = size(service)
    return {
        "family": f"{prefix}-{service}",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": cpu,
        "memory": memory,
        "executionRoleArn": f"arn:aws:iam::{account}:role/{prefix}-task-execution",
        "taskRoleArn": f"arn:aws:iam::{account}:role/{prefix}-task",
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "containerDefinitions": [container],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, choices=["api", "smtp", "worker", "migrate"])
    parser.add_argument("--image", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--name", default="dispatch")
    parser.add_argument("--environment", default="prod")
    args = parser.parse_args(argv)
    definition = render(
        args.service,
        image=args.image,
        account=args.account,
        region=args.region,
        name=args.name,
        environment=args.environment,
    )
    json.dump(definition, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
