"""Every bad setting stops the program before any resource, with a message naming the key."""

from __future__ import annotations

import re

import pytest
import yaml

from cncfdemo import harness, stackconfig
from stacks import settings

# (case id, overrides without namespace, the key the message must name)
BAD_SETTINGS = [
    ("unknown provider", {"provider": "openstack"}, "provider"),
    ("no master", {"masterCount": "0"}, "masterCount"),
    ("absurd masters", {"masterCount": "101"}, "masterCount"),
    ("even masters", {"masterCount": "2"}, "masterCount"),
    ("masters not a number", {"masterCount": "three"}, "masterCount"),
    ("no minion", {"minionCount": "0"}, "minionCount"),
    ("absurd minions", {"minionCount": "5000"}, "minionCount"),
    ("malformed node cidr", {"nodeCidr": "10.0.0.0/33"}, "nodeCidr"),
    ("node cidr not a cidr", {"nodeCidr": "banana"}, "nodeCidr"),
    ("node cidr host bits", {"nodeCidr": "10.0.0.1/16"}, "nodeCidr"),
    ("node cidr too small", {"nodeCidr": "10.0.0.0/26"}, "nodeCidr"),
    ("pod range overlaps nodes", {"podCidr": "10.0.128.0/17"}, "podCidr"),
    ("service range overlaps pods", {"serviceCidr": "192.168.16.0/20"}, "serviceCidr"),
    ("service range too small", {"serviceCidr": "10.96.0.0/28"}, "serviceCidr"),
    ("service range too large", {"serviceCidr": "172.0.0.0/8"}, "serviceCidr"),
    ("empty api allow-list", {"apiAllowedCidrs": []}, "apiAllowedCidrs"),
    ("unset api allow-list", {"apiAllowedCidrs": None}, "apiAllowedCidrs"),
    ("malformed api cidr", {"apiAllowedCidrs": ["300.1.1.1/32"]}, "apiAllowedCidrs"),
    ("ipv6 api cidr", {"apiAllowedCidrs": ["2001:db8::/32"]}, "apiAllowedCidrs"),
    ("version without patch", {"kubernetesVersion": "1.35"}, "kubernetesVersion"),
    ("version with v", {"kubernetesVersion": "v1.35.3"}, "kubernetesVersion"),
    ("version with a leading zero", {"kubernetesVersion": "1.035.3"}, "kubernetesVersion"),
    ("unsupported version", {"kubernetesVersion": "1.24.17"}, "kubernetesVersion"),
    ("future version", {"kubernetesVersion": "1.40.0"}, "kubernetesVersion"),
    ("duration in words", {"benchmarkDuration": "5 minutes"}, "benchmarkDuration"),
    ("zero duration", {"benchmarkDuration": "0s"}, "benchmarkDuration"),
    ("negative duration", {"benchmarkDuration": "-5m"}, "benchmarkDuration"),
    ("zero shards", {"mongoShards": "0"}, "mongoShards"),
    ("negative shards", {"mongoShards": "-1"}, "mongoShards"),
    ("zero members", {"mongoMembers": "0"}, "mongoMembers"),
    ("zero countly replicas", {"countlyMinReplicas": "0"}, "countlyMinReplicas"),
    ("max below min", {"countlyMinReplicas": "4", "countlyMaxReplicas": "2"},
     "countlyMaxReplicas"),
    ("zero connections", {"benchmarkConnections": "0"}, "benchmarkConnections"),
    ("zero threads", {"benchmarkThreads": "0"}, "benchmarkThreads"),
    ("more threads than connections", {"benchmarkThreads": "8", "benchmarkConnections": "4"},
     "benchmarkThreads"),
    ("not a boolean", {"benchmarkOnUp": "maybe"}, "benchmarkOnUp"),
    ("cluster name not a dns label", {"clusterName": "Bad_Name"}, "clusterName"),
    ("machine type unset", {"minionSize": None}, "minionSize"),
    ("retention malformed", {"prometheusRetention": "a week"}, "prometheusRetention"),
    ("boinc url malformed", {"boincProjectUrl": "ftp:/x"}, "boincProjectUrl"),
    ("boinc key in clear", {"boincAccountKey": "0123456789abcdef"}, "boincAccountKey"),
    ("boinc image not an image", {"boincImage": "Boinc Client"}, "boincImage"),
    ("boinc image short digest", {"boincImage": "boinc/client@sha256:abc"}, "boincImage"),
]

