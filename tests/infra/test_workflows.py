""".github/workflows and the task definitions the deploy workflow renders: the workflows parse,
every job has runs-on and steps, every action is pinned to a commit with its version beside
it, permissions are read-only unless a job says otherwise; actionlint (with shellcheck) and
zizmor pass them; infra/ecs/render.py's task definitions match what Terraform made (names,
roles, log groups, SSM parameters)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra.ecs import render

from dispatch_server.config.settings import declarations

ROOT = Path(__file__).parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
TERRAFORM = ROOT / "infra" / "terraform"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]' (shellcheck: apt-get)"
    return found


def load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in loaded:
        loaded["on"] = loaded.pop(True)
    return loaded


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[Any, Any]]:
    return {path.name: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def test_the_four_workflows(workflows: dict[str, dict[Any, Any]]) -> None:
    assert set(workflows) == {"ci.yml", "deploy.yml", "terraform.yml", "release.yml"}
    for name, workflow in workflows.items():
        assert workflow["name"] and workflow["on"], name
        # least privilege: read-only at the top, more only where a job asks
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_name, job in workflow["jobs"].items():
            assert job["runs-on"].startswith("ubuntu-"), (name, job_name)
            assert job["steps"], (name, job_name)
            assert "timeout-minutes" in job, (name, job_name)
            if "id-token" in job.get("permissions", {}):
                assert job.get("environment"), f"{name}:{job_name} gets OIDC tokens ungated"


def test_every_action_is_pinned_to_a_commit() -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for path in WORKFLOWS.glob("*.yml")
        for line in path.read_text().splitlines()
        if "uses:" in line
    ]
    assert len(uses) >= 10
    for action in uses:
        assert PINNED.match(action), f"{action}: pin a commit, its tag in a comment"


def test_checkouts_keep_no_credentials(workflows: dict[str, dict[Any, Any]]) -> None:
    for workflow in workflows.values():
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_projects_own_script(workflows: dict[str, dict[Any, Any]]) -> None:
    job = workflows["ci.yml"]["jobs"]["ci"]
    assert [step.get("run") for step in job["steps"]][-1] == "bash .ci/run"
    assert set(job["services"]) == {"postgres", "redis"}
    assert job["env"]["DISPATCH_TEST_PG_URL"].startswith("postgresql://postgres@postgres:5432/")


def test_deploy_migrates_before_it_rolls(workflows: dict[str, dict[Any, Any]]) -> None:
    job = workflows["deploy.yml"]["jobs"]["deploy"]
    assert job["environment"] == "production"
    runs = [step.get("run", "") for step in job["steps"]]
    migrate = next(i for i, run in enumerate(runs) if "aws ecs run-task" in run)
    roll = next(i for i, run in enumerate(runs) if "aws ecs update-service" in run)
    assert migrate < roll
    assert 'test "$status" = 0' in runs[migrate]  # a failed migration stops the deploy
    assert "aws ecs wait services-stable" in runs[roll]
    assert "docker build -f infra/Dockerfile" in "\n".join(runs)


def test_terraform_applies_only_by_hand(workflows: dict[str, dict[Any, Any]]) -> None:
    jobs = workflows["terraform.yml"]["jobs"]
    runs = [step.get("run", "") for step in jobs["validate"]["steps"]]
    assert "terraform fmt -check -recursive -diff" in runs
    assert "terraform validate" in runs
    assert jobs["apply"]["if"] == "github.event_name == 'workflow_dispatch' && inputs.apply"
    assert jobs["apply"]["environment"] == "production"
    assert jobs["apply"]["needs"] == "plan"


def test_release_publishes_with_trusted_publishing(workflows: dict[str, dict[Any, Any]]) -> None:
    jobs = workflows["release.yml"]["jobs"]
    assert jobs["publish"]["permissions"] == {"id-token": "write"}
    assert jobs["publish"]["steps"][-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in jobs["publish"]["steps"][-1]  # no token: trusted publishing
    assert jobs["attach"]["permissions"] == {"contents": "write"}


def test_actionlint_passes() -> None:
    tool("shellcheck")  # actionlint checks the run: scripts with it when it is on PATH
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and it does check: an undefined job output is an error
    bad = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ steps.x.outputs.y }}\n"
    )
    broken = subprocess.run(
        [tool("actionlint"), "-no-color", "-"], input=bad, capture_output=True, text=True
    )
    assert broken.returncode == 1, broken.stdout


def test_zizmor_passes() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


# --- infra/ecs/render.py against infra/terraform ---------------------------------------


def test_rendered_task_definitions_read_what_terraform_made() -> None:
    secrets_tf = (TERRAFORM / "secrets.tf").read_text()
    assigned = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+=", secrets_tf, re.MULTILINE))
    assert set(render.SECRETS) | set(render.CONFIG) == assigned
    secret_names = re.search(r"secret_names = \[(.*)\]", secrets_tf)
    assert secret_names is not None
    assert set(json.loads(f"[{secret_names.group(1)}]")) == set(render.SECRETS)
    settings = {setting.env for setting in declarations()}
    assert set(render.ENVIRONMENT) <= settings

    iam_tf = (TERRAFORM / "iam.tf").read_text()
    ecs_tf = (TERRAFORM / "ecs.tf").read_text()
    assert 'name               = "${local.prefix}-task-execution"' in iam_tf
    assert 'name               = "${local.prefix}-task"' in iam_tf
    assert 'name              = "/ecs/${local.prefix}/${each.key}"' in ecs_tf
    assert 'family                   = "${local.prefix}-${each.key}"' in ecs_tf
    for service, (cpu, memory) in {"api": (512, 1024), "worker": (256, 512)}.items():
        assert re.search(rf"{service}\s+= {{ cpu = {cpu}, memory = {memory},", ecs_tf)
        assert render.size(service) == (str(cpu), str(memory))

    for service in ("api", "smtp", "worker", "migrate"):
        definition = render.render(
            service,
            image="1.dkr.ecr.us-east-1.amazonaws.com/dispatch-prod:abc",
            account="111122223333",
            region="us-east-1",
            name="dispatch",
            environment="prod",
        )
        assert definition["family"] == f"dispatch-prod-{service}"
        assert definition["executionRoleArn"].endswith(":role/dispatch-prod-task-execution")
        assert definition["taskRoleArn"].endswith(":role/dispatch-prod-task")
        (container,) = definition["containerDefinitions"]
        assert container["name"] == service  # the services' load_balancer container_name
        log = container["logConfiguration"]["options"]["awslogs-group"]
        assert log == f"/ecs/dispatch-prod/{service}"
        names = [entry["name"] for entry in (*container["environment"], *container["secrets"])]
        assert len(names) == len(set(names))
        required = {setting.env for setting in declarations() if setting.required_in_production}
        assert required <= set(names)
        for secret in container["secrets"]:
            assert secret["valueFrom"] == (
                f"arn:aws:ssm:us-east-1:111122223333:parameter/dispatch/prod/{secret['name']}"
            )
        # the container command is a dispatch-server command (the image's ENTRYPOINT)
        assert container["command"] == ["serve" if service == "api" else service]
    api = render.render(
        "api", image="i", account="1", region="r", name="dispatch", environment="prod"
    )
    assert api["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 8080, "protocol": "tcp"}
    ]
    assert api["containerDefinitions"][0]["healthCheck"]["command"][-1] == (
        "/opt/dispatch/healthcheck.py"
    )
