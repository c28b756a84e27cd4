//! The integration tests, all in one binary (wasmtime's `tests/all/` pattern): one module per
//! area, `common` for the helpers and the broker harness. Every test drives the `mpwasm`
//! binary of this build (`CARGO_BIN_EXE_mpwasm`); run one area with
//! `cargo test --release --test all -- cli::`.

mod common;

mod async_calls;
mod bindings;
mod broker;
mod calls;
mod chaos;
mod cli;
mod dashboard;
mod examples;
mod guests_built;
mod host_functions;
mod javascript;
mod library;
mod long_runs;
mod plugin_app;
mod plugins;
mod programs;
mod python;
mod random_inputs;
mod random_modules;
mod reliability;
mod sandbox;
mod shared;
mod shared_broker;
mod signals;
mod startup;
mod test_command;
mod test_config;
mod tools;
mod values;
