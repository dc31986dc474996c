"""The CI/CD configuration agrees with the Makefile, `.ci/run` and pyproject.toml.

What must pass before a merge or a deploy is written down four times: `.ci/run`, the GitHub
workflows, the Makefile and the pre-commit config. Nothing runs the workflows here, so a
renamed target or a forgotten step would only show on GitHub; these tests catch the drift.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
SHELL_OPERATORS = frozenset(";&|()<>")


def make_targets(script: str) -> list[str]:
    """The targets of every `make` command in a shell script, in order.

    Options (`-k`) and variable assignments (`GCP_PROJECT=...`) are not targets; GitHub
    expressions are replaced first, as their spaces would split into bogus words.
    """
    script = re.sub(r"\$\{\{.*?\}\}", "EXPR", script).replace("$(MAKE)", "make").replace("\\\n", " ")
    targets: list[str] = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:  # an unbalanced quote, e.g. an apostrophe in an echo: plain words then
            words = line.split()
        for i, word in enumerate(words):
            if word != "make":
                continue
            for arg in words[i + 1 :]:
                if set(arg) <= SHELL_OPERATORS:
                    break
                if not arg.startswith("-") and "=" not in arg:
                    targets.append(arg)
    return targets


@cache
def makefile() -> str:
    return (REPO / "Makefile").read_text()


def makefile_targets() -> set[str]:
    """Targets the Makefile defines (`name:` rules, not `name := value` assignments)."""
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*:(?!=)", makefile(), flags=re.MULTILINE))


def makefile_rule(target: str) -> tuple[list[str], list[str]]:
    """A rule's prerequisites and recipe lines, as make reads them (recipe lines start with a tab)."""
    lines = makefile().splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"^{re.escape(target)}\s*:(?!=)(.*)$", line)
        if match:
            prerequisites = match.group(1).split("##")[0].split(";")[0].replace("|", " ").split()
            recipe = []
            for next_line in lines[i + 1 :]:
                if not next_line.startswith("\t"):
                    break
                recipe.append(next_line.strip())
            return prerequisites, recipe
    raise AssertionError(f"the Makefile has no `{target}:` rule")


@cache
def load_yaml(relative: str) -> dict[Any, Any]:
    document = yaml.safe_load((REPO / relative).read_text())
    assert isinstance(document, dict), f"{relative} is not a YAML mapping"
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The workflow's `on:` events as a mapping (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict), f"unexpected `on:` {on!r}"
    return {event: spec or {} for event, spec in on.items()}


def jobs(relative: str) -> dict[str, dict[str, Any]]:
    return load_yaml(relative)["jobs"]


def job_targets(job: dict[str, Any]) -> list[str]:
    """The make targets a job's `run:` steps call."""
    return [target for step in job.get("steps", []) for target in make_targets(step.get("run", ""))]


def jobs_running(relative: str, target: str) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in jobs(relative).items() if target in job_targets(job)}


def test_ci_workflow_runs_what_ci_run_runs_and_lint() -> None:
    """`.ci/run` is the CI contract; the GitHub workflow must not quietly run less."""
    ci_run = make_targets((REPO / ".ci" / "run").read_text())
    assert ci_run, ".ci/run calls no make target: the parser or the script changed"
    ran = {target for job in jobs(".github/workflows/ci.yml").values() for target in job_targets(job)}
    assert {*ci_run, "lint"} <= ran, {*ci_run, "lint"} - ran


def test_ci_runs_on_every_pull_request_and_on_main() -> None:
    """A branch filter on pull_request would let some merges skip the checks."""
    on = triggers(load_yaml(".github/workflows/ci.yml"))
    assert "pull_request" in on
    assert not (on["pull_request"] or {}).get("branches"), "CI must run on every pull request"
    assert "main" in on["push"]["branches"]


def test_make_test_runs_lint() -> None:
    """README says `make test` runs everything: a change that fails lint must fail `make test` too.

    Expected to fail until the Makefile's `test` rule depends on (or calls) `lint`.
    """
    prerequisites, recipe = makefile_rule("test")
    called = [target for line in recipe for target in make_targets(line)]
    assert "lint" in prerequisites + called, f"test: {prerequisites} / {recipe}"


