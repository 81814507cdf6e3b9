//! `Filter.N.Name` / `Filter.N.Value.M` filters of the describe calls, and their matching.
//!
//! EC2 semantics: a resource is selected when it passes every filter (AND); it passes a filter
//! when one of the filter's values matches one of the resource's values for that key (OR).
//! Values are patterns: `*` matches any sequence (also empty), `?` exactly one character, and `\`
//! escapes the next character. Matching is case-sensitive.
//!
//! Each describe call has its own key type ([`AddressFilter`], [`SecurityGroupFilter`],
//! [`InstanceFilter`], [`ImageFilter`]); a name the call does not know is an
//! `InvalidParameterValue` error ("The filter 'x' is invalid"), as in EC2.

use std::borrow::Cow;
use std::fmt;

use crate::error::{quote, Ec2Error, ErrorCode};

/// A filter key of one describe call.
pub trait FilterKey: Sized + Clone + fmt::Debug + PartialEq {
    /// The key for a `Filter.N.Name` value, `None` when the call does not support it.
    fn from_name(name: &str) -> Option<Self>;
    /// The name as sent in `Filter.N.Name`.
    fn name(&self) -> Cow<'_, str>;
}

/// One filter: a key and the patterns any of which must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<K> {
    /// What the filter looks at.
    pub key: K,
    /// The patterns (at least one).
    pub values: Vec<String>,
}

impl<K: FilterKey> Filter<K> {
    /// Whether one of the patterns matches one of the candidate values.
    pub fn matches_any<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) -> bool {
        candidates
            .into_iter()
            .any(|c| self.values.iter().any(|p| wildcard_match(p, c)))
    }
}

/// Whether a resource passes every filter. `values_of` gives the resource's values for a key
/// (none, one or several: an instance has several group ids); a key with no values fails.
///
/// ```
/// use ec2_model::filters::{matches_all, AddressFilter, Filter};
/// let filters = vec![Filter { key: AddressFilter::PublicIp, values: vec!["203.0.113.*".into()] }];
/// assert!(matches_all(&filters, |k| match k {
///     AddressFilter::PublicIp => vec!["203.0.113.7".to_string()],
///     _ => vec![],
/// }));
/// ```
pub fn matches_all<K, F, S>(filters: &[Filter<K>], mut values_of: F) -> bool
where
    K: FilterKey,
    F: FnMut(&K) -> Vec<S>,
    S: AsRef<str>,
{
    filters.iter().all(|f| {
        let vals = values_of(&f.key);
        f.matches_any(vals.iter().map(AsRef::as_ref))
    })
}

/// EC2 wildcard matching: `*` any sequence, `?` one character, `\` escapes. Runs in
/// O(pattern × text) at worst, without recursion.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy)]
    enum Tok {
        Lit(char),
        One,
        Star,
    }
    let mut toks = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            // A trailing backslash stands for itself.
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Lit(c)) if text.get(t) == Some(c) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                backtrack = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    toks[p.min(toks.len())..]
        .iter()
        .all(|t| matches!(t, Tok::Star))
}

/// `Filter.N.Value.`, formatted only when an error message needs it.
struct ValuePrefix(u32);

impl fmt::Display for ValuePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Filter.{}.Value.", self.0)
    }
}

