//! `atelier` — parse the command line, load settings, run the command.

use clap::Parser;

/// mimalloc instead of glibc's malloc: under page load glibc's `malloc_consolidate` and
/// `free` were 7 % of the HTTP workers' CPU (every request builds and drops many small
/// strings and rows).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = atelier::cli::Cli::parse();
    atelier::cli::init_tracing();
    let settings = atelier::config::Settings::load(cli.config.as_deref())?;
    atelier::cli::run(cli.command.unwrap_or_default(), settings)
}
