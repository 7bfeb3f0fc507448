//! Runs every bracket scenario in `tests/scenarios/*.brk` (format in `tests/scenarios/README.md`):
//! feeds the lines to a `dojo-bracket` session and checks each `>` expectation against that line's
//! output, finding matches by id and standings by player.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use shared::bracket::session::Session;

use crate::scenarios::mismatch;

struct Scenario {
    file: String,
    name: String,
    steps: Vec<(usize, String, Option<Value>)>,
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "brk"))
        .collect();
    files.sort();
    files
}

fn parse(path: &Path) -> Vec<Scenario> {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{file}: {error}"));
    let mut scenarios: Vec<Scenario> = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("===") {
            scenarios.push(Scenario {
                file: file.clone(),
                name: name.trim().to_owned(),
                steps: vec![],
            });
            continue;
        }
        let scenario = scenarios
            .last_mut()
            .unwrap_or_else(|| panic!("{file}:{n}: line before any ==="));
        if let Some(expect) = line.strip_prefix('>') {
            let expect: Value = serde_json::from_str(expect.trim())
                .unwrap_or_else(|error| panic!("{file}:{n}: bad expectation: {error}"));
            let step = scenario
                .steps
                .last_mut()
                .unwrap_or_else(|| panic!("{file}:{n}: > before input"));
            assert!(
                step.2.is_none(),
                "{file}:{n}: two expectations for one input"
            );
            step.2 = Some(expect);
        } else {
            scenario.steps.push((n, line.to_owned(), None));
        }
    }
    scenarios
}

/// Finds the element of `list` whose `key` equals `name`.
fn find<'a>(list: &'a Value, key: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|item| item.get(key).and_then(Value::as_str) == Some(name))
}

/// Checks one expectation object against an output line.
fn check(expect: &Map<String, Value>, output: &Value) -> Option<String> {
    for (key, want) in expect {
        let problem = match key.as_str() {
            "matches" => want.as_object()?.iter().find_map(|(id, want)| {
                match find(&output["matches"], "id", id) {
                    Some(have) => mismatch(&format!("match {id}"), want, have),
                    None => Some(format!("match {id}: not listed")),
                }
            }),
            "absent" => want.as_array()?.iter().find_map(|id| {
                let id = id.as_str()?;
                find(&output["matches"], "id", id).map(|_| format!("match {id}: listed"))
            }),
            "ranks" => want.as_object()?.iter().find_map(|(player, rank)| {
                match find(&output["standings"], "player", player) {
                    Some(have) => mismatch(&format!("rank of {player}"), rank, &have["rank"]),
                    None => Some(format!("{player}: not in the standings")),
                }
            }),
            "order" => {
                let have: Vec<Value> = output["standings"]
                    .as_array()
                    .map(|s| s.iter().map(|s| s["player"].clone()).collect())
                    .unwrap_or_default();
                mismatch("standings order", want, &Value::Array(have))
            }
            "players" => want.as_object()?.iter().find_map(|(player, want)| {
                match find(&output["standings"], "player", player) {
                    Some(have) => mismatch(&format!("standing of {player}"), want, have),
                    None => Some(format!("{player}: not in the standings")),
                }
            }),
            "count" => {
                let real = output["matches"]
                    .as_array()
                    .map_or(0, |m| m.iter().filter(|m| m["bye"] == false).count());
                mismatch("real matches", want, &Value::from(real))
            }
            _ => mismatch(key, want, &output[key]),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn run(scenario: &Scenario) -> Result<(), String> {
    let mut session = Session::new();
    for (line, input, expect) in &scenario.steps {
        let output = session
            .feed(input)
            .ok_or_else(|| format!("line {line}: no output"))?;
        let error = output.get("error").and_then(Value::as_str);
        let context =
            |what: String| format!("line {line}: {what}\n  input:  {input}\n  output: {output}");
        match (expect.as_ref().and_then(Value::as_object), error) {
            (Some(expect), _) if expect.contains_key("error") => {
                let want = expect["error"].as_str().unwrap_or_default();
                match error {
                    Some(message) if message.contains(want) => {}
                    _ => return Err(context(format!("expected an error containing {want:?}"))),
                }
            }
            (_, Some(message)) => return Err(context(format!("unexpected rejection: {message}"))),
            (Some(expect), None) => {
                if let Some(problem) = check(expect, &output) {
                    return Err(context(problem));
                }
            }
            (None, None) => {}
        }
    }
    Ok(())
}

#[test]
fn bracket_scenarios() {
    let scenarios: Vec<Scenario> = files().iter().flat_map(|path| parse(path)).collect();
    assert!(
        scenarios.len() >= 30,
        "only {} bracket scenarios",
        scenarios.len()
    );
    let failures: Vec<String> = scenarios
        .iter()
        .filter_map(|s| {
            run(s)
                .err()
                .map(|error| format!("{} / {}: {error}", s.file, s.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bracket scenarios failed:\n\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
}
