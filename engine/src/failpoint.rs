//! Failpoints: named places where a test can make Doorloop fail on purpose (return an error or
//! panic), to prove that nothing is lost or done twice when it does. They exist only in a
//! build with the `failpoints` feature (the test build), configured by the `FAILPOINTS`
//! environment variable (`name=action;…`, the `fail` crate's syntax, e.g.
//! `commit_after=2*off->1*panic`); in any other build they compile to nothing.
//!
//! Every failpoint is named in `tests/failpoints.rs`, which fails when one has no test.

/// Lets the failpoint `name` act: `Err` with its message when it is set to `return`, a panic
/// when set to `panic`, `Ok` otherwise (and always without the feature).
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) -> Result<(), String> {
    fail::fail_point!(name, |arg: Option<String>| Err(
        arg.unwrap_or_else(|| format!("failpoint {name}"))
    ));
    Ok(())
}

/// Without the `failpoints` feature: never fails.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) -> Result<(), String> {
    Ok(())
}

/// The error a failpoint set to `return` stands for: the database went away (I/O), which the
/// callers treat as any lost connection (503, try again).
pub fn fault(message: String) -> crate::store::StoreError {
    crate::store::StoreError::Database(sqlx::Error::Io(std::io::Error::other(message)))
}

/// Reads `FAILPOINTS` once at process start (only with the feature); says on standard error
/// which failpoints are armed, so a run with them is never mistaken for a normal one.
pub fn setup_from_env() {
    #[cfg(feature = "failpoints")]
    if let Ok(spec) = std::env::var("FAILPOINTS") {
        for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
            match part.split_once('=') {
                Some((name, actions)) => {
                    if let Err(e) = fail::cfg(name.trim(), actions.trim()) {
                        eprintln!("FAILPOINTS: cannot arm `{name}`: {e}");
                    } else {
                        eprintln!("FAILPOINTS: `{}` armed with `{}`", name.trim(), actions.trim());
                    }
                }
                None => eprintln!("FAILPOINTS: `{part}` is not name=actions"),
            }
        }
    }
}

/// Turns a panic in `future` into an error message, so one failed pass of a background loop
/// (writer, scheduler, notifier) does not end the loop for the life of the process.
pub async fn survive<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| panic_message(panic.as_ref()))
}

/// The text a caught panic carries, for the log.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}
