//! Colour on terminals: `--color auto|always|never`, where `auto` colours a stream that is a
//! terminal unless `NO_COLOR` is set to something (<https://no-color.org>). Plain ANSI codes;
//! nothing here knows what is being printed.

use std::io::IsTerminal;

use clap::ValueEnum;

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always, even into a pipe or file.
    Always,
    /// Never.
    Never,
}

/// Paints text, or leaves it alone when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

/// Which stream the text goes to, for `auto`.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Style {
    /// The style for `stream` under `choice`.
    pub fn new(choice: ColorChoice, stream: Stream) -> Style {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let terminal = match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                };
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Style { on }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Red and bold: failures.
    pub fn red(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Green and bold: success.
    pub fn green(self, text: &str) -> String {
        self.paint("1;32", text)
    }

    /// Yellow and bold: neither (skipped, flaky, retried).
    pub fn yellow(self, text: &str) -> String {
        self.paint("1;33", text)
    }

    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paints_only_when_on() {
        let on = Style::new(ColorChoice::Always, Stream::Stderr);
        assert_eq!(on.red("x"), "\x1b[1;31mx\x1b[0m");
        let off = Style::new(ColorChoice::Never, Stream::Stderr);
        assert_eq!(off.red("x"), "x");
    }
}
