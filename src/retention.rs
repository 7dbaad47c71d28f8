//! `doorloop retention …`: remove what is past its term, and legal holds.

use anyhow::bail;
use chrono::Utc;
use doorloop_engine::engine::Engine;
use doorloop_engine::retention::{self, Policy};

use crate::args::RetentionCmd;
use crate::residents::operator;

pub async fn run(engine: &Engine, policy: Policy, cmd: RetentionCmd) -> anyhow::Result<()> {
    match cmd {
        RetentionCmd::Run { dry_run } => {
            let report = retention::run(engine, policy, Utc::now(), &operator(), dry_run).await?;
            let verb = if dry_run { "would remove" } else { "removed" };
            for (key, n) in &report.cases {
                let years = report
                    .terms
                    .iter()
                    .find(|t| &t.pathway_key == key)
                    .map_or(policy.default_years, |t| t.years);
                println!("{key}: {verb} {n} case(s) ended more than {years} year(s) ago");
            }
            if !dry_run {
                println!(
                    "{} case(s) removed ({} events, {} tasks, {} messages); {} resident record(s) removed",
                    report.case_count(),
                    report.events,
                    report.tasks,
                    report.messages,
                    report.residents
                );
            } else {
                println!(
                    "{} case(s) past their term; {} resident record(s) without cases past {} years",
                    report.case_count(),
                    report.residents,
                    policy.default_years
                );
            }
        }
        RetentionCmd::Terms => {
            for t in retention::terms(engine, policy).await? {
                let source = match (&t.basis, t.default) {
                    (_, true) => "installation default".to_owned(),
                    (Some(b), false) => b.clone(),
                    (None, false) => "set by the pathway".to_owned(),
                };
                println!(
                    "{}\t{} year(s)\t{}\t{}",
                    t.pathway_key, t.years, t.pathway_name, source
                );
            }
        }
        RetentionCmd::Hold { resident, reason } => {
            let reason = reason.trim();
            if reason.is_empty() {
                bail!("a legal hold needs a reason (--reason)");
            }
            let r = engine.resident_by_key(&resident).await?;
            if retention::hold(engine, &r.id, reason, &operator(), Utc::now()).await? {
                println!(
                    "{}: legal hold set; nothing of theirs is removed until it is released",
                    r.reference
                );
            } else {
                println!("{}: already held", r.reference);
            }
        }
        RetentionCmd::Release { resident } => {
            let r = engine.resident_by_key(&resident).await?;
            if retention::release(engine, &r.id, &operator(), Utc::now()).await? {
                println!("{}: legal hold released", r.reference);
            } else {
                bail!("{} has no legal hold", r.reference);
            }
        }
        RetentionCmd::Log { limit } => {
            for e in engine.store().retention_log(limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.at.format("%Y-%m-%d %H:%M"),
                    e.action,
                    e.case_id.or(e.resident_id).unwrap_or_default(),
                    e.pathway_key.unwrap_or_default(),
                    e.by
                );
            }
        }
    }
    Ok(())
}