/// Parses `Filter.N.Name` / `Filter.N.Value.M` from the grouped `(rest, value)` pairs of one
/// index `n` (rest is `Name` or `Value.M`).
pub(crate) fn parse_filter<K: FilterKey>(
    n: u32,
    fields: &[(&str, &str)],
) -> Result<Filter<K>, Ec2Error> {
    let mut name = None;
    let mut values: Vec<(u32, String)> = Vec::new();
    for (rest, value) in fields {
        if *rest == "Name" {
            name = Some(*value);
        } else if let Some(idx) = rest.strip_prefix("Value.") {
            let m = crate::request::parse_index(ValuePrefix(n), idx)?;
            values.push((m, (*value).to_owned()));
        } else {
            return Err(Ec2Error::new(
                ErrorCode::UnknownParameter,
                format!("The parameter Filter.{n}.{} is not recognized", quote(rest)),
            ));
        }
    }
    let name = name.ok_or_else(|| Ec2Error::missing_parameter(format!("Filter.{n}.Name")))?;
    let key = K::from_name(name).ok_or_else(|| {
        Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "The filter '{}' is invalid (parameter Filter.{n}.Name)",
                quote(name)
            ),
        )
    })?;
    if values.is_empty() {
        return Err(Ec2Error::missing_parameter(format!("Filter.{n}.Value.1")));
    }
    values.sort_by_key(|(m, _)| *m);
    Ok(Filter {
        key,
        values: values.into_iter().map(|(_, v)| v).collect(),
    })
}

macro_rules! filter_keys {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// `tag:<key>`: the value of the tag with this key.
            Tag(String),
            /// `tag-key`: the keys of the resource's tags.
            TagKey,
        }

        impl $name {
            /// Every fixed key (without `tag:<key>`).
            pub const FIXED: &'static [$name] = &[$($name::$variant,)* $name::TagKey];
        }

        impl FilterKey for $name {
            fn from_name(name: &str) -> Option<Self> {
                if let Some(k) = name.strip_prefix("tag:") {
                    return (!k.is_empty()).then(|| $name::Tag(k.to_owned()));
                }
                match name {
                    $($text => Some($name::$variant),)*
                    "tag-key" => Some($name::TagKey),
                    _ => None,
                }
            }

            fn name(&self) -> Cow<'_, str> {
                match self {
                    $($name::$variant => Cow::Borrowed($text),)*
                    $name::Tag(k) => Cow::Owned(format!("tag:{k}")),
                    $name::TagKey => Cow::Borrowed("tag-key"),
                }
            }
        }
    };
}

filter_keys!(
    /// Filters of `DescribeAddresses`.
    AddressFilter {
        /// `allocation-id`.
        AllocationId => "allocation-id",
        /// `association-id`.
        AssociationId => "association-id",
        /// `domain` (`vpc` or `standard`).
        Domain => "domain",
        /// `instance-id`.
        InstanceId => "instance-id",
        /// `network-interface-id`.
        NetworkInterfaceId => "network-interface-id",
        /// `network-interface-owner-id`.
        NetworkInterfaceOwnerId => "network-interface-owner-id",
        /// `private-ip-address`.
        PrivateIpAddress => "private-ip-address",
        /// `public-ip`.
        PublicIp => "public-ip",
    }
);

filter_keys!(
    /// Filters of `DescribeSecurityGroups`. `ip-permission.*` look at ingress rules,
    /// `egress.ip-permission.*` at egress rules.
    SecurityGroupFilter {
        /// `description`.
        Description => "description",
        /// `group-id`.
        GroupId => "group-id",
        /// `group-name`.
        GroupName => "group-name",
        /// `owner-id`.
        OwnerId => "owner-id",
        /// `vpc-id`.
        VpcId => "vpc-id",
        /// `ip-permission.cidr`.
        IpPermissionCidr => "ip-permission.cidr",
        /// `ip-permission.from-port`.
        IpPermissionFromPort => "ip-permission.from-port",
        /// `ip-permission.to-port`.
        IpPermissionToPort => "ip-permission.to-port",
        /// `ip-permission.protocol`.
        IpPermissionProtocol => "ip-permission.protocol",
        /// `ip-permission.group-id`.
        IpPermissionGroupId => "ip-permission.group-id",
        /// `ip-permission.group-name`.
        IpPermissionGroupName => "ip-permission.group-name",
        /// `ip-permission.user-id`.
        IpPermissionUserId => "ip-permission.user-id",
        /// `ip-permission.ipv6-cidr`.
        IpPermissionIpv6Cidr => "ip-permission.ipv6-cidr",
        /// `egress.ip-permission.cidr`.
        EgressCidr => "egress.ip-permission.cidr",
        /// `egress.ip-permission.from-port`.
        EgressFromPort => "egress.ip-permission.from-port",
        /// `egress.ip-permission.to-port`.
        EgressToPort => "egress.ip-permission.to-port",
        /// `egress.ip-permission.protocol`.
        EgressProtocol => "egress.ip-permission.protocol",
        /// `egress.ip-permission.group-id`.
        EgressGroupId => "egress.ip-permission.group-id",
        /// `egress.ip-permission.group-name`.
        EgressGroupName => "egress.ip-permission.group-name",
        /// `egress.ip-permission.user-id`.
        EgressUserId => "egress.ip-permission.user-id",
        /// `egress.ip-permission.ipv6-cidr`.
        EgressIpv6Cidr => "egress.ip-permission.ipv6-cidr",
    }
);

