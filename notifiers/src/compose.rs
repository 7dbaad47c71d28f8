//! Expanding an intent into deliveries: who receives it, over which channel, and the
//! whitelisted data of the message, frozen in the delivery row.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::chain::{CaseParty, Member, standing};
use doorloop_engine::engine::Engine;
use doorloop_engine::figures::stall::Risk;
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::resident::Resident;
use doorloop_engine::runtime::{CaseState, RungChange, Task, Visit};
use doorloop_engine::store::{NewDelivery, OutboxItem, TaskRow, User, UserRole};
use doorloop_engine::text::dutch::{clock_time, date, date_time, long_date, stall_reason};
use doorloop_engine::text::messages::{self, CaseMessage, CaseRef, Person, StallRef, TaskRef, VisitRef};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::NotifyError;
use crate::config::Config;
use crate::ics::{Invite, visit_invite};

/// Most cases one digest lists; the rest are counted.
const DIGEST_CASES: usize = 25;

/// Turns intents into deliveries.
pub struct Composer {
    engine: Arc<Engine>,
    config: Config,
    /// Whether e-mail can be sent; without it, messages go to the log channel.
    email: bool,
    /// Sender address: organiser of invitations, domain of Message-IDs.
    from_address: String,
    /// All open work, shared by the digests of one run (one read instead of one per person).
    work: tokio::sync::Mutex<Option<(std::time::Instant, Arc<WorkIndex>)>>,
}

/// How long one read of the open work serves the digests being prepared.
const WORK_SNAPSHOT: std::time::Duration = std::time::Duration::from_secs(60);

/// The open tasks, by assignee and, for unassigned ones, by role.
pub struct WorkIndex {
    rows: Vec<TaskRow>,
    by_assignee: HashMap<String, Vec<usize>>,
    unassigned_by_role: HashMap<String, Vec<usize>>,
}

impl WorkIndex {
    fn new(rows: Vec<TaskRow>) -> WorkIndex {
        let mut by_assignee: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unassigned_by_role: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            match &r.assignee {
                Some(a) => by_assignee.entry(a.clone()).or_default().push(i),
                None => {
                    for role in &r.roles {
                        unassigned_by_role.entry(role.clone()).or_default().push(i);
                    }
                }
            }
        }
        WorkIndex {
            rows,
            by_assignee,
            unassigned_by_role,
        }
    }

    /// What "Mijn taken" shows a user: their tasks and their teams' unassigned ones, in
    /// deadline order.
    fn for_user(&self, user: &User) -> Vec<&TaskRow> {
        let mut found: Vec<usize> = self.by_assignee.get(&user.id).cloned().unwrap_or_default();
        for team in &user.teams {
            if let Some(ids) = self.unassigned_by_role.get(team) {
                found.extend(ids);
            }
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().filter_map(|i| self.rows.get(i)).collect()
    }
}

/// The active users, indexed for resolving recipients; loaded once per pass.
pub struct People {
    users: Vec<User>,
    by_id: HashMap<String, usize>,
    by_team: HashMap<String, Vec<usize>>,
    managers: Vec<usize>,
}

impl People {
    pub fn new(all: Vec<User>) -> People {
        let users: Vec<User> = all.into_iter().filter(|u| u.active).collect();
        let mut by_id = HashMap::new();
        let mut by_team: HashMap<String, Vec<usize>> = HashMap::new();
        let mut managers = Vec::new();
        for (i, u) in users.iter().enumerate() {
            by_id.insert(u.id.clone(), i);
            for t in &u.teams {
                by_team.entry(t.clone()).or_default().push(i);
            }
            if u.role == UserRole::Manager {
                managers.push(i);
            }
        }
        People {
            users,
            by_id,
            by_team,
            managers,
        }
    }

