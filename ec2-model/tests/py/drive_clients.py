"""Drive boto3, boto 2.49 and the AWS CLI against an EC2 endpoint on 127.0.0.1 and print what
they parsed.

Usage: drive_clients.py PORT SKEWED_PORT ACCESS_KEY SECRET_KEY

SKEWED_PORT is a second endpoint whose clock runs 20 minutes ahead, so that every request it
verifies is outside the allowed skew (RequestExpired). The AWS CLI v1 runs in this process
through its driver (`awscli.clidriver`), one command after the other, its stdout and stderr
captured, as `aws ec2 ...` would print them.

Run by ec2-model/tests/real_clients.rs, which serves canned responses rendered by ec2-model and
checks the values printed here (one JSON object on stdout). Every call is made through the
clients' public APIs, so the values are what a user's script would see. A call that raises is
recorded as {"error": ...} with the client's parsed error code, status and message; any other
exception is recorded as {"exception": ...} and fails the Rust test.
"""

import contextlib
import io
import json
import os
import re
import shlex
import sys
import traceback
import warnings

# boto 2.49 imports the deprecated `imp` module; that is expected on Python 3.11.
warnings.simplefilter("ignore", DeprecationWarning)
# boto 2 reads ~/.boto and /etc/boto.cfg: make it see nothing from this machine.
os.environ["BOTO_CONFIG"] = os.devnull
for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto  # noqa: E402
import boto.ec2.connection  # noqa: E402
import boto.exception  # noqa: E402
import boto3  # noqa: E402
import botocore  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402
from boto.regioninfo import RegionInfo  # noqa: E402

PORT = int(sys.argv[1])
SKEWED_PORT = int(sys.argv[2])
ACCESS_KEY = sys.argv[3]
SECRET_KEY = sys.argv[4]
# Ids the responder answers with a canned error: UnauthorizedOperation (HTTP 403).
UNAUTHORIZED_AMI = "ami-0000000000000403"
WRONG_SECRET = SECRET_KEY[:-1] + ("x" if SECRET_KEY[-1] != "x" else "y")

results = {
    "versions": {"boto": boto.__version__, "boto3": boto3.__version__,
                 "botocore": botocore.__version__, "python": sys.version.split()[0]},
    "boto3": {},
    "boto2": {},
    "awscli": {},
}


