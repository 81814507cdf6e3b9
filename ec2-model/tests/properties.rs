//! Property tests: typed request -> query string -> parse is the identity; arbitrary input never
//! panics, and whatever parses re-serialises to itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;

use ec2_model::filters::{
    AddressFilter, Filter, FilterKey, ImageFilter, InstanceFilter, SecurityGroupFilter,
};
use ec2_model::request::*;
use ec2_model::types::{
    AllocationId, AssociationId, GroupId, ImageId, InstanceId, NetworkInterfaceId,
};
use ec2_model::{
    parse_params, parse_request, render, ApiVersion, Domain, HttpRequest, Params, Ports, Protocol,
    Request, Response,
};
use ipnetwork::{Ipv4Network, Ipv6Network};
use proptest::prelude::*;

fn hex_id(prefix: &'static str) -> impl Strategy<Value = String> {
    "[0-9a-f]{1,17}".prop_map(move |h| format!("{prefix}{h}"))
}

fn instance_id() -> impl Strategy<Value = InstanceId> {
    hex_id("i-").prop_map(|s| s.parse().unwrap())
}
fn group_id() -> impl Strategy<Value = GroupId> {
    hex_id("sg-").prop_map(|s| s.parse().unwrap())
}
fn allocation_id() -> impl Strategy<Value = AllocationId> {
    hex_id("eipalloc-").prop_map(|s| s.parse().unwrap())
}
fn association_id() -> impl Strategy<Value = AssociationId> {
    hex_id("eipassoc-").prop_map(|s| s.parse().unwrap())
}
fn image_id() -> impl Strategy<Value = ImageId> {
    hex_id("ami-").prop_map(|s| s.parse().unwrap())
}
fn eni_id() -> impl Strategy<Value = NetworkInterfaceId> {
    hex_id("eni-").prop_map(|s| s.parse().unwrap())
}
fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}
/// Names and descriptions: printable, with the characters that need encoding.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._:/()#,@+=&;{}!$*%~ü-]{1,30}"
}
fn text0() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._:/()#,@+=&;{}!$*%~ü-]{0,30}"
}
fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,30}"
}
fn dry() -> impl Strategy<Value = bool> {
    any::<bool>()
}

fn protocol_and_ports() -> impl Strategy<Value = (Protocol, Ports)> {
    let range = (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Ports::Range {
        from: a.min(b),
        to: a.max(b),
    });
    let icmp = prop_oneof![
        Just(Ports::Icmp {
            icmp_type: None,
            code: None
        }),
        any::<u8>().prop_map(|t| Ports::Icmp {
            icmp_type: Some(t),
            code: None
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(t, c)| Ports::Icmp {
            icmp_type: Some(t),
            code: Some(c)
        }),
    ];
    prop_oneof![
        Just((Protocol::All, Ports::Any)),
        range.clone().prop_map(|p| (Protocol::Tcp, p)),
        range.prop_map(|p| (Protocol::Udp, p)),
        icmp.clone().prop_map(|p| (Protocol::Icmp, p)),
        icmp.prop_map(|p| (Protocol::Icmpv6, p)),
        any::<u8>()
            .prop_filter("named protocols", |n| ![1, 6, 17, 58].contains(n))
            .prop_map(|n| (Protocol::Number(n), Ports::Any)),
    ]
}

fn permission() -> impl Strategy<Value = IpPermission> {
    let ip_range = (ipv4(), 0u8..=32, proptest::option::of(text0())).prop_map(|(a, l, d)| {
        let n = Ipv4Network::new(a, l).unwrap();
        IpRange {
            cidr: Ipv4Network::new(n.network(), l).unwrap(),
            description: d,
        }
    });
    let ip6_range =
        (any::<u128>(), 0u8..=128, proptest::option::of(text0())).prop_map(|(a, l, d)| {
            let n = Ipv6Network::new(a.into(), l).unwrap();
            Ipv6Range {
                cidr: Ipv6Network::new(n.network(), l).unwrap(),
                description: d,
            }
        });
    let pair = (
        proptest::option::of(group_id()),
        proptest::option::of(name()),
        proptest::option::of("[0-9]{12}"),
        proptest::option::of(text0()),
    )
        .prop_filter("id or name", |(i, n, _, _)| i.is_some() || n.is_some())
        .prop_map(
            |(group_id, group_name, user_id, description)| UserIdGroupPair {
                group_id,
                group_name,
                user_id,
                description,
            },
        );
    (
        protocol_and_ports(),
        proptest::collection::vec(ip_range, 0..3),
        proptest::collection::vec(ip6_range, 0..2),
        proptest::collection::vec(pair, 0..3),
    )
        .prop_filter("a source", |(_, a, b, c)| {
            !a.is_empty() || !b.is_empty() || !c.is_empty()
        })
        .prop_map(
            |((protocol, ports), ip_ranges, ipv6_ranges, groups)| IpPermission {
                protocol,
                ports,
                ip_ranges,
                ipv6_ranges,
                groups,
            },
        )
}

fn filters<K: FilterKey + 'static>(fixed: &'static [K]) -> impl Strategy<Value = Vec<Filter<K>>> {
    let key = prop_oneof![
        proptest::sample::select(fixed.to_vec()),
        "[a-zA-Z0-9:_-]{1,10}".prop_map(|k| K::from_name(&format!("tag:{k}")).unwrap()),
    ];
    let filter = (key, proptest::collection::vec(text0(), 1..4))
        .prop_map(|(key, values)| Filter { key, values });
    proptest::collection::vec(filter, 0..3)
}

