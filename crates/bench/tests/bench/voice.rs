//! `confab-bench voice` and `confab-bench limit voice`: a few participants for a few seconds,
//! through the real binary with `--json`.

use std::process::Command;

use serde_json::Value;

/// Figures every voice step reports, for Confab and the baseline alike.
const FIGURES: &[&str] = &[
    "participants_connected",
    "connect_secs",
    "memory_per_participant_kib",
    "sent_per_sec",
    "forwarded_per_sec",
    "loss_pct",
    "jitter_ms",
    "delay_p50_ms",
    "delay_p90_ms",
    "delay_p99_ms",
    "delay_max_ms",
    "server_cpu_pct",
    "cpu_us_per_packet",
    "server_rss_mib",
    "server_peak_rss_mib",
    "bench_cpu_pct",
];

const SECS: f64 = 3.0;

/// Runs the bench with `args` and returns its JSON report, after checking it exited cleanly.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_confab-bench"))
        .args(args)
        .args(["--json", "--secs", &SECS.to_string()])
        .output()
        .expect("confab-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "confab-bench {args:?} exited with {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// Checks one system's figures: all present, finite, and as many forwarded packets as the
/// layout implies (`rooms` rooms of `size`, `speakers` each, 50 packets/s).
fn assert_consistent(figures: &Value, rooms: f64, size: f64, speakers: f64) {
    for key in FIGURES {
        let v = figures[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing or not a number in {figures}"));
        assert!(v.is_finite() && v >= 0.0, "{key} = {v} in {figures}");
    }
    assert_eq!(figures["participants_connected"], rooms * size);
    let expected = rooms * speakers * (size - 1.0) * 50.0;
    let forwarded = figures["forwarded_per_sec"].as_f64().unwrap_or_default();
    assert!(
        (forwarded - expected).abs() <= expected * 0.15,
        "forwarded {forwarded}/s, expected about {expected}/s: {figures}"
    );
    let sent = figures["sent_per_sec"].as_f64().unwrap_or_default();
    assert!(
        (sent - rooms * speakers * 50.0).abs() <= rooms * speakers * 50.0 * 0.15,
        "sent {sent}/s: {figures}"
    );
    assert!(figures["cpu_us_per_packet"].as_f64().unwrap_or_default() > 0.0);
}

#[test]
fn voice_reports_confab_and_the_relay_with_the_same_figures() {
    let report = bench(&[
        "voice",
        "--participants",
        "6",
        "--rooms",
        "2",
        "--speakers-per-room",
        "2",
    ]);
    assert_eq!(report["mode"], "voice");
    assert_eq!(report["problems"], Value::Array(Vec::new()), "{report}");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    assert_eq!(step["offered_per_sec"], 2.0 * 2.0 * 2.0 * 50.0);
    assert_consistent(&step["confab"], 2.0, 3.0, 2.0);
    assert_consistent(&step["baseline"], 2.0, 3.0, 2.0);
    for key in FIGURES {
        assert!(step["ratio"].get(key).is_some() || step["baseline"][key] == 0.0);
    }
}

#[test]
fn limit_voice_runs_only_the_relay_one_step_per_participant_count() {
    let report = bench(&[
        "limit",
        "voice",
        "--participants",
        "4,6",
        "--rooms",
        "1",
        "--speakers-per-room",
        "1",
    ]);
    assert_eq!(report["mode"], "limit voice");
    assert_eq!(report["problems"], Value::Array(Vec::new()), "{report}");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    for (step, size) in steps.iter().zip([4.0, 6.0]) {
        assert_consistent(&step["baseline"], 1.0, size, 1.0);
        assert_eq!(step["confab"], Value::Null);
    }
}
