"""infra/terraform, checked without Terraform or its providers (neither can be downloaded
here): every file parses (python-hcl2), every reference to a variable, local, resource or
data source resolves to a declaration, every variable and output is documented and used,
each checkov skip gives its reason, and the topology the deployment guide describes is there,
wired to the server's own settings. checkov itself runs in `make infra-check`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from dispatch_server.cli._common import read_settings
from dispatch_server.config.settings import declarations

ROOT = Path(__file__).parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
FILES = sorted(TERRAFORM.glob("*.tf"))
EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "network.tf",
    "alb.tf",
    "ecs.tf",
    "rds.tf",
    "mail.tf",
    "iam.tf",
    "alarms.tf",
    "secrets.tf",
}
# A reference in an expression: var.x, local.x, data.type.name, type.name (a resource).
VAR = re.compile(r"(?<![\w.])var\.([a-z0-9_]+)")
LOCAL = re.compile(r"(?<![\w.])local\.([a-z0-9_]+)")
DATA = re.compile(r"(?<![\w.])data\.([a-z0-9_]+)\.([a-z0-9_]+)")
RESOURCE = re.compile(r"(?<![\w.])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)")
SKIP = re.compile(r"checkov:skip=(CKV2?_AWS_\d+):(.*)")


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def strings(node: Any) -> Iterator[str]:
    """Every expression and string of a parsed file, comments left out."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "__comments__":
                yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def comments(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "__comments__":
                yield from (comment["value"] for comment in value)
            else:
                yield from comments(value)
    elif isinstance(node, list):
        for item in node:
            yield from comments(item)


def blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, body) of each `kind "name" {...}` block (variable, output)."""
    for block in parsed.get(kind, []):
        for name, body in block.items():
            yield unquote(name), body


def typed_blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of each `kind "type" "name" {...}` block (resource, data)."""
    for block in parsed.get(kind, []):
        for type_, named in block.items():
            for name, body in named.items():
                yield unquote(type_), unquote(name), body


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for path in FILES:
        with path.open() as file:
            result[path.name] = hcl2.load(file)
    return result


@pytest.fixture(scope="module")
def expressions(parsed: dict[str, dict[str, Any]]) -> list[str]:
    return [text for document in parsed.values() for text in strings(document)]


def resources(parsed: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (type_, name): body
        for document in parsed.values()
        for type_, name, body in typed_blocks(document, "resource")
    }


def test_the_files_are_split_by_concern_and_all_parse(parsed: dict[str, Any]) -> None:
    assert set(parsed) == EXPECTED_FILES
    assert all(parsed.values())


def test_every_variable_is_documented_typed_and_used(
    parsed: dict[str, dict[str, Any]], expressions: list[str]
) -> None:
    declared = {
        name: body for document in parsed.values() for name, body in blocks(document, "variable")
    }
    assert len(declared) >= 20
    used = {name for text in expressions for name in VAR.findall(text)}
    for name, body in declared.items():
        assert len(unquote(body.get("description", ""))) > 20, f"variable {name}: no description"
        assert "type" in body, f"variable {name}: no type"
    assert used - set(declared) == set(), "used but not declared"
    assert set(declared) - used == set(), "declared but never used"


def test_every_local_is_declared_and_used(
    parsed: dict[str, dict[str, Any]], expressions: list[str]
) -> None:
    declared = {
        name
        for document in parsed.values()
        for block in document.get("locals", [])
        for name in block
    } - {"__is_block__", "__comments__"}
    used = {name for text in expressions for name in LOCAL.findall(text)}
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"


def test_every_resource_and_data_reference_resolves(
    parsed: dict[str, dict[str, Any]], expressions: list[str]
) -> None:
    declared = set(resources(parsed))
    data = {
        (type_, name)
        for document in parsed.values()
        for type_, name, _ in typed_blocks(document, "data")
    }
    referenced = set()
    for text in expressions:
        for match in RESOURCE.finditer(text):
            if text[: match.start()].endswith("data."):
                continue
            referenced.add((match.group(1), match.group(2)))
    assert referenced - declared == set(), "resources referenced but not declared"
    data_referenced = {ref for text in expressions for ref in DATA.findall(text)}
    assert data_referenced - data == set(), "data sources referenced but not declared"
    assert data - data_referenced == set(), "data sources declared but never used"
    assert len(referenced) > 50  # the regexes do find references


