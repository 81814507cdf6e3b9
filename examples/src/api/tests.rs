//! The EC2 service against a running controller shell (no switches, an in-memory or file
//! store): every action, ownership, limits, atomicity, dry runs, restart.

use super::*;
use crate::core::sim_switch::test_settings;
use crate::core::{Config, Controller};
use crate::shell::{self, Handle};
use crate::store::{initial_writes, Account, SqliteStore, Store};
use ec2_model::{parse_params, Ec2Error, Params, Request, Response};
use netrules::model::{Direction, GroupId, InstanceId, Model, OwnerId, Protocol};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

fn account(key: &str, owner: &str) -> Account {
    Account {
        access_key: key.into(),
        secret_key: format!("{key}-secret"),
        owner: OwnerId::new(owner).unwrap(),
    }
}

fn alice() -> OwnerId {
    OwnerId::new("111111111111").unwrap()
}

fn bob() -> OwnerId {
    OwnerId::new("222222222222").unwrap()
}

fn pool(n: u8) -> BTreeSet<Ipv4Addr> {
    (0..n)
        .map(|i| Ipv4Addr::new(203, 0, 113, 100 + i))
        .collect()
}

fn req(pairs: &[(&str, &str)]) -> Request {
    let mut all: Vec<(&str, &str)> = vec![("Version", "2016-11-15")];
    all.extend_from_slice(pairs);
    parse_params(&Params::from_pairs(all).unwrap()).unwrap().1
}

struct Env {
    svc: Ec2Service,
    handle: Handle,
}

async fn start_with(store: SqliteStore, pool_size: u8, config: ApiConfig) -> Env {
    let stored = store.load().unwrap();
    let model = stored.model.clone().unwrap();
    let handle = shell::spawn_with_store(
        Controller::new(model, Config::default()),
        Box::new(store),
        &[],
    )
    .await
    .unwrap();
    let accounts = Accounts::new([
        account("AKIDALICE", "111111111111"),
        account("AKIDBOB", "222222222222"),
    ]);
    let svc = Ec2Service::start(handle.clone(), accounts, pool(pool_size), config, &stored)
        .await
        .unwrap();
    Env { svc, handle }
}

fn fresh_store() -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().unwrap();
    store
        .commit(&initial_writes(&Model::new(test_settings()).unwrap()))
        .unwrap();
    store
}

async fn start(pool_size: u8) -> Env {
    start_with(fresh_store(), pool_size, ApiConfig::default()).await
}

impl Env {
    async fn call(&self, who: &OwnerId, pairs: &[(&str, &str)]) -> Result<Response, Ec2Error> {
        self.svc.execute(who, req(pairs)).await
    }

    async fn ok(&self, who: &OwnerId, pairs: &[(&str, &str)]) -> Response {
        match self.call(who, pairs).await {
            Ok(r) => r,
            Err(e) => panic!("{pairs:?}: {} {}", e.code(), e.message()),
        }
    }

    async fn err(&self, who: &OwnerId, pairs: &[(&str, &str)]) -> String {
        match self.call(who, pairs).await {
            Ok(r) => panic!("{pairs:?} succeeded: {r:?}"),
            Err(e) => e.code().to_owned(),
        }
    }

    async fn model(&self) -> Model {
        self.handle.inspect(|c| c.model().clone()).await.unwrap()
    }

