//! What `run`'s reporter and `test`'s printer share about printing: stdout with the
//! closed-pipe rule ([`stdout`]), guest output as one block per task ([`block`]), the summary
//! line ([`summary`]) and how durations read ([`duration`]).

pub mod block;
pub mod duration;
pub mod stdout;
pub mod summary;
