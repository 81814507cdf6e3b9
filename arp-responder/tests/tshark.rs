//! Our frames read back by an independent decoder: the test writes a pcap and asks tshark to dissect
//! it. Every frame must decode as the ARP we meant, with no malformed packet and no expert warning.
//! tshark is required: this test fails if it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use arp_responder::{ArpFrame, GratuitousForm, MacAddr, VlanTag};
use pcap_file::pcap::{PcapPacket, PcapWriter};

const REQUEST: &str = include_str!("data/ovs-3.1-packet-in-arp-request.hex");

/// One frame and what tshark must say about it.
struct Case {
    name: &'static str,
    /// The frame written to the pcap.
    frame: ArpFrame,
    /// What tshark must decode, computed from the request (replies) or from the announced
    /// address (gratuitous frames), never from `frame`.
    want: Want,
}

/// The fields tshark must show, in the order of the `-T fields` query below.
struct Want {
    len: usize,
    eth_dst: MacAddr,
    eth_src: MacAddr,
    vlan: Option<VlanTag>,
    opcode: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
    gratuitous: bool,
}

/// The reply a host owning `request.target_ip` at `answered` sends, stated from the request.
fn reply_to(request: &ArpFrame, answered: MacAddr) -> Want {
    Want {
        len: if request.vlan.is_some() { 64 } else { 60 },
        eth_dst: request.sender_mac,
        eth_src: answered,
        vlan: request.vlan,
        opcode: 2,
        sha: answered,
        spa: request.target_ip,
        tha: request.sender_mac,
        tpa: request.sender_ip,
        gratuitous: false,
    }
}

/// A gratuitous announcement of `ip` at `mac`, stated from the announcement.
fn announcement(form: GratuitousForm, mac: MacAddr, ip: Ipv4Addr, vlan: Option<VlanTag>) -> Want {
    let (opcode, tha) = match form {
        GratuitousForm::Request => (1, MacAddr::ZERO),
        GratuitousForm::Reply => (2, mac),
    };
    Want {
        len: if vlan.is_some() { 64 } else { 60 },
        eth_dst: MacAddr::BROADCAST,
        eth_src: mac,
        vlan,
        opcode,
        sha: mac,
        spa: ip,
        tha,
        tpa: ip,
        gratuitous: true,
    }
}

fn cases() -> Vec<Case> {
    let real_request = ArpFrame::parse(&hex::decode(REQUEST.trim()).unwrap()).unwrap();
    let eip_mac: MacAddr = "02:ee:00:00:00:02".parse().unwrap();
    let tag = VlanTag::new(42, 5, false).unwrap();
    let tagged_request = ArpFrame {
        vlan: Some(tag),
        sender_mac: "02:00:00:00:00:03".parse().unwrap(),
        eth_src: "02:00:00:00:00:03".parse().unwrap(),
        sender_ip: Ipv4Addr::new(10, 1, 0, 3),
        ..real_request
    };
    let probe = ArpFrame {
        sender_mac: "02:00:00:00:00:04".parse().unwrap(),
        eth_src: "02:00:00:00:00:04".parse().unwrap(),
        sender_ip: Ipv4Addr::UNSPECIFIED,
        ..real_request
    };
    // Each IP maps to a single MAC across the capture, so tshark's duplicate-address detection
    // stays quiet.
    let moved_mac: MacAddr = "02:ee:00:00:00:0a".parse().unwrap();
    let moved_ip = Ipv4Addr::new(203, 0, 113, 10);
    let moved_tagged_mac: MacAddr = "02:ee:00:00:00:0b".parse().unwrap();
    let moved_tagged_ip = Ipv4Addr::new(203, 0, 113, 11);
    let reply = |name, request: ArpFrame| Case {
        name,
        frame: request.reply(eip_mac),
        want: reply_to(&request, eip_mac),
    };
    let gratuitous = |name, form, mac, ip, vlan| Case {
        name,
        frame: ArpFrame::gratuitous(form, mac, ip, vlan),
        want: announcement(form, mac, ip, vlan),
    };
    vec![
        reply("reply to the real request", real_request),
        reply("tagged reply", tagged_request),
        reply("reply to an RFC 5227 probe", probe),
        gratuitous(
            "gratuitous request",
            GratuitousForm::Request,
            moved_mac,
            moved_ip,
            None,
        ),
        gratuitous(
            "gratuitous reply",
            GratuitousForm::Reply,
            moved_mac,
            moved_ip,
            None,
        ),
        gratuitous(
            "tagged gratuitous request",
            GratuitousForm::Request,
            moved_tagged_mac,
            moved_tagged_ip,
            Some(tag),
        ),
        gratuitous(
            "tagged gratuitous reply",
            GratuitousForm::Reply,
            moved_tagged_mac,
            moved_tagged_ip,
            Some(tag),
        ),
    ]
}

