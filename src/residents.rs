//! `doorloop resident …`: register, find and show residents from the shell. Every find and
//! show is access-logged as the operator (`cli:` and the login name of the shell's user).

use anyhow::Context;
use chrono::Utc;
use doorloop_engine::engine::Engine;
use doorloop_engine::resident::provision::{ProvisionChange, ProvisionStatus};
use doorloop_engine::resident::{Bsn, ResidentInput, parse_date};
use doorloop_engine::store::AccessEntry;

use crate::args::ResidentCmd;

pub(crate) fn operator() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    format!("cli:{}", if name.is_empty() { "onbekend" } else { &name })
}

/// Writes a file only its owner can read: it holds a person's whole file.
fn write_private(path: &std::path::Path, body: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(body)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn log(
    engine: &Engine,
    resident: Option<&str>,
    purpose: &str,
    detail: Option<String>,
) -> anyhow::Result<()> {
    engine
        .store()
        .log_access(&[AccessEntry {
            at: Utc::now(),
            user_id: operator(),
            case_id: String::new(),
            purpose: purpose.to_owned(),
            resident_id: resident.map(str::to_owned),
            detail,
        }])
        .await?;
    Ok(())
}

pub async fn run(engine: &Engine, cmd: ResidentCmd) -> anyhow::Result<()> {
    match cmd {
        ResidentCmd::Add {
            family_name,
            given_name,
            birth_date,
            municipality,
            address,
            phone,
            email,
            bsn_from_env,
        } => {
            let birth_date = match birth_date {
                Some(d) => Some(
                    parse_date(d.trim())
                        .with_context(|| format!("--birth-date `{d}` is not a date (dd-mm-jjjj)"))?,
                ),
                None => None,
            };
            let bsn = if bsn_from_env {
                let text =
                    std::env::var("DOORLOOP_RESIDENT_BSN").context("DOORLOOP_RESIDENT_BSN is not set")?;
                Some(Bsn::parse(&text).context("DOORLOOP_RESIDENT_BSN")?)
            } else {
                None
            };
            let input = ResidentInput {
                given_name,
                family_name,
                birth_date,
                email,
                phone,
                address,
                municipality,
                bsn,
            };
            let r = engine.add_resident_by(&input, &operator(), Utc::now()).await?;
            println!("{}  {}", r.reference, r.id);
        }
        ResidentCmd::Find { query } => {
            let (q, found) = engine.find_residents(&query, None).await?;
            let refs: Vec<&str> = found.iter().map(|r| r.reference.as_str()).collect();
            let detail = format!(
                "zoeken op {}: {} gevonden: {}",
                q.kind(),
                found.len(),
                refs.join(", ")
            );
            log(engine, None, "doorloop resident find", Some(detail)).await?;
            if found.is_empty() {
                println!("niemand gevonden");
            }
            for r in &found {
                println!(
                    "{}  {:<32} {:<10} {}",
                    r.reference,
                    r.display_name(),
                    r.birth_date
                        .map(|d| d.format("%d-%m-%Y").to_string())
                        .unwrap_or_default(),
                    r.municipality.as_deref().unwrap_or("")
                );
            }
        }
        ResidentCmd::Provision {
            resident,
            kind,
            status,
            start,
            end,
            dormant_until,
            decision_date,
            decision_ref,
            by,
        } => {
            let r = engine.resident_by_key(&resident).await?;
            let date = |flag: &str, v: Option<String>| -> anyhow::Result<Option<chrono::NaiveDate>> {
                v.map(|d| {
                    parse_date(d.trim()).with_context(|| format!("--{flag} `{d}` is not a date (dd-mm-jjjj)"))
                })
                .transpose()
            };
            let change = ProvisionChange {
                key: format!("cli:{}", uuid::Uuid::now_v7()),
                resident_id: r.id.clone(),
                kind,
                status: ProvisionStatus::parse(&status).with_context(|| {
                    format!("--status `{status}`: use aangevraagd, actief, slapend or beeindigd")
                })?,
                start_date: date("start", start)?,
                end_date: date("end", end)?,
                dormant_until: date("dormant-until", dormant_until)?,
                decision_date: date("decision-date", decision_date)?,
                decision_ref,
                by,
                case_id: None,
                at: Utc::now(),
            };
            engine.record_provision(&change).await?;
            println!("{} {}: {}", r.reference, change.kind, change.status.label());
        }
        ResidentCmd::Reactivate { resident, kind, by } => {
            let r = engine.resident_by_key(&resident).await?;
            println!("{}", engine.reactivate(&r.id, &kind, &by, Utc::now()).await?);
        }
        ResidentCmd::Export { resident, out } => {
            let r = engine.resident_by_key(&resident).await?;
            log(engine, Some(&r.id), "inzageverzoek (AVG art. 15)", None).await?;
            let file = engine.resident_file(&r.id, Utc::now()).await?;
            let html = doorloop_web::inzage::render(engine, &file)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let json = serde_json::to_string_pretty(&file)?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (ext, body) in [("json", json), ("html", html)] {
                let path = out.join(format!("inzage-{}.{ext}", r.reference));
                write_private(&path, body.as_bytes())?;
                println!("{}", path.display());
            }
        }
        ResidentCmd::Show { resident } => {
            let r = engine.resident_by_key(&resident).await?;
            let line = engine.line(&r.id).await?;
            log(engine, Some(&r.id), "doorloop resident show", None).await?;
            println!("{}  {}", r.reference, r.display_name());
            if let Some(d) = r.birth_date {
                println!("geboren   {}", d.format("%d-%m-%Y"));
            }
            if let Some(m) = &r.municipality {
                println!("gemeente  {m}");
            }
            println!(
                "BSN       {}",
                if r.has_bsn {
                    "vastgelegd"
                } else {
                    "niet vastgelegd"
                }
            );
            println!("\ntrajecten:");
            if line.cases.is_empty() {
                println!("  (nog geen)");
            }
            for (c, s) in &line.cases {
                println!(
                    "  {}  {:<28} {:<10} gestart {}",
                    c.id,
                    c.pathway_key,
                    c.status,
                    s.started_at
                        .map(|t| t.format("%d-%m-%Y").to_string())
                        .unwrap_or_default()
                );
            }
            let ladder = line.ladder();
            if !ladder.is_empty() {
                println!("\nparticipatieladder:");
                for p in ladder {
                    println!(
                        "  trede {}  {}  ({})",
                        p.rung,
                        p.at.format("%d-%m-%Y"),
                        p.pathway_key
                    );
                }
            }
            let next = line.next();
            if !next.is_empty() {
                println!("\nopen werk:");
                for w in next {
                    println!(
                        "  {:<28} {:<24} {}  {}",
                        w.task.step,
                        w.task.roles.join("+"),
                        w.task.assignee.as_deref().unwrap_or("-"),
                        w.task
                            .due
                            .as_ref()
                            .map(|d| d.at.format("%d-%m-%Y").to_string())
                            .unwrap_or_default()
                    );
                }
            }
            let provisions = engine.store().provisions(&r.id).await?;
            if !provisions.is_empty() {
                println!("\nvoorzieningen:");
                let d = |d: Option<chrono::NaiveDate>| {
                    d.map(|d| d.format("%d-%m-%Y").to_string()).unwrap_or_default()
                };
                for p in provisions {
                    println!(
                        "  {:<20} {:<12} {:>10} – {:<10}{}",
                        p.kind,
                        p.status.label(),
                        d(p.start_date),
                        d(p.end_date),
                        p.dormant_until
                            .map(|u| format!("  slapend tot {}", u.format("%d-%m-%Y")))
                            .unwrap_or_default()
                    );
                }
            }
            let team = line.team();
            if !team.is_empty() {
                println!("\nwerkt met deze inwoner:");
                for (who, keys) in team {
                    println!("  {who:<24} {}", keys.join(", "));
                }
            }
        }
    }
    Ok(())
}
