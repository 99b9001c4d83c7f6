use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    aura::cli::run(aura::cli::Cli::parse()).await
}