    async fn run(&self, who: &OwnerId, extra: &[(&str, &str)]) -> String {
        let mut p = vec![
            ("Action", "RunInstances"),
            ("ImageId", "ami-00000001"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ];
        p.extend_from_slice(extra);
        match self.ok(who, &p).await {
            Response::RunInstances(r) => r.instances[0].instance_id.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    async fn allocate(&self, who: &OwnerId) -> (Ipv4Addr, String) {
        match self
            .ok(who, &[("Action", "AllocateAddress"), ("Domain", "vpc")])
            .await
        {
            Response::AllocateAddress {
                public_ip,
                allocation_id,
                ..
            } => (public_ip, allocation_id.unwrap().as_str().to_owned()),
            other => panic!("{other:?}"),
        }
    }
}

fn group_named(m: &Model, owner: &OwnerId, name: &str) -> GroupId {
    m.groups()
        .values()
        .find(|g| &g.owner == owner && g.name == name)
        .map(|g| g.id.clone())
        .unwrap_or_else(|| panic!("no group {name}"))
}

#[tokio::test]
async fn every_account_has_a_default_group_admitting_its_members() {
    let env = start(2).await;
    let m = env.model().await;
    for owner in [alice(), bob()] {
        let id = group_named(&m, &owner, "default");
        let g = m.group(&id).unwrap();
        assert!(g.ingress.iter().any(|p| *p.protocol() == Protocol::Any
            && p.peer() == &netrules::model::Peer::Group(id.clone())));
    }
    assert_eq!(
        env.err(
            &alice(),
            &[("Action", "DeleteSecurityGroup"), ("GroupName", "default")]
        )
        .await,
        "InvalidParameterValue"
    );
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", "default"),
                ("GroupDescription", "x")
            ]
        )
        .await,
        "InvalidGroup.Duplicate"
    );
}

