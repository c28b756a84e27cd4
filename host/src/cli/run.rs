//! `mpwasm run`: one task per input over the pool, results streamed in input order (or as
//! completed).

use anyhow::{Result, bail};

use super::args::RunArgs;
use super::inputs::Source;
use super::report::Reporter;
use super::settings::{InputSpec, parse_range, pool_builder};

/// Runs the command; returns the exit status.
pub fn run(args: RunArgs) -> Result<i32> {
    let spec = match (&args.map, &args.input) {
        (Some(range), None) => InputSpec::Range(parse_range(range)?),
        (None, Some(path)) => InputSpec::JsonLines(Some(path.clone())),
        (None, None) => bail!(
            "no inputs: give --map RANGE (e.g. --map 0..10), --input PATH (JSON Lines), or \
             --input - to read JSON Lines from stdin"
        ),
        (Some(_), Some(_)) => bail!("give either --map or --input, not both"),
    };
    if args.chunksize == Some(0) {
        bail!("invalid --chunksize 0: a batch holds at least one task");
    }
    let source = Source::open(&spec)?;
    let mut builder = pool_builder(&args.common)?;
    if let Some(n) = args.chunksize {
        builder = builder.chunksize(n);
    }
    let pool = builder.build(args.task.as_path())?;
    let mut reporter = Reporter::new(args.format, source.line_map());
    let (submitter, mut outcomes) = pool.job(!args.unordered);
    let feeder = source.feed(submitter);
    let mut closed = false;
    loop {
        let outcome = match outcomes.try_next() {
            Some(o) => o,
            None => {
                if reporter.flush().is_err() {
                    closed = true;
                    break;
                }
                match outcomes.next_blocking() {
                    Some(o) => o,
                    None => break,
                }
            }
        };
        if reporter.report(&outcome).is_err() {
            closed = true;
            break;
        }
    }
    if closed {
        // stdout is gone (e.g. `| head`): a clean exit, as for any Unix filter.
        drop(outcomes);
        drop(pool);
        return Ok(0);
    }
    let _ = reporter.flush();
    let read_error = feeder.join().unwrap_or(None);
    if let Some(message) = read_error {
        eprintln!("mpwasm: {message}");
        return Ok(1);
    }
    Ok(if reporter.failed > 0 { 1 } else { 0 })
}
