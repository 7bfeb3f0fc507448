//! The command line as an operator meets it: bad settings and taken ports.

use std::process::Command;

use crate::helpers::free_port;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("runs")
}

#[test]
fn a_bad_setting_is_one_error_naming_it_and_exit_status_2() {
    let output = agent(&["--check-config", "--http-addr", "not-an-address"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http-addr"), "{stderr}");
    let output = agent(&[
        "--check-config",
        "--mqtt-url",
        "mqtt://127.0.0.1:1883",
        "--mqtt-addr",
        "127.0.0.1:1884",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_taken_broker_port_names_the_flag_to_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = crate::helpers::data_dir("taken");
    let output = agent(&[
        "--data-dir",
        &dir.display().to_string(),
        "--mqtt-addr",
        &format!("127.0.0.1:{port}"),
        "--http-addr",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--mqtt-addr") && stderr.contains("in use"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}