fn write_pcap(path: &Path, cases: &[Case]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let mut buf = [0u8; 64];
        let n = c.frame.write(&mut buf).unwrap();
        let ts = Duration::from_secs(1_700_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, n as u32, &buf[..n]))
            .unwrap();
    }
}

/// Runs tshark; fails loudly if it is missing or fails. Drops the warning tshark prints when run as
/// root.
fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("tshark is required by this test (apt-get install tshark): {e}")
        });
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("Running as user \"root\""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(out.status.success(), "tshark {args:?} failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "tshark {args:?} complained: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn temp_pcap(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("arp-responder-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn tshark_decodes_our_frames_exactly_without_warnings() {
    let cases = cases();
    let path = temp_pcap("frames.pcap");
    write_pcap(&path, &cases);
    let file = path.to_str().unwrap();

    // The full dissection: nothing malformed, no expert information at all.
    let verbose = tshark(&["-r", file, "-V"]);
    assert!(!verbose.is_empty());
    assert!(!verbose.contains("Malformed"), "{verbose}");
    assert!(!verbose.contains("Expert Info"), "{verbose}");
    assert_eq!(
        verbose.matches("Address Resolution Protocol").count(),
        cases.len(),
        "{verbose}"
    );
    let experts = tshark(&["-r", file, "-q", "-z", "expert"]);
    for severity in ["Errors", "Warnings", "Notes"] {
        assert!(!experts.contains(severity), "{experts}");
    }

    // Field by field, as tshark understood it.
    let fields = tshark(&[
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.len",
        "-e",
        "eth.dst",
        "-e",
        "eth.src",
        "-e",
        "vlan.id",
        "-e",
        "vlan.priority",
        "-e",
        "arp.hw.type",
        "-e",
        "arp.proto.type",
        "-e",
        "arp.hw.size",
        "-e",
        "arp.proto.size",
        "-e",
        "arp.opcode",
        "-e",
        "arp.src.hw_mac",
        "-e",
        "arp.src.proto_ipv4",
        "-e",
        "arp.dst.hw_mac",
        "-e",
        "arp.dst.proto_ipv4",
        "-e",
        "arp.isgratuitous",
        "-e",
        "arp.isprobe",
        "-e",
        "_ws.malformed",
        "-e",
        "_ws.expert",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{fields}");
    for (case, line) in cases.iter().zip(&lines) {
        let w = &case.want;
        let v: Vec<&str> = line.split('|').collect();
        assert_eq!(v.len(), 18, "{}: {line}", case.name);
        let (vid, pcp) = match w.vlan {
            Some(t) => (t.vid().to_string(), t.pcp().to_string()),
            None => (String::new(), String::new()),
        };
        let expected = [
            w.len.to_string(),
            w.eth_dst.to_string(),
            w.eth_src.to_string(),
            vid,
            pcp,
            "1".into(),
            "0x0800".into(),
            "6".into(),
            "4".into(),
            w.opcode.to_string(),
            w.sha.to_string(),
            w.spa.to_string(),
            w.tha.to_string(),
            w.tpa.to_string(),
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(v[i], want, "{}: field {i} of {line}", case.name);
        }
        // tshark marks gratuitous ARP with "1" (older releases) or "True".
        let flag = |s: &str| s == "1" || s.eq_ignore_ascii_case("true");
        assert_eq!(flag(v[14]), w.gratuitous, "{}: {line}", case.name);
        assert!(
            !flag(v[15]),
            "{}: a reply or an announcement is never a probe: {line}",
            case.name
        );
        assert!(v[16].is_empty(), "{}: malformed: {line}", case.name);
        assert!(v[17].is_empty(), "{}: expert: {line}", case.name);
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn tshark_agrees_a_tagged_reply_is_64_bytes_and_untagged_60() {
    let cases = cases();
    let path = temp_pcap("lengths.pcap");
    write_pcap(&path, &cases[..2]);
    let out = tshark(&[
        "-r",
        path.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.len",
        "-e",
        "eth.padding",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("60\t"), "{out}");
    assert!(lines[1].starts_with("64\t"), "{out}");
    // Padding is all zero bytes.
    for line in lines {
        let pad = line.split('\t').nth(1).unwrap().replace(':', "");
        assert!(!pad.is_empty() && pad.chars().all(|c| c == '0'), "{out}");
    }
    std::fs::remove_file(&path).unwrap();
}
