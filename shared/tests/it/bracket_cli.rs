//! `dojo-bracket` as an organiser runs it: a real process, a file or standard input, exit status.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn dojo_bracket(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dojo-bracket"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dojo-bracket starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts");
    child.wait_with_output().expect("dojo-bracket finishes")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every output line is JSON"))
        .collect()
}

#[test]
fn the_example_file_runs_to_a_champion_with_exit_zero() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bracket.jsonl");
    let output = dojo_bracket(&[example.to_str().expect("utf-8 path")], "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let out = lines(&output);
    assert_eq!(out.len(), 10, "one line per input line");
    let last = out.last().expect("lines");
    assert_eq!(last["complete"], true);
    assert_eq!(last["standings"][0]["player"], "Cy");
    assert_eq!(last["standings"][0]["rank"], 1);
    assert_eq!(
        out[6]["reset"],
        serde_json::json!(["L2-1", "GF1"]),
        "the correction lists what it reset"
    );
}

#[test]
fn refused_lines_print_an_error_and_exit_one_from_stdin() {
    let script = [
        r#"{"format":"round-robin","players":["Ann","Bo","Cy"]}"#,
        "# a comment",
        "",
        r#"{"result":{"match":"R9-9","winner":"Ann","score":[3,0]}}"#,
        r#"{"result":{"match":"R1-1","winner":"Bo","score":[3,"#,
        r#"{"result":{"match":"R1-1","winner":"Bo","score":[3,1]}}"#,
    ]
    .join("\n");
    let output = dojo_bracket(&[], &script);
    assert_eq!(output.status.code(), Some(1));
    let out = lines(&output);
    assert_eq!(out.len(), 4, "comments and blank lines print nothing");
    assert_eq!(
        out[0]["matches"][0]["players"],
        serde_json::json!(["Bo", "Cy"])
    );
    assert!(
        out[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("line 4") && e.contains("unknown match"))
    );
    assert_eq!(out[2]["line"], 5);
    assert_eq!(out[3]["matches"][0]["winner"], "Bo", "the run goes on");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let output = dojo_bracket(&["/nonexistent/bracket.jsonl"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open"));
}