filter_keys!(
    /// Filters of `DescribeInstances`.
    InstanceFilter {
        /// `availability-zone`.
        AvailabilityZone => "availability-zone",
        /// `dns-name`.
        DnsName => "dns-name",
        /// `group-id` (EC2-Classic spelling).
        GroupId => "group-id",
        /// `group-name` (EC2-Classic spelling).
        GroupName => "group-name",
        /// `instance.group-id`.
        InstanceGroupId => "instance.group-id",
        /// `instance.group-name`.
        InstanceGroupName => "instance.group-name",
        /// `image-id`.
        ImageId => "image-id",
        /// `instance-id`.
        InstanceId => "instance-id",
        /// `instance-state-code`.
        InstanceStateCode => "instance-state-code",
        /// `instance-state-name`.
        InstanceStateName => "instance-state-name",
        /// `instance-type`.
        InstanceType => "instance-type",
        /// `ip-address` (the public address).
        IpAddress => "ip-address",
        /// `key-name`.
        KeyName => "key-name",
        /// `launch-index`.
        LaunchIndex => "launch-index",
        /// `owner-id`.
        OwnerId => "owner-id",
        /// `private-dns-name`.
        PrivateDnsName => "private-dns-name",
        /// `private-ip-address`.
        PrivateIpAddress => "private-ip-address",
        /// `reservation-id`.
        ReservationId => "reservation-id",
        /// `subnet-id`.
        SubnetId => "subnet-id",
        /// `vpc-id`.
        VpcId => "vpc-id",
        /// `architecture` (`x86_64`, `arm64`...).
        Architecture => "architecture",
        /// `root-device-type` (`ebs`, `instance-store`).
        RootDeviceType => "root-device-type",
        /// `root-device-name` (`/dev/sda1`...).
        RootDeviceName => "root-device-name",
        /// `virtualization-type` (`hvm`, `paravirtual`).
        VirtualizationType => "virtualization-type",
        /// `hypervisor` (`xen`, `nitro`...).
        Hypervisor => "hypervisor",
        /// `client-token`: the idempotency token the instance was launched with.
        ClientToken => "client-token",
        /// `association.public-ip`: the public address bound to the instance's interface.
        AssociationPublicIp => "association.public-ip",
        /// `network-interface.addresses.association.public-ip`: the same address, as seen
        /// through the interface's addresses.
        NetworkInterfaceAddressesAssociationPublicIp => "network-interface.addresses.association.public-ip",
        /// `network-interface.mac-address`.
        NetworkInterfaceMacAddress => "network-interface.mac-address",
    }
);

