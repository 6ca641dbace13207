"""The AWS stack under mocks: invariants of what `pulumi up --stack aws-demo` would create.

Every failure names the resource's URN, so a broken invariant points at its resource.
"""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from cncfdemo import harness
from cncfdemo.harness import is_secret

STACK = "aws-demo"
CLUSTER = "aws-demo"
ROLES = ("masters", "minions")
NARROW = "203.0.113.0/24"
NODE_CIDR = "10.0.0.0/16"

ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
K8S_PROVIDER = "pulumi:providers:kubernetes"
COMMAND = "command:local:Command"


@pytest.fixture(scope="module")
def run(program_run) -> harness.Run:
    return program_run(STACK)


def one(run: harness.Run, type_: str) -> harness.Resource:
    found = run.of_type(type_)
    assert len(found) == 1, f"{len(found)} resources of type {type_}: {[r.urn for r in found]}"
    return found[0]


def group_of(run: harness.Run, role: str) -> harness.Resource:
    (group,) = [g for g in run.of_type(ASG) if g.inputs["name"] == f"{CLUSTER}-{role}"]
    return group


def template_of(run: harness.Run, role: str) -> harness.Resource:
    return run.named(f"{CLUSTER}-{role}-template")


def urn_of_provider_ref(ref: str) -> str:
    # a provider reference is `<urn>::<id>`
    return ref.rsplit("::", 1)[0]


def created_before(run: harness.Run, resource: harness.Resource) -> set[str]:
    """The URNs the engine creates before `resource`, and so deletes after it: its
    dependencies, parent and provider, followed transitively."""
    by_urn = {r.urn: r for r in run.resources}
    found: set[str] = set()
    pending = [resource]
    while pending:
        current = pending.pop()
        provider = urn_of_provider_ref(current.provider) if current.provider else ""
        for urn in (*current.dependencies, current.parent, provider):
            if urn and urn not in found:
                found.add(urn)
                if urn in by_urn:
                    pending.append(by_urn[urn])
    return found


def routes_to_internet(run: harness.Run) -> set[str]:
    """The internet gateway, the route table holding the default route, its associations."""
    found = {r.urn for r in run.resources if r.type in (
        "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation")}
    assert len(found) == 4, sorted(found)  # one gateway, one table, one association per zone
    return found


def mocked_output(resource: harness.Resource, key: str):
    """What the mock cloud answered for `key` of a resource that echoes its inputs."""
    from cncfdemo.mocks import _aws

    return _aws(resource.type, resource.name, resource.plain_inputs)[key]


def api_rules(run: harness.Run) -> list[harness.Resource]:
    return [r for r in run.of_type(INGRESS) if r.inputs.get("fromPort") == 6443]


# node groups


@pytest.mark.parametrize("role", ROLES)
def test_group_tags_are_propagated_at_launch(run, role):
    group = group_of(run, role)
    tags = {t["key"]: t["value"] for t in group.inputs["tags"]}
    assert tags == {
        "KubernetesCluster": CLUSTER,
        "Role": role,
        f"kubernetes.io/cluster/{CLUSTER}": "owned",
        "Name": f"{CLUSTER}-{role}",
    }, group.urn
    not_propagated = [t["key"] for t in group.inputs["tags"] if t["propagateAtLaunch"] is not True]
    assert not_propagated == [], f"{group.urn}: tags not propagated at launch"


