//! `doorloop`: the command-line entry point. Wiring only; the work lives in the modules.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod cli;
mod config;
mod demo;
mod notify;
mod residents;
mod retention;
mod seed;
mod serve;
mod shipped;
mod show;
mod telemetry;
mod users;
mod vars;
mod worker;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    telemetry::init(args.verbose);
    // Only a test build has failpoints; elsewhere this does nothing.
    doorloop_engine::failpoint::setup_from_env();
    // One thread runs the engine: commands, the writer task and the database driver's
    // replies meet there without cross-thread wake-ups. SQLite work happens on sqlx's
    // own worker thread, so a 2-core machine is still used fully.
    // The web server answers many users at once: it gets a worker thread per core.
    let builder = if matches!(args.command, cli::Cmd::Serve { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let mut builder = builder;
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