#[tokio::test]
async fn instances_launch_into_groups_and_terminate() {
    let env = start(2).await;
    // Without groups: the default group.
    let a = env.run(&alice(), &[]).await;
    let m = env.model().await;
    let inst = m.instance(&InstanceId::new(&a).unwrap()).unwrap();
    assert_eq!(inst.groups, [group_named(&m, &alice(), "default")].into());
    assert_eq!(inst.ip, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(a.len(), "i-".len() + 8, "ids fit Linux interface names");
    // Into named groups, two at once, private addresses in order.
    env.ok(
        &alice(),
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "web"),
            ("GroupDescription", "web servers"),
        ],
    )
    .await;
    let r = env
        .ok(
            &alice(),
            &[
                ("Action", "RunInstances"),
                ("ImageId", "ami-00000001"),
                ("MinCount", "2"),
                ("MaxCount", "2"),
                ("SecurityGroup.1", "web"),
                ("InstanceType", "t2.micro"),
            ],
        )
        .await;
    let Response::RunInstances(res) = r else {
        panic!()
    };
    assert_eq!(res.instances.len(), 2);
    assert_eq!(
        res.instances[1].private_ip_address,
        Some(Ipv4Addr::new(10, 0, 0, 4))
    );
    assert_eq!(res.instances[0].instance_type, "t2.micro");
    assert_eq!(res.instances[0].state, ec2_model::InstanceState::Pending);
    assert_eq!(res.instances[0].groups[0].group_name, "web");
    // Describe: both reservations, pending (no port yet), filters apply.
    let Response::DescribeInstances { reservations, .. } =
        env.ok(&alice(), &[("Action", "DescribeInstances")]).await
    else {
        panic!()
    };
    assert_eq!(reservations.len(), 2);
    let Response::DescribeInstances { reservations, .. } = env
        .ok(
            &alice(),
            &[
                ("Action", "DescribeInstances"),
                ("Filter.1.Name", "instance.group-name"),
                ("Filter.1.Value.1", "web"),
            ],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(reservations.len(), 1);
    assert_eq!(reservations[0].instances.len(), 2);
    // Bob sees none of it, and cannot terminate Alice's instance.
    let Response::DescribeInstances { reservations, .. } =
        env.ok(&bob(), &[("Action", "DescribeInstances")]).await
    else {
        panic!()
    };
    assert!(reservations.is_empty());
    assert_eq!(
        env.err(
            &bob(),
            &[("Action", "TerminateInstances"), ("InstanceId.1", &a)]
        )
        .await,
        "InvalidInstanceID.NotFound"
    );
    assert_eq!(
        env.err(
            &bob(),
            &[
                ("Action", "RunInstances"),
                ("ImageId", "ami-00000001"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("SecurityGroup.1", "web")
            ]
        )
        .await,
        "InvalidGroup.NotFound"
    );
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "RunInstances"),
                ("ImageId", "ami-0000beef"),
                ("MinCount", "1"),
                ("MaxCount", "1")
            ]
        )
        .await,
        "InvalidAMIID.NotFound"
    );
    // Terminate: gone from the model, reported terminated afterwards.
    let Response::TerminateInstances(ch) = env
        .ok(
            &alice(),
            &[("Action", "TerminateInstances"), ("InstanceId.1", &a)],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(ch[0].previous, ec2_model::InstanceState::Pending);
    assert_eq!(ch[0].current, ec2_model::InstanceState::Terminated);
    assert!(env
        .model()
        .await
        .instance(&InstanceId::new(&a).unwrap())
        .is_none());
    let Response::DescribeInstances { reservations, .. } = env
        .ok(
            &alice(),
            &[("Action", "DescribeInstances"), ("InstanceId.1", &a)],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(
        reservations[0].instances[0].state,
        ec2_model::InstanceState::Terminated
    );
    // Its address is free again.
    let b = env.run(&alice(), &[]).await;
    assert_eq!(
        env.model()
            .await
            .instance(&InstanceId::new(&b).unwrap())
            .unwrap()
            .ip,
        Ipv4Addr::new(10, 0, 0, 2)
    );
}

#[tokio::test]
async fn elastic_ip_life_cycle_and_ownership() {
    let env = start(3).await;
    let i1 = env.run(&alice(), &[]).await;
    let i2 = env.run(&alice(), &[]).await;
    let (ip, alloc) = env.allocate(&alice()).await;
    assert_eq!(ip, Ipv4Addr::new(203, 0, 113, 100));
    let ips = ip.to_string();
    // Associate by allocation id.
    let Response::AssociateAddress { association_id } = env
        .ok(
            &alice(),
            &[
                ("Action", "AssociateAddress"),
                ("AllocationId", &alloc),
                ("InstanceId", &i1),
            ],
        )
        .await
    else {
        panic!()
    };
    let assoc = association_id.unwrap().as_str().to_owned();
    let m = env.model().await;
    assert_eq!(m.elastic_ip_of(&InstanceId::new(&i1).unwrap()), Some(ip));
    // A VPC address does not move without AllowReassociation.
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "AssociateAddress"),
                ("AllocationId", &alloc),
                ("InstanceId", &i2)
            ]
        )
        .await,
        "Resource.AlreadyAssociated"
    );
    env.ok(
        &alice(),
        &[
            ("Action", "AssociateAddress"),
            ("AllocationId", &alloc),
            ("InstanceId", &i2),
            ("AllowReassociation", "true"),
        ],
    )
    .await;
    let m = env.model().await;
    assert_eq!(m.elastic_ip_of(&InstanceId::new(&i2).unwrap()), Some(ip));
    assert_eq!(m.elastic_ip_of(&InstanceId::new(&i1).unwrap()), None);
    // Describe shows the association; Bob sees nothing and cannot touch it.
    let Response::DescribeAddresses(addrs) =
        env.ok(&alice(), &[("Action", "DescribeAddresses")]).await
    else {
        panic!()
    };
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[0].instance_id.as_ref().unwrap().as_str(), i2);
    assert_eq!(addrs[0].association_id.as_ref().unwrap().as_str(), assoc);
    let Response::DescribeAddresses(addrs) =
        env.ok(&bob(), &[("Action", "DescribeAddresses")]).await
    else {
        panic!()
    };
    assert!(addrs.is_empty());
    assert_eq!(
        env.err(&bob(), &[("Action", "ReleaseAddress"), ("PublicIp", &ips)])
            .await,
        "AuthFailure"
    );
    assert_eq!(
        env.err(
            &bob(),
            &[("Action", "ReleaseAddress"), ("AllocationId", &alloc)]
        )
        .await,
        "InvalidAllocationID.NotFound"
    );
    assert_eq!(
        env.err(
            &bob(),
            &[("Action", "DescribeAddresses"), ("PublicIp.1", &ips)]
        )
        .await,
        "InvalidAddress.NotFound"
    );
    // Release of an associated VPC address is refused; disassociate by association id first.
    assert_eq!(
        env.err(
            &alice(),
            &[("Action", "ReleaseAddress"), ("AllocationId", &alloc)]
        )
        .await,
        "InvalidIPAddress.InUse"
    );
    env.ok(
        &alice(),
        &[("Action", "DisassociateAddress"), ("AssociationId", &assoc)],
    )
    .await;
    assert_eq!(
        env.err(
            &alice(),
            &[("Action", "DisassociateAddress"), ("AssociationId", &assoc)]
        )
        .await,
        "InvalidAssociationID.NotFound"
    );
    env.ok(
        &alice(),
        &[("Action", "ReleaseAddress"), ("AllocationId", &alloc)],
    )
    .await;
    assert!(env.model().await.elastic_ips().is_empty());
}