def test_group_sizes_follow_the_settings(program_run):
    run = program_run(STACK, masterCount="3", minionCount="5")
    for role, count in (("masters", 3), ("minions", 5)):
        group = group_of(run, role)
        sizes = (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"])
        assert sizes == (count, count, count), group.urn


def test_groups_span_two_zones_and_only_masters_join_the_api_targets(run):
    target_group = one(run, "aws:lb/targetGroup:TargetGroup")
    for role in ROLES:
        group = group_of(run, role)
        assert len(group.inputs["vpcZoneIdentifiers"]) == 2, group.urn
        joined = group.inputs.get("targetGroupArns") or []
        assert (len(joined) == 1) == (role == "masters"), group.urn
    assert target_group.inputs["port"] == 6443 and target_group.inputs["protocol"] == "TCP"


@pytest.mark.parametrize("role", ROLES)
def test_metadata_service_needs_tokens_and_stops_at_the_host(run, role):
    template = template_of(run, role)
    options = template.inputs["metadataOptions"]
    assert options["httpTokens"] == "required", template.urn
    assert options["httpPutResponseHopLimit"] == 1, template.urn
    assert options["httpEndpoint"] == "enabled", template.urn


@pytest.mark.parametrize("role", ROLES)
def test_root_volume_is_encrypted_gp3_on_the_images_root_device(run, role):
    template = template_of(run, role)
    (mapping,) = template.inputs["blockDeviceMappings"]
    assert mapping["deviceName"] == "/dev/xvda", template.urn  # the mocked image's root device
    assert mapping["ebs"]["encrypted"] == "true", template.urn
    assert mapping["ebs"]["volumeType"] == "gp3", template.urn
    assert mapping["ebs"]["volumeSize"] == 30, template.urn


def test_root_volume_size_setting(program_run):
    run = program_run(STACK, awsRootVolumeGb="50")
    for role in ROLES:
        template = template_of(run, role)
        assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 50, template.urn
    assert {g["diskGb"] for g in run.outputs["nodeGroups"]} == {50}


GET_AMI = "aws:ec2/getAmi:getAmi"


def test_stock_image_is_debian_12_by_owner_and_name(program_run):
    # The mocks answer any lookup alike; what the stack asks AWS is the lookup's arguments.
    run = program_run(STACK, minionSize="m7g.large")
    lookups = [args for token, args in run.calls if token == GET_AMI]
    assert len(lookups) == 2, run.calls  # masters (t3.medium), then minions (m7g.large)
    for args, debian_arch, arch in zip(lookups, ("amd64", "arm64"), ("x86_64", "arm64"),
                                       strict=True):
        assert args["owners"] == ["136693071363"], args  # Debian's own account
        assert args["mostRecent"] is True, args
        filters = {f["name"]: f["values"] for f in args["filters"]}
        assert filters == {
            "name": [f"debian-12-{debian_arch}-*"],
            "architecture": [arch],
            "virtualization-type": ["hvm"],
            "root-device-type": ["ebs"],
        }, args
    for role in ROLES:
        assert template_of(run, role).inputs["imageId"] == "ami-0mockdebian000000"


def test_architecture_follows_the_instance_family():
    from components.aws.image import architecture

    assert architecture("t3.medium") == "x86_64"
    assert architecture("m7g.large") == "arm64"
    assert architecture("c7gn.xlarge") == "arm64"
    assert architecture("g5.xlarge") == "x86_64"


def test_prebuilt_image_is_looked_up_by_its_id_only(program_run):
    run = program_run(STACK, nodeImage="ami-0123456789abcdef0")
    lookups = [args for token, args in run.calls if token == GET_AMI]
    assert len(lookups) == 2, run.calls
    for args in lookups:
        assert "owners" not in args, args
        assert args["filters"] == [{"name": "image-id", "values": ["ami-0123456789abcdef0"]}]


@pytest.mark.parametrize("role", ROLES)
def test_user_data_is_a_secret_cloud_config_of_the_role(run, role):
    template = template_of(run, role)
    assert is_secret(template.inputs["userData"]), f"{template.urn}: userData is not secret"
    raw = base64.b64decode(template.plain_inputs["userData"])
    assert len(raw) <= 16 * 1024, f"{template.urn}: {len(raw)} bytes of user-data"
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    assert text.startswith("#cloud-config\n"), template.urn
    role_file = "/etc/sysconfig/kubernetes-" + role.removesuffix("s")
    assert role_file in text, f"{template.urn}: no {role_file}"
    # node names must be the private DNS names the AWS cloud controller looks instances up by
    assert "prefer_fqdn_over_hostname: true" in text, template.urn


def test_node_groups_output_is_what_cost_estimation_reads(run):
    assert run.outputs["nodeGroups"] == [
        {"role": "masters", "count": 1, "machineType": "t3.medium", "region": "us-east-1",
         "diskGb": 30},
        {"role": "minions", "count": 3, "machineType": "t3.large", "region": "us-east-1",
         "diskGb": 30},
    ]
    assert run.outputs["provider"] == "aws" and run.outputs["region"] == "us-east-1"


# network and security groups


def test_vpc_spans_two_zones_of_public_subnets_without_nat(run):
    vpc = one(run, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == NODE_CIDR, vpc.urn
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"], vpc.urn
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert len({s.inputs["availabilityZone"] for s in subnets}) == 2
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is True, subnet.urn
        assert subnet.inputs["tags"].get("kubernetes.io/role/elb") == "1", subnet.urn
        assert subnet.inputs["privateDnsHostnameTypeOnLaunch"] == "resource-name", subnet.urn
    assert run.of_type("aws:ec2/natGateway:NatGateway") == []


def test_only_the_api_port_is_open_to_the_world_and_only_when_configured(run):
    # aws-demo's stack file allows 0.0.0.0/0 on the API (with a warning)
    for rule in run.of_type(INGRESS):
        if rule.inputs.get("cidrIpv4") == "0.0.0.0/0":
            assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (6443, 6443), rule.urn
    assert {r.inputs["cidrIpv4"] for r in api_rules(run)} == {"0.0.0.0/0", NODE_CIDR}


def test_narrow_api_cidrs_leave_nothing_open_to_the_world(program_run):
    run = program_run(STACK, apiAllowedCidrs=json.dumps([NARROW]))
    for rule in run.of_type(INGRESS):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0", f"{rule.urn} is open to the world"
        assert "cidrIpv6" not in rule.inputs, rule.urn
    assert {r.inputs["cidrIpv4"] for r in api_rules(run)} == {NARROW, NODE_CIDR}
    assert not any("apiAllowedCidrs" in w for w in run.warnings)


def test_nodes_reach_each_other_on_every_protocol(run):
    nodes = run.named(f"{CLUSTER}-security-nodes")
    (rule,) = [r for r in run.of_type(INGRESS) if "referencedSecurityGroupId" in r.inputs]
    assert rule.inputs["ipProtocol"] == "-1", rule.urn
    assert rule.inputs["securityGroupId"] == rule.inputs["referencedSecurityGroupId"], rule.urn
    assert rule.inputs["securityGroupId"] == f"{nodes.name}-id", rule.urn


def test_only_the_nodes_group_carries_the_cluster_tag(run):
    # the cloud controller manager refuses an instance with two cluster-tagged groups
    tagged = [g.name for g in run.of_type("aws:ec2/securityGroup:SecurityGroup")
              if f"kubernetes.io/cluster/{CLUSTER}" in (g.inputs.get("tags") or {})]
    assert tagged == [f"{CLUSTER}-security-nodes"]


def test_no_ssh_unless_configured(run):
    for rule in run.of_type(INGRESS):
        ports = range(int(rule.inputs.get("fromPort", 0)), int(rule.inputs.get("toPort", 0)) + 1)
        assert 22 not in ports, f"{rule.urn} opens SSH"
        assert rule.inputs["ipProtocol"] != "-1" or "referencedSecurityGroupId" in rule.inputs, \
            f"{rule.urn} opens every port"
    for role in ROLES:
        assert "keyName" not in template_of(run, role).inputs


def test_ssh_opens_to_exactly_the_configured_cidrs(program_run):
    run = program_run(STACK, awsSshAllowedCidrs='["198.51.100.7/32"]', awsSshKeyName="demo-key")
    ssh = [r for r in run.of_type(INGRESS) if r.inputs.get("fromPort") == 22]
    assert [(r.inputs["cidrIpv4"], r.inputs["toPort"]) for r in ssh] == [("198.51.100.7/32", 22)]
    for role in ROLES:
        assert template_of(run, role).inputs["keyName"] == "demo-key"
    assert not any("awsSshAllowedCidrs" in w for w in run.warnings)


def test_ssh_to_the_world_warns(program_run):
    run = program_run(STACK, awsSshAllowedCidrs='["0.0.0.0/0"]')
    assert any("awsSshAllowedCidrs" in w and "whole Internet" in w for w in run.warnings)
    assert any("awsSshKeyName" in w for w in run.warnings)


def test_egress_is_the_only_rule_to_anywhere(run):
    (egress,) = run.of_type(EGRESS)
    assert egress.inputs["cidrIpv4"] == "0.0.0.0/0", egress.urn


# the API load balancer


def test_api_load_balancer_is_a_public_nlb_with_a_readiness_health_check(run):
    balancer = one(run, "aws:lb/loadBalancer:LoadBalancer")
    assert balancer.inputs["loadBalancerType"] == "network", balancer.urn
    assert balancer.inputs["internal"] is False, balancer.urn
    assert len(balancer.inputs["subnets"]) == 2, balancer.urn
    listener = one(run, "aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (6443, "TCP"), listener.urn
    check = one(run, "aws:lb/targetGroup:TargetGroup").inputs["healthCheck"]
    assert (check["protocol"], check["path"]) == ("HTTPS", "/readyz")
    assert run.outputs["apiEndpoint"].startswith("https://") and \
        run.outputs["apiEndpoint"].endswith(".amazonaws.com:6443")


def test_api_load_balancer_waits_for_the_internet_gateway(run):
    # AWS refuses an internet-facing load balancer (InvalidSubnet) in a VPC without an
    # attached gateway; the subnets alone can exist before it.
    balancer = one(run, "aws:lb/loadBalancer:LoadBalancer")
    missing = routes_to_internet(run) - created_before(run, balancer)
    assert missing == set(), f"{balancer.urn} may be created before {sorted(missing)}"


def test_load_balancer_names_fit_aws_limits():
    from components.aws.tags import limited_name

    assert limited_name("demo", "api", 32) == "demo-api"
    long_name = limited_name("a" * 32, "api-masters", 32)
    assert len(long_name) <= 32 and long_name.endswith("-api-masters")
    assert long_name != limited_name("a" * 31 + "b", "api-masters", 32)


# DNS kept by events


def test_zone_is_private_to_the_vpc_and_destroyable(run):
    zone = one(run, "aws:route53/zone:Zone")
    vpc = one(run, "aws:ec2/vpc:Vpc")
    assert zone.inputs["name"] == "k8s", zone.urn
    assert zone.inputs["vpcs"] == [{"vpcId": f"{vpc.name}-id"}], f"{zone.urn} is not private"
    assert zone.inputs["forceDestroy"] is True, f"{zone.urn} cannot be destroyed with records"


def test_event_rule_matches_the_two_groups_launches_and_terminations(run):
    rules = run.of_type("aws:cloudwatch/eventRule:EventRule")
    (events,) = [r for r in rules if "eventPattern" in r.inputs]
    assert json.loads(events.inputs["eventPattern"]) == {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Successful", "EC2 Instance Terminate Successful"],
        "detail": {"AutoScalingGroupName": [f"{CLUSTER}-masters", f"{CLUSTER}-minions"]},
    }, events.urn
    (schedule,) = [r for r in rules if "scheduleExpression" in r.inputs]
    assert schedule.inputs["scheduleExpression"] == "rate(5 minutes)", schedule.urn


def test_both_rules_invoke_the_function_with_permission(run):
    function = one(run, "aws:lambda/function:Function")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function.inputs['name']}"
    rules = run.of_type("aws:cloudwatch/eventRule:EventRule")
    rule_arns = {mocked_output(rule, "arn"): rule for rule in rules}
    assert len(rules) == 2 and len(rule_arns) == 2, "the mock gives both rules one ARN"

    permissions = run.of_type("aws:lambda/permission:Permission")
    assert len(permissions) == 2
    for permission in permissions:
        assert permission.inputs["principal"] == "events.amazonaws.com", permission.urn
        assert permission.inputs["function"] == function.inputs["name"], permission.urn
        assert permission.inputs["action"] == "lambda:InvokeFunction", permission.urn
    assert {p.inputs["sourceArn"] for p in permissions} == set(rule_arns)

    # each rule has one target, the function, added once the rule may invoke it
    targets = run.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 2
    for rule_arn, rule in rule_arns.items():
        of_rule = [t for t in targets if t.inputs["rule"] == mocked_output(rule, "name")]
        assert len(of_rule) == 1, f"{rule.urn} has targets {[t.urn for t in of_rule]}"
        target = of_rule[0]
        assert target.inputs["arn"] == arn, target.urn
        (permission,) = [p for p in permissions if p.inputs["sourceArn"] == rule_arn]
        assert permission.urn in target.dependencies, f"{target.urn} may fire unpermitted"


def test_groups_wait_for_the_dns_rules(run):
    # the rule must exist before the first instance launches, or its event is lost
    (target_urns) = {t.urn for t in run.of_type("aws:cloudwatch/eventTarget:EventTarget")}
    for role in ROLES:
        node_group = run.named(f"{CLUSTER}-{role}")
        assert target_urns <= set(node_group.dependencies), node_group.urn


def test_function_environment_and_code(run):
    function = one(run, "aws:lambda/function:Function")
    zone = one(run, "aws:route53/zone:Zone")
    from cncfdemo.mocks import _zone_id

    assert function.inputs["environment"]["variables"] == {
        "ZONE_ID": _zone_id(zone.name), "DOMAIN": "k8s", "CLUSTER_NAME": CLUSTER,
    }, function.urn
    assert function.inputs["handler"] == "handler.handler", function.urn
    runtime = function.inputs["runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 12, function.urn
    assets = function.plain_inputs["code"]["assets"]
    assert "handler.py" in assets, function.urn
    assert all(not a["path"].startswith("/") for a in assets.values()), \
        f"{function.urn}: absolute asset paths {assets}"


def test_function_policy_changes_records_of_the_zone_only(run):
    zone = one(run, "aws:route53/zone:Zone")
    (policy,) = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy")
                 if "dns" in p.name]
    from cncfdemo.mocks import _zone_id

    zone_arn = f"arn:aws:route53:::hostedzone/{_zone_id(zone.name)}"
    statements = json.loads(policy.inputs["policy"])["Statement"]
    for statement in statements:
        actions = statement["Action"]
        assert statement["Effect"] == "Allow", policy.urn
        if any(a.startswith("route53:") for a in actions):
            assert statement["Resource"] == [zone_arn], f"{policy.urn}: {statement}"
            assert set(actions) == {"route53:ChangeResourceRecordSets",
                                    "route53:ListResourceRecordSets"}, policy.urn
        elif any(a.startswith("logs:") for a in actions):
            assert all(r.startswith("arn:aws:logs:") and "/aws/lambda/" in r
                       for r in statement["Resource"]), f"{policy.urn}: {statement}"
        else:
            verbs = {a.split(":")[1] for a in actions}
            assert all(v.startswith(("Describe", "List")) for v in verbs), \
                f"{policy.urn}: {statement}"


def test_function_logs_have_a_retention(run):
    logs = one(run, "aws:cloudwatch/logGroup:LogGroup")
    function = one(run, "aws:lambda/function:Function")
    assert logs.inputs["name"] == f"/aws/lambda/{function.inputs['name']}", logs.urn
    assert 1 <= logs.inputs["retentionInDays"] <= 90, logs.urn
    assert logs.urn in function.dependencies, function.urn


# cloud integration


def test_cloud_integration_pins_images_and_makes_gp3_the_default(run):
    images = []
    for resource in run.kubernetes_objects():
        spec = resource.plain_inputs.get("spec") or {}
        pod = ((spec.get("template") or {}).get("spec")) or {}
        images += [c["image"] for c in pod.get("containers", [])]
    assert images, "no containers deployed"
    assert all(":" in i.rsplit("/", 1)[-1] and not i.endswith(":latest") for i in images), images
    assert "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.0" in images
    storage = one(run, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage.inputs["metadata"]["name"] == "gp3", storage.urn
    assert storage.inputs["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true"}, storage.urn
    assert storage.inputs["provisioner"] == "ebs.csi.aws.com", storage.urn
    assert storage.inputs["parameters"]["encrypted"] == "true", storage.urn
    assert storage.inputs["reclaimPolicy"] == "Delete", storage.urn


def test_controllers_run_on_the_masters_with_host_network(run):
    for name in (f"{CLUSTER}-cloud-ccm-daemonset", f"{CLUSTER}-cloud-ebs-csi-controller"):
        resource = run.named(name)
        pod = resource.inputs["spec"]["template"]["spec"]
        assert pod["hostNetwork"] is True, resource.urn
        assert "node-role.kubernetes.io/control-plane" in pod["nodeSelector"], resource.urn


def test_masters_role_holds_the_controllers_permissions_minions_none(run):
    masters_role = run.named(f"{CLUSTER}-masters-role")
    minions_role = run.named(f"{CLUSTER}-minions-role")
    policies = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "ccm" in p.name]
    attachments = run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert len(policies) == 1 and len(attachments) == 1
    masters_name = f"{masters_role.name}-mock"
    assert policies[0].inputs["role"] == masters_name, policies[0].urn
    assert attachments[0].inputs["role"] == masters_name, attachments[0].urn
    assert attachments[0].inputs["policyArn"].endswith(
        ":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"), attachments[0].urn
    minions_name = f"{minions_role.name}-mock"
    assert [p.urn for p in [*policies, *attachments] if p.inputs["role"] == minions_name] == []


# readiness gate and destroy order


def test_every_kubernetes_resource_waits_for_the_readiness_gate(run):
    gate = run.named(f"{CLUSTER}-ready-wait")
    providers = {p.urn: p for p in run.of_type(K8S_PROVIDER)}
    assert len(providers) == 2, list(providers)
    for provider in providers.values():
        assert gate.urn in provider.dependencies, f"{provider.urn} does not wait for the gate"
    objects = [r for r in run.resources if r.type.startswith("kubernetes:") and r.custom]
    assert objects
    for resource in objects:
        assert resource.provider, f"{resource.urn} uses the default provider"
        assert urn_of_provider_ref(resource.provider) in providers, \
            f"{resource.urn} uses a provider that does not wait for the gate"


def test_gate_waits_for_the_nodes_and_the_api(run):
    gate = run.named(f"{CLUSTER}-ready-wait")
    for role in ROLES:
        assert group_of(run, role).urn in gate.dependencies, gate.urn
    env = gate.inputs["environment"]
    assert env["EXPECTED_NODES"] == "4", gate.urn
    assert "/readyz" in gate.inputs["create"], gate.urn


def test_gate_and_release_get_the_kubeconfig_on_stdin_only(run):
    kubeconfig = run.outputs["kubeconfig"]
    for name in (f"{CLUSTER}-ready-wait", f"{CLUSTER}-cloud-release"):
        command = run.named(name)
        assert is_secret(command.inputs["stdin"]), f"{command.urn}: stdin is not secret"
        assert command.plain_inputs["stdin"] == kubeconfig, command.urn
        visible = json.dumps({k: v for k, v in command.inputs.items() if k != "stdin"})
        assert "client-key-data" not in visible, f"{command.urn} shows the kubeconfig"
        assert not any(s in visible for s in run.secret_values if len(s) > 8), command.urn


def test_workloads_are_deleted_before_the_controllers_and_the_release(run):
    workloads_provider = run.named(f"{CLUSTER}-k8s")
    release = run.named(f"{CLUSTER}-cloud-release")
    controllers = [run.named(f"{CLUSTER}-cloud-ccm-daemonset"),
                   run.named(f"{CLUSTER}-cloud-ebs-csi-controller"),
                   run.named(f"{CLUSTER}-cloud-ebs-csi-node")]
    deps = set(workloads_provider.dependencies)
    assert release.urn in deps, workloads_provider.urn
    assert {c.urn for c in controllers} <= deps, workloads_provider.urn
    assert {c.urn for c in controllers} <= set(release.dependencies), release.urn
    assert "delete" in release.inputs and "triggers" not in release.inputs, release.urn
    system = run.named(f"{CLUSTER}-k8s-system")
    for controller in controllers:
        assert urn_of_provider_ref(controller.provider) == system.urn, controller.urn
    workload_objects = [r for r in run.kubernetes_objects()
                        if "CloudIntegration" not in r.urn]
    assert workload_objects
    for resource in workload_objects:
        assert urn_of_provider_ref(resource.provider) == workloads_provider.urn, resource.urn


def test_release_runs_before_the_network_is_deleted(run):
    # Load balancers Kubernetes made hold public addresses in the subnets, and AWS refuses to
    # detach a gateway while any are mapped: the routes go only after the release removed them.
    release = run.named(f"{CLUSTER}-cloud-release")
    missing = routes_to_internet(run) - created_before(run, release)
    assert missing == set(), f"{sorted(missing)} may be deleted before {release.urn} runs"


# secrets


def test_every_secret_stays_secret(run):
    assert "kubeconfig" in run.secret_outputs
    for role in ROLES:
        assert is_secret(template_of(run, role).inputs["userData"])
    for provider in run.of_type(K8S_PROVIDER):
        assert is_secret(provider.inputs["kubeconfig"]), f"{provider.urn}: kubeconfig in clear"
    for resource in run.resources:
        if resource.type.startswith("aws:") and resource.type != LAUNCH_TEMPLATE:
            visible = json.dumps(resource.inputs)
            leaked = [s[:12] for s in run.secret_values if len(s) > 8 and s in visible]
            assert leaked == [], f"{resource.urn} carries a secret in clear"


def test_render_holds_master_and_minion_user_data(rendered):
    folder = rendered(STACK)
    files = sorted(p.name for p in (folder / "cloud-init").iterdir())
    assert files == [f"{CLUSTER}-masters-template.yaml", f"{CLUSTER}-minions-template.yaml"]
    for path in (folder / "cloud-init").iterdir():
        assert path.read_text().startswith("#cloud-config\n"), path.name


# settings


def _error(stack: str, overrides: dict) -> str:
    full = {(k if ":" in k else f"cncfdemo:{k}"): v for k, v in overrides.items()}
    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program(stack, overrides=full)
    return str(caught.value)


def test_missing_region_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    message = _error(STACK, {"aws:region": None})
    assert "aws:region" in message and "pulumi config set aws:region" in message


@pytest.mark.parametrize(("key", "value"), [
    ("awsSshAllowedCidrs", '["not-a-cidr"]'),
    ("awsPublicZone", "no zone"),
    ("awsRootVolumeGb", "2"),
])
def test_bad_aws_setting_names_its_key(key, value):
    message = _error(STACK, {key: value})
    fix = message.split("Set it with ")[-1]
    assert f"cncfdemo:{key}:" in message
    assert fix.startswith("`pulumi config set ") and f"cncfdemo:{key}" in fix, message


def test_shared_and_aws_only_problems_are_reported_in_one_run():
    # one run names every problem, the provider's own keys included, and creates nothing
    with pytest.raises(harness.ProgramError) as caught:
        harness.run_program(STACK, overrides={"cncfdemo:masterCount": "2",
                                              "cncfdemo:awsRootVolumeGb": "2"})
    paragraphs = str(caught.value).split("\n\n")
    assert [p.split(":")[1] for p in paragraphs] == ["masterCount", "awsRootVolumeGb"]
    assert caught.value.registered == []


def test_without_a_public_zone_nothing_is_published(run):
    assert run.of_type("cncfdemo:aws:PublicNames") == []
    assert run.of_type("aws:route53/record:Record") == []


def test_public_zone_gives_countly_a_readable_name(program_run):
    run = program_run(STACK, awsPublicZone="demo.example.com")
    record = one(run, "aws:route53/record:Record")
    from cncfdemo.mocks import _zone_id

    assert record.inputs["zoneId"] == _zone_id("demo.example.com"), record.urn
    assert record.inputs["name"] == f"countly.{CLUSTER}.demo.example.com", record.urn
    public = next(r for r in run.of_type("kubernetes:core/v1:Service")
                  if r.plain_inputs["metadata"]["name"] == "countly")
    # the mock cloud names a LoadBalancer Service's host after the resource
    assert (record.inputs["type"], record.inputs["records"]) == (
        "CNAME", [f"{public.name}.elb.example"]), record.urn
    assert run.outputs["countlyUrl"] == f"http://countly.{CLUSTER}.demo.example.com/"

