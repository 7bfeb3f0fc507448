//! Runs every scenario in `tests/scenarios/*.scn` (format in `tests/scenarios/README.md`): feeds the
//! input lines to a referee session and checks each `>` expectation against that line's output.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shared::rules::referee::Referee;

struct Scenario {
    file: String,
    name: String,
    steps: Vec<Step>,
}

struct Step {
    line: usize,
    input: String,
    expect: Option<Value>,
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "scn"))
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
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .peekable();
    while let Some((n, line)) = lines.next() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("===") {
            let rule = lines.next().filter(|(_, l)| l.starts_with("rule:"));
            assert!(
                rule.is_some(),
                "{file}:{n}: scenario {name:?} must cite its rule on the next line"
            );
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
                step.expect.is_none(),
                "{file}:{n}: two expectations for one input"
            );
            step.expect = Some(expect);
        } else {
            scenario.steps.push(Step {
                line: n,
                input: line.to_owned(),
                expect: None,
            });
        }
    }
    scenarios
}

/// Checks that every key of `expected` matches `actual`: objects as subsets, everything else exactly.
pub(crate) fn mismatch(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = format!("{path}.{key}");
            match have.get(key) {
                Some(got) => mismatch(&path, value, got),
                None => Some(format!("{path}: missing")),
            }
        }),
        (Value::Array(want), Value::Array(have))
            if want.len() == have.len() && want.iter().any(Value::is_object) =>
        {
            want.iter()
                .zip(have)
                .enumerate()
                .find_map(|(i, (w, h))| mismatch(&format!("{path}[{i}]"), w, h))
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

fn run(scenario: &Scenario) -> Result<(), String> {
    let mut referee = Referee::new();
    for step in &scenario.steps {
        let output = referee
            .feed(&step.input)
            .ok_or_else(|| format!("line {}: input produced no output", step.line))?;
        let error = output.get("error").and_then(Value::as_str);
        let context = |what: String| {
            format!(
                "line {}: {}\n  input:  {}\n  output: {output}",
                step.line, what, step.input
            )
        };
        match (&step.expect, error) {
            (Some(expect), _) if expect.get("error").is_some() => {
                let want = expect
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match error {
                    Some(message) if message.contains(want) => {}
                    _ => return Err(context(format!("expected an error containing {want:?}"))),
                }
            }
            (_, Some(message)) => return Err(context(format!("unexpected rejection: {message}"))),
            (Some(expect), None) => {
                if let Some(problem) = mismatch("", expect, &output) {
                    return Err(context(problem));
                }
            }
            (None, None) => {}
        }
    }
    Ok(())
}

#[test]
fn wpa_scenarios() {
    let scenarios: Vec<Scenario> = scenario_files()
        .iter()
        .flat_map(|path| parse(path))
        .collect();
    assert!(
        scenarios.len() >= 60,
        "only {} scenarios; the rules need at least 60",
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
        "{} of {} scenarios failed:\n\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
}

#[test]
fn subset_matching_reports_differences() {
    let actual = serde_json::json!({"a": 1, "s": [{"x": 1, "y": 2}, {"x": 3}]});
    assert_eq!(
        mismatch(
            "",
            &serde_json::json!({"a": 1, "s": [{"x": 1}, {}]}),
            &actual
        ),
        None
    );
    assert!(mismatch("", &serde_json::json!({"a": 2}), &actual).is_some());
    assert!(mismatch("", &serde_json::json!({"b": 1}), &actual).is_some());
    assert!(mismatch("", &serde_json::json!({"s": [{"x": 1}]}), &actual).is_some());
}
