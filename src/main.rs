//! `atelier` — parse the command line, load settings, run the command.

use clap::Parser;

/// mimalloc instead of glibc's malloc: under page load glibc's `malloc_consolidate` and
/// `free` were 7 % of the HTTP workers' CPU (every request builds and drops many small
/// strings and rows).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    commit_allocator_memory_lazily();
    let cli = atelier::cli::Cli::parse();
    atelier::cli::init_tracing();
    let settings = atelier::base::config::Settings::load(cli.config.as_deref())?;
    atelier::cli::run(cli.command.unwrap_or_default(), settings)
}

/// mimalloc commits its arenas eagerly by default, which under page load keeps a resident
/// set of about 120 MB; committed lazily it is about 35 MB at the same throughput. The
/// option is read while the process starts, before `main`, so the one way to set it from
/// here is to start again with it in the environment: the same process (`exec` keeps the
/// pid, for signals and supervisors), the same arguments. Set the variable yourself to
/// choose otherwise.
fn commit_allocator_memory_lazily() {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        // `exec` returns only when it failed; then run on with the default.
        let _failed = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(OPTION, "0")
            .exec();
    }
}
