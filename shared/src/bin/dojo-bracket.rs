//! `dojo-bracket`: the tournament bracket command. Reads a bracket as JSON lines (a file or
//! standard input) and prints the bracket after each line as one JSON line (docs/tournaments.md).

use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use shared::bracket::session::Session;

/// Run a tournament bracket line by line and print it after each line (docs/tournaments.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// JSON-lines file: the setup line, then one result, forfeit, withdrawal or correction per
    /// line. Standard input if absent.
    file: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("dojo-bracket: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the session and returns how many lines were refused.
fn run(args: Args) -> anyhow::Result<usize> {
    let mut input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(io::stdin().lock()),
    };
    let mut session = Session::new();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("cannot read input")?
            == 0
        {
            break;
        }
        // Invalid UTF-8 becomes U+FFFD and is then refused as bad JSON, with its line number.
        if let Some(value) = session.feed(&String::from_utf8_lossy(&line)) {
            writeln!(out, "{value}").context("cannot write output")?;
        }
    }
    out.flush().context("cannot write output")?;
    Ok(session.rejected())
}