#[tokio::test]
async fn standard_addresses_behave_like_ec2_classic() {
    let env = start(3).await;
    let i1 = env.run(&alice(), &[]).await;
    let i2 = env.run(&alice(), &[]).await;
    let Response::AllocateAddress {
        public_ip,
        allocation_id,
        domain,
    } = env
        .ok(
            &alice(),
            &[("Action", "AllocateAddress"), ("Domain", "standard")],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(domain, ec2_model::Domain::Standard);
    assert!(allocation_id.is_none());
    let ip = public_ip.to_string();
    let Response::AssociateAddress { association_id } = env
        .ok(
            &alice(),
            &[
                ("Action", "AssociateAddress"),
                ("PublicIp", &ip),
                ("InstanceId", &i1),
            ],
        )
        .await
    else {
        panic!()
    };
    assert!(association_id.is_none());
    // Classic addresses move without AllowReassociation, and release disassociates.
    env.ok(
        &alice(),
        &[
            ("Action", "AssociateAddress"),
            ("PublicIp", &ip),
            ("InstanceId", &i2),
        ],
    )
    .await;
    assert_eq!(
        env.model()
            .await
            .elastic_ip_of(&InstanceId::new(&i2).unwrap()),
        Some(public_ip)
    );
    env.ok(&alice(), &[("Action", "ReleaseAddress"), ("PublicIp", &ip)])
        .await;
    assert!(env.model().await.elastic_ips().is_empty());
}

#[tokio::test]
async fn the_pool_and_the_account_limit_bound_allocation() {
    let config = ApiConfig {
        max_addresses_per_account: 2,
        ..ApiConfig::default()
    };
    let env = start_with(fresh_store(), 3, config).await;
    env.allocate(&alice()).await;
    env.allocate(&alice()).await;
    assert_eq!(
        env.err(&alice(), &[("Action", "AllocateAddress")]).await,
        "AddressLimitExceeded"
    );
    env.allocate(&bob()).await;
    // The pool (3) is exhausted.
    assert_eq!(
        env.err(&bob(), &[("Action", "AllocateAddress")]).await,
        "AddressLimitExceeded"
    );
    let addrs: BTreeSet<Ipv4Addr> = env.model().await.elastic_ips().keys().copied().collect();
    assert_eq!(addrs, pool(3), "each address handed out once");
}

#[tokio::test]
async fn rules_are_authorized_and_revoked_atomically() {
    let env = start(1).await;
    env.ok(
        &alice(),
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "web"),
            ("GroupDescription", "d"),
        ],
    )
    .await;
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", "web"),
                ("GroupDescription", "d")
            ]
        )
        .await,
        "InvalidGroup.Duplicate"
    );
    // Bob may have his own "web".
    env.ok(
        &bob(),
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "web"),
            ("GroupDescription", "d"),
        ],
    )
    .await;
    // boto 2's flat form.
    env.ok(
        &alice(),
        &[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupName", "web"),
            ("IpProtocol", "tcp"),
            ("FromPort", "22"),
            ("ToPort", "22"),
            ("CidrIp", "10.10.1.0/24"),
        ],
    )
    .await;
    let m = env.model().await;
    let web = group_named(&m, &alice(), "web");
    assert_eq!(m.group(&web).unwrap().ingress.len(), 1);
    // A batch with a duplicate changes nothing.
    let w = web.as_str().to_owned();
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "AuthorizeSecurityGroupIngress"),
                ("GroupId", &w),
                ("IpPermissions.1.IpProtocol", "tcp"),
                ("IpPermissions.1.FromPort", "80"),
                ("IpPermissions.1.ToPort", "80"),
                ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
                ("IpPermissions.2.IpProtocol", "tcp"),
                ("IpPermissions.2.FromPort", "22"),
                ("IpPermissions.2.ToPort", "22"),
                ("IpPermissions.2.IpRanges.1.CidrIp", "10.10.1.0/24"),
            ]
        )
        .await,
        "InvalidPermission.Duplicate"
    );
    assert_eq!(env.model().await.group(&web).unwrap().ingress.len(), 1);
    // Source groups: own by name, and a rule naming a group keeps it in use.
    env.ok(
        &alice(),
        &[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupId", &w),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "5432"),
            ("IpPermissions.1.ToPort", "5432"),
            ("IpPermissions.1.Groups.1.GroupName", "default"),
        ],
    )
    .await;
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "AuthorizeSecurityGroupIngress"),
                ("GroupId", &w),
                ("IpPermissions.1.IpProtocol", "tcp"),
                ("IpPermissions.1.FromPort", "1"),
                ("IpPermissions.1.ToPort", "1"),
                ("IpPermissions.1.Groups.1.GroupName", "nope")
            ]
        )
        .await,
        "InvalidGroup.NotFound"
    );
    // Describe renders the rules back.
    let Response::DescribeSecurityGroups(gs) = env
        .ok(
            &alice(),
            &[("Action", "DescribeSecurityGroups"), ("GroupName.1", "web")],
        )
        .await
    else {
        panic!()
    };
    assert_eq!(gs.len(), 1);
    assert_eq!(gs[0].ip_permissions.len(), 2);
    assert_eq!(
        gs[0].ip_permissions_egress.len(),
        1,
        "a new group allows all egress"
    );
    // Revoke; revoking again is NotFound; Bob cannot touch Alice's group by id.
    env.ok(
        &alice(),
        &[
            ("Action", "RevokeSecurityGroupIngress"),
            ("GroupName", "web"),
            ("IpProtocol", "tcp"),
            ("FromPort", "22"),
            ("ToPort", "22"),
            ("CidrIp", "10.10.1.0/24"),
        ],
    )
    .await;
    assert_eq!(
        env.err(
            &alice(),
            &[
                ("Action", "RevokeSecurityGroupIngress"),
                ("GroupName", "web"),
                ("IpProtocol", "tcp"),
                ("FromPort", "22"),
                ("ToPort", "22"),
                ("CidrIp", "10.10.1.0/24")
            ]
        )
        .await,
        "InvalidPermission.NotFound"
    );
    assert_eq!(
        env.err(
            &bob(),
            &[("Action", "DeleteSecurityGroup"), ("GroupId", &w)]
        )
        .await,
        "InvalidGroup.NotFound"
    );
    // In use by an instance: refused; once it is gone, deleted.
    let i = env.run(&alice(), &[("SecurityGroupId.1", &w)]).await;
    assert_eq!(
        env.err(
            &alice(),
            &[("Action", "DeleteSecurityGroup"), ("GroupId", &w)]
        )
        .await,
        "DependencyViolation"
    );
    env.ok(
        &alice(),
        &[("Action", "TerminateInstances"), ("InstanceId.1", &i)],
    )
    .await;
    env.ok(
        &alice(),
        &[("Action", "DeleteSecurityGroup"), ("GroupId", &w)],
    )
    .await;
    // Egress rules.
    let m = env.model().await;
    let d = group_named(&m, &alice(), "default").as_str().to_owned();
    env.ok(
        &alice(),
        &[
            ("Action", "RevokeSecurityGroupEgress"),
            ("GroupId", &d),
            ("IpPermissions.1.IpProtocol", "-1"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
        ],
    )
    .await;
    let g = env
        .model()
        .await
        .group(&GroupId::new(&d).unwrap())
        .unwrap()
        .clone();
    assert!(g.permissions(Direction::Egress).is_empty());
}

