//! `atelier` — parse the command line, load settings, run the command.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = atelier::cli::Cli::parse();
    atelier::cli::init_tracing();
    let settings = atelier::config::Settings::load(cli.config.as_deref())?;
    atelier::cli::run(cli.command.unwrap_or_default(), settings)
}
