use super::*;
use crate::core::sim_switch::test_settings;
use crate::core::{Config, Controller};
use netrules::model::Model;
use std::net::SocketAddr;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn metrics() -> Metrics {
    metrics_of(Model::new(test_settings()).unwrap()).await
}

async fn metrics_of(model: Model) -> Metrics {
    let handle = crate::shell::spawn(
        Controller::new(model, Config::default()),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
    )
    .await
    .unwrap();
    Metrics::new(handle)
}

/// The value of the series `name` (with its labels exactly as written), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn calls_are_counted_by_action_and_outcome_and_timed() {
    runtime().block_on(async {
        let m = metrics().await;
        m.record_call("AllocateAddress", "ok", Duration::from_millis(3));
        m.record_call("AllocateAddress", "ok", Duration::from_millis(1));
        m.record_call(
            "AllocateAddress",
            "AddressLimitExceeded",
            Duration::from_millis(1),
        );
        m.record_call("none", "AuthFailure", Duration::from_micros(100));
        let text = m.render().await;
        let ok = r#"ovs_ec2_api_requests_total{action="AllocateAddress",outcome="ok"}"#;
        assert_eq!(value(&text, ok), Some(2.0), "{text}");
        let limit = r#"ovs_ec2_api_requests_total{action="AllocateAddress",outcome="AddressLimitExceeded"}"#;
        assert_eq!(value(&text, limit), Some(1.0), "{text}");
        let auth = r#"ovs_ec2_api_requests_total{action="none",outcome="AuthFailure"}"#;
        assert_eq!(value(&text, auth), Some(1.0), "{text}");
        let count = r#"ovs_ec2_api_request_duration_seconds_count{action="AllocateAddress"}"#;
        assert_eq!(value(&text, count), Some(3.0), "{text}");
        let sum = r#"ovs_ec2_api_request_duration_seconds_sum{action="AllocateAddress"}"#;
        let sum = value(&text, sum).unwrap();
        assert!((sum - 0.005).abs() < 1e-9, "{sum}");
        // The 2 ms bucket holds the two 1 ms calls, not the 3 ms one.
        let le = r#"ovs_ec2_api_request_duration_seconds_bucket{action="AllocateAddress",le="0.002"}"#;
        assert_eq!(value(&text, le), Some(2.0), "{text}");
    });
}

#[test]
fn the_core_is_read_at_each_scrape() {
    runtime().block_on(async {
        let m = metrics().await;
        let text = m.render().await;
        assert_eq!(value(&text, "ovs_ec2_core_up"), Some(1.0), "{text}");
        assert_eq!(value(&text, "ovs_ec2_switches_connected"), Some(0.0));
        assert_eq!(value(&text, "ovs_ec2_packet_ins_total"), Some(0.0));
        assert_eq!(value(&text, "ovs_ec2_flows"), Some(0.0));
        assert!(
            text.contains("# TYPE ovs_ec2_packet_ins_total counter"),
            "{text}"
        );
        assert!(text.contains("# TYPE ovs_ec2_pinholes gauge"), "{text}");
        assert_eq!(value(&text, "ovs_ec2_api_requests_in_flight"), Some(0.0));
        assert!(value(&text, r#"ovs_ec2_build_info{version="0.1.0"}"#).is_some());
        let s = m.core_snapshot().await.unwrap();
        assert_eq!(s, CoreSnapshot::default());
    });
}

#[test]
fn a_missing_core_reads_as_down() {
    let text = {
        let mut t = String::new();
        prometheus_text::encode(&mut t, &core_registry(None, &BTreeSet::new())).unwrap();
        t
    };
    assert_eq!(value(&text, "ovs_ec2_core_up"), Some(0.0), "{text}");
    assert!(!text.contains("switches_connected"), "{text}");
}

#[test]
fn switches_of_the_model_that_are_away_and_the_pool_are_reported() {
    runtime().block_on(async {
        let mut model = Model::new(test_settings()).unwrap();
        model
            .add_switch(netrules::model::Switch {
                dpid: 7,
                uplink: openflow_proto::PortNo(1),
            })
            .unwrap();
        let pool: BTreeSet<Ipv4Addr> = (100..103).map(|i| Ipv4Addr::new(203, 0, 113, i)).collect();
        let m = metrics_of(model).await.with_pool(pool);
        let text = m.render().await;
        let up = r#"ovs_ec2_switch_up{dpid="0000000000000007"}"#;
        assert_eq!(value(&text, up), Some(0.0), "{text}");
        assert_eq!(value(&text, "ovs_ec2_pool_addresses"), Some(3.0), "{text}");
        assert_eq!(
            value(&text, "ovs_ec2_pool_free_addresses"),
            Some(3.0),
            "{text}"
        );
        let s = m.core_snapshot().await.unwrap();
        assert_eq!(s.switches, [("0000000000000007".to_owned(), false)].into());
    });
}