def record(client, name, fn):
    """Runs fn and stores its value (or the client's error) under results[client][name]."""
    try:
        results[client][name] = {"ok": fn()}
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        results[client][name] = {"error": {
            "code": err.get("Code"), "message": err.get("Message"),
            "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            "request_id": e.response.get("ResponseMetadata", {}).get("RequestId")}}
    except boto.exception.EC2ResponseError as e:
        results[client][name] = {"error": {
            "code": e.error_code, "message": e.error_message, "status": e.status,
            "request_id": e.request_id}}
    except Exception as e:  # noqa: BLE001 - reported to the Rust test, which fails on it
        results[client][name] = {"exception": "%s: %s\n%s" % (
            type(e).__name__, e, traceback.format_exc())}


# --- boto3 / botocore ------------------------------------------------------------------------

def boto3_client(secret, port=PORT):
    return boto3.session.Session().client(
        "ec2",
        endpoint_url="http://127.0.0.1:%d" % port,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=5, read_timeout=10),
    )


def perm(p):
    return {
        "IpProtocol": p.get("IpProtocol"),
        "FromPort": p.get("FromPort"),
        "ToPort": p.get("ToPort"),
        "CidrIps": [r.get("CidrIp") for r in p.get("IpRanges", [])],
        "Groups": [{"GroupId": g.get("GroupId"), "GroupName": g.get("GroupName"),
                    "UserId": g.get("UserId")} for g in p.get("UserIdGroupPairs", [])],
    }


def run_boto3():
    ec2 = boto3_client(SECRET_KEY)
    r = "boto3"

    def allocate():
        a = ec2.allocate_address(Domain="vpc")
        return {"PublicIp": a["PublicIp"], "AllocationId": a.get("AllocationId"),
                "Domain": a["Domain"]}
    record(r, "AllocateAddress", allocate)
    record(r, "AssociateAddress", lambda: ec2.associate_address(
        AllocationId="eipalloc-0123456789abcdef0", InstanceId="i-0123456789abcdef0",
        AllowReassociation=True).get("AssociationId"))
    record(r, "DisassociateAddress", lambda: ec2.disassociate_address(
        AssociationId="eipassoc-0123456789abcdef0")["ResponseMetadata"]["HTTPStatusCode"])
    record(r, "ReleaseAddress", lambda: ec2.release_address(
        AllocationId="eipalloc-0123456789abcdef0")["ResponseMetadata"]["HTTPStatusCode"])

    def describe_addresses():
        out = ec2.describe_addresses(PublicIps=["198.51.100.7"],
                                     Filters=[{"Name": "domain", "Values": ["vpc"]}])
        return [{"PublicIp": a["PublicIp"], "AllocationId": a.get("AllocationId"),
                 "InstanceId": a.get("InstanceId"), "AssociationId": a.get("AssociationId"),
                 "Domain": a.get("Domain"), "PrivateIpAddress": a.get("PrivateIpAddress")}
                for a in out["Addresses"]]
    record(r, "DescribeAddresses", describe_addresses)

    record(r, "CreateSecurityGroup", lambda: ec2.create_security_group(
        GroupName="web", Description="web servers")["GroupId"])
    ingress = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
               {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 90,
                "UserIdGroupPairs": [{"GroupId": "sg-0fedcba9876543210"}]}]
    egress = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    record(r, "AuthorizeSecurityGroupIngress", lambda: ec2.authorize_security_group_ingress(
        GroupId="sg-0123456789abcdef0", IpPermissions=ingress).get("Return"))
    record(r, "AuthorizeSecurityGroupEgress", lambda: ec2.authorize_security_group_egress(
        GroupId="sg-0123456789abcdef0", IpPermissions=egress).get("Return"))
    record(r, "RevokeSecurityGroupIngress", lambda: ec2.revoke_security_group_ingress(
        GroupId="sg-0123456789abcdef0", IpPermissions=ingress[:1]).get("Return"))
    record(r, "RevokeSecurityGroupEgress", lambda: ec2.revoke_security_group_egress(
        GroupId="sg-0123456789abcdef0", IpPermissions=egress).get("Return"))

    def describe_groups():
        out = ec2.describe_security_groups(
            GroupNames=["web"],
            Filters=[{"Name": "group-name", "Values": ["web", "db*"]},
                     {"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]}])
        return [{"GroupId": g["GroupId"], "GroupName": g["GroupName"],
                 "Description": g["Description"], "OwnerId": g["OwnerId"],
                 "VpcId": g.get("VpcId"),
                 "IpPermissions": [perm(p) for p in g.get("IpPermissions", [])],
                 "IpPermissionsEgress": [perm(p) for p in g.get("IpPermissionsEgress", [])]}
                for g in out["SecurityGroups"]]
    record(r, "DescribeSecurityGroups", describe_groups)
    record(r, "DeleteSecurityGroup", lambda: ec2.delete_security_group(
        GroupId="sg-0123456789abcdef0")["ResponseMetadata"]["HTTPStatusCode"])

    def describe_images():
        out = ec2.describe_images(ImageIds=["ami-0123456789abcdef0"])
        return [{"ImageId": i["ImageId"], "State": i["State"], "Architecture": i["Architecture"],
                 "Public": i.get("Public"), "Name": i.get("Name")} for i in out["Images"]]
    record(r, "DescribeImages", describe_images)

    def instance(i):
        return {"InstanceId": i["InstanceId"], "ImageId": i.get("ImageId"),
                "StateCode": i["State"]["Code"], "StateName": i["State"]["Name"],
                "InstanceType": i.get("InstanceType"),
                "PublicIpAddress": i.get("PublicIpAddress"),
                "PrivateIpAddress": i.get("PrivateIpAddress"),
                "MacAddress": [n.get("MacAddress") for n in i.get("NetworkInterfaces", [])],
                "Groups": [g.get("GroupId") for g in i.get("SecurityGroups", [])],
                "LaunchTime": i["LaunchTime"].isoformat() if i.get("LaunchTime") else None}

    def run():
        out = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1,
                                InstanceType="t2.micro", SecurityGroups=["web"],
                                SecurityGroupIds=["sg-0123456789abcdef0"])
        return {"ReservationId": out["ReservationId"], "OwnerId": out.get("OwnerId"),
                "Instances": [instance(i) for i in out["Instances"]]}
    record(r, "RunInstances", run)

    def describe_instances():
        out = ec2.describe_instances(
            InstanceIds=["i-0123456789abcdef0"],
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
        return [{"ReservationId": res["ReservationId"],
                 "Instances": [instance(i) for i in res["Instances"]]}
                for res in out["Reservations"]]
    record(r, "DescribeInstances", describe_instances)

    def terminate():
        out = ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
        return [{"InstanceId": t["InstanceId"], "Current": t["CurrentState"]["Code"],
                 "CurrentName": t["CurrentState"]["Name"], "Previous": t["PreviousState"]["Code"]}
                for t in out["TerminatingInstances"]]
    record(r, "TerminateInstances", terminate)

    # Errors: a missing group, a wrong secret key, a refused operation (403), a clock outside
    # the allowed skew.
    record(r, "ErrorNotFound", lambda: ec2.delete_security_group(GroupName="missing"))
    record(r, "ErrorAuth", lambda: boto3_client(WRONG_SECRET).describe_addresses())
    record(r, "ErrorUnauthorized", lambda: ec2.describe_images(ImageIds=[UNAUTHORIZED_AMI]))
    record(r, "ErrorExpired",
           lambda: boto3_client(SECRET_KEY, SKEWED_PORT).describe_addresses())


# --- boto 2.49 -------------------------------------------------------------------------------

def boto2_connection(secret, port=PORT):
    return boto.ec2.connection.EC2Connection(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret, is_secure=False,
        port=port, region=RegionInfo(name="us-east-1", endpoint="127.0.0.1"), path="/")


def run_boto2():
    conn = boto2_connection(SECRET_KEY)
    r = "boto2"

    def allocate():
        a = conn.allocate_address()
        return {"public_ip": a.public_ip, "domain": a.domain,
                "allocation_id": a.allocation_id}
    record(r, "AllocateAddress", allocate)

    def allocate_vpc():
        a = conn.allocate_address(domain="vpc")
        return {"public_ip": a.public_ip, "domain": a.domain,
                "allocation_id": a.allocation_id}
    record(r, "AllocateAddressVpc", allocate_vpc)
    record(r, "AssociateAddress", lambda: conn.associate_address(
        instance_id="i-0123456789abcdef0", public_ip="198.51.100.7"))

    def associate_object():
        a = conn.associate_address_object(instance_id="i-0123456789abcdef0",
                                          allocation_id="eipalloc-0123456789abcdef0",
                                          allow_reassociation=True)
        return {"return": getattr(a, "return", None), "association_id": a.association_id}
    record(r, "AssociateAddressObject", associate_object)
    record(r, "DisassociateAddress", lambda: conn.disassociate_address(public_ip="198.51.100.7"))
    record(r, "ReleaseAddress", lambda: conn.release_address(public_ip="198.51.100.7"))

    def addresses():
        return [{"public_ip": a.public_ip, "instance_id": a.instance_id, "domain": a.domain,
                 "allocation_id": a.allocation_id, "association_id": a.association_id,
                 "private_ip_address": a.private_ip_address}
                for a in conn.get_all_addresses(addresses=["198.51.100.7"],
                                                filters={"domain": "vpc"})]
    record(r, "DescribeAddresses", addresses)

    def create():
        g = conn.create_security_group("web", "web servers")
        return {"id": g.id, "name": g.name, "description": g.description}
    record(r, "CreateSecurityGroup", create)
    record(r, "AuthorizeSecurityGroupIngress", lambda: conn.authorize_security_group(
        group_name="web", ip_protocol="tcp", from_port=22, to_port=22, cidr_ip="0.0.0.0/0"))
    record(r, "AuthorizeSecurityGroupIngressSourceGroup", lambda: conn.authorize_security_group(
        group_name="web", src_security_group_name="other",
        src_security_group_owner_id="123456789012", ip_protocol="tcp", from_port=80,
        to_port=80))
    record(r, "AuthorizeSecurityGroupDeprecated", lambda: conn.authorize_security_group_deprecated(
        group_name="web", src_security_group_name="other",
        src_security_group_owner_id="123456789012"))
    record(r, "AuthorizeSecurityGroupEgress", lambda: conn.authorize_security_group_egress(
        "sg-0123456789abcdef0", "tcp", from_port=443, to_port=443, cidr_ip="10.0.0.0/8"))
    record(r, "RevokeSecurityGroupIngress", lambda: conn.revoke_security_group(
        group_name="web", ip_protocol="tcp", from_port=22, to_port=22, cidr_ip="0.0.0.0/0"))
    record(r, "RevokeSecurityGroupEgress", lambda: conn.revoke_security_group_egress(
        "sg-0123456789abcdef0", "tcp", from_port=443, to_port=443, cidr_ip="10.0.0.0/8"))

    def groups():
        out = []
        for g in conn.get_all_security_groups(groupnames=["web"],
                                              filters={"ip-permission.cidr": "0.0.0.0/0"}):
            def rules(rs):
                return [{"ip_protocol": x.ip_protocol, "from_port": x.from_port,
                         "to_port": x.to_port,
                         "grants": [{"cidr_ip": gr.cidr_ip, "group_id": gr.group_id,
                                     "name": gr.name, "owner_id": gr.owner_id}
                                    for gr in x.grants]} for x in rs]
            out.append({"id": g.id, "name": g.name, "owner_id": g.owner_id,
                        "description": g.description, "vpc_id": g.vpc_id,
                        "rules": rules(g.rules), "rules_egress": rules(g.rules_egress)})
        return out
    record(r, "DescribeSecurityGroups", groups)
    record(r, "DeleteSecurityGroup", lambda: conn.delete_security_group(name="web"))

    def instance(i):
        return {"id": i.id, "image_id": i.image_id, "state": i.state, "state_code": i.state_code,
                "instance_type": i.instance_type, "ip_address": i.ip_address,
                "private_ip_address": i.private_ip_address,
                "mac_address": [n.mac_address for n in i.interfaces],
                "groups": [g.id for g in i.groups], "launch_time": i.launch_time}

    def image_run():
        images = conn.get_all_images(image_ids=["ami-0123456789abcdef0"])
        image = images[0]
        res = image.run(security_groups=["web"], instance_type="t2.micro")
        return {"image": {"id": image.id, "state": image.state,
                          "architecture": image.architecture, "is_public": image.is_public},
                "reservation": res.id, "owner_id": res.owner_id,
                "instances": [instance(i) for i in res.instances]}
    record(r, "DescribeImagesAndRun", image_run)

    def run_by_id():
        res = conn.run_instances("ami-0123456789abcdef0",
                                 security_group_ids=["sg-0123456789abcdef0"])
        return {"reservation": res.id, "instances": [instance(i) for i in res.instances]}
    record(r, "RunInstances", run_by_id)

    def reservations():
        return [{"id": res.id, "instances": [instance(i) for i in res.instances]}
                for res in conn.get_all_reservations(
                    instance_ids=["i-0123456789abcdef0"],
                    filters={"instance-state-name": ["running", "pending"]})]
    record(r, "DescribeInstances", reservations)

    def terminate():
        return [{"id": i.id, "state": i.state, "state_code": i.state_code,
                 "previous_state": i.previous_state,
                 "previous_state_code": i.previous_state_code}
                for i in conn.terminate_instances(instance_ids=["i-0123456789abcdef0"])]
    record(r, "TerminateInstances", terminate)

    record(r, "ErrorNotFound", lambda: conn.delete_security_group(name="missing"))
    record(r, "ErrorAuth", lambda: boto2_connection(WRONG_SECRET).get_all_addresses())
    record(r, "ErrorUnauthorized", lambda: conn.get_all_images(image_ids=[UNAUTHORIZED_AMI]))
    record(r, "ErrorExpired",
           lambda: boto2_connection(SECRET_KEY, SKEWED_PORT).get_all_addresses())


# --- AWS CLI v1 ------------------------------------------------------------------------------

SG = "sg-0123456789abcdef0"
EGRESS = '[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]'
# Each command as a user would type it after `aws ec2`.
AWSCLI_COMMANDS = {
    "AllocateAddress": "allocate-address --domain vpc",
    "AssociateAddress": "associate-address --allocation-id eipalloc-0123456789abcdef0 "
                        "--instance-id i-0123456789abcdef0 --allow-reassociation",
    "DisassociateAddress": "disassociate-address --association-id eipassoc-0123456789abcdef0",
    "ReleaseAddress": "release-address --allocation-id eipalloc-0123456789abcdef0",
    "DescribeAddresses": "describe-addresses --public-ips 198.51.100.7 "
                         "--filters Name=domain,Values=vpc",
    "CreateSecurityGroup": "create-security-group --group-name web --description 'web servers'",
    "AuthorizeSecurityGroupIngress": "authorize-security-group-ingress --group-name web "
                                     "--protocol tcp --port 80-90 --cidr 10.0.0.0/8",
    "AuthorizeSecurityGroupEgress": "authorize-security-group-egress --group-id %s "
                                    "--ip-permissions '%s'" % (SG, EGRESS),
    "RevokeSecurityGroupIngress": "revoke-security-group-ingress --group-name web "
                                  "--protocol tcp --port 22 --cidr 0.0.0.0/0",
    "RevokeSecurityGroupEgress": "revoke-security-group-egress --group-id %s "
                                 "--ip-permissions '%s'" % (SG, EGRESS),
    "DescribeSecurityGroups": "describe-security-groups --group-names web "
                              "--filters Name=ip-permission.cidr,Values=0.0.0.0/0",
    "DeleteSecurityGroup": "delete-security-group --group-id %s" % SG,
    "DescribeImages": "describe-images --image-ids ami-0123456789abcdef0",
    "RunInstances": "run-instances --image-id ami-0123456789abcdef0 --count 1 "
                    "--instance-type t2.micro --security-groups web --security-group-ids %s" % SG,
    "DescribeInstances": "describe-instances --instance-ids i-0123456789abcdef0 "
                         "--filters Name=instance-state-name,Values=running",
    "TerminateInstances": "terminate-instances --instance-ids i-0123456789abcdef0",
    "ErrorNotFound": "delete-security-group --group-name missing",
    "ErrorUnauthorized": "describe-images --image-ids %s" % UNAUTHORIZED_AMI,
    "ErrorExpired": "describe-addresses",
}


def run_awscli():
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1",
                      AWS_RETRY_MODE="standard")
    from awscli.clidriver import create_clidriver
    driver = create_clidriver()
    for name, command in AWSCLI_COMMANDS.items():
        port = SKEWED_PORT if name == "ErrorExpired" else PORT
        argv = (["ec2"] + shlex.split(command)
                + ["--endpoint-url", "http://127.0.0.1:%d" % port, "--output", "json"])
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = driver.main(argv)
        except Exception as e:  # noqa: BLE001 - reported to the Rust test, which fails on it
            results["awscli"][name] = {"exception": "%s: %s\n%s" % (
                type(e).__name__, e, traceback.format_exc())}
            continue
        out, err = out.getvalue(), err.getvalue()
        if rc == 0:
            try:
                results["awscli"][name] = {"ok": json.loads(out) if out.strip() else None}
            except ValueError as e:
                results["awscli"][name] = {"exception": "bad JSON (%s): %r" % (e, out)}
        else:
            m = re.search(r"An error occurred \(([^)]+)\) when calling the (\w+) operation"
                          r"(?: \(reached max retries: \d+\))?: (.*)",
                          err)
            if m:
                results["awscli"][name] = {"error": {"code": m.group(1), "operation": m.group(2),
                                                     "message": m.group(3).strip(),
                                                     "exit": rc}}
            else:
                results["awscli"][name] = {"exception": "exit %d: %s" % (rc, err)}


run_boto3()
run_boto2()
run_awscli()
json.dump(results, sys.stdout, indent=1, sort_keys=True, default=str)
sys.stdout.write("\n")