fn group_ref() -> impl Strategy<Value = GroupRef> {
    prop_oneof![
        group_id().prop_map(GroupRef::Id),
        name().prop_map(GroupRef::Name)
    ]
}

fn address_ref() -> impl Strategy<Value = AddressRef> {
    prop_oneof![
        ipv4().prop_map(AddressRef::PublicIp),
        allocation_id().prop_map(AddressRef::AllocationId)
    ]
}

fn rules(egress: bool) -> BoxedStrategy<SecurityGroupRules> {
    let group = if egress {
        group_id().prop_map(GroupRef::Id).boxed()
    } else {
        group_ref().boxed()
    };
    (group, proptest::collection::vec(permission(), 1..4), dry())
        .prop_map(|(group, permissions, dry_run)| SecurityGroupRules {
            group,
            permissions,
            dry_run,
        })
        .boxed()
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            proptest::option::of(prop_oneof![Just(Domain::Vpc), Just(Domain::Standard)]),
            dry()
        )
            .prop_map(
                |(domain, dry_run)| Request::AllocateAddress(AllocateAddress { domain, dry_run })
            ),
        (
            address_ref(),
            proptest::option::of(instance_id()),
            proptest::option::of(eni_id()),
            proptest::option::of(ipv4()),
            proptest::option::of(any::<bool>()),
            dry()
        )
            .prop_filter("a target", |t| t.1.is_some() || t.2.is_some())
            .prop_map(
                |(
                    address,
                    instance_id,
                    network_interface_id,
                    private_ip_address,
                    allow_reassociation,
                    dry_run,
                )| {
                    Request::AssociateAddress(AssociateAddress {
                        address,
                        instance_id,
                        network_interface_id,
                        private_ip_address,
                        allow_reassociation,
                        dry_run,
                    })
                }
            ),
        (
            prop_oneof![
                ipv4().prop_map(AssociationRef::PublicIp),
                association_id().prop_map(AssociationRef::AssociationId)
            ],
            dry()
        )
            .prop_map(|(association, dry_run)| Request::DisassociateAddress(
                DisassociateAddress {
                    association,
                    dry_run
                }
            )),
        (address_ref(), dry()).prop_map(|(address, dry_run)| Request::ReleaseAddress(
            ReleaseAddress { address, dry_run }
        )),
        (
            proptest::collection::vec(ipv4(), 0..3),
            proptest::collection::vec(allocation_id(), 0..3),
            filters(AddressFilter::FIXED),
            dry()
        )
            .prop_map(|(public_ips, allocation_ids, filters, dry_run)| {
                Request::DescribeAddresses(DescribeAddresses {
                    public_ips,
                    allocation_ids,
                    filters,
                    dry_run,
                })
            }),
        (
            name().prop_filter("not sg-", |n| !n.starts_with("sg-")),
            text0(),
            proptest::option::of(
                token().prop_filter("printable", |t| !t.contains(char::is_control))
            ),
            dry()
        )
            .prop_map(|(group_name, description, vpc_id, dry_run)| {
                Request::CreateSecurityGroup(CreateSecurityGroup {
                    group_name,
                    description,
                    vpc_id,
                    dry_run,
                })
            }),
        (group_ref(), dry()).prop_map(|(group, dry_run)| Request::DeleteSecurityGroup(
            DeleteSecurityGroup { group, dry_run }
        )),
        rules(false).prop_map(Request::AuthorizeSecurityGroupIngress),
        rules(true).prop_map(Request::AuthorizeSecurityGroupEgress),
        rules(false).prop_map(Request::RevokeSecurityGroupIngress),
        rules(true).prop_map(Request::RevokeSecurityGroupEgress),
        (
            proptest::collection::vec(name(), 0..3),
            proptest::collection::vec(group_id(), 0..3),
            filters(SecurityGroupFilter::FIXED),
            dry()
        )
            .prop_map(|(group_names, group_ids, filters, dry_run)| {
                Request::DescribeSecurityGroups(DescribeSecurityGroups {
                    group_names,
                    group_ids,
                    filters,
                    dry_run,
                })
            }),
        (
            proptest::collection::vec(image_id(), 0..3),
            proptest::collection::vec(name(), 0..2),
            proptest::collection::vec(name(), 0..2),
            filters(ImageFilter::FIXED),
            dry()
        )
            .prop_map(|(image_ids, owners, executable_by, filters, dry_run)| {
                Request::DescribeImages(DescribeImages {
                    image_ids,
                    owners,
                    executable_by,
                    filters,
                    dry_run,
                })
            }),
        (
            (image_id(), 1u32..100, 0u32..100),
            (
                proptest::option::of(token()),
                proptest::option::of(name()),
                proptest::option::of("([A-Za-z0-9+/]{4}){0,20}"),
            ),
            (
                proptest::collection::vec(name(), 0..3),
                proptest::collection::vec(group_id(), 0..3),
            ),
            (
                proptest::option::of(token()),
                proptest::option::of(token()),
                proptest::option::of(ipv4()),
                proptest::option::of(token()),
            ),
            dry()
        )
            .prop_map(
                |(
                    (image_id, min_count, extra),
                    (instance_type, key_name, user_data),
                    (security_groups, security_group_ids),
                    (client_token, subnet_id, private_ip_address, availability_zone),
                    dry_run,
                )| {
                    Request::RunInstances(RunInstances {
                        image_id,
                        min_count,
                        max_count: min_count + extra,
                        instance_type,
                        key_name,
                        user_data,
                        security_groups,
                        security_group_ids,
                        client_token,
                        subnet_id,
                        private_ip_address,
                        availability_zone,
                        dry_run,
                    })
                }
            ),
        (
            proptest::collection::vec(instance_id(), 0..3),
            filters(InstanceFilter::FIXED),
            proptest::option::of(5u32..=1000),
            proptest::option::of(token()),
            dry()
        )
            .prop_map(
                |(instance_ids, filters, max_results, next_token, dry_run)| {
                    let max_results = if instance_ids.is_empty() {
                        max_results
                    } else {
                        None
                    };
                    Request::DescribeInstances(DescribeInstances {
                        instance_ids,
                        filters,
                        max_results,
                        next_token,
                        dry_run,
                    })
                }
            ),
        (proptest::collection::vec(instance_id(), 1..4), dry()).prop_map(
            |(instance_ids, dry_run)| Request::TerminateInstances(TerminateInstances {
                instance_ids,
                dry_run
            })
        ),
    ]
}