    fn get(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).and_then(|&i| self.users.get(i))
    }

    fn at(&self, indexes: &[usize]) -> Vec<&User> {
        indexes.iter().filter_map(|&i| self.users.get(i)).collect()
    }

    /// Who works as `role`: members of that team; for `manager` also every manager.
    fn in_role(&self, role: &str) -> Vec<&User> {
        let mut found: Vec<usize> = self.by_team.get(role).cloned().unwrap_or_default();
        if role == "manager" {
            found.extend(&self.managers);
        }
        found.sort_unstable();
        found.dedup();
        self.at(&found)
    }

    fn managers(&self) -> Vec<&User> {
        self.at(&self.managers)
    }

    fn name_of(&self, id: &str) -> String {
        self.get(id)
            .map_or_else(|| id.to_owned(), |u| u.display_name.clone())
    }
}

/// Who a message about a case goes to, and what is needed to address them.
#[derive(Clone, Copy)]
struct Audience<'a> {
    recipients: &'a [To],
    people: &'a People,
    resident: Option<&'a Resident>,
}

/// Someone a message goes to.
struct To {
    /// Login name, or the address itself for a test message or a guest.
    id: String,
    /// How the message greets them; empty for a guest known only by address.
    name: String,
    email: Option<String>,
    /// Outside Doorloop (a joint visit's guest or the resident): no links into Doorloop.
    guest: bool,
}

impl Composer {
    pub fn new(engine: Arc<Engine>, config: Config, email: bool, from_address: String) -> Composer {
        Composer {
            engine,
            config,
            email,
            from_address,
            work: tokio::sync::Mutex::new(None),
        }
    }

    async fn work(&self) -> Result<Arc<WorkIndex>, NotifyError> {
        let mut cached = self.work.lock().await;
        if let Some((at, index)) = cached.as_ref()
            && at.elapsed() < WORK_SNAPSHOT
        {
            return Ok(index.clone());
        }
        let rows = self
            .engine
            .store()
            .open_tasks(&doorloop_engine::store::TaskFilter {
                limit: Some(u32::MAX),
                ..Default::default()
            })
            .await?;
        let index = Arc::new(WorkIndex::new(rows));
        *cached = Some((std::time::Instant::now(), index.clone()));
        Ok(index)
    }