def test_workflows_call_only_targets_the_makefile_defines() -> None:
    """A renamed or removed target would otherwise only fail on GitHub, after the merge."""
    defined = makefile_targets()
    assert {"test", "lint", "install"} <= defined, "the Makefile parser found too little"
    called = {
        (workflow.name, target)
        for workflow in WORKFLOWS.glob("*.y*ml")
        for job in jobs(str(workflow.relative_to(REPO))).values()
        for target in job_targets(job)
    }
    assert called, "no workflow calls make"
    assert {(name, target) for name, target in called if target not in defined} == set()


def test_deploy_dry_run_runs_on_pull_requests_without_credentials() -> None:
    """Every pull request shows what a deploy would copy; it needs no approval and no secrets."""
    workflow = ".github/workflows/deploy.yml"
    assert "pull_request" in triggers(load_yaml(workflow))
    dry_runs = jobs_running(workflow, "deploy-composer-dry-run")
    assert dry_runs, "no job runs `make deploy-composer-dry-run`"
    for name, job in dry_runs.items():
        assert "pull_request" in job.get("if", "pull_request"), f"{name} is skipped on pull requests"
        assert "environment" not in job, f"{name} would wait for an environment's approval"
        assert (job.get("permissions") or {}).get("id-token") != "write", f"{name} can get a GCP token"


def test_deploy_to_composer_only_from_tags_in_the_protected_environment() -> None:
    """Production changes only from a tag, after the environment's reviewers approve, one at a time."""
    workflow = ".github/workflows/deploy.yml"
    push = triggers(load_yaml(workflow)).get("push") or {}
    assert push.get("tags"), "the deploy workflow is not triggered by tags"
    assert not push.get("branches"), "a branch push must not deploy"
    deploys = jobs_running(workflow, "deploy-composer")
    assert deploys, "no job runs `make deploy-composer`"
    for name, job in deploys.items():
        environment = job.get("environment")
        assert environment, f"{name} runs outside a protected environment"
        condition = job.get("if", "")
        assert "refs/tags/" in condition or "ref_type == 'tag'" in condition, f"{name} also runs on PRs"
        assert job.get("concurrency", {}).get("cancel-in-progress") is False, f"{name} may overlap"


def test_production_deploy_authenticates_with_workload_identity() -> None:
    """A short-lived OIDC token, never a stored service-account key."""
    deploys = jobs_running(".github/workflows/deploy.yml", "deploy-composer")
    assert deploys, "no job runs `make deploy-composer`"
    for name, job in deploys.items():
        assert job.get("permissions") == {"id-token": "write", "contents": "read"}, name
        auth = [s for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
        assert len(auth) == 1, f"{name} does not authenticate with google-github-actions/auth"
        inputs = auth[0].get("with", {})
        assert {"workload_identity_provider", "service_account"} <= set(inputs), name
        assert "credentials_json" not in inputs, name


def pre_commit_hooks() -> dict[str, dict[str, Any]]:
    config = load_yaml(".pre-commit-config.yaml")
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_runs_the_linters() -> None:
    """The hooks catch before a commit what `make lint` and the infra checks would reject."""
    hooks = pre_commit_hooks()
    assert {"ruff", "ruff-format", "lint-imports"} <= set(hooks), set(hooks)
    assert any(
        "fmt -check" in hook.get("entry", "") and "infra" in hook.get("entry", "") for hook in hooks.values()
    ), "no terraform/tofu fmt -check hook on infra/"


def test_ruff_pre_commit_rev_is_the_pinned_ruff() -> None:
    """Two ruff versions would disagree on formatting, and the hook and `make lint` would fight."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = [dep for dep in pyproject["dependency-groups"]["dev"] if re.match(r"ruff\s*==", dep)]
    assert len(pins) == 1, f"pyproject's dev group pins ruff {len(pins)} times"
    version = pins[0].split("==")[1].strip()
    config = load_yaml(".pre-commit-config.yaml")
    revs = [repo["rev"] for repo in config["repos"] if repo["repo"].endswith("/ruff-pre-commit")]
    assert revs == [f"v{version}"]