#[tokio::test]
async fn a_group_other_groups_reference_is_in_use() {
    let env = start(1).await;
    for name in ["db", "app", "web"] {
        env.ok(
            &alice(),
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", name),
                ("GroupDescription", "d"),
            ],
        )
        .await;
    }
    // app and web admit db's members; db also admits itself, which does not count.
    for (group, source) in [("app", "db"), ("web", "db"), ("db", "db")] {
        env.ok(
            &alice(),
            &[
                ("Action", "AuthorizeSecurityGroupIngress"),
                ("GroupName", group),
                ("IpPermissions.1.IpProtocol", "tcp"),
                ("IpPermissions.1.FromPort", "5432"),
                ("IpPermissions.1.ToPort", "5432"),
                ("IpPermissions.1.Groups.1.GroupName", source),
            ],
        )
        .await;
    }
    let m = env.model().await;
    let [db, app, web] = ["db", "app", "web"].map(|n| group_named(&m, &alice(), n));
    let e = env
        .call(
            &alice(),
            &[("Action", "DeleteSecurityGroup"), ("GroupName", "db")],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidGroup.InUse");
    assert_eq!(e.http_status(), 400);
    let mut referrers = [app.as_str(), web.as_str()];
    referrers.sort_unstable();
    assert_eq!(
        e.message(),
        format!(
            "Group {} is used by groups: {}, {}",
            db.as_str(),
            referrers[0],
            referrers[1]
        )
    );
    // Once nothing else references it, it goes.
    for group in ["app", "web"] {
        env.ok(
            &alice(),
            &[("Action", "DeleteSecurityGroup"), ("GroupName", group)],
        )
        .await;
    }
    env.ok(
        &alice(),
        &[("Action", "DeleteSecurityGroup"), ("GroupName", "db")],
    )
    .await;
}

