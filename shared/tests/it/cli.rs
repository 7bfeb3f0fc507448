//! `dojo-rules` as a referee runs it: a real process, standard input or a file, exit status.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn dojo_rules(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dojo-rules"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dojo-rules starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts");
    child.wait_with_output().expect("dojo-rules finishes")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every output line is JSON"))
        .collect()
}

const MATCH: &str =
    r#"{"game":"nine-ball","players":["Ann","Bo"],"race_to":1,"break":"alternate"}"#;

#[test]
fn a_clean_run_prints_one_state_per_line_and_exits_zero() {
    let script = format!(
        "{MATCH}\n# a comment\n\n{}\n",
        r#"{"shot":{"pocketed":[{"ball":9,"pocket":1}]}}"#
    );
    let output = dojo_rules(&[], &script);
    assert_eq!(output.status.code(), Some(0));
    let states = lines(&output);
    assert_eq!(states.len(), 2);
    assert_eq!(
        states[0]["on_table"],
        serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9])
    );
    assert_eq!(states[1]["rack_winner"], 0);
    assert_eq!(states[1]["match_winner"], 0);
}

#[test]
fn rejected_and_malformed_lines_are_reported_and_the_run_goes_on() {
    let script = [
        MATCH,
        r#"{"shot":{"pocketed":[{"ball":9,"pocket":"#, // malformed JSON on line 2
        r#"{"shot":{"push_out":true}}"#,               // no push-out before the break
        r#"{"shot":{"pocketed":[{"ball":1}]}}"#,
        r#"{"shot":{"pocketed":[{"ball":1}]}}"#, // the 1 is already down
        r#"{"shot":{"pocketed":[{"ball":9}]}}"#,
        r#"{"action":"foul"}"#, // after the match
    ]
    .join("\n");
    let output = dojo_rules(&[], &script);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a rejected line makes the exit status non-zero"
    );
    let out = lines(&output);
    assert_eq!(out.len(), 7);
    assert!(
        out[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("line 2") && e.contains("JSON"))
    );
    assert_eq!(out[1]["line"], 2);
    assert!(
        out[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("push-out"))
    );
    assert_eq!(
        out[3]["on_table"],
        serde_json::json!([2, 3, 4, 5, 6, 7, 8, 9])
    );
    assert!(
        out[4]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not on the table"))
    );
    assert_eq!(out[5]["match_winner"], 0);
    assert!(out[6]["error"].as_str().is_some_and(|e| e.contains("over")));
}

#[test]
fn reads_a_file_argument_and_rejects_a_bad_match_line() {
    let dir = std::env::temp_dir().join(format!("dojo-rules-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("match.jsonl");
    std::fs::write(
        &path,
        "{\"game\":\"snooker\",\"players\":[\"A\",\"B\"],\"race_to\":1}\n".to_owned()
            + MATCH
            + "\n",
    )
    .expect("write script");
    let output = dojo_rules(&[path.to_str().expect("utf-8 path")], "");
    let out = lines(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        out[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("snooker")),
        "{out:?}"
    );
    assert_eq!(
        out[1]["rack"], 1,
        "the next line is tried as the match line"
    );
    let missing = dojo_rules(&["/nonexistent/match.jsonl"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
    std::fs::remove_dir_all(&dir).ok();
}
