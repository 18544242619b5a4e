//! `risk`: the portfolio-margin engine over JSON.
//!
//! `risk report` reads a book (or an array of books) on stdin and prints its margin report;
//! `risk price` reads one option and prints its Black-Scholes price and Greeks. Bad input exits
//! with status 2 and one line on stderr naming the field and the problem; stdout stays empty.
//! The contract itself (parsing, conversion, output) lives in the library, `src/lib.rs`.

use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "usage: risk report|price  (JSON on stdin, JSON on stdout)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut input = String::new();
    let result = match args.first().map(String::as_str) {
        Some(command @ ("report" | "price")) if args.len() == 1 => {
            match std::io::stdin().read_to_string(&mut input) {
                Ok(_) => risk_cli::run(command, &input),
                Err(e) => Err(format!("input: cannot read stdin: {e}")),
            }
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