fn version() -> impl Strategy<Value = ApiVersion> {
    proptest::sample::select(ApiVersion::ALL.to_vec())
}

/// Parameter names clients send, to build noise that reaches deep into the parser.
const NAMES: &[&str] = &[
    "Action",
    "Version",
    "DryRun",
    "Domain",
    "PublicIp",
    "AllocationId",
    "AssociationId",
    "InstanceId",
    "AllowReassociation",
    "GroupName",
    "GroupId",
    "GroupDescription",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
    "ImageId",
    "MinCount",
    "MaxCount",
    "UserData",
    "MaxResults",
    "PublicIp.1",
    "InstanceId.1",
    "InstanceId.0",
    "GroupName.1",
    "GroupId.2",
    "SecurityGroup.1",
    "SecurityGroupId.1",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "Filter.2.Value.1",
    "Filter.x.Name",
    "IpPermissions.1.IpProtocol",
    "IpPermissions.1.FromPort",
    "IpPermissions.1.ToPort",
    "IpPermissions.1.IpRanges.1.CidrIp",
    "IpPermissions.1.IpRanges.1.Description",
    "IpPermissions.1.Ipv6Ranges.1.CidrIpv6",
    "IpPermissions.1.Groups.1.GroupId",
    "IpPermissions.1.Groups.1.GroupName",
    "IpPermissions.1.Groups.1.UserId",
    "IpPermissions.2.IpProtocol",
    "IpPermissions.01.IpProtocol",
    "IpPermissions.1",
    "IpPermissions.1.IpRanges.1",
    "IpPermissions.99999.IpProtocol",
];
const VALUES: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "DescribeAddresses",
    "DescribeInstances",
    "RunInstances",
    "AssociateAddress",
    "DescribeImages",
    "CreateSecurityGroup",
    "DescribeSecurityGroups",
    "TerminateInstances",
    "ReleaseAddress",
    "DisassociateAddress",
    "AllocateAddress",
    "DeleteSecurityGroup",
    "2016-11-15",
    "2014-10-01",
    "tcp",
    "udp",
    "icmp",
    "-1",
    "all",
    "6",
    "300",
    "0",
    "22",
    "65535",
    "65536",
    "-2",
    "x",
    "",
    "10.0.0.0/8",
    "10.1.2.3/8",
    "0.0.0.0/33",
    "::/0",
    "1.2.3.4",
    "sg-1",
    "sg-",
    "i-1",
    "ami-1",
    "eipalloc-1",
    "eipassoc-1",
    "true",
    "false",
    "vpc",
    "standard",
    "web",
    "sg-web",
    "domain",
    "instance-state-name",
    "group-name",
    "public-ip",
    "tag:Name",
    "bogus",
    "*",
    "aGk=",
    "5",
];