# The fix a message offers: a plain, list (`--path`) or `--secret` form of `pulumi config set`.
_SET_COMMAND = "pulumi config set (--secret |--path ')?cncfdemo:{key}"


def _run_expecting_error(stack: str, overrides: dict) -> harness.ProgramError:
    full = {f"cncfdemo:{k}": v for k, v in overrides.items()}
    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program(stack, overrides=full)
    return caught.value


@pytest.mark.parametrize(("case", "overrides", "key"), BAD_SETTINGS,
                         ids=[case for case, _, _ in BAD_SETTINGS])
@pytest.mark.parametrize("stack", ["local-demo", "aws-demo"])
def test_bad_setting_stops_before_any_resource(stack, case, overrides, key):
    error = _run_expecting_error(stack, overrides)
    message = str(error)
    assert f"cncfdemo:{key}:" in message, message
    assert re.search(_SET_COMMAND.format(key=key), message), message
    # one paragraph per problem, and this case makes exactly one problem
    assert "\n\n" not in message.strip(), message
    assert error.registered == [], [r.urn for r in error.registered]


def test_several_problems_are_reported_together():
    error = _run_expecting_error("local-demo", {"masterCount": "2", "mongoShards": "0"})
    paragraphs = str(error).split("\n\n")
    assert [p.split(":")[1] for p in paragraphs] == ["masterCount", "mongoShards"]


def test_api_open_to_the_world_warns_but_deploys(program_run):
    run = program_run("local-demo", apiAllowedCidrs='["0.0.0.0/0"]')
    assert any("cncfdemo:apiAllowedCidrs" in w and "whole Internet" in w for w in run.warnings)
    assert run.resources


def test_narrow_api_allow_list_does_not_warn(program_run):
    run = program_run("local-demo")
    assert not any("apiAllowedCidrs" in w for w in run.warnings)


@pytest.mark.parametrize(("duration", "seconds"),
                         [("90s", 90), ("5m", 300), ("1h", 3600), ("5 m", None), ("0s", None),
                          ("5", None), ("1d", None)])
def test_duration_seconds(duration, seconds):
    assert settings.duration_seconds(duration) == seconds


def test_valid_duration_deploys(program_run):
    run = program_run("local-demo", benchmarkDuration="90s")
    assert run.outputs["clusterName"] == "local-demo"


@pytest.mark.parametrize("stack", ["azure-demo", "gcp-demo", "equinix-demo"])
def test_providers_not_built_say_so(stack):
    error = _run_expecting_error(stack, {})
    message = str(error)
    assert "cncfdemo:provider" in message
    assert "stopped operating" in message if stack == "equinix-demo" else "not built yet" in message
    # the way out is another stack, not turning this one into a kind cluster
    assert "pulumi up --stack aws-demo" in message and "config set" not in message
    assert error.registered == [], [r.urn for r in error.registered]


def test_pulumi_yaml_describes_every_key_with_its_default(project_root):
    project = yaml.safe_load((project_root / "Pulumi.yaml").read_text())
    declared = project["config"]
    keys = {k.name: k for group in (settings.SETTINGS, *settings.PROVIDER_SETTINGS.values())
            for k in group}
    assert set(declared) == set(keys)
    for name, key in keys.items():
        spec = declared[name]
        assert key.example in spec["description"], name
        if key.default is None:
            assert spec.get("default") in (None, "", []), name
        else:
            assert str(spec["default"]).lower() == str(key.default).lower(), name


