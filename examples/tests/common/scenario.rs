//! The end-to-end scenario of issue #6, the same for every client: a real EC2 client drives the
//! in-process controller (`App::start`, the EC2 API on loopback) while real Open vSwitch
//! bridges enforce what it installs, and real traffic between namespaces shows the result.
//!
//! The cloud: hypervisors `hv1` and `hv2` (datapath ids 1 and 2, uplinks on port 1) joined by
//! an outside segment. The outside host is the public gateway (`203.0.113.1`, also the router
//! of `198.51.100.0/24`, where a second outside host `198.51.100.20` lives). The pool holds one
//! elastic IP, `203.0.113.20`.
//!
//! Instances: A in group `web` on hv1, B in group `app` on hv2, D in group `other` on hv2.
//!
//! In order: groups are created and instances run into them (pending until their port
//! appears, then running); inbound is blocked by default; the elastic IP is allocated (a
//! second allocation finds the pool exhausted) and associated; the outside host, its neighbour
//! table emptied and `arp_accept=0`, learns the elastic IP's MAC from the controller's ARP reply
//! (even while no rule admits TCP); TCP 22 from anywhere opens it
//! (the inbound translation is checked with `ovs-ofctl -O OpenFlow10 dump-flows`), TCP 80
//! stays closed until a /32 rule admits the outside host and not the second one; A reaches
//! the outside as the elastic IP and its replies pass without an inbound rule; a source-group
//! rule admits B (across hypervisors) and not D; D forging B's address is dropped;
//! disassociating cuts the address (its flows gone); associating it with B on hv2 moves it
//! (the outside host's neighbour entry, set to a wrong MAC first, and the segment's forwarding
//! follow the gratuitous ARP, traffic reaches B); revoking closes the port to new connections; a direct move back
//! to A (re-association); release returns the address to the pool; bad requests get their
//! EC2 error codes; requests signed with a wrong secret get `AuthFailure` and change nothing.
//! Every check of a closed port first waits until Open vSwitch's datapath follows its tables
//! ([`Bed::settle`]).

use super::clients::{ApiError, ApiResult, CidrRule, Ec2Client, Eip, Endpoint, Group, Launched};
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use examples::testbed::{
    check_prerequisites, Cloud, Exchange, FlowEntry, InstanceSpec, MacAddr, Netns, OutsideSpec,
    Protocol, OUTSIDE_SEGMENT,
};
use netrules::compile::cookie;
use netrules::model::InstanceId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A "must fail" exchange waits this long.
const SHORT: Duration = Duration::from_millis(1500);
/// A "must pass" exchange may take this long (the first packets may go through the
/// controller; TCP retransmits a lost SYN after 1 and 3 more seconds). It returns as soon as
/// it is answered.
const LONG: Duration = Duration::from_secs(10);

const ACCESS_KEY: &str = "AKIAE2ETESTEXAMPLE01";
const SECRET_KEY: &str = "e2eSecretKeyForTheOvsEc2ControllerTests0";
const WRONG_SECRET: &str = "e2eSecretKeyForTheOvsEc2ControllerTests1";
const OWNER: &str = "111122223333";
const IMAGE: &str = "ami-00000001";

/// The outside host: the public gateway.
const OUTSIDE_MAC: &str = "02:00:cb:00:71:01";
const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The second outside host, routed through the first.
const FAR_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
const FAR_GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const ELASTIC_IP_MAC: &str = "02:00:00:00:00:03";
/// The pool: one address.
const POOL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn config() -> String {
    format!(
        r#"
[api]
pool = ["{POOL_IP}"]

[[accounts]]
access_key = "{ACCESS_KEY}"
secret_key = "{SECRET_KEY}"
owner = "{OWNER}"

[model.settings]
subnet = "10.0.0.0/24"
gateway = "{GATEWAY}"
router_mac = "02:00:00:00:00:01"
public_gateway = "{OUTSIDE_IP}"
public_gateway_mac = "{OUTSIDE_MAC}"
elastic_ip_mac = "{ELASTIC_IP_MAC}"

[[model.switches]]
dpid = 1
uplink = 1

[[model.switches]]
dpid = 2
uplink = 1
"#
    )
}