    /// The deliveries of an intent. Recipients without an e-mail address are skipped when
    /// e-mail is configured; messages that no longer apply (the task was closed, the stall
    /// cleared, the visit re-planned) produce no e-mail, but the webhook still hears of the
    /// event.
    pub async fn expand(
        &self,
        intent: &OutboxItem,
        people: &People,
        now: DateTime<Utc>,
    ) -> Result<Vec<NewDelivery>, NotifyError> {
        let state = match &intent.case_id {
            Some(case) => self.engine.store().load_case(case).await?,
            None => None,
        };
        let task = state
            .as_ref()
            .and_then(|s| intent.task_id.as_deref().and_then(|t| s.tasks.get(t)));
        // The resident's record: to write to them, or to list them on a visit's invitation.
        let resident_invited = intent.recipient_type == "resident"
            || intent
                .payload
                .as_ref()
                .and_then(|p| p.get("resident"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let resident = match state.as_ref() {
            Some(CaseState {
                resident: Some(id), ..
            }) if resident_invited => self.engine.store().resident(id).await?,
            _ => None,
        };
        let mut recipients = self.recipients(intent, people, task, resident.as_ref());
        // The chain: a message about a case reaches only people whose organisation may see
        // it (the resident's municipality, or one with a ground on the case that stands).
        if let Some(state) = state.as_ref() {
            let (municipality, parties) = self.chain_of(state).await?;
            recipients.retain(|to| {
                to.guest
                    || people.get(&to.id).is_some_and(|u| {
                        let member = Member::of(&u.organisation, u.organisation_kind);
                        standing(member, municipality.as_deref(), &parties).is_some()
                    })
            });
        }
        let mut out = Vec::new();
        match intent.kind.as_str() {
            "task_opened" => {}
            "test" => {
                for to in &recipients {
                    let context = json!({
                        "recipient": { "name": to.name },
                        "sent_at": date_time(now),
                        "link": self.config.link("/"),
                    });
                    self.push(&mut out, intent, to, context, None, None);
                }
            }
            "daily_digest" => {
                for to in &recipients {
                    if let Some(context) = self.digest(to, people, now).await? {
                        self.push(&mut out, intent, to, context, None, None);
                    }
                }
            }
            "weekly_summary" => {
                let summary = self.summary(now).await?;
                for to in &recipients {
                    let mut context = summary.clone();
                    context["recipient"] = json!({ "name": to.name });
                    self.push(&mut out, intent, to, context, None, None);
                }
            }
            _ => {
                let to = Audience {
                    recipients: &recipients,
                    people,
                    resident: resident.as_ref(),
                };
                self.case_messages(&mut out, intent, state.as_ref(), &to, now)
                    .await?
            }
        }
        if let Some(webhook) = &self.config.webhook
            && intent.kind != "test"
        {
            let step = task.map(|t| t.step.clone());
            out.push(NewDelivery {
                key: format!("{}>webhook", intent.key),
                channel: "webhook".into(),
                recipient_type: "webhook".into(),
                recipient: webhook.url.clone(),
                payload: json!({ "body": self.event(intent, &recipients, step) }),
                message_id: self.message_id(&format!("{}>webhook", intent.key)),
            });
        }
        Ok(out)
    }

    /// The resident's municipality and the grounds recorded on a case.
    async fn chain_of(&self, state: &CaseState) -> Result<(Option<String>, Vec<CaseParty>), NotifyError> {
        let municipality = match &state.resident {
            Some(r) => self
                .engine
                .store()
                .resident(r)
                .await?
                .and_then(|r| r.municipality),
            None => None,
        };
        Ok((municipality, self.engine.store().case_parties(&state.id).await?))
    }

    /// Who an intent reaches. A message to a task's role goes to the task's assignee when
    /// it has one (the team hears of unassigned work only); other roles (`manager`,
    /// `team_lead`) are everyone in them.
    fn recipients(
        &self,
        intent: &OutboxItem,
        people: &People,
        task: Option<&Task>,
        resident: Option<&Resident>,
    ) -> Vec<To> {
        let to = |u: &User| To {
            id: u.id.clone(),
            name: u.display_name.clone(),
            email: u.email.clone(),
            guest: false,
        };
        let case_message = intent.case_id.is_some();
        match intent.recipient_type.as_str() {
            "address" => vec![To {
                id: intent.recipient.clone(),
                // A test message greets its address; a guest is greeted without a name.
                name: if case_message {
                    String::new()
                } else {
                    intent.recipient.clone()
                },
                email: Some(intent.recipient.clone()),
                guest: case_message,
            }],
            // Gone from the record, or no address: nobody to write to.
            "resident" => resident
                .filter(|r| !r.unknown)
                .map(|r| To {
                    id: format!("inwoner:{}", r.id),
                    name: r.display_name(),
                    email: r.email.clone(),
                    guest: true,
                })
                .into_iter()
                .collect(),
            "user" => people.get(&intent.recipient).map(to).into_iter().collect(),
            _ => {
                let role = intent.recipient.as_str();
                if let Some(task) = task
                    && task.roles.iter().any(|r| r == role)
                    && let Some(assignee) = &task.assignee
                {
                    return people.get(assignee).map(to).into_iter().collect();
                }
                let mut found = people.in_role(role);
                if found.is_empty() && role == "team_lead" {
                    // No team lead appointed: the managers hear of it.
                    found = people.managers();
                }
                found.into_iter().map(to).collect()
            }
        }
    }

    /// Adds a delivery for one recipient on the channel that reaches them.
    fn push(
        &self,
        out: &mut Vec<NewDelivery>,
        intent: &OutboxItem,
        to: &To,
        context: Value,
        subject: Option<String>,
        invite: Option<String>,
    ) {
        let (channel, address) = match (&to.email, self.email) {
            (Some(address), true) => ("email", Some(address.clone())),
            (None, true) => {
                tracing::warn!(id = intent.id, kind = %intent.kind, "recipient has no e-mail address; skipped");
                return;
            }
            (_, false) => ("log", None),
        };
        let key = format!("{}>{channel}:{}", intent.key, to.id);
        out.push(NewDelivery {
            message_id: self.message_id(&key),
            key,
            channel: channel.into(),
            recipient_type: match intent.recipient_type.as_str() {
                t @ ("address" | "resident") => t,
                _ => "user",
            }
            .into(),
            recipient: to.id.clone(),
            payload: json!({
                "to": address,
                "context": context,
                "subject": subject,
                "ics": invite,
                "cancel": intent.kind == "visit_cancelled",
            }),
        });
    }

    /// `<hash@domain>`: the same key always gives the same Message-ID, so a repeated send
    /// is recognisable.
    fn message_id(&self, key: &str) -> String {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        let domain = self.from_address.rsplit('@').next().unwrap_or("doorloop.invalid");
        format!("<{}@{domain}>", &hash[..40])
    }

    async fn case_messages(
        &self,
        out: &mut Vec<NewDelivery>,
        intent: &OutboxItem,
        state: Option<&CaseState>,
        audience: &Audience<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let Audience {
            recipients,
            people,
            resident,
        } = *audience;
        let bad = |message: &str| NotifyError::BadRow {
            id: intent.id,
            message: message.to_owned(),
        };
        let state = state.ok_or_else(|| bad("the case does not exist"))?;
        let pv = self
            .engine
            .pathway(&state.pathway_key, Some(state.pathway_version))
            .await?;
        let snapshot: Option<Visit> = intent
            .payload
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| bad(&format!("visit cannot be read: {e}")))?;
        let Some(base) = self.case_message(intent, state, &pv, snapshot.as_ref(), people) else {
            tracing::info!(id = intent.id, kind = %intent.kind, "message no longer applies; no e-mail");
            return Ok(());
        };
        let texts = pv.pathway.defaults.messages.get(&intent.kind);
        for to in recipients {
            let mut message = base.clone();
            message.recipient = Person {
                name: to.name.clone(),
            };
            message.guest = to.guest;
            let mut subject = None;
            // A pathway's own words are written for staff; guests get the standard ones.
            if let Some(texts) = texts.filter(|_| !to.guest) {
                // Checked at publication; a failure here keeps the standard words.
                if let Some(t) = &texts.intro {
                    message.intro = messages::render_text(t, &message, false).ok();
                }
                if let Some(t) = &texts.subject {
                    subject = messages::render_text(t, &message, false).ok();
                }
            }
            let invite = match (&intent.kind[..], &snapshot) {
                ("visit_planned" | "visit_cancelled", Some(visit)) => {
                    Some(self.invite(intent, &message, visit, people, resident, now))
                }
                _ => None,
            };
            let context = serde_json::to_value(&message).map_err(|e| bad(&e.to_string()))?;
            self.push(out, intent, to, context, subject, invite);
        }
        Ok(())
    }

    /// The message about a case, or `None` when it no longer applies.
    fn case_message(
        &self,
        intent: &OutboxItem,
        state: &CaseState,
        pv: &PathwayVersion,
        snapshot: Option<&Visit>,
        people: &People,
    ) -> Option<CaseMessage> {
        let task = intent.task_id.as_deref().and_then(|t| state.tasks.get(t));
        let kind = intent.kind.as_str();
        let task_needed = !matches!(kind, "stall_raised" | "visit_cancelled");
        if task_needed && task.is_none() {
            return None;
        }
        if kind == "visit_planned" {
            let current = task.and_then(|t| t.visit.as_ref()).map(|v| v.revision);
            if current != snapshot.map(|v| v.revision) {
                return None;
            }
        }
        let stall = if kind == "stall_raised" {
            let s = state
                .stalls
                .values()
                .find(|s| s.task.as_deref() == intent.task_id.as_deref())?;
            Some(StallRef {
                reason: stall_reason(&s.reason),
                party: s.party.clone(),
                since: date(s.since),
            })
        } else {
            None
        };
        let case_link = self.config.link(&format!("/casussen/{}", state.id));
        Some(CaseMessage {
            kind: kind.to_owned(),
            recipient: Person { name: String::new() },
            case: CaseRef {
                reference: state.id.clone(),
                pathway: pv.pathway.name.clone(),
                link: case_link.clone(),
            },
            task: intent.task_id.as_deref().map(|id| {
                let step_id = task.map(|t| t.step.as_str()).unwrap_or_default();
                TaskRef {
                    step: pv
                        .pathway
                        .steps
                        .iter()
                        .find(|s| s.id == step_id)
                        .map_or_else(|| step_id.to_owned(), |s| s.name.clone()),
                    role: task.and_then(|t| t.roles.first().cloned()).unwrap_or_default(),
                    due: task.and_then(|t| t.due.as_ref()).map(|d| date_time(d.at)),
                    link: self.config.link(&format!("/casussen/{}/taken/{id}", state.id)),
                }
            }),
            visit: snapshot.map(|v| VisitRef {
                date: long_date(v.at),
                time: clock_time(v.at),
                place: v.place.clone().unwrap_or_else(|| "(nog niet bekend)".into()),
                // Staff by name, guests by address, the resident without a name: the
                // message names no client.
                participants: v
                    .participants
                    .iter()
                    .map(|p| people.name_of(p))
                    .chain(v.guests.iter().cloned())
                    .chain(v.resident.then(|| "de inwoner".to_owned()))
                    .collect(),
                revision: v.revision,
            }),
            stall,
            intro: None,
            guest: false,
        })
    }

    fn invite(
        &self,
        intent: &OutboxItem,
        message: &CaseMessage,
        visit: &Visit,
        people: &People,
        resident: Option<&Resident>,
        now: DateTime<Utc>,
    ) -> String {
        let attendees: Vec<String> = visit
            .participants
            .iter()
            .filter_map(|p| people.get(p).and_then(|u| u.email.clone()))
            .chain(visit.guests.iter().cloned())
            .chain(resident.filter(|_| visit.resident).and_then(|r| r.email.clone()))
            .collect();
        let uid = format!(
            "{}-{}@{}",
            message.case.reference,
            intent.task_id.as_deref().unwrap_or("bezoek"),
            self.from_address.rsplit('@').next().unwrap_or("doorloop.invalid")
        );
        let link = message.task.as_ref().map_or(&message.case.link, |t| &t.link);
        visit_invite(&Invite {
            uid: &uid,
            // Revision 1 is sequence 0; each re-planning (update or cancellation) one more.
            sequence: visit.revision.saturating_sub(1),
            start: visit.at,
            minutes: 60,
            summary: &if message.guest {
                "Gezamenlijk gesprek".to_owned()
            } else {
                format!("Gezamenlijk bezoek casus {}", message.case.reference)
            },
            location: visit.place.as_deref().unwrap_or(""),
            description: &if message.guest {
                "Gezamenlijk gesprek, verstuurd met Doorloop.".to_owned()
            } else {
                format!(
                    "Casus {} ({}). Open in Doorloop: {link}",
                    message.case.reference, message.case.pathway
                )
            },
            organizer: &self.from_address,
            attendees: &attendees,
            cancelled: intent.kind == "visit_cancelled",
            stamp: now,
        })
    }

    /// One consultant's digest: overdue, due this week and stalled tasks, by case. `None`
    /// when there is nothing to report.
    async fn digest(
        &self,
        to: &To,
        people: &People,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, NotifyError> {
        let Some(user) = people.get(&to.id) else {
            return Ok(None);
        };
        let local = now.with_timezone(&Amsterdam);
        let days_left = 6 - i64::from(local.weekday().num_days_from_monday());
        let end_of_week = doorloop_engine::time::calendar::local_moment(
            local.date_naive() + Duration::days(days_left + 1),
            chrono::NaiveTime::MIN,
        );
        let work = self.work().await?;
        // Only work on cases the person's organisation may see (the chain's rule).
        let member = Member::of(&user.organisation, user.organisation_kind);
        let mut rows = Vec::new();
        let mut seen: HashMap<String, bool> = HashMap::new();
        for row in work.for_user(user) {
            let sees = match seen.get(&row.case_id) {
                Some(s) => *s,
                None => {
                    let s = match self.engine.store().load_case(&row.case_id).await? {
                        Some(state) => {
                            let (municipality, parties) = self.chain_of(&state).await?;
                            standing(member, municipality.as_deref(), &parties).is_some()
                        }
                        None => false,
                    };
                    seen.insert(row.case_id.clone(), s);
                    s
                }
            };
            if sees {
                rows.push(row);
            }
        }
        // At risk: a typical slow case of the step would finish after the deadline.
        let risks = self.engine.risks(&rows, now).await?;
        let at_risk_of: HashMap<(&str, &str), bool> = rows
            .iter()
            .zip(&risks)
            .map(|(r, k)| ((r.case_id.as_str(), r.task_id.as_str()), *k == Some(Risk::AtRisk)))
            .collect();
        let risky = |row: &TaskRow| {
            at_risk_of
                .get(&(row.case_id.as_str(), row.task_id.as_str()))
                .copied()
                .unwrap_or(false)
        };
        let (mut overdue, mut this_week, mut stalled, mut at_risk) = (0, 0, 0, 0);
        let mut cases: Vec<(String, Vec<&TaskRow>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for row in rows {
            let late = row.due_at.is_some_and(|d| d < now);
            let soon = row.due_at.is_some_and(|d| d >= now && d < end_of_week);
            let stuck = row.stall_reason.is_some();
            let risk = !late && !soon && risky(row);
            if !(late || soon || stuck || risk) {
                continue;
            }
            overdue += usize::from(late);
            this_week += usize::from(soon);
            stalled += usize::from(stuck);
            at_risk += usize::from(risk);
            let i = *index.entry(&row.case_id).or_insert_with(|| {
                cases.push((row.case_id.clone(), Vec::new()));
                cases.len() - 1
            });
            cases[i].1.push(row);
        }
        if cases.is_empty() {
            return Ok(None);
        }
        let more = cases.len().saturating_sub(DIGEST_CASES);
        let mut listed = Vec::new();
        for (case_id, tasks) in cases.into_iter().take(DIGEST_CASES) {
            let Some(first) = tasks.first() else { continue };
            let pv = self
                .engine
                .pathway(&first.pathway_key, Some(first.pathway_version))
                .await?;
            let step_name = |id: &str| {
                pv.pathway
                    .steps
                    .iter()
                    .find(|s| s.id == id)
                    .map_or_else(|| id.to_owned(), |s| s.name.clone())
            };
            listed.push(json!({
                "reference": case_id,
                "pathway": pv.pathway.name,
                "link": self.config.link(&format!("/casussen/{case_id}")),
                "tasks": tasks.iter().map(|t| json!({
                    "step": step_name(&t.step),
                    "state": match t.due_at {
                        Some(d) if d < now => "te laat",
                        Some(d) if d < end_of_week => "deze week",
                        Some(_) if risky(t) => "loopt risico",
                        _ => "ligt stil",
                    },
                    "due": t.due_at.map(date),
                    "stall": t.stall_reason.as_deref().map(stall_reason),
                })).collect::<Vec<_>>(),
            }));
        }
        Ok(Some(json!({
            "recipient": { "name": to.name },
            "date": long_date(now),
            "overdue": overdue,
            "this_week": this_week,
            "stalled": stalled,
            "at_risk": at_risk,
            "cases": listed,
            "more": more,
            "link": self.config.link("/taken"),
        })))
    }

    /// The managers' weekly figures: stalls by party, overdue tasks, ladder movement.
    async fn summary(&self, now: DateTime<Utc>) -> Result<Value, NotifyError> {
        let store = self.engine.store();
        let mut by_party: BTreeMap<String, (u64, DateTime<Utc>)> = BTreeMap::new();
        let stalls = store.open_stalls(None).await?;
        for s in &stalls {
            let party = s.party.clone().unwrap_or_else(|| stall_reason(&s.reason));
            let e = by_party.entry(party).or_insert((0, s.since));
            e.0 += 1;
            e.1 = e.1.min(s.since);
        }
        let tasks = store
            .open_tasks(&doorloop_engine::store::TaskFilter {
                limit: Some(u32::MAX),
                ..Default::default()
            })
            .await?;
        let overdue = tasks.iter().filter(|t| t.due_at.is_some_and(|d| d < now)).count();
        let since = now - Duration::days(7);
        let mut moves: BTreeMap<(u8, u8), u64> = BTreeMap::new();
        for c in store.cases(None, &[], None, 100_000).await? {
            if c.updated_at < since {
                break;
            }
            let Some(state) = store.load_case(&c.id).await? else {
                continue;
            };
            if let Some(step) = rung_move(&state.rung_history, since) {
                *moves.entry(step).or_default() += 1;
            }
        }
        let week = now.with_timezone(&Amsterdam).iso_week();
        Ok(json!({
            "week": format!("week {} van {}", week.week(), week.year()),
            "stalls_total": stalls.len(),
            "stalls": by_party.iter().map(|(party, (count, oldest))| json!({
                "party": party, "count": count, "oldest": date(*oldest),
            })).collect::<Vec<_>>(),
            "open_tasks": tasks.len(),
            "overdue": overdue,
            "ladder_up": moves.iter().filter(|((f, t), _)| t > f).map(|(_, n)| n).sum::<u64>(),
            "ladder_down": moves.iter().filter(|((f, t), _)| t < f).map(|(_, n)| n).sum::<u64>(),
            "ladder": moves.iter().map(|((from, to), count)| json!({ "from": from, "to": to, "count": count })).collect::<Vec<_>>(),
            "link": self.config.link("/vastgelopen"),
        }))
    }

    /// The webhook body: the event with references, never personal data.
    fn event(&self, intent: &OutboxItem, recipients: &[To], step: Option<String>) -> Value {
        json!({
            "event": intent.kind,
            "id": intent.key,
            "occurred_at": intent.created_at,
            "case": intent.case_id.as_ref().map(|c| json!({
                "reference": c,
                "link": self.config.link(&format!("/casussen/{c}")),
            })),
            "task": intent.task_id.as_ref().map(|t| json!({ "id": t, "step": step })),
            // People outside Doorloop are never named to the webhook: not their address,
            // not the resident.
            "recipients": match intent.recipient_type.as_str() {
                "address" | "resident" => json!({ "type": intent.recipient_type }),
                _ => json!({
                    "type": intent.recipient_type,
                    "id": intent.recipient,
                    "users": recipients.iter().map(|r| &r.id).collect::<Vec<_>>(),
                }),
            },
            "visit": intent.payload.as_ref().map(|v| json!({ "at": v.get("at"), "revision": v.get("revision") })),
        })
    }
}

/// How a case moved on the participatieladder since `since`: from the rung it stood on
/// before (or its first rung, when it got one only since) to its last one; `None` when it
/// did not move.
fn rung_move(history: &[RungChange], since: DateTime<Utc>) -> Option<(u8, u8)> {
    let after = history.iter().rev().find(|r| r.at >= since)?.rung;
    let before = history
        .iter()
        .rev()
        .find(|r| r.at < since)
        .or(history.first())?
        .rung;
    (before != after).then_some((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, rung: u8) -> RungChange {
        RungChange {
            rung,
            at: Utc
                .with_ymd_and_hms(2026, 11, day, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            step: None,
        }
    }

    #[test]
    fn ladder_moves_count_from_the_rung_before_the_week() {
        let since = Utc
            .with_ymd_and_hms(2026, 11, 16, 0, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(rung_move(&[at(2, 2), at(17, 3), at(18, 4)], since), Some((2, 4)));
        assert_eq!(
            rung_move(&[at(2, 3), at(17, 2)], since),
            Some((3, 2)),
            "a fall back counts too"
        );
        assert_eq!(rung_move(&[at(2, 3)], since), None, "no change this week");
        assert_eq!(
            rung_move(&[at(17, 2), at(18, 3)], since),
            Some((2, 3)),
            "first rung this week"
        );
        assert_eq!(rung_move(&[at(17, 2)], since), None);
        assert_eq!(rung_move(&[at(2, 2), at(17, 2)], since), None, "same rung again");
        assert_eq!(rung_move(&[], since), None);
    }
}