def test_readme_config_table_matches_the_settings(project_root):
    # key, meaning, default, example: the README says what settings.py does, column by column
    readme = (project_root / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].strip("`")] = cells[1:]
    for key in settings.ALL_KEYS.values():
        assert key.name in rows, f"README has no row for {key.name}"
        meaning, default, example = rows[key.name]
        assert meaning == key.meaning, key.name
        assert default == ("—" if key.default is None else f"`{str(key.default).lower()}`"
                           if isinstance(key.default, bool) else f"`{key.default}`"), key.name
        assert example == f"`{key.example}`", key.name


@pytest.mark.parametrize("key", ["apiAllowedCidrs", "awsSshAllowedCidrs"])
def test_list_keys_are_fixed_item_by_item(key):
    # A plain `pulumi config set ns:key [...]` stores a string, which an array key refuses.
    command = settings.set_command(key)
    assert re.fullmatch(rf"pulumi config set --path 'cncfdemo:{key}\[0\]' [0-9./]+", command)


def test_secret_key_is_fixed_with_secret():
    assert settings.set_command("boincAccountKey") == (
        "pulumi config set --secret cncfdemo:boincAccountKey <key>")


def test_optional_keys_have_a_default_the_cli_accepts(project_root):
    # The CLI stops a stack that leaves a declared key without a default unset; only the keys
    # every stack file sets may go without one.
    declared = yaml.safe_load((project_root / "Pulumi.yaml").read_text())["config"]
    stack_files = [yaml.safe_load(p.read_text())["config"]
                   for p in sorted(project_root.glob("Pulumi.*.yaml"))]
    without_default = {k for k, spec in declared.items() if "default" not in spec}
    assert without_default == {"provider", "masterSize", "minionSize", "apiAllowedCidrs"}
    for config in stack_files:
        assert {f"cncfdemo:{k}" for k in without_default} <= set(config)
    assert not any(spec.get("secret") and "default" in spec for spec in declared.values())


def test_stack_missing_a_required_key_is_refused_like_the_cli(tmp_path, project_root):
    (tmp_path / "Pulumi.yaml").write_text((project_root / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.bare-demo.yaml").write_text("config:\n  cncfdemo:provider: local\n")
    with pytest.raises(stackconfig.StackConfigError) as caught:
        stackconfig.load("bare-demo", tmp_path)
    message = str(caught.value)
    for key in ("cncfdemo:masterSize", "cncfdemo:minionSize", "cncfdemo:apiAllowedCidrs"):
        assert key in message
    assert "cncfdemo:provider" not in message
    assert "pulumi config set --stack bare-demo" in message


@pytest.mark.parametrize("text", ["config: [a, b\n", "config:\n  a: 1\n b: 2\n", "- 1\n"])
def test_malformed_stack_file_is_a_clear_error(tmp_path, project_root, text):
    (tmp_path / "Pulumi.yaml").write_text((project_root / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.bad-demo.yaml").write_text(text)
    with pytest.raises(stackconfig.StackConfigError, match="Pulumi.bad-demo.yaml"):
        stackconfig.load("bad-demo", tmp_path)


def test_empty_ssh_list_means_no_ssh(program_run):
    run = program_run("aws-demo", awsSshAllowedCidrs="[]")
    ports = [r.inputs.get("fromPort") for r in run.of_type("aws:vpc/securityGroupIngressRule:"
                                                          "SecurityGroupIngressRule")]
    assert ports and 22 not in ports


def test_empty_defaults_read_as_unset(program_run):
    # Pulumi.yaml's "" defaults: the cluster is named after the stack, BOINC without a key is
    # left out rather than deployed with an empty one.
    run = program_run("local-demo")
    assert run.outputs["clusterName"] == "local-demo"
    assert not [r for r in run.resources if "boinc" in r.name]
    assert any("boincAccountKey is not set" in w for w in run.warnings)
