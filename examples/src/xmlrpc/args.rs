//! Typed decoding of the XML-RPC methods' positional arguments. Every failure names the
//! method, the argument (position and name), what was expected and what was found, and is
//! what the caller gets back as its failure string.

use dxr::Value;
use ipnetwork::Ipv4Network;
use netrules::model::{Dpid, GroupId, Peer, Permission, Protocol};
use openflow_proto::{MacAddr, PortNo};
use std::net::Ipv4Addr;

/// A call's arguments, checked one by one.
#[derive(Debug)]
pub(crate) struct Args<'a> {
    method: &'static str,
    params: &'a [Value],
}

/// The XML-RPC type name of a value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "int",
        Value::Boolean(_) => "boolean",
        Value::String(_) => "string",
        Value::Double(_) => "double",
        Value::DateTime(_) => "dateTime.iso8601",
        Value::Base64(_) => "base64",
        Value::Struct(_) => "struct",
        Value::Array(_) => "array",
        _ => "another type",
    }
}

impl<'a> Args<'a> {
    /// The arguments of `method`, which takes exactly `names.len()` of them.
    pub(crate) fn new(
        method: &'static str,
        params: &'a [Value],
        names: &[&str],
    ) -> Result<Self, String> {
        if params.len() != names.len() {
            return Err(format!(
                "{method} takes {} argument{} ({}), {} given",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                params.len()
            ));
        }
        Ok(Args { method, params })
    }

    fn get(&self, i: usize) -> Result<&'a Value, String> {
        self.params
            .get(i)
            .ok_or_else(|| format!("{}: argument {} is missing", self.method, i + 1))
    }

    fn bad(&self, i: usize, name: &str, expected: &str, found: &str) -> String {
        format!(
            "{}: argument {} ({name}): expected {expected}, found {found}",
            self.method,
            i + 1
        )
    }

    /// A string argument.
    pub(crate) fn string(&self, i: usize, name: &str) -> Result<&'a str, String> {
        match self.get(i)? {
            Value::String(s) => Ok(s.as_str()),
            other => Err(self.bad(i, name, "a string", kind(other))),
        }
    }

    /// An integer argument.
    pub(crate) fn int(&self, i: usize, name: &str) -> Result<i32, String> {
        match self.get(i)? {
            Value::Integer(n) => Ok(*n),
            other => Err(self.bad(i, name, "an int", kind(other))),
        }
    }

    /// An IPv4 address given as a string.
    pub(crate) fn ipv4(&self, i: usize, name: &str) -> Result<Ipv4Addr, String> {
        let s = self.string(i, name)?;
        s.trim()
            .parse()
            .map_err(|_| self.bad(i, name, "an IPv4 address", &format!("{s:?}")))
    }

    /// A unicast MAC address given as a string (`02:00:0a:00:00:02`).
    pub(crate) fn mac(&self, i: usize, name: &str) -> Result<MacAddr, String> {
        let s = self.string(i, name)?;
        let mac: MacAddr = s
            .trim()
            .parse()
            .map_err(|_| self.bad(i, name, "a MAC address", &format!("{s:?}")))?;
        if mac.0[0] & 1 != 0 || mac.0 == [0; 6] {
            return Err(self.bad(i, name, "a unicast MAC address", &format!("{s:?}")));
        }
        Ok(mac)
    }

    /// A datapath id given as a hex string (see [`parse_dpid`]).
    pub(crate) fn dpid(&self, i: usize, name: &str) -> Result<Dpid, String> {
        let s = self.string(i, name)?;
        parse_dpid(s).ok_or_else(|| {
            self.bad(
                i,
                name,
                "a datapath id in hexadecimal (1 to 16 digits, optional 0x and colons)",
                &format!("{s:?}"),
            )
        })
    }

    /// A switch port number (an int, 1 to 0xff00).
    pub(crate) fn port(&self, i: usize, name: &str) -> Result<PortNo, String> {
        let n = self.int(i, name)?;
        match u16::try_from(n) {
            Ok(p) if PortNo(p).is_physical() && p != 0 => Ok(PortNo(p)),
            _ => Err(self.bad(i, name, "a switch port number 1-65280", &n.to_string())),
        }
    }

    /// A security group id (see [`group_id`]).
    pub(crate) fn group_id(&self, i: usize, name: &str) -> Result<GroupId, String> {
        group_id(self.get(i)?)
            .map_err(|e| format!("{}: argument {} ({name}): {e}", self.method, i + 1))
    }

    /// The raw value.
    pub(crate) fn value(&self, i: usize) -> Result<&'a Value, String> {
        self.get(i)
    }

    /// The method's name.
    pub(crate) fn method(&self) -> &'static str {
        self.method
    }
}

