//! The wire protocol between the host and its worker processes: the messages
//! ([`message`]) and how they are framed over a pipe ([`frame`]).

pub mod frame;
pub mod message;

#[cfg(test)]
mod fuzz;