#[tokio::test]
async fn dry_runs_change_nothing() {
    let env = start(2).await;
    let before = env.model().await;
    for pairs in [
        &[("Action", "AllocateAddress"), ("DryRun", "true")][..],
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "x"),
            ("GroupDescription", "x"),
            ("DryRun", "true"),
        ][..],
        &[
            ("Action", "RunInstances"),
            ("ImageId", "ami-00000001"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("DryRun", "true"),
        ][..],
    ] {
        assert_eq!(env.err(&alice(), pairs).await, "DryRunOperation");
    }
    let after = env.model().await;
    assert_eq!(before.groups(), after.groups());
    assert!(after.instances().is_empty() && after.elastic_ips().is_empty());
}

#[tokio::test]
async fn a_restart_restores_instances_addresses_and_their_metadata() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.sqlite3");
    let _ = std::fs::remove_file(&path);
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .commit(&initial_writes(&Model::new(test_settings()).unwrap()))
        .unwrap();
    let (i, ip, first) = {
        let env = start_with(store, 2, ApiConfig::default()).await;
        let i = env.run(&alice(), &[("KeyName", "mykey")]).await;
        let (ip, alloc) = env.allocate(&alice()).await;
        env.ok(
            &alice(),
            &[
                ("Action", "AssociateAddress"),
                ("AllocationId", &alloc),
                ("InstanceId", &i),
            ],
        )
        .await;
        let Response::DescribeInstances { reservations, .. } =
            env.ok(&alice(), &[("Action", "DescribeInstances")]).await
        else {
            panic!()
        };
        (i, ip, reservations)
    };
    let env = start_with(SqliteStore::open(&path).unwrap(), 2, ApiConfig::default()).await;
    let Response::DescribeInstances { reservations, .. } =
        env.ok(&alice(), &[("Action", "DescribeInstances")]).await
    else {
        panic!()
    };
    assert_eq!(
        reservations, first,
        "same reservation, launch time, key, addresses"
    );
    assert_eq!(reservations[0].instances[0].ip_address, Some(ip));
    assert_eq!(
        reservations[0].instances[0].key_name.as_deref(),
        Some("mykey")
    );
    assert_eq!(
        env.model()
            .await
            .instance(&InstanceId::new(&i).unwrap())
            .unwrap()
            .ip,
        Ipv4Addr::new(10, 0, 0, 2)
    );
    // Only one default group per account after the second start.
    let m = env.model().await;
    assert_eq!(
        m.groups()
            .values()
            .filter(|g| g.owner == alice() && g.name == "default")
            .count(),
        1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_same_client_token_launches_once() {
    let env = start(1).await;
    let a = env.run(&alice(), &[("ClientToken", "tok-1")]).await;
    let b = env.run(&alice(), &[("ClientToken", "tok-1")]).await;
    assert_eq!(a, b);
    assert_eq!(env.model().await.instances().len(), 1);
}