/// A datapath id: 1 to 16 hexadecimal digits, with an optional `0x` and optional colons
/// (`0000000000000001`, `0x1`, `00:00:00:00:00:00:00:01`).
pub fn parse_dpid(s: &str) -> Option<Dpid> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 16 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&digits, 16).ok()
}

/// The model id of a security group named in a call: `sg-` and 1 to 17 lowercase hex digits
/// as given, or a number (an int, or a string of decimal digits, as OpenNebula numbers its
/// groups) `n`, which becomes `sg-` and `n` in 8 hex digits (`7` is `sg-00000007`).
pub fn group_id(v: &Value) -> Result<GroupId, String> {
    let from_number = |n: u64| -> Result<GroupId, String> {
        GroupId::new(format!("sg-{n:08x}")).map_err(|e| e.to_string())
    };
    match v {
        Value::Integer(n) if *n >= 0 => from_number(u64::from(n.unsigned_abs())),
        Value::String(s) => {
            let s = s.trim();
            if let Some(hex) = s.strip_prefix("sg-") {
                if !hex.is_empty()
                    && hex.len() <= 17
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return GroupId::new(s).map_err(|e| e.to_string());
                }
            } else if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = s.parse::<u64>() {
                    return from_number(n);
                }
            }
            Err(format!(
                "expected a group id (sg- and hex digits, or a number), found {s:?}"
            ))
        }
        other => Err(format!(
            "expected a group id (sg- and hex digits, or a number), found {}",
            match other {
                Value::Integer(n) => format!("the negative int {n}"),
                o => kind(o).to_owned(),
            }
        )),
    }
}

/// One ingress rule `[protocol, from_port, to_port, cidr]` (protocol `tcp`, `udp`, `icmp`,
/// `-1`/`all` or a number; ports `-1` for any; for ICMP, type and code).
pub fn rule(protocol: &str, from: i32, to: i32, cidr: &str) -> Result<Permission, String> {
    let proto = Protocol::from_ec2(protocol, Some(from), Some(to)).map_err(|e| e.to_string())?;
    let peer = parse_cidr(cidr)?;
    Permission::new(proto, peer).map_err(|e| e.to_string())
}

/// A CIDR block `a.b.c.d/len` (a bare address is a /32).
pub fn parse_cidr(cidr: &str) -> Result<Peer, String> {
    let c = cidr.trim();
    let net: Ipv4Network = c
        .parse()
        .map_err(|_| format!("expected an IPv4 CIDR block, found {cidr:?}"))?;
    Peer::cidr(net.ip(), net.prefix()).map_err(|e| e.to_string())
}

/// A rule given as an XML-RPC array `[protocol, from_port, to_port, cidr]`.
pub fn rule_value(v: &Value) -> Result<Permission, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "a rule must be an array [protocol, from_port, to_port, cidr], found {}",
            kind(v)
        ));
    };
    let [p, f, t, c] = items.as_slice() else {
        return Err(format!(
            "a rule must have 4 items [protocol, from_port, to_port, cidr], found {}",
            items.len()
        ));
    };
    let protocol = match p {
        Value::String(s) => s.clone(),
        Value::Integer(n) => n.to_string(),
        o => {
            return Err(format!(
                "a rule's protocol must be a string, found {}",
                kind(o)
            ))
        }
    };
    let port = |v: &Value, what: &str| match v {
        Value::Integer(n) => Ok(*n),
        o => Err(format!("a rule's {what} must be an int, found {}", kind(o))),
    };
    let cidr = match c {
        Value::String(s) => s.as_str(),
        o => return Err(format!("a rule's cidr must be a string, found {}", kind(o))),
    };
    rule(&protocol, port(f, "from_port")?, port(t, "to_port")?, cidr)
}

