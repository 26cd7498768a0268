//! `confab-bench text` and `limit text`, a few sessions for a few seconds.

use std::process::Command;

use serde_json::Value;

/// Runs the bench with `args` (plus `--json`) and returns its exit success and report.
fn bench(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confab-bench"))
        .args(args)
        .args(["--json", "--confab-bin", &super::confab_bin()])
        .output()
        .expect("confab-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{stderr}"));
    (out.status.success(), report, stderr)
}

fn figure(system: &Value, key: &str) -> f64 {
    system[key]
        .as_f64()
        .unwrap_or_else(|| panic!("figure {key} missing in {system}"))
}

/// Every figure a text report promises, finite, and deliveries that add up.
fn assert_consistent(system: &Value, secs: f64, sessions: f64) {
    for key in [
        "connects_per_sec",
        "memory_per_session_kib",
        "sent_per_sec",
        "deliveries_per_sec",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "server_cpu_pct",
        "cpu_us_per_delivery",
        "server_rss_mib",
        "bench_cpu_pct",
    ] {
        assert!(figure(system, key).is_finite(), "{key} in {system}");
    }
    assert_eq!(figure(system, "sessions"), sessions);
    assert_eq!(figure(system, "errors"), 0.0, "{system}");
    assert_eq!(figure(system, "slow_consumer_closes"), 0.0);
    assert_eq!(figure(system, "deliveries_missing"), 0.0, "{system}");
    let delivered = (figure(system, "deliveries_per_sec") * secs).round();
    assert_eq!(delivered, figure(system, "deliveries_expected"), "{system}");
    assert!(figure(system, "sent_per_sec") > 0.0);
    let p50 = figure(system, "latency_p50_ms");
    let p99 = figure(system, "latency_p99_ms");
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= figure(system, "latency_max_ms"));
}

#[test]
fn one_big_room_delivers_every_message_to_every_session_of_both_systems() {
    let (ok, report, err) = bench(&[
        "text",
        "--shape",
        "big",
        "--users",
        "6",
        "--sessions-per-user",
        "2",
        "--senders",
        "3",
        "--rate",
        "20,40",
        "--secs",
        "2",
        "--drain-secs",
        "30",
        // Three worker processes for twelve sessions: the parent merges their figures.
        "--sessions-per-worker",
        "5",
    ]);
    assert!(ok, "{report}\n{err}");
    assert_eq!(report["problems"], Value::Array(vec![]));
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        for system in [&step["confab"], &step["baseline"]] {
            assert_consistent(system, 2.0, 12.0);
            // One room of twelve sessions: each message reaches all twelve, the sender's too.
            let sent = (figure(system, "sent_per_sec") * 2.0).round();
            assert_eq!(figure(system, "deliveries_expected"), sent * 12.0);
        }
        assert!(step["ratio"]["cpu_us_per_delivery"].as_f64().is_some());
    }
}

#[test]
fn dm_pairs_deliver_to_both_sides_only() {
    let (ok, report, err) = bench(&[
        "text",
        "--shape",
        "dm",
        "--users",
        "8",
        "--rate",
        "40",
        "--secs",
        "2",
        "--drain-secs",
        "30",
        "--no-baseline",
    ]);
    assert!(ok, "{report}\n{err}");
    let step = &report["steps"][0];
    assert!(step["baseline"].is_null());
    let confab = &step["confab"];
    assert_consistent(confab, 2.0, 8.0);
    let sent = (figure(confab, "sent_per_sec") * 2.0).round();
    assert_eq!(figure(confab, "deliveries_expected"), sent * 2.0);
}

#[test]
fn the_mix_and_the_baseline_alone_report_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("latency.svg");
    let (ok, report, err) = bench(&[
        "text",
        "--shape",
        "mix",
        "--users",
        "6",
        "--rate",
        "30",
        "--secs",
        "2",
        "--drain-secs",
        "30",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(ok, "{report}\n{err}");
    let step = &report["steps"][0];
    for system in [&step["confab"], &step["baseline"]] {
        assert_consistent(system, 2.0, 6.0);
        // A tenth into the room of six, the rest into DMs of two.
        let sent = (figure(system, "sent_per_sec") * 2.0).round();
        let expected = figure(system, "deliveries_expected");
        assert!(expected > sent * 2.0 && expected < sent * 6.0, "{system}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("confab latency_p99_ms"));

    let (ok, limit, err) = bench(&[
        "limit",
        "text",
        "--users",
        "4",
        "--rate",
        "20",
        "--secs",
        "1",
        "--drain-secs",
        "30",
    ]);
    assert!(ok, "{limit}\n{err}");
    assert_eq!(limit["mode"], "limit text");
    assert!(limit["steps"][0]["confab"].is_null());
    assert_consistent(&limit["steps"][0]["baseline"], 1.0, 4.0);
}