def test_every_output_is_documented(parsed: dict[str, dict[str, Any]]) -> None:
    outputs = {
        name: body for document in parsed.values() for name, body in blocks(document, "output")
    }
    for required in (
        "mx_record",
        "sns_subscription_url",
        "alb_dns_name",
        "ecr_repository_url",
        "ses_dkim_records",
        "deploy_role_arn",
    ):
        assert required in outputs
    for name, body in outputs.items():
        assert len(unquote(body.get("description", ""))) > 20, f"output {name}: no description"
        assert "value" in body


def test_each_checkov_skip_gives_its_reason(parsed: dict[str, dict[str, Any]]) -> None:
    skips = [
        SKIP.search(comment)
        for document in parsed.values()
        for comment in comments(document)
        if "checkov" in comment
    ]
    assert skips and all(skips), "a checkov comment that is not checkov:skip=ID:reason"
    for skip in skips:
        assert skip is not None
        assert len(skip.group(2).strip()) >= 30, f"{skip.group(1)}: say why"


def test_the_topology(parsed: dict[str, dict[str, Any]]) -> None:
    found = resources(parsed)
    types = {type_ for type_, _ in found}
    assert {
        "aws_vpc",
        "aws_internet_gateway",
        "aws_lb",
        "aws_acm_certificate",
        "aws_route53_record",
        "aws_ecr_repository",
        "aws_ecs_cluster",
        "aws_ecs_service",
        "aws_db_instance",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_notification",
        "aws_sqs_queue_policy",
        "aws_ses_receipt_rule_set",
        "aws_ses_receipt_rule",
        "aws_sesv2_configuration_set_event_destination",
        "aws_ssm_parameter",
        "aws_cloudwatch_log_group",
        "aws_cloudwatch_metric_alarm",
        "aws_kms_key",
    } <= types
    assert "aws_nat_gateway" not in types  # no NAT by default: tasks get public IPs

    database = found[("aws_db_instance", "main")]
    assert database["storage_encrypted"] is True
    assert database["publicly_accessible"] is False
    assert database["deletion_protection"] == "${var.db_deletion_protection}"
    assert database["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert database["db_subnet_group_name"] == "${aws_db_subnet_group.main.name}"

    # The database subnets have no route out.
    assert "route" not in found[("aws_route_table", "database")]

    queue = found[("aws_sqs_queue", "inbound")]
    assert "aws_sqs_queue.inbound_dlq.arn" in queue["redrive_policy"]
    assert "var.worker_max_attempts" in queue["redrive_policy"]

    service = found[("aws_ecs_service", "app")]
    assert service["lifecycle"][0]["ignore_changes"] == ["task_definition"]
    secret = found[("aws_ssm_parameter", "secret")]
    assert secret["lifecycle"][0]["ignore_changes"] == ["value"]
    assert unquote(secret["type"]) == "SecureString"

    alarms = {name for type_, name in found if type_ == "aws_cloudwatch_metric_alarm"}
    assert alarms == {
        "alb_5xx",
        "alb_unhealthy",
        "tasks_low",
        "rds_cpu",
        "rds_storage",
        "queue_age",
        "dlq_depth",
    }


def test_the_bucket_only_lets_ses_of_this_account_write(parsed: dict[str, Any]) -> None:
    (policy,) = (
        body
        for document in parsed.values()
        for type_, name, body in typed_blocks(document, "data")
        if (type_, name) == ("aws_iam_policy_document", "mail_bucket")
    )
    allow = policy["statement"][0]
    assert allow["actions"] == ['"s3:PutObject"']
    assert allow["principals"][0]["identifiers"] == ['"ses.amazonaws.com"']
    conditions = {unquote(c["variable"]): c["values"] for c in allow["condition"]}
    assert conditions["AWS:SourceAccount"] == ["${local.account_id}"]
    assert "receipt-rule-set" in conditions["AWS:SourceArn"][0]


def test_ssm_parameters_are_settings_the_server_reads(parsed: dict[str, Any]) -> None:
    text = (TERRAFORM / "secrets.tf").read_text()
    names = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+=", text, re.MULTILINE))
    settings = {setting.env for setting in declarations()}
    assert len(names) >= 15
    assert names <= settings, names - settings
    required = {setting.env for setting in declarations() if setting.required_in_production}
    assert required <= names


def test_the_queue_redrive_matches_the_worker_default(parsed: dict[str, Any]) -> None:
    (default,) = (
        body["default"]
        for document in parsed.values()
        for name, body in blocks(document, "variable")
        if name == "worker_max_attempts"
    )
    assert default == read_settings({}, base={}).worker.max_attempts == 8