filter_keys!(
    /// Filters of `DescribeImages`.
    ImageFilter {
        /// `architecture`.
        Architecture => "architecture",
        /// `description`.
        Description => "description",
        /// `image-id`.
        ImageId => "image-id",
        /// `image-type`.
        ImageType => "image-type",
        /// `is-public`.
        IsPublic => "is-public",
        /// `name`.
        Name => "name",
        /// `owner-alias`.
        OwnerAlias => "owner-alias",
        /// `owner-id`.
        OwnerId => "owner-id",
        /// `root-device-type`.
        RootDeviceType => "root-device-type",
        /// `state`.
        State => "state",
        /// `virtualization-type`.
        VirtualizationType => "virtualization-type",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("web", "web"));
        assert!(!wildcard_match("web", "Web"));
        assert!(!wildcard_match("web", "webs"));
        assert!(wildcard_match("web*", "web-servers"));
        assert!(wildcard_match("*servers", "web-servers"));
        assert!(wildcard_match("w?b", "wub"));
        assert!(!wildcard_match("w?b", "wb"));
        assert!(wildcard_match("10.0.*.1", "10.0.255.1"));
        assert!(!wildcard_match("10.0.*.1", "10.0.255.2"));
        assert!(wildcard_match("a*b*c", "aXXbYYbc"));
        assert!(wildcard_match("a\\*", "a*"));
        assert!(!wildcard_match("a\\*", "ab"));
        assert!(wildcard_match("a\\?", "a?"));
        assert!(wildcard_match("a\\", "a\\"));
        assert!(wildcard_match("ü?", "üß"));
        assert!(wildcard_match("**a**", "xa"));
        // Pathological patterns stay fast.
        let text = "a".repeat(2000);
        assert!(!wildcard_match(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn keys_round_trip() {
        for k in SecurityGroupFilter::FIXED {
            assert_eq!(SecurityGroupFilter::from_name(&k.name()).as_ref(), Some(k));
        }
        for k in InstanceFilter::FIXED {
            assert_eq!(InstanceFilter::from_name(&k.name()).as_ref(), Some(k));
        }
        assert_eq!(
            AddressFilter::from_name("tag:Name"),
            Some(AddressFilter::Tag("Name".into()))
        );
        assert_eq!(AddressFilter::from_name("tag:"), None);
        assert_eq!(ImageFilter::from_name("nope"), None);
        assert_eq!(AddressFilter::Tag("k".into()).name(), "tag:k");
    }

    #[test]
    fn parses_and_matches() {
        let f: Filter<AddressFilter> = parse_filter(
            1,
            &[
                ("Name", "domain"),
                ("Value.2", "standard"),
                ("Value.1", "vpc"),
            ],
        )
        .unwrap();
        assert_eq!(f.key, AddressFilter::Domain);
        assert_eq!(f.values, ["vpc", "standard"]);
        assert!(f.matches_any(["standard"]));
        assert!(!f.matches_any(["other"]));
        assert!(!f.matches_any(Vec::<&str>::new()));
        let e =
            parse_filter::<AddressFilter>(2, &[("Name", "bogus"), ("Value.1", "x")]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(e.message().contains("'bogus'") && e.message().contains("Filter.2.Name"));
        let e = parse_filter::<AddressFilter>(1, &[("Value.1", "x")]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::MissingParameter);
        let e = parse_filter::<AddressFilter>(1, &[("Name", "domain")]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::MissingParameter);
        let e =
            parse_filter::<AddressFilter>(1, &[("Name", "domain"), ("Values.1", "x")]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::UnknownParameter);
        let filters = vec![
            f,
            Filter {
                key: AddressFilter::PublicIp,
                values: vec!["1.2.*".into()],
            },
        ];
        assert!(matches_all(&filters, |k| match k {
            AddressFilter::Domain => vec!["vpc"],
            AddressFilter::PublicIp => vec!["1.2.3.4"],
            _ => vec![],
        }));
        assert!(!matches_all(&filters, |k| match k {
            AddressFilter::Domain => vec!["vpc"],
            _ => vec![],
        }));
        assert!(matches_all::<AddressFilter, _, &str>(&[], |_| vec![]));
    }
}
