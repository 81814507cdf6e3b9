//! The output of `ovs-ofctl -O OpenFlow10 --no-names dump-flows`, parsed.

use super::TestbedError;

/// One flow of a `dump-flows` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry {
    /// The flow's cookie (0 when not shown).
    pub cookie: u64,
    /// The table it is in.
    pub table: u8,
    /// Its priority (32768, the OpenFlow default, when `ovs-ofctl` omits it).
    pub priority: u16,
    /// Idle timeout in seconds (0: none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0: none).
    pub hard_timeout: u16,
    /// Packets that matched it (0 when statistics were not shown).
    pub n_packets: u64,
    /// Bytes that matched it (0 when statistics were not shown).
    pub n_bytes: u64,
    /// The match in `ovs-ofctl` syntax, fields in the order printed, without the priority
    /// (empty for a match-everything flow), e.g. `ip,in_port=1,nw_dst=10.0.0.3`.
    pub match_fields: String,
    /// The actions in `ovs-ofctl` syntax, e.g. `output:9` or `drop`.
    pub actions: String,
}

impl FlowEntry {
    /// The match fields as a list (`ip`, `in_port=1`, ...).
    pub fn match_list(&self) -> Vec<&str> {
        split_top_level(&self.match_fields)
    }

    /// The actions as a list (`mod_nw_dst:10.0.0.2`, `output:1`, ...); `drop` gives `["drop"]`.
    pub fn action_list(&self) -> Vec<&str> {
        split_top_level(&self.actions)
    }

    /// Whether the match has this exact field (`"tcp"` or `"tp_dst=22"`).
    pub fn has_match(&self, field: &str) -> bool {
        self.match_list().contains(&field)
    }
}

/// Splits on commas that are not inside parentheses or brackets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (at, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if let Some(part) = text.get(start..at) {
                    let part = part.trim();
                    if !part.is_empty() {
                        parts.push(part);
                    }
                }
                start = at + 1;
            }
            _ => {}
        }
    }
    if let Some(part) = text.get(start..) {
        let part = part.trim();
        if !part.is_empty() {
            parts.push(part);
        }
    }
    parts
}

fn parse_number<T: TryFrom<u64>>(
    key: &'static str,
    value: &str,
    line: &str,
) -> Result<T, TestbedError> {
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    };
    parsed
        .ok()
        .and_then(|number| T::try_from(number).ok())
        .ok_or_else(|| TestbedError::Parse {
            what: "a dump-flows line",
            input: line.to_owned(),
            reason: format!("{key}={value} is not a number in range"),
        })
}

/// Parses one flow line of `dump-flows` (with or without statistics).
pub fn parse_flow_line(line: &str) -> Result<FlowEntry, TestbedError> {
    let trimmed = line.trim();
    let (head, actions) = if let Some(actions) = trimmed.strip_prefix("actions=") {
        ("", actions)
    } else {
        let at = trimmed
            .find(" actions=")
            .ok_or_else(|| TestbedError::Parse {
                what: "a dump-flows line",
                input: line.to_owned(),
                reason: "no ` actions=` in it".to_owned(),
            })?;
        (
            trimmed.get(..at).unwrap_or_default(),
            trimmed.get(at + " actions=".len()..).unwrap_or_default(),
        )
    };
    let mut entry = FlowEntry {
        cookie: 0,
        table: 0,
        priority: 32768,
        idle_timeout: 0,
        hard_timeout: 0,
        n_packets: 0,
        n_bytes: 0,
        match_fields: String::new(),
        actions: actions.trim().to_owned(),
    };
    let mut fields = Vec::new();
    for token in head.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = match token.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token, None),
        };
        match (key, value) {
            ("cookie", Some(value)) => entry.cookie = parse_number("cookie", value, line)?,
            ("table", Some(value)) => entry.table = parse_number("table", value, line)?,
            ("priority", Some(value)) => entry.priority = parse_number("priority", value, line)?,
            ("idle_timeout", Some(value)) => {
                entry.idle_timeout = parse_number("idle_timeout", value, line)?
            }
            ("hard_timeout", Some(value)) => {
                entry.hard_timeout = parse_number("hard_timeout", value, line)?
            }
            ("n_packets", Some(value)) => entry.n_packets = parse_number("n_packets", value, line)?,
            ("n_bytes", Some(value)) => entry.n_bytes = parse_number("n_bytes", value, line)?,
            // Statistics and ages that change from one dump to the next.
            ("duration" | "idle_age" | "hard_age" | "importance", Some(_)) => {}
            // Flags, shown by some versions.
            (
                "send_flow_rem" | "check_overlap" | "reset_counts" | "no_packet_counts"
                | "no_byte_counts",
                None,
            ) => {}
            _ => fields.push(token),
        }
    }
    entry.match_fields = fields.join(",");
    Ok(entry)
}