/// A group given to `RunInstance`: a struct with `id`, `name` and `rules`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    /// The model id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its ingress rules.
    pub rules: Vec<Permission>,
}

/// The `groups` argument of `RunInstance`: an array of structs `{name, id, rules}`.
pub fn groups_value(v: &Value) -> Result<Vec<GroupSpec>, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "expected an array of group structs, found {}",
            kind(v)
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let at = |e: String| format!("group {}: {e}", n + 1);
        let Value::Struct(fields) = item else {
            return Err(at(format!(
                "expected a struct with name, id and rules, found {}",
                kind(item)
            )));
        };
        let id = group_id(
            fields
                .get("id")
                .ok_or_else(|| at("the id is missing".into()))?,
        )
        .map_err(at)?;
        let name = match fields.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::String(_)) => return Err(at("the name is empty".into())),
            Some(o) => return Err(at(format!("the name must be a string, found {}", kind(o)))),
            None => return Err(at("the name is missing".into())),
        };
        let rules = match fields.get("rules") {
            Some(Value::Array(rules)) => rules
                .iter()
                .enumerate()
                .map(|(r, v)| rule_value(v).map_err(|e| at(format!("rule {}: {e}", r + 1))))
                .collect::<Result<Vec<_>, _>>()?,
            Some(o) => return Err(at(format!("the rules must be an array, found {}", kind(o)))),
            None => Vec::new(),
        };
        if let Some(extra) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "name" | "rules"))
        {
            return Err(at(format!(
                "unknown field {extra:?} (a group has id, name and rules)"
            )));
        }
        out.push(GroupSpec { id, name, rules });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn dpids() {
        assert_eq!(parse_dpid("0000000000000001"), Some(1));
        assert_eq!(parse_dpid("0x1f"), Some(0x1f));
        assert_eq!(parse_dpid("00:00:00:00:00:00:00:02"), Some(2));
        assert_eq!(parse_dpid("ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_dpid(""), None);
        assert_eq!(parse_dpid("0x"), None);
        assert_eq!(parse_dpid("10000000000000000"), None);
        assert_eq!(parse_dpid("xyz"), None);
        assert_eq!(parse_dpid("-1"), None);
    }

    #[test]
    fn group_ids() {
        assert_eq!(
            group_id(&Value::Integer(7)).unwrap().as_str(),
            "sg-00000007"
        );
        assert_eq!(
            group_id(&Value::String("12".into())).unwrap().as_str(),
            "sg-0000000c"
        );
        assert_eq!(
            group_id(&Value::String("sg-0a1b".into())).unwrap().as_str(),
            "sg-0a1b"
        );
        assert!(group_id(&Value::String("sg-XYZ".into())).is_err());
        assert!(group_id(&Value::String("web".into())).is_err());
        assert!(group_id(&Value::Integer(-1)).is_err());
        assert!(group_id(&Value::Boolean(true)).is_err());
    }

    #[test]
    fn rules_and_groups() {
        let r = rule("tcp", 22, 22, "0.0.0.0/0").unwrap();
        assert_eq!(
            r,
            Permission::new(
                Protocol::Tcp(netrules::model::PortRange::single(22)),
                Peer::anywhere()
            )
            .unwrap()
        );
        assert!(rule("tcp", 22, 70000, "0.0.0.0/0").is_err());
        assert!(rule("bogus", 1, 1, "0.0.0.0/0").is_err());
        assert!(rule("udp", 53, 53, "10.0.0.0/33").is_err());
        let mut g = BTreeMap::new();
        g.insert("id".to_owned(), Value::Integer(3));
        g.insert("name".to_owned(), Value::String("web".into()));
        g.insert(
            "rules".to_owned(),
            Value::Array(vec![Value::Array(vec![
                Value::String("tcp".into()),
                Value::Integer(80),
                Value::Integer(80),
                Value::String("0.0.0.0/0".into()),
            ])]),
        );
        let specs = groups_value(&Value::Array(vec![Value::Struct(g.clone())])).unwrap();
        assert_eq!(specs[0].id.as_str(), "sg-00000003");
        assert_eq!(specs[0].rules.len(), 1);
        g.insert("rules".to_owned(), Value::Array(vec![Value::Integer(1)]));
        assert!(groups_value(&Value::Array(vec![Value::Struct(g.clone())])).is_err());
        g.remove("rules");
        g.insert("extra".to_owned(), Value::Integer(1));
        assert!(groups_value(&Value::Array(vec![Value::Struct(g)])).is_err());
        assert!(groups_value(&Value::Integer(1)).is_err());
    }

    /// Any XML-RPC value, a few levels deep.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Value::Integer),
            any::<bool>().prop_map(Value::Boolean),
            "[ -~]{0,24}".prop_map(Value::String),
            prop_oneof![
                Just("tcp"),
                Just("udp"),
                Just("icmp"),
                Just("-1"),
                Just("0.0.0.0/0"),
                Just("sg-7"),
                Just("10.0.0.0/8")
            ]
            .prop_map(|s| Value::String(s.to_owned())),
            any::<f64>().prop_map(Value::Double),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![Just("id"), Just("name"), Just("rules"), Just("x")]
                        .prop_map(str::to_owned),
                    inner,
                    0..4
                )
                .prop_map(Value::Struct),
            ]
        })
    }

    proptest! {
        /// Whatever a caller sends, decoding answers (no panic), and what it accepts is valid.
        #[test]
        fn decoding_never_panics(v in any_value(), params in prop::collection::vec(any_value(), 0..6)) {
            if let Ok(groups) = groups_value(&v) {
                for g in groups {
                    prop_assert!(g.id.as_str().starts_with("sg-"));
                    prop_assert!(!g.name.is_empty());
                }
            }
            let _ = rule_value(&v);
            let _ = group_id(&v);
            if let Ok(a) = Args::new("M", &params, &["a", "b", "c"]) {
                for i in 0..3 {
                    let _ = a.string(i, "a");
                    let _ = a.ipv4(i, "a");
                    let _ = a.mac(i, "a");
                    let _ = a.dpid(i, "a");
                    if let Ok(p) = a.port(i, "a") {
                        prop_assert!(p.is_physical() && p.0 != 0);
                    }
                    let _ = a.group_id(i, "a");
                }
            }
        }

        /// Every datapath id reads back from each accepted spelling.
        #[test]
        fn dpids_read_back(d in any::<u64>()) {
            prop_assert_eq!(parse_dpid(&format!("{d:016x}")), Some(d));
            prop_assert_eq!(parse_dpid(&format!("{d:#x}")), Some(d));
            let bytes = d.to_be_bytes().iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            prop_assert_eq!(parse_dpid(&bytes), Some(d));
        }
    }

    #[test]
    fn arity_and_types() {
        let params = [Value::Integer(1)];
        assert!(Args::new("M", &params, &["a", "b"]).is_err());
        let a = Args::new("M", &params, &["a"]).unwrap();
        let e = a.string(0, "a").unwrap_err();
        assert!(e.contains("expected a string, found int"), "{e}");
        let params = [Value::String("01:00:00:00:00:01".into())];
        let a = Args::new("M", &params, &["mac"]).unwrap();
        assert!(a.mac(0, "mac").is_err());
        let params = [Value::Integer(0xffff)];
        let a = Args::new("M", &params, &["port"]).unwrap();
        assert!(a.port(0, "port").is_err());
    }
}
