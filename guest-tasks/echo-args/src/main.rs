//! A WASI command for the command-mode tests: prints its arguments, one per line, to stdout,
//! and obeys a few of them:
//! - `stdin`: then prints what it reads on stdin, upper-cased;
//! - `stderr=TEXT`: writes TEXT to stderr;
//! - `sleep=MS`: sleeps that many milliseconds;
//! - `exit=N`: exits with status N after printing.

use std::io::{Read, Write};

fn main() {
    let mut exit = 0;
    for arg in std::env::args().skip(1) {
        println!("{arg}");
        if arg == "stdin" {
            let mut text = String::new();
            if std::io::stdin().read_to_string(&mut text).is_ok() {
                print!("{}", text.to_uppercase());
            }
        } else if let Some(text) = arg.strip_prefix("stderr=") {
            eprintln!("{text}");
        } else if let Some(ms) = arg.strip_prefix("sleep=") {
            let ms = ms.parse().unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(ms));
        } else if let Some(code) = arg.strip_prefix("exit=") {
            exit = code.parse().unwrap_or(1);
        }
    }
    let _ = std::io::stdout().flush();
    std::process::exit(exit);
}