/// Parses a whole `dump-flows` output: header lines (`NXST_FLOW reply`, `OFPST_FLOW reply`) and
/// blank lines are skipped, every other line must be a flow.
pub fn parse_dump_flows(output: &str) -> Result<Vec<FlowEntry>, TestbedError> {
    output
        .lines()
        .filter(|line| {
            let line = line.trim();
            !(line.is_empty() || line.starts_with("NXST_FLOW") || line.starts_with("OFPST_FLOW"))
        })
        .map(parse_flow_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "NXST_FLOW reply (xid=0x4):
 cookie=0x5, duration=0.007s, table=0, n_packets=3, n_bytes=294, idle_timeout=30, idle_age=0, priority=100,ip,in_port=1,nw_dst=10.0.0.3 actions=output:9
 cookie=0x0, duration=0.003s, table=0, n_packets=0, n_bytes=0, idle_age=0, priority=0 actions=drop
 cookie=0x0, duration=1.5s, table=0, n_packets=7, n_bytes=700, idle_age=1, actions=NORMAL
 cookie=0xffff, duration=2s, table=0, n_packets=0, n_bytes=0, hard_timeout=60, idle_age=2, priority=200,tcp,nw_src=10.0.0.0/24,tp_dst=22 actions=mod_nw_dst:10.0.0.2,mod_dl_dst:02:00:00:00:00:02,output:1
";

    #[test]
    fn parses_a_dump_with_statistics() {
        let flows = parse_dump_flows(DUMP).unwrap();
        assert_eq!(flows.len(), 4);
        let first = &flows[0];
        assert_eq!(first.cookie, 5);
        assert_eq!(first.priority, 100);
        assert_eq!(first.idle_timeout, 30);
        assert_eq!(first.n_packets, 3);
        assert_eq!(first.n_bytes, 294);
        assert_eq!(first.match_fields, "ip,in_port=1,nw_dst=10.0.0.3");
        assert!(first.has_match("in_port=1"));
        assert_eq!(first.actions, "output:9");
        assert_eq!(flows[1].priority, 0);
        assert_eq!(flows[1].match_fields, "");
        assert_eq!(flows[1].actions, "drop");
        assert_eq!(flows[2].priority, 32768);
        assert_eq!(flows[2].actions, "NORMAL");
        let last = &flows[3];
        assert_eq!(last.cookie, 0xffff);
        assert_eq!(last.hard_timeout, 60);
        assert_eq!(
            last.action_list(),
            vec![
                "mod_nw_dst:10.0.0.2",
                "mod_dl_dst:02:00:00:00:00:02",
                "output:1"
            ]
        );
        assert_eq!(
            last.match_list(),
            vec!["tcp", "nw_src=10.0.0.0/24", "tp_dst=22"]
        );
    }

    #[test]
    fn parses_a_dump_without_statistics() {
        let flows = parse_dump_flows(
            " cookie=0x5, idle_timeout=30, priority=100,ip,in_port=1 actions=output:9\n priority=0 actions=drop\nactions=NORMAL\n",
        )
        .unwrap();
        assert_eq!(flows.len(), 3);
        assert_eq!(flows[0].cookie, 5);
        assert_eq!(flows[0].n_packets, 0);
        assert_eq!(flows[1].priority, 0);
        assert_eq!(flows[2].match_fields, "");
        assert_eq!(flows[2].actions, "NORMAL");
    }

    #[test]
    fn rejects_garbage_with_context() {
        let error = parse_dump_flows("this is not a flow\n").unwrap_err();
        assert!(error.to_string().contains("this is not a flow"), "{error}");
        let error = parse_flow_line("priority=99999 actions=drop").unwrap_err();
        assert!(error.to_string().contains("priority=99999"), "{error}");
    }

    #[test]
    fn splitting_respects_parentheses() {
        assert_eq!(
            split_top_level("learn(a=1,b=2),output:1"),
            vec!["learn(a=1,b=2)", "output:1"]
        );
        assert!(split_top_level("").is_empty());
    }
}
