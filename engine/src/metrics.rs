//! Operational figures of one process, for `GET /metrics` (Prometheus / OpenMetrics text):
//! commands and conflicts, the size and latency of group commits, timers claimed and
//! fired, the outbox, and HTTP responses by route and status. No label ever carries
//! personal data: routes are templates (`/casussen/{id}`), never paths.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an HTTP response.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Labels of a command's end.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    result: &'static str,
}

/// The figures; cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    commit_batch_size: Histogram,
    commit_seconds: Histogram,
    timers_claimed: Counter,
    timers_fired: Counter,
    timers_failed: Counter,
    outbox_pending: Gauge,
    outbox_dead: Gauge,
    http: Family<HttpLabels, Counter>,
    /// Milliseconds since the epoch of the scheduler's last finished pass (0: none yet).
    last_scheduler_pass: AtomicI64,
    /// Serialises encoding (the registry is read-only once built).
    encoding: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("doorloop");
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "commands",
            "Commands handed to the writer, by result (landed, conflict, failed)",
            commands.clone(),
        );
        let commit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "commit_batch_size",
            "Case writes per group commit",
            commit_batch_size.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "commit_seconds",
            "Time of one group commit, until it is durable",
            commit_seconds.clone(),
        );
        let timers_claimed = Counter::default();
        registry.register(
            "timers_claimed",
            "Due timers claimed by the scheduler",
            timers_claimed.clone(),
        );
        let timers_fired = Counter::default();
        registry.register("timers_fired", "Timers fired", timers_fired.clone());
        let timers_failed = Counter::default();
        registry.register(
            "timers_failed",
            "Timers that could not be fired (tried again when their lease ends)",
            timers_failed.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Messages waiting to be sent",
            outbox_pending.clone(),
        );
        let outbox_dead = Gauge::default();
        registry.register(
            "outbox_dead",
            "Messages given up on after their retries",
            outbox_dead.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by method, route template and status",
            http.clone(),
        );
        Metrics {
            registry,
            commands,
            commit_batch_size,
            commit_seconds,
            timers_claimed,
            timers_fired,
            timers_failed,
            outbox_pending,
            outbox_dead,
            http,
            last_scheduler_pass: AtomicI64::new(0),
            encoding: Mutex::new(()),
        }
    }

    /// One group commit of `size` writes that took `seconds`; `landed` of them landed.
    pub fn commit(&self, size: usize, landed: usize, seconds: f64) {
        self.commit_batch_size.observe(size as f64);
        self.commit_seconds.observe(seconds);
        self.commands
            .get_or_create(&CommandLabels { result: "landed" })
            .inc_by(landed as u64);
        self.commands
            .get_or_create(&CommandLabels { result: "conflict" })
            .inc_by(size.saturating_sub(landed) as u64);
    }

    /// Writes whose commit failed.
    pub fn failed(&self, count: usize) {
        self.commands
            .get_or_create(&CommandLabels { result: "failed" })
            .inc_by(count as u64);
    }

    /// One scheduler pass, finished at `at_ms` (milliseconds since the epoch).
    pub fn scheduler_pass(&self, claimed: usize, fired: usize, failed: usize, at_ms: i64) {
        self.timers_claimed.inc_by(claimed as u64);
        self.timers_fired.inc_by(fired as u64);
        self.timers_failed.inc_by(failed as u64);
        self.last_scheduler_pass.store(at_ms, Ordering::Relaxed);
    }

    /// When the scheduler last finished a pass (milliseconds since the epoch), if ever.
    pub fn last_scheduler_pass(&self) -> Option<i64> {
        match self.last_scheduler_pass.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    pub fn outbox(&self, pending: i64, dead: i64) {
        self.outbox_pending.set(pending);
        self.outbox_dead.set(dead);
    }

    pub fn http_response(&self, labels: HttpLabels) {
        self.http.get_or_create(&labels).inc();
    }

    /// The figures in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let _guard = self
            .encoding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_encoded_with_their_names() {
        let m = Metrics::new();
        m.commit(4, 3, 0.002);
        m.scheduler_pass(5, 4, 1, 1_700_000_000_000);
        m.outbox(7, 2);
        m.http_response(HttpLabels {
            method: "GET".into(),
            route: "/casussen/{id}".into(),
            status: 200,
        });
        let text = m.encode().unwrap();
        for line in [
            "doorloop_commands_total{result=\"landed\"} 3",
            "doorloop_commands_total{result=\"conflict\"} 1",
            "doorloop_commit_batch_size_count 1",
            "doorloop_commit_seconds_count 1",
            "doorloop_timers_fired_total 4",
            "doorloop_outbox_pending 7",
            "doorloop_outbox_dead 2",
            "doorloop_http_responses_total{method=\"GET\",route=\"/casussen/{id}\",status=\"200\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        assert_eq!(m.last_scheduler_pass(), Some(1_700_000_000_000));
    }
}
