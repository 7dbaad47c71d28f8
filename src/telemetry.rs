//! All tracing subscriber setup. Logs carry ids and step names, never personal data.

use tracing_subscriber::EnvFilter;

/// Logs to stderr; `DOORLOOP_LOG` (or `-v`) sets the filter.
pub fn init(verbose: bool) {
    let default = if verbose { "info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_env("DOORLOOP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
