//! What `run`'s reporter and `test`'s printer share about printing: stdout with the
//! closed-pipe rule ([`stdout`]), guest output as one block per task ([`block`]), the summary
//! line ([`summary`]), how durations read ([`duration`]) and the note while a large module
//! compiles ([`compiling`]).

pub mod block;
pub mod compiling;
pub mod duration;
pub mod stdout;
pub mod summary;
