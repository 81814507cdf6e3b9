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
    let model = Model::new(test_settings()).unwrap();
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
        prometheus_text::encode(&mut t, &core_registry(None)).unwrap();
        t
    };
    assert_eq!(value(&text, "ovs_ec2_core_up"), Some(0.0), "{text}");
    assert!(!text.contains("switches_connected"), "{text}");
}