/// A state directory removed on drop.
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The controller on its own runtime, and the cloud pointed at it.
pub(crate) struct Bed {
    // Drop order: the cloud first (its switches disconnect), then the controller.
    pub(crate) cloud: Cloud,
    pub(crate) app: App,
    pub(crate) rt: tokio::runtime::Runtime,
    _state: StateDir,
}

impl Bed {
    /// Starts the controller and the cloud, with names starting with `prefix`.
    pub(crate) fn start(prefix: &str) -> Bed {
        if let Err(e) = check_prerequisites() {
            panic!("{e}");
        }
        // The clients' Python, checked before anything is built.
        super::clients::python();
        let _ = examples::testbed::cleanup_stale(prefix);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("{prefix}{}-state", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = StateDir(dir);
        let db = state.0.join("state.sqlite3");
        let args: Args = clap::Parser::parse_from([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--state-file",
            db.to_str().unwrap(),
        ]);
        let mut resolved = args.merge(FileConfig::parse(&config()).unwrap()).unwrap();
        let store = resolved.open_state(&args).unwrap();
        let app = rt.block_on(App::start(resolved, store)).unwrap();

        let outside = OutsideSpec {
            addresses: vec![
                format!("{OUTSIDE_IP}/24").parse().unwrap(),
                format!("{FAR_GATEWAY}/24").parse().unwrap(),
            ],
            gateway: None,
            mac: Some(OUTSIDE_MAC.parse().unwrap()),
        };
        let mut cloud = Cloud::seed()
            .prefix(prefix)
            .outside(outside)
            .start()
            .unwrap();
        // The outside host routes between its two networks.
        let out = cloud.outside_host();
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.eth0.send_redirects", "0"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.eth0.rp_filter", "0"),
        ] {
            out.set_sysctl(key, value).unwrap();
        }
        cloud
            .add_outside_host(
                "far",
                OutsideSpec {
                    addresses: vec![format!("{FAR_IP}/24").parse().unwrap()],
                    gateway: Some(FAR_GATEWAY),
                    mac: None,
                },
            )
            .unwrap();
        cloud.set_controller(app.openflow[0]).unwrap();
        let bed = Bed {
            cloud,
            app,
            rt,
            _state: state,
        };
        wait_for(
            "both switches to connect and be reconciled",
            Duration::from_secs(30),
            || {
                bed.rt
                    .block_on(bed.app.handle.inspect(|c| c.is_ready(1) && c.is_ready(2)))
                    .unwrap()
                    .then_some(())
            },
        );
        bed
    }

    /// The endpoint and credentials for clients.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.app.api,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
        }
    }

    fn netns(&self, id: &str) -> &Netns {
        self.cloud.instance(id).unwrap().netns()
    }

    /// The MAC the controller gave instance `id` (the namespace must use it: the switch
    /// drops frames from any other).
    fn instance_mac(&self, id: &str) -> MacAddr {
        let id = InstanceId::new(id).unwrap();
        let mac = self
            .rt
            .block_on(
                self.app
                    .handle
                    .inspect(move |c| c.model().instance(&id).map(|i| i.mac.to_string())),
            )
            .unwrap()
            .unwrap_or_else(|| panic!("the controller's model has no such instance"));
        mac.parse().unwrap()
    }

    /// Waits until the outside segment forwards the elastic IP's MAC to `port` (`seg1`: hv1's
    /// uplink, `seg2`: hv2's).
    fn wait_segment_forwards_eip_to(&self, port: &str) {
        let segment = self.cloud.ovs().switch_netns();
        let dev = format!(" dev {port} ");
        wait_for(
            &format!("the outside segment to forward the elastic IP's MAC to {port}"),
            Duration::from_secs(10),
            || {
                let fdb = segment
                    .exec_ok("bridge", &["fdb", "show", "br", OUTSIDE_SEGMENT])
                    .unwrap();
                fdb.lines()
                    .any(|l| l.starts_with(ELASTIC_IP_MAC) && l.contains(&dev))
                    .then_some(())
            },
        );
    }

    fn model_json(&self) -> serde_json::Value {
        self.rt
            .block_on(
                self.app
                    .handle
                    .inspect(|c| serde_json::to_value(c.model()).unwrap()),
            )
            .unwrap()
    }

    /// The installed (non-pinhole) flows of `bridge` that rewrite the destination of traffic
    /// to `eip`: the elastic IP's inbound translation.
    fn flows_mentioning(&self, bridge: &str, ip: Ipv4Addr) -> Vec<FlowEntry> {
        let ip = ip.to_string();
        self.cloud
            .ovs()
            .dump_flows(bridge)
            .unwrap()
            .into_iter()
            .filter(|f| f.cookie & cookie::KIND_MASK != cookie::PINHOLE)
            .filter(|f| f.match_fields.contains(&ip) || f.actions.contains(&ip))
            .collect()
    }

    fn eip_rewrites(&self, bridge: &str, eip: Ipv4Addr) -> Vec<FlowEntry> {
        // `ovs-ofctl -O OpenFlow10 dump-flows`, parsed.
        self.cloud
            .ovs()
            .dump_flows(bridge)
            .unwrap()
            .into_iter()
            .filter(|f| f.cookie & cookie::KIND_MASK != cookie::PINHOLE)
            .filter(|f| f.has_match(&format!("nw_dst={eip}")) && f.actions.contains("mod_nw_dst:"))
            .collect()
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ok<T>(client: &str, what: &str, r: ApiResult<T>) -> T {
    r.unwrap_or_else(|e| panic!("{client}: {what} failed: {} ({})", e.code, e.message))
}

fn expect_error<T: std::fmt::Debug>(client: &str, what: &str, code: &str, r: ApiResult<T>) {
    match r {
        Err(ApiError { code: got, message }) => assert_eq!(
            got, code,
            "{client}: {what}: expected {code}, got {got} ({message})"
        ),
        Ok(v) => panic!("{client}: {what}: expected {code}, it succeeded: {v:?}"),
    }
}

fn exchange(from: &Netns, to: Ipv4Addr, port: u16, timeout: Duration) -> Exchange {
    from.tcp_exchange(SocketAddr::from((to, port)), b"e2e", timeout)
        .unwrap()
}

impl Bed {
    /// Both bridges' flow tables, for failure messages.
    fn tables(&self) -> String {
        let mut text = String::new();
        for bridge in ["hv1", "hv2"] {
            let flows = self
                .cloud
                .ovs()
                .ofctl("dump-flows", bridge, &[])
                .unwrap_or_else(|e| e.to_string());
            text.push_str(&format!("--- {bridge}\n{flows}"));
        }
        text
    }

    /// A TCP exchange that must be answered.
    fn passes(&self, what: &str, from: &Netns, to: Ipv4Addr, port: u16) {
        let ex = exchange(from, to, port, LONG);
        if !ex.is_answered() {
            panic!("{what}: {ex:?}\nflows:\n{}", self.tables());
        }
    }

    /// Waits until Open vSwitch's datapath follows its flow tables. A barrier reply says the
    /// switch's OpenFlow tables are changed, but the datapath keeps using its cached
    /// (megaflow) entries until the revalidator threads have gone over them: on a loaded
    /// machine a new connection may still ride a just-removed flow's cache entry for a
    /// moment. A removal is checked once that moment is over.
    fn settle(&self) {
        self.cloud.ovs().appctl(&["revalidator/wait"]).unwrap();
    }

    /// A TCP exchange that must get no answer (once the datapath follows the tables).
    fn blocked(&self, what: &str, from: &Netns, to: Ipv4Addr, port: u16) {
        self.settle();
        let ex = exchange(from, to, port, SHORT);
        if !matches!(ex, Exchange::TimedOut | Exchange::Unreachable) {
            panic!(
                "{what}: expected no answer, got {ex:?}\nflows:\n{}",
                self.tables()
            );
        }
    }
}

/// Makes `host` learn neighbours only from replies to its own ARP requests, and checks it
/// starts without an entry for the elastic IP.
fn outside_learns_only_from_replies(host: &Netns) {
    host.learn_neighbours_only_from_replies().unwrap();
    assert_eq!(
        host.neighbour(POOL_IP).unwrap(),
        None,
        "{} still has a neighbour entry for {POOL_IP} after the flush",
        host.name()
    );
}

fn peers(arrivals: &[examples::testbed::Arrival]) -> Vec<IpAddr> {
    arrivals.iter().map(|a| a.peer.ip()).collect()
}

/// Runs the whole scenario with `client`.
pub(crate) fn run(bed: &mut Bed, client: &mut dyn Ec2Client) {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());

    // --- Groups and instances ---------------------------------------------------------
    step("create groups, run instances");
    let web = ok(
        client.name(),
        "CreateSecurityGroup web",
        client.create_group("web", "web servers"),
    );
    let app = ok(
        client.name(),
        "CreateSecurityGroup app",
        client.create_group("app", "app servers"),
    );
    let other = ok(
        client.name(),
        "CreateSecurityGroup other",
        client.create_group("other", "others"),
    );
    let names = ok(
        client.name(),
        "DescribeSecurityGroups",
        client.group_names(),
    );
    for name in ["app", "default", "other", "web"] {
        assert!(
            names.contains(&name.to_owned()),
            "{}: {names:?}",
            client.name()
        );
    }
    let a = ok(
        client.name(),
        "RunInstances web",
        client.run_instance(IMAGE, &web),
    );
    let b = ok(
        client.name(),
        "RunInstances app",
        client.run_instance(IMAGE, &app),
    );
    let d = ok(
        client.name(),
        "RunInstances other",
        client.run_instance(IMAGE, &other),
    );
    let placement: [(&str, &Launched); 3] = [("hv1", &a), ("hv2", &b), ("hv2", &d)];
    for (bridge, i) in placement {
        assert!(i.id.starts_with("i-"), "{i:?}");
        let state = ok(
            client.name(),
            "DescribeInstances",
            client.instance_state(&i.id),
        );
        assert_eq!(
            state,
            "pending",
            "{}: {} before its port exists",
            client.name(),
            i.id
        );
        bed.cloud
            .add_instance(
                bridge,
                InstanceSpec::new(&i.id, format!("{}/24", i.private_ip).parse().unwrap())
                    .mac(bed.instance_mac(&i.id))
                    .gateway(GATEWAY),
            )
            .unwrap();
    }
    for (_, i) in placement {
        wait_for(
            &format!("{} to be running", i.id),
            Duration::from_secs(30),
            || {
                let state = ok(
                    client.name(),
                    "DescribeInstances",
                    client.instance_state(&i.id),
                );
                (state == "running").then_some(())
            },
        );
    }
    let (a_ns, b_ns, d_ns) = (bed.netns(&a.id), bed.netns(&b.id), bed.netns(&d.id));
    let out = bed.cloud.outside_host();
    let far = bed.cloud.outside_host_named("far").unwrap().netns();
    let a22 = a_ns.listen(Protocol::Tcp, 22).unwrap();
    let a80 = a_ns.listen(Protocol::Tcp, 80).unwrap();
    let a3306 = a_ns.listen(Protocol::Tcp, 3306).unwrap();
    let a5353 = a_ns.listen(Protocol::Udp, 5353).unwrap();
    let b22 = b_ns.listen(Protocol::Tcp, 22).unwrap();

    // --- Inbound is blocked by default --------------------------------------------------
    step("inbound blocked by default");
    bed.blocked("B -> A:22 with no rule", b_ns, a.private_ip, 22);
    assert!(a22.take_arrivals().is_empty());

    // --- Elastic IP -----------------------------------------------------------------------
    step("allocate, associate");
    let eip = ok(client.name(), "AllocateAddress", client.allocate());
    assert_eq!(eip.public_ip, POOL_IP, "{}", client.name());
    assert_eq!(eip.allocation_id.is_none(), client.classic(), "{eip:?}");
    expect_error(
        client.name(),
        "AllocateAddress with the pool exhausted",
        "AddressLimitExceeded",
        client.allocate(),
    );
    let association = ok(
        client.name(),
        "AssociateAddress A",
        client.associate(&eip, &a.id, false),
    );
    assert_eq!(association.is_none(), client.classic(), "{association:?}");
    let addresses = ok(client.name(), "DescribeAddresses", client.addresses());
    assert_eq!(
        addresses,
        vec![(POOL_IP, Some(a.id.clone()))],
        "{}",
        client.name()
    );
    // No rule admits anything yet: the elastic IP is only answered (ARP), nothing is
    // translated inbound.
    assert!(bed.eip_rewrites("hv1", POOL_IP).is_empty());
    // The outside host must learn the elastic IP's MAC from the controller's ARP reply. Its
    // table is emptied, and with arp_accept=0 no unsolicited ARP creates an entry (neither the
    // association's gratuitous announcements nor anything else): only a reply to the host's own
    // request fills the entry that request opened.
    outside_learns_only_from_replies(out);
    bed.blocked("outside -> EIP:22 before any rule", out, POOL_IP, 22);
    assert!(a22.take_arrivals().is_empty());
    // TCP was not admitted, but the ARP request was answered with the elastic IP's MAC.
    let n = out.neighbour(POOL_IP).unwrap();
    assert_eq!(
        n.as_ref().and_then(|n| n.mac),
        Some(ELASTIC_IP_MAC.parse().unwrap()),
        "the outside host's entry for {POOL_IP} after its ARP request: {n:?}"
    );

    // --- Authorized ports only; a CIDR rule admits one source -------------------------
    step("authorize TCP 22 from anywhere");
    ok(
        client.name(),
        "AuthorizeSecurityGroupIngress 22",
        client.authorize_cidr(&web, &CidrRule::tcp(22, "0.0.0.0/0")),
    );
    // The inbound translation of the elastic IP to A is installed on hv1 (only).
    let rewrites = bed.eip_rewrites("hv1", POOL_IP);
    assert!(
        rewrites.iter().any(|f| f.has_match("tp_dst=22")
            && f.actions.contains(&format!("mod_nw_dst:{},", a.private_ip))),
        "hv1 has no flow rewriting {POOL_IP}:22 to {}; flows with the address: {:#?}",
        a.private_ip,
        bed.flows_mentioning("hv1", POOL_IP)
    );
    assert!(bed.eip_rewrites("hv2", POOL_IP).is_empty());
    bed.passes("outside -> EIP:22", out, POOL_IP, 22);
    assert_eq!(peers(&a22.take_arrivals()), vec![IpAddr::V4(OUTSIDE_IP)]);
    bed.passes(
        "far -> EIP:22 (through the outside router)",
        far,
        POOL_IP,
        22,
    );
    assert_eq!(peers(&a22.take_arrivals()), vec![IpAddr::V4(FAR_IP)]);
    bed.blocked(
        "outside -> EIP:80 before it is authorized",
        out,
        POOL_IP,
        80,
    );
    assert!(a80.take_arrivals().is_empty());
    step("authorize TCP 80 from the outside host only");
    let http_from_outside = CidrRule::tcp(80, &format!("{OUTSIDE_IP}/32"));
    ok(
        client.name(),
        "AuthorizeSecurityGroupIngress 80",
        client.authorize_cidr(&web, &http_from_outside),
    );
    bed.passes("outside -> EIP:80 (admitted by its /32)", out, POOL_IP, 80);
    bed.blocked("far -> EIP:80 (not in the /32)", far, POOL_IP, 80);
    assert_eq!(peers(&a80.take_arrivals()), vec![IpAddr::V4(OUTSIDE_IP)]);

    // --- Outbound as the elastic IP; stateful replies ---------------------------------------
    step("instance -> outside as the elastic IP");
    let seen = out.listen(Protocol::Tcp, 8080).unwrap();
    // `web` has no rule for the replies from port 8080: they pass as the connection's.
    bed.passes(
        "A -> outside:8080 (the reply passes)",
        a_ns,
        OUTSIDE_IP,
        8080,
    );
    assert_eq!(peers(&seen.take_arrivals()), vec![IpAddr::V4(POOL_IP)]);
    let n = out.neighbour(POOL_IP).unwrap();
    assert_eq!(n.and_then(|n| n.mac), Some(ELASTIC_IP_MAC.parse().unwrap()));

    // --- Source group: members only, across hypervisors -----------------------------------
    step("source-group rule");
    bed.blocked(
        "B -> A:3306 before the group rule",
        b_ns,
        a.private_ip,
        3306,
    );
    ok(
        client.name(),
        "AuthorizeSecurityGroupIngress from app",
        client.authorize_group(&web, &app),
    );
    bed.passes(
        "B (app, hv2) -> A (web, hv1):3306",
        b_ns,
        a.private_ip,
        3306,
    );
    bed.blocked("D (other, hv2) -> A:3306", d_ns, a.private_ip, 3306);
    assert_eq!(
        peers(&a3306.take_arrivals()),
        vec![IpAddr::V4(b.private_ip)]
    );
    // The rules as the client reads them back. boto 2's source-group grant without a
    // protocol is EC2-Classic's: TCP and UDP on every port, and all ICMP.
    let mut want = vec![
        "tcp:22-22:0.0.0.0/0".to_owned(),
        format!("tcp:80-80:{OUTSIDE_IP}/32"),
    ];
    if client.classic() {
        want.push(format!("tcp:0-65535:{}", app.id));
        want.push(format!("udp:0-65535:{}", app.id));
        want.push(format!("icmp:-1--1:{}", app.id));
    } else {
        want.push(format!("-1:*-*:{}", app.id));
    }
    want.sort();
    let rules = ok(
        client.name(),
        "DescribeSecurityGroups web",
        client.ingress(&web),
    );
    assert_eq!(rules, want, "{}: web's ingress", client.name());

    // --- A forged source address is dropped ----------------------------------------------
    step("forged source");
    let a5353_addr = SocketAddr::from((a.private_ip, 5353));
    let udp =
        |from: &Netns, timeout: Duration| from.udp_exchange(a5353_addr, b"udp", timeout).unwrap();
    // UDP has no retransmission: the allowed direction is given three tries.
    let ex = (0..3)
        .map(|_| udp(b_ns, Duration::from_secs(3)))
        .find(Exchange::is_answered);
    assert!(ex.is_some(), "B -> A:5353/udp: never answered");
    let seen = peers(&a5353.take_arrivals());
    assert!(
        !seen.is_empty() && seen.iter().all(|p| *p == IpAddr::V4(b.private_ip)),
        "{seen:?}"
    );
    let ex = udp(d_ns, SHORT);
    assert!(!ex.is_answered(), "D -> A:5353/udp {ex:?}");
    // D knows A's MAC (its ARP was answered): the forged datagram really leaves D.
    let known = d_ns.neighbour(a.private_ip).unwrap();
    assert!(
        known.as_ref().is_some_and(|n| n.mac.is_some()),
        "D's neighbour entry for A: {known:?}"
    );
    d_ns.set_sysctl("net.ipv4.conf.all.arp_announce", "2")
        .unwrap();
    d_ns.add_address("eth0", format!("{}/32", b.private_ip).parse().unwrap())
        .unwrap();
    let ex = d_ns
        .udp_exchange_from(IpAddr::V4(b.private_ip), a5353_addr, b"forged", SHORT)
        .unwrap();
    assert!(!ex.is_answered(), "D as B -> A:5353/udp {ex:?}");
    assert!(
        a5353.take_arrivals().is_empty(),
        "a datagram with B's address forged by D arrived"
    );

    // --- Disassociate cuts reachability ----------------------------------------------------
    step("disassociate");
    ok(
        client.name(),
        "DisassociateAddress",
        client.disassociate(&eip, association.as_deref()),
    );
    bed.blocked("outside -> EIP:22 after disassociate", out, POOL_IP, 22);
    assert!(a22.take_arrivals().is_empty());
    assert!(
        bed.eip_rewrites("hv1", POOL_IP).is_empty(),
        "{:?}",
        bed.eip_rewrites("hv1", POOL_IP)
    );
    let addresses = ok(client.name(), "DescribeAddresses", client.addresses());
    assert_eq!(addresses, vec![(POOL_IP, None)], "{}", client.name());

    // --- Associate with B on the other hypervisor: the gratuitous ARP moves it -------------
    step("associate with B on hv2");
    ok(
        client.name(),
        "AuthorizeSecurityGroupIngress app 22",
        client.authorize_cidr(&app, &CidrRule::tcp(22, "0.0.0.0/0")),
    );
    // A wrong entry that only an ARP from the elastic IP can correct (no traffic is sent to
    // it before the check); older than the kernel's lock time so that the update is taken.
    let bogus: MacAddr = "02:00:00:00:de:ad".parse().unwrap();
    out.replace_neighbour("eth0", POOL_IP, bogus, "stale")
        .unwrap();
    assert_eq!(
        out.neighbour(POOL_IP).unwrap().and_then(|n| n.mac),
        Some(bogus)
    );
    std::thread::sleep(Duration::from_millis(1200));
    let association = ok(
        client.name(),
        "AssociateAddress B",
        client.associate(&eip, &b.id, false),
    );
    assert_eq!(association.is_none(), client.classic(), "{association:?}");
    wait_for(
        "the outside host to learn the elastic IP from the gratuitous ARP",
        Duration::from_secs(10),
        || {
            let n = out.neighbour(POOL_IP).unwrap()?;
            (n.mac == Some(ELASTIC_IP_MAC.parse().unwrap())).then_some(())
        },
    );
    // The outside segment (a Linux bridge) learnt it too: frames for the elastic IP's MAC go
    // to hv2's uplink now.
    bed.wait_segment_forwards_eip_to("seg2");
    let rewrites = bed.eip_rewrites("hv2", POOL_IP);
    assert!(
        rewrites
            .iter()
            .any(|f| f.actions.contains(&format!("mod_nw_dst:{}", b.private_ip))),
        "hv2 has no flow rewriting {POOL_IP} to {}: {rewrites:?}",
        b.private_ip
    );
    assert!(bed.eip_rewrites("hv1", POOL_IP).is_empty());
    bed.passes("outside -> EIP:22 (now B)", out, POOL_IP, 22);
    assert_eq!(peers(&b22.take_arrivals()), vec![IpAddr::V4(OUTSIDE_IP)]);
    assert!(a22.take_arrivals().is_empty());

    // --- Revoke closes the port for new connections --------------------------------------
    step("revoke");
    ok(
        client.name(),
        "RevokeSecurityGroupIngress app 22",
        client.revoke_cidr(&app, &CidrRule::tcp(22, "0.0.0.0/0")),
    );
    bed.blocked("outside -> EIP:22 after revoke", out, POOL_IP, 22);
    assert!(b22.take_arrivals().is_empty());

    // --- A direct move, without disassociating: back to A on hv1 ---------------------------
    step("move back to A while associated");
    let association = if client.classic() {
        ok(
            client.name(),
            "AssociateAddress A (a classic address moves)",
            client.associate(&eip, &a.id, false),
        )
    } else {
        expect_error(
            client.name(),
            "AssociateAddress A without AllowReassociation",
            "Resource.AlreadyAssociated",
            client.associate(&eip, &a.id, false),
        );
        ok(
            client.name(),
            "AssociateAddress A with AllowReassociation",
            client.associate(&eip, &a.id, true),
        )
    };
    let addresses = ok(client.name(), "DescribeAddresses", client.addresses());
    assert_eq!(
        addresses,
        vec![(POOL_IP, Some(a.id.clone()))],
        "{}",
        client.name()
    );
    bed.wait_segment_forwards_eip_to("seg1");
    assert!(bed.eip_rewrites("hv2", POOL_IP).is_empty());
    bed.passes("outside -> EIP:22 (A again)", out, POOL_IP, 22);
    assert_eq!(peers(&a22.take_arrivals()), vec![IpAddr::V4(OUTSIDE_IP)]);
    assert!(b22.take_arrivals().is_empty());

    // --- Release returns the address to the pool ------------------------------------------
    step("release");
    ok(
        client.name(),
        "DisassociateAddress",
        client.disassociate(&eip, association.as_deref()),
    );
    ok(client.name(), "ReleaseAddress", client.release(&eip));
    assert!(ok(client.name(), "DescribeAddresses", client.addresses()).is_empty());
    let again = ok(
        client.name(),
        "AllocateAddress after release",
        client.allocate(),
    );
    assert_eq!(
        again.public_ip, POOL_IP,
        "the released address is back in the pool"
    );
    ok(
        client.name(),
        "ReleaseAddress again",
        client.release(&again),
    );

    // --- Bad requests -----------------------------------------------------------------
    step("bad requests");
    expect_error(
        client.name(),
        "CreateSecurityGroup web again",
        "InvalidGroup.Duplicate",
        client.create_group("web", "again"),
    );
    let missing = Group {
        id: "sg-0000dead".to_owned(),
        name: "no-such-group".to_owned(),
    };
    expect_error(
        client.name(),
        "authorize on a missing group",
        "InvalidGroup.NotFound",
        client.authorize_cidr(&missing, &CidrRule::tcp(22, "0.0.0.0/0")),
    );
    expect_error(
        client.name(),
        "authorize a rule twice",
        "InvalidPermission.Duplicate",
        client.authorize_cidr(&web, &CidrRule::tcp(22, "0.0.0.0/0")),
    );
    expect_error(
        client.name(),
        "revoke a rule that does not exist",
        "InvalidPermission.NotFound",
        client.revoke_cidr(&web, &CidrRule::tcp(9, "0.0.0.0/0")),
    );
    expect_error(
        client.name(),
        "authorize from a CIDR with a /33",
        "InvalidParameterValue",
        client.authorize_cidr(&web, &CidrRule::tcp(25, "10.0.0.0/33")),
    );
    expect_error(
        client.name(),
        "authorize ports 90 to 80",
        "InvalidParameterValue",
        client.authorize_cidr(
            &web,
            &CidrRule {
                protocol: "tcp",
                from: 90,
                to: 80,
                cidr: "0.0.0.0/0".to_owned(),
            },
        ),
    );
    expect_error(
        client.name(),
        "RunInstances of a missing image",
        "InvalidAMIID.NotFound",
        client.run_instance("ami-0000dead", &web),
    );
    let spare = ok(client.name(), "AllocateAddress", client.allocate());
    expect_error(
        client.name(),
        "associate with a missing instance",
        "InvalidInstanceID.NotFound",
        client.associate(&spare, "i-0000dead", false),
    );
    ok(client.name(), "ReleaseAddress", client.release(&spare));
    let unknown = Eip {
        public_ip: Ipv4Addr::new(198, 51, 100, 77),
        allocation_id: Some("eipalloc-0000dead".to_owned()),
    };
    let code = if client.classic() {
        "InvalidAddress.NotFound"
    } else {
        "InvalidAllocationID.NotFound"
    };
    expect_error(
        client.name(),
        "release an address never allocated",
        code,
        client.release(&unknown),
    );

    // --- A wrong secret: AuthFailure, nothing changes --------------------------------------
    step("wrong secret");
    let before = bed.model_json();
    let mut intruder = client.with_secret(WRONG_SECRET);
    let intruder = intruder.as_mut();
    expect_error(
        intruder.name(),
        "CreateSecurityGroup with a wrong secret",
        "AuthFailure",
        intruder.create_group("intruder", "x"),
    );
    expect_error(
        intruder.name(),
        "authorize with a wrong secret",
        "AuthFailure",
        intruder.authorize_cidr(&web, &CidrRule::tcp(9999, "0.0.0.0/0")),
    );
    expect_error(
        intruder.name(),
        "AllocateAddress with a wrong secret",
        "AuthFailure",
        intruder.allocate(),
    );
    assert_eq!(
        bed.model_json(),
        before,
        "a badly signed request changed the model"
    );
    let names = ok(
        client.name(),
        "DescribeSecurityGroups",
        client.group_names(),
    );
    assert!(!names.contains(&"intruder".to_owned()), "{names:?}");

    let errors = bed
        .rt
        .block_on(bed.app.handle.inspect(|c| c.counters().switch_errors))
        .unwrap();
    assert_eq!(
        errors, 0,
        "Open vSwitch refused none of the controller's messages"
    );
    step("done");
}