fn noise_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        4 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[A-Za-z0-9.]{1,12}",
    ];
    let value = prop_oneof![
        4 => proptest::sample::select(VALUES).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    proptest::collection::vec((name, value), 0..14).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|(n, _)| seen.insert(n.clone()));
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn typed_request_round_trips_through_the_query_string(r in request(), v in version()) {
        let params = r.to_params(v);
        // As a POST form body (botocore) ...
        let post = HttpRequest::form_post(params.to_urlencoded());
        prop_assert_eq!(parse_request(&post), Ok((v, r.clone())));
        // ... and as a GET query string (boto 2's deprecated calls, presigned URLs).
        let get = HttpRequest::new("GET", &format!("/?{}", params.to_urlencoded()));
        prop_assert_eq!(parse_request(&get), Ok((v, r)));
    }

    #[test]
    fn params_round_trip_through_url_encoding(
        pairs in proptest::collection::btree_map("[^\\x00]{1,12}", any::<String>(), 0..12),
    ) {
        let params = Params::from_pairs(pairs.iter()).unwrap();
        let encoded = params.to_urlencoded();
        prop_assert!(encoded.is_ascii());
        let back = Params::parse_urlencoded(encoded.as_bytes(), &ec2_model::Limits::DEFAULT).unwrap();
        prop_assert_eq!(&back, &params);
        let got: Vec<(String, String)> =
            back.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        let want: Vec<(String, String)> = pairs.into_iter().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), "[A-Z]{0,7}"],
        target in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        form in any::<bool>(),
    ) {
        let mut req = HttpRequest::new(method, &target).with_body(body);
        if form {
            req = req.with_header("Content-Type", "application/x-www-form-urlencoded");
        }
        if let Err(e) = parse_request(&req) {
            prop_assert!(e.http_status() >= 400);
            prop_assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn structured_noise_never_panics_and_what_parses_is_stable(pairs in noise_params()) {
        let params = Params::from_pairs(pairs).unwrap();
        let body = params.to_urlencoded();
        match parse_request(&HttpRequest::form_post(body)) {
            Ok((v, r)) => {
                // Whatever parses is canonical after one round.
                prop_assert_eq!(parse_params(&r.to_params(v)), Ok((v, r)));
            }
            Err(e) => {
                prop_assert_eq!(e.http_status(), 400);
                prop_assert!(e.message().len() < 1024);
            }
        }
    }

    #[test]
    fn rendered_responses_are_well_formed(
        names in proptest::collection::vec(any::<String>(), 1..4),
        v in version(),
        id in any::<String>(),
    ) {
        let groups = names.iter().map(|n| ec2_model::response::SecurityGroup {
            owner_id: n.clone(),
            group_id: GroupId::from_u64(1),
            group_name: n.clone(),
            description: n.clone(),
            vpc_id: Some(n.clone()),
            ip_permissions: vec![],
            ip_permissions_egress: vec![],
        }).collect();
        let xml = render(&Response::DescribeSecurityGroups(groups), v, &id);
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut texts = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Text(t)) => {
                    t.unescape().unwrap();
                    texts += 1;
                }
                Ok(_) => {}
                Err(e) => prop_assert!(false, "not well-formed: {e}\n{xml}"),
            }
        }
        prop_assert!(texts >= 1);
        let err = ec2_model::Ec2Error::new(ec2_model::ErrorCode::InternalError, names[0].clone());
        let xml = err.render_xml(&id);
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => prop_assert!(false, "not well-formed: {e}\n{xml}"),
            }
        }
    }
}
