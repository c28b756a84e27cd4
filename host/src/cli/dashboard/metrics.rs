//! A [`Status`] as Prometheus metrics, in the text exposition format: what a scraper needs to
//! graph a cluster and alert on it. Counters are the broker's own counts (they restart with a
//! job, whose label is its id); gauges are the moment's values.

use std::time::Duration;

use mpwasm::broker::Status;
use prometheus::{Encoder, Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The metrics of `status` (and of the broker's last round trip, when measured), as Prometheus
/// reads them.
///
/// # Errors
/// A metric that cannot be registered or encoded (a bug: the names are fixed).
pub fn encode(status: &Status, round_trip: Option<Duration>) -> prometheus::Result<String> {
    let registry = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
        let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    };
    let gauge = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntGaugeVec> {
        let metric = IntGaugeVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    };
    let job = &["job", "module"];
    let done = counter(
        "mpwasm_inputs_done_total",
        "Inputs answered (failures included), by job.",
        job,
    )?;
    let failed = counter(
        "mpwasm_inputs_failed_total",
        "Inputs that failed, by job and kind of failure.",
        &["job", "module", "kind"],
    )?;
    let in_flight = gauge(
        "mpwasm_inputs_in_flight",
        "Inputs workers hold now, by job.",
        job,
    )?;
    let total = gauge(
        "mpwasm_job_inputs",
        "The inputs a job has, when its submitter knew beforehand.",
        job,
    )?;
    let taken_over = counter(
        "mpwasm_takeovers_total",
        "Inputs taken over from a worker that stopped answering, to run again, by job.",
        job,
    )?;
    let expiries = counter(
        "mpwasm_lease_expiries_total",
        "Inputs whose lease lapsed (taken over, or failed after too many deliveries), by job.",
        job,
    )?;
    for j in &status.jobs {
        let labels = [j.id.as_str(), j.module_name.as_str()];
        done.with_label_values(&labels).inc_by(j.done);
        in_flight
            .with_label_values(&labels)
            .set(i64::try_from(j.in_flight).unwrap_or(i64::MAX));
        if let Some(t) = j.total {
            total
                .with_label_values(&labels)
                .set(i64::try_from(t).unwrap_or(i64::MAX));
        }
        taken_over.with_label_values(&labels).inc_by(j.taken_over);
        expiries.with_label_values(&labels).inc_by(j.lease_expiries);
        for (kind, n) in &j.failed {
            failed
                .with_label_values(&[j.id.as_str(), j.module_name.as_str(), kind.as_str()])
                .inc_by(*n);
        }
    }
    let alive = IntGauge::new("mpwasm_workers_alive", "Workers with a heartbeat in 10 s.")?;
    registry.register(Box::new(alive.clone()))?;
    alive.set(i64::try_from(status.workers.len()).unwrap_or(i64::MAX));
    let worker_held = gauge(
        "mpwasm_worker_inputs_in_flight",
        "Inputs a worker holds now.",
        &["worker"],
    )?;
    let worker_done = counter(
        "mpwasm_worker_inputs_done_total",
        "Inputs a worker has answered since it started.",
        &["worker"],
    )?;
    for w in &status.workers {
        worker_held
            .with_label_values(&[w.name.as_str()])
            .set(i64::try_from(w.in_flight).unwrap_or(i64::MAX));
        worker_done
            .with_label_values(&[w.name.as_str()])
            .inc_by(w.inputs_done);
    }
    if let Some(rtt) = round_trip {
        let gauge = Gauge::new(
            "mpwasm_broker_round_trip_seconds",
            "How long the dashboard's last command took to reach the broker and come back.",
        )?;
        registry.register(Box::new(gauge.clone()))?;
        gauge.set(rtt.as_secs_f64());
    }
    let mut text = Vec::new();
    prometheus::TextEncoder::new().encode(&registry.gather(), &mut text)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}
