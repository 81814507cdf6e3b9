"""A long-lived EC2 client for the end-to-end tests: boto3 or boto 2.49, driven over pipes.

Usage: ec2_driver.py --client boto3|boto2 --endpoint http://HOST:PORT --access-key K --secret-key S

Reads one JSON command per line on stdin ({"op": ..., arguments...}) and prints one JSON line
per command on stdout: {"ok": true, "data": ...} when the call succeeded, {"ok": false, "code":
..., "message": ..., "status": ...} when the client raised the service's error (the code as the
client parsed it), or {"ok": false, "exception": ...} for anything else (a parse error, a
refused response shape), which fails the Rust test that drives it.

Every call goes through the client's public API the way a user's script would make it; with
boto 2 these are the original calls (allocate_address(), associate_address(instance, ip),
SecurityGroup.authorize/revoke, Image.run...), which use EC2-Classic addressing (public IPs,
group names).
"""

import argparse
import json
import os
import sys
import traceback
import warnings

# boto 2.49 imports the deprecated `imp` module; that is expected on Python 3.11.
warnings.simplefilter("ignore", DeprecationWarning)
# Nothing from this machine's configuration: only the credentials given on the command line.
os.environ["BOTO_CONFIG"] = os.devnull
for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_REGION"):
    os.environ.pop(var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def rule_text(protocol, from_port, to_port, source):
    """One ingress grant as PROTOCOL:FROM-TO:SOURCE ("*" for an absent port)."""
    def port(p):
        return "*" if p is None or p == "" else str(p)
    return "%s:%s-%s:%s" % (protocol, port(from_port), port(to_port), source)


def ingress_of(group):
    """The ingress grants of a DescribeSecurityGroups entry as parsed by botocore."""
    rules = []
    for perm in group.get("IpPermissions", []):
        args = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        for r in perm.get("IpRanges", []):
            rules.append(rule_text(*args, r["CidrIp"]))
        for g in perm.get("UserIdGroupPairs", []):
            rules.append(rule_text(*args, g["GroupId"]))
    return sorted(rules)


class Boto3Client:
    """The operations with boto3 (VPC-style addressing: allocation and association ids)."""

    def __init__(self, endpoint, access_key, secret_key):
        import boto3
        import botocore.config
        import botocore.exceptions

        self.errors = (botocore.exceptions.ClientError,)
        self.ec2 = boto3.session.Session().client(
            "ec2",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1},
                                          connect_timeout=10, read_timeout=30),
        )

    @staticmethod
    def error(e):
        err = e.response.get("Error", {})
        return {"code": err.get("Code"), "message": err.get("Message"),
                "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")}

    def create_group(self, name, description):
        r = self.ec2.create_security_group(GroupName=name, Description=description)
        return {"id": r["GroupId"], "name": name}

    def run_instance(self, image, group):
        r = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   SecurityGroups=[group["name"]])
        i = r["Instances"][0]
        return {"id": i["InstanceId"], "private_ip": i["PrivateIpAddress"]}

    def instance_state(self, instance):
        r = self.ec2.describe_instances(InstanceIds=[instance])
        return r["Reservations"][0]["Instances"][0]["State"]["Name"]

    def allocate(self):
        r = self.ec2.allocate_address(Domain="vpc")
        return {"public_ip": r["PublicIp"], "allocation_id": r.get("AllocationId")}

    def associate(self, eip, instance, reassociate):
        extra = {"AllowReassociation": True} if reassociate else {}
        r = self.ec2.associate_address(AllocationId=eip["allocation_id"], InstanceId=instance,
                                       **extra)
        return r.get("AssociationId")

    def disassociate(self, eip, association):
        self.ec2.disassociate_address(AssociationId=association)

    def release(self, eip):
        self.ec2.release_address(AllocationId=eip["allocation_id"])

    def addresses(self):
        r = self.ec2.describe_addresses()
        return [{"public_ip": a["PublicIp"], "instance": a.get("InstanceId")}
                for a in r["Addresses"]]

    @staticmethod
    def cidr_permission(rule):
        return [{"IpProtocol": rule["protocol"], "FromPort": rule["from"], "ToPort": rule["to"],
                 "IpRanges": [{"CidrIp": rule["cidr"]}]}]

    def authorize_cidr(self, group, rule):
        self.ec2.authorize_security_group_ingress(GroupId=group["id"],
                                                  IpPermissions=self.cidr_permission(rule))

    def revoke_cidr(self, group, rule):
        self.ec2.revoke_security_group_ingress(GroupId=group["id"],
                                               IpPermissions=self.cidr_permission(rule))

    def authorize_group(self, group, source):
        self.ec2.authorize_security_group_ingress(
            GroupId=group["id"],
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": source["id"]}]}])

    def group_names(self):
        r = self.ec2.describe_security_groups()
        return sorted(g["GroupName"] for g in r["SecurityGroups"])

    def ingress(self, group):
        r = self.ec2.describe_security_groups(GroupIds=[group["id"]])
        return ingress_of(r["SecurityGroups"][0])


class Boto2Client:
    """The operations with boto 2.49's original calls (EC2-Classic addressing)."""

    def __init__(self, endpoint, access_key, secret_key):
        import boto.ec2.connection
        import boto.exception
        from boto.regioninfo import RegionInfo

        host, port = endpoint.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        self.errors = (boto.exception.EC2ResponseError,)
        self.conn = boto.ec2.connection.EC2Connection(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            is_secure=False, host=host, port=int(port), path="/",
            region=RegionInfo(name="us-east-1", endpoint=host))
        # No retries: a failure must show.
        self.conn.num_retries = 0
        self.groups = {}

    @staticmethod
    def error(e):
        return {"code": e.error_code, "message": e.error_message, "status": e.status}

    def group(self, group):
        """The boto SecurityGroup object, as a script would hold it."""
        sg = self.groups.get(group["name"])
        if sg is None:
            sg = self.conn.get_all_security_groups(groupnames=[group["name"]])[0]
            self.groups[group["name"]] = sg
        return sg

    def create_group(self, name, description):
        sg = self.conn.create_security_group(name, description)
        self.groups[name] = sg
        return {"id": sg.id, "name": sg.name}

    def run_instance(self, image, group):
        reservation = self.conn.get_image(image).run(security_groups=[group["name"]])
        i = reservation.instances[0]
        return {"id": i.id, "private_ip": i.private_ip_address}

    def instance_state(self, instance):
        reservations = self.conn.get_all_instances(instance_ids=[instance])
        return reservations[0].instances[0].state

    def allocate(self):
        a = self.conn.allocate_address()
        return {"public_ip": a.public_ip, "allocation_id": a.allocation_id}

    def associate(self, eip, instance, reassociate):
        # The original call: a classic address moves freely (no reassociation flag).
        if not self.conn.associate_address(instance, eip["public_ip"]):
            raise RuntimeError("associate_address returned false")
        return None

    def disassociate(self, eip, association):
        if not self.conn.disassociate_address(eip["public_ip"]):
            raise RuntimeError("disassociate_address returned false")

    def release(self, eip):
        if not self.conn.release_address(eip["public_ip"]):
            raise RuntimeError("release_address returned false")

    def addresses(self):
        return [{"public_ip": a.public_ip, "instance": a.instance_id or None}
                for a in self.conn.get_all_addresses()]

    def authorize_cidr(self, group, rule):
        sg = self.groups.get(group["name"])
        if sg is None:
            # A group this script never created (a bad request): the connection's own call.
            self.conn.authorize_security_group(group_name=group["name"],
                                               ip_protocol=rule["protocol"],
                                               from_port=rule["from"], to_port=rule["to"],
                                               cidr_ip=rule["cidr"])
            return
        if not sg.authorize(rule["protocol"], rule["from"], rule["to"], rule["cidr"]):
            raise RuntimeError("authorize returned false")

    def revoke_cidr(self, group, rule):
        sg = self.group(group)
        if not sg.revoke(rule["protocol"], rule["from"], rule["to"], rule["cidr"]):
            raise RuntimeError("revoke returned false")

    def authorize_group(self, group, source):
        if not self.group(group).authorize(src_group=self.group(source)):
            raise RuntimeError("authorize returned false")

    def group_names(self):
        return sorted(g.name for g in self.conn.get_all_security_groups())

    def ingress(self, group):
        sg = self.conn.get_all_security_groups(groupnames=[group["name"]])[0]
        rules = []
        for rule in sg.rules:
            for grant in rule.grants:
                source = grant.cidr_ip or grant.group_id
                rules.append(rule_text(rule.ip_protocol, rule.from_port, rule.to_port, source))
        return sorted(rules)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["boto3", "boto2"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    args = parser.parse_args()
    kind = Boto3Client if args.client == "boto3" else Boto2Client
    client = kind(args.endpoint, args.access_key, args.secret_key)
    print(json.dumps({"ok": True, "data": "ready"}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            op = command.pop("op")
            data = getattr(client, op)(**command)
            answer = {"ok": True, "data": data}
        except client.errors as e:
            answer = dict(ok=False, **kind.error(e))
        except Exception as e:  # noqa: BLE001 - reported to the Rust test, which fails on it
            answer = {"ok": False, "exception": "%s: %s\n%s" % (
                type(e).__name__, e, traceback.format_exc())}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
