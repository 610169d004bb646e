//! What `/metrics` reports, in the Prometheus text format (version 0.0.4).
//!
//! The process keeps counters and histograms for what happens in it: requests by route
//! and status and their latency, generation jobs by provider (how long they took, how many
//! failed) and decode-budget waits. Numbers that belong to the whole cluster (the queue,
//! credits charged and refunded) are read from PostgreSQL when scraped, so every instance
//! reports the same truth. One registry per process (several servers in one test process
//! add up, which only tests do); recording is a short mutex hold, never I/O.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the request-latency buckets.
const REQUEST_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Upper bounds (seconds) of the job-duration buckets.
const JOB_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (count, bound) in self.counts.iter_mut().zip(bounds) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (count, bound) in self.counts.iter().zip(bounds) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Registry {
    /// (route pattern, method, status) → requests. Every part is from a bounded set: the
    /// routes the app declares, [`method_label`]'s names and three-digit statuses.
    requests: BTreeMap<(String, &'static str, u16), u64>,
    /// route pattern → latency.
    latency: BTreeMap<String, Histogram>,
    /// (provider, kind, outcome) → job durations.
    jobs: BTreeMap<(String, String, &'static str), Histogram>,
    /// provider → failed jobs.
    provider_errors: BTreeMap<String, u64>,
    decode_waits: u64,
    decode_refusals: u64,
    storage_unavailable: u64,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One answered request; `route` is the matched pattern (`/images/{id}`, or
/// [`UNMATCHED_ROUTE`]), never the raw path, and the method is a [`method_label`], so the
/// label set stays small whatever clients send.
pub fn request(route: &str, method: &'static str, status: u16, took: Duration) {
    let mut registry = registry();
    *registry
        .requests
        .entry((route.to_owned(), method, status))
        .or_default() += 1;
    registry
        .latency
        .entry(route.to_owned())
        .or_default()
        .observe(&REQUEST_BUCKETS, took.as_secs_f64());
}

/// The route label of a request no route matched (whatever its path).
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

/// A request method as a label: the methods HTTP defines by name, anything else (a client
/// may send any token as a method) as `OTHER`, so made-up methods cannot grow the registry.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("OTHER", |(_, label)| label)
}

/// A finished generation job (`succeeded` or `failed`).
pub fn job(provider: &str, kind: &str, succeeded: bool, took: Duration) {
    let outcome = if succeeded { "succeeded" } else { "failed" };
    let mut registry = registry();
    registry
        .jobs
        .entry((provider.to_owned(), kind.to_owned(), outcome))
        .or_default()
        .observe(&JOB_BUCKETS, took.as_secs_f64());
    if !succeeded {
        *registry
            .provider_errors
            .entry(provider.to_owned())
            .or_default() += 1;
    }
}

/// A decode that had to wait for memory; `refused` when it waited in vain.
pub fn decode_wait(refused: bool) {
    let mut registry = registry();
    registry.decode_waits += 1;
    if refused {
        registry.decode_refusals += 1;
    }
}

/// A request the object store did not answer.
pub fn storage_unavailable() {
    registry().storage_unavailable += 1;
}

/// What the database says about the whole cluster at scrape time.
#[derive(Debug, Default)]
pub struct ClusterFigures {
    /// (status, jobs) for queued and running jobs.
    pub queue: Vec<(String, i64)>,
    /// Credits taken by generations, and given back by refunds, since the beginning.
    pub credits_charged: i64,
    pub credits_refunded: i64,
}

/// The whole exposition.
pub fn render(cluster: &ClusterFigures) -> String {
    let registry = registry();
    let mut out = String::with_capacity(8192);
    out.push_str(
        "# HELP atelier_http_requests_total Requests answered, by route pattern, method and status.\n\
         # TYPE atelier_http_requests_total counter\n",
    );
    for ((route, method, status), count) in &registry.requests {
        let _ = writeln!(
            out,
            "atelier_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
            escape(route)
        );
    }
    out.push_str(
        "# HELP atelier_http_request_duration_seconds Time to answer a request, by route pattern.\n\
         # TYPE atelier_http_request_duration_seconds histogram\n",
    );
    for (route, histogram) in &registry.latency {
        histogram.write(
            &mut out,
            "atelier_http_request_duration_seconds",
            &format!("route=\"{}\"", escape(route)),
            &REQUEST_BUCKETS,
        );
    }
    out.push_str(
        "# HELP atelier_queue_jobs Generation jobs waiting or running in the cluster.\n\
         # TYPE atelier_queue_jobs gauge\n",
    );
    for status in ["queued", "running"] {
        let jobs = cluster
            .queue
            .iter()
            .find(|(known, _)| known == status)
            .map_or(0, |(_, jobs)| *jobs);
        let _ = writeln!(out, "atelier_queue_jobs{{status=\"{status}\"}} {jobs}");
    }
    out.push_str(
        "# HELP atelier_job_duration_seconds Generation jobs run by this instance, by provider, kind and outcome.\n\
         # TYPE atelier_job_duration_seconds histogram\n",
    );
    for ((provider, kind, outcome), histogram) in &registry.jobs {
        histogram.write(
            &mut out,
            "atelier_job_duration_seconds",
            &format!("provider=\"{provider}\",kind=\"{kind}\",outcome=\"{outcome}\""),
            &JOB_BUCKETS,
        );
    }
    out.push_str(
        "# HELP atelier_provider_errors_total Generation jobs a provider failed on this instance.\n\
         # TYPE atelier_provider_errors_total counter\n",
    );
    for (provider, count) in &registry.provider_errors {
        let _ = writeln!(
            out,
            "atelier_provider_errors_total{{provider=\"{provider}\"}} {count}"
        );
    }
    let _ = write!(
        out,
        "# HELP atelier_credits_charged_total Credits taken by generations in the cluster.\n\
         # TYPE atelier_credits_charged_total counter\n\
         atelier_credits_charged_total {}\n\
         # HELP atelier_credits_refunded_total Credits given back for failed generations in the cluster.\n\
         # TYPE atelier_credits_refunded_total counter\n\
         atelier_credits_refunded_total {}\n\
         # HELP atelier_decode_budget_waits_total Decodes that waited for image memory; refused ones gave up.\n\
         # TYPE atelier_decode_budget_waits_total counter\n\
         atelier_decode_budget_waits_total {}\n\
         # HELP atelier_decode_budget_refusals_total Decodes refused after waiting (answered 503).\n\
         # TYPE atelier_decode_budget_refusals_total counter\n\
         atelier_decode_budget_refusals_total {}\n\
         # HELP atelier_storage_unavailable_total Requests the object store did not answer.\n\
         # TYPE atelier_storage_unavailable_total counter\n\
         atelier_storage_unavailable_total {}\n",
        cluster.credits_charged,
        cluster.credits_refunded,
        registry.decode_waits,
        registry.decode_refusals,
        registry.storage_unavailable,
    );
    out
}

/// Label values are route patterns: escape what the format reserves anyway.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_the_text_parses_as_lines() {
        let mut histogram = Histogram::default();
        for value in [0.002, 0.02, 3.0] {
            histogram.observe(&REQUEST_BUCKETS, value);
        }
        let mut out = String::new();
        histogram.write(&mut out, "x", "route=\"/\"", &REQUEST_BUCKETS);
        assert!(out.contains("x_bucket{route=\"/\",le=\"0.001\"} 0"));
        assert!(out.contains("x_bucket{route=\"/\",le=\"0.0025\"} 1"));
        assert!(out.contains("x_bucket{route=\"/\",le=\"0.025\"} 2"));
        assert!(out.contains("x_bucket{route=\"/\",le=\"10\"} 3"));
        assert!(out.contains("x_bucket{route=\"/\",le=\"+Inf\"} 3"));
        assert!(out.contains("x_count{route=\"/\"} 3"));
        assert_eq!(escape("a\"b"), "a\\\"b");
    }

    #[test]
    fn made_up_methods_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"M00001XXXXXXXX").expect("a token");
        assert_eq!(method_label(&made_up), "OTHER");
    }
}
