//! The managers' screens: stuck cases by reason and outside party, the bottleneck view
//! (the pathway graph with open work and time spent per step), outcomes with ladder
//! movement and outflow (also as CSV), and the cohort funnel. Everything reads figures
//! the store keeps as cases move; nothing here scans events.

use crate::error::PageQuery;
use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Months};
use chrono_tz::Europe::Amsterdam;
use doorloop_engine::figures::lineage::{self, Lineage};
use doorloop_engine::figures::{self, Spread, cell, cells_of_group, duration_nl, share};
use doorloop_engine::pathway::model::PathwayVersion;
use doorloop_engine::store::UserRole;
use doorloop_engine::text::dutch::stall_reason;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::Shared;
use crate::auth::{self, Viewer};
use crate::error::{WebError, WebResult};
use crate::graph::{self, Mark, Marks};
use crate::views::svg_response;
use crate::views::{base, short};
use crate::views::{date, page};

const MONTHS_NL: [&str; 12] = [
    "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];

/// "mrt 2026" for `2026-03`.
fn month_nl(m: &str) -> String {
    let (y, mm) = m.split_once('-').unwrap_or((m, "01"));
    let i = mm.parse::<usize>().unwrap_or(1).clamp(1, 12);
    format!("{} {y}", MONTHS_NL[i - 1])
}

/// The months a period can start or end in, newest first, in Dutch (`december 2026`): this
/// month and the ten years before it, and the chosen one should it lie outside them. A list
/// rather than a month input, which some browsers lack and others label in their own
/// language.
fn month_options(now: chrono::DateTime<chrono::Utc>, chosen: &str) -> Vec<Value> {
    let today = now.with_timezone(&Amsterdam).date_naive();
    let mut months: Vec<String> = (0..120)
        .filter_map(|back| today.checked_sub_months(Months::new(back)))
        .map(|d| format!("{:04}-{:02}", d.year(), d.month()))
        .collect();
    if !months.iter().any(|m| m == chosen) {
        months.push(chosen.to_owned());
        months.sort_by(|a, b| b.cmp(a));
    }
    months
        .into_iter()
        .map(|m| json!({"label": doorloop_engine::text::dutch::month(&m), "selected": m == chosen, "value": m}))
        .collect()
}

/// `a=1&b=2`, encoded.
fn query_string(pairs: &[(&str, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

fn valid_month(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(m[5..].parse::<u32>(), Ok(1..=12))
}

fn outcome_nl(o: &str) -> String {
    match o {
        "betaald_werk" => "betaald werk".into(),
        "beschut_werk" => "beschut werk".into(),
        "opleiding" => "opleiding".into(),
        "dagbesteding" => "dagbesteding".into(),
        "gestopt" => "gestopt".into(),
        "ingetrokken" => "ingetrokken".into(),
        other => other.replace('_', " "),
    }
}

const RUNG_NAMES: [&str; 6] = [
    "geïsoleerd",
    "sociale contacten",
    "georganiseerde activiteiten",
    "onbetaald werk",
    "betaald werk met ondersteuning",
    "betaald werk",
];

/// What every figures screen is filtered by.
#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    traject: Option<String>,
    versie: Option<u32>,
    van: Option<String>,
    tot: Option<String>,
    /// Colour thresholds in days.
    groen: Option<u32>,
    rood: Option<u32>,
    /// `mediaan` or `p90`: what the colours follow.
    kleur: Option<String>,
    /// `tonen`: show small counts instead of "<5".
    klein: Option<String>,
    reden: Option<String>,
    partij: Option<String>,
    /// Whose outcome figures: a municipality's key, or `regio` for the region as a whole.
    gemeente: Option<String>,
    /// `1`: every version's figures, as steps of the latest version.
    alle: Option<String>,
}

struct Period {
    from: String,
    to: String,
}

impl Filter {
    /// The months asked for; by default the last twelve, this one included.
    fn period(&self, now: chrono::DateTime<chrono::Utc>) -> WebResult<Period> {
        let now = now.with_timezone(&Amsterdam);
        let this = format!("{:04}-{:02}", now.year(), now.month());
        // By default the last 24 months, this one included.
        let year_ago = now
            .date_naive()
            .checked_sub_months(Months::new(23))
            .map(|d| format!("{:04}-{:02}", d.year(), d.month()))
            .unwrap_or_else(|| this.clone());
        let pick = |v: &Option<String>, default: &str, what: &str| -> WebResult<String> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(default.to_owned()),
                Some(m) if valid_month(m) => Ok(m.to_owned()),
                Some(m) => Err(WebError::BadRequest(format!(
                    "Ongeldige maand bij '{what}': {m} (schrijf jjjj-mm, bijvoorbeeld 2026-03)."
                ))),
            }
        };
        let from = pick(&self.van, &year_ago, "van")?;
        let to = pick(&self.tot, &this, "tot en met")?;
        if from > to {
            return Err(WebError::BadRequest(
                "De periode begint na haar einde: kies 'van' vóór 'tot en met'.".into(),
            ));
        }
        Ok(Period { from, to })
    }

    fn suppress(&self) -> bool {
        self.klein.as_deref() != Some("tonen")
    }

    fn thresholds(&self) -> (u32, u32) {
        let green = self.groen.unwrap_or(14);
        (green, self.rood.unwrap_or(42).max(green))
    }

    fn all_versions(&self) -> bool {
        self.alle.as_deref() == Some("1")
    }

    fn colour_by_median(&self) -> bool {
        self.kleur.as_deref() == Some("mediaan")
    }
}

fn manager(viewer: &Viewer) -> WebResult<()> {
    auth::require(&viewer.user, &[UserRole::Manager])
}

/// The pathway the screen is about: the one asked for, else the first.
async fn chosen_pathway(app: &AppState, f: &Filter) -> WebResult<Option<std::sync::Arc<PathwayVersion>>> {
    let names = app.pathway_names.get(&app.engine).await?;
    let key = match f.traject.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => k.to_owned(),
        // By default the pathway with the most participants (the figures' small table).
        None => {
            let mut sizes: std::collections::BTreeMap<String, i64> = Default::default();
            for g in app.engine.store().case_groups(None).await? {
                *sizes.entry(g.pathway_key).or_default() += g.count;
            }
            let busiest = names
                .iter()
                .max_by_key(|(k, _)| (sizes.get(k).copied().unwrap_or(0), std::cmp::Reverse(k.clone())))
                .map(|(k, _)| k.clone());
            match busiest {
                Some(k) => k,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(app.engine.pathway(&key, f.versie).await?))
}

async fn frame(
    app: &AppState,
    viewer: &Viewer,
    title: &str,
    tab: &str,
    f: &Filter,
    pv: Option<&PathwayVersion>,
) -> WebResult<Map<String, Value>> {
    let mut data = base(viewer, title, "analyse");
    data.insert(format!("tab_{tab}"), json!(true));
    let names = app.pathway_names.get(&app.engine).await?;
    let key = pv.map(|p| p.key().to_owned());
    data.insert(
        "pathways".into(),
        json!(
            names
                .iter()
                .map(|(k, n)| json!({"key": k, "name": n, "selected": key.as_deref() == Some(k.as_str())}))
                .collect::<Vec<_>>()
        ),
    );
    let now = app.clock.now();
    let p = f.period(now)?;
    data.insert("van".into(), json!(p.from));
    data.insert("tot".into(), json!(p.to));
    data.insert("van_options".into(), json!(month_options(now, &p.from)));
    data.insert("tot_options".into(), json!(month_options(now, &p.to)));
    data.insert(
        "period".into(),
        json!(format!("{} t/m {}", month_nl(&p.from), month_nl(&p.to))),
    );
    if let Some(pv) = pv {
        data.insert("key".into(), json!(pv.key()));
        data.insert("pathway_name".into(), json!(pv.pathway.name));
        data.insert("version".into(), json!(pv.version));
    }
    Ok(data)
}

// ---- stuck cases ----

pub async fn stuck(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    auth::require(&viewer.user, &[UserRole::Manager, UserRole::Coordinator])?;
    let key = f.traject.clone().filter(|k| !k.is_empty());
    let store = app.engine.store();
    let org = crate::access::org_filter(&viewer.user);
    let summary = store.stall_summary(key.as_deref(), org.as_ref()).await?;
    let now = app.clock.now();
    let groups = figures::stall_groups(&summary.by_reason, &summary.by_party, now);
    let is_manager = viewer.user.role == UserRole::Manager;
    let link = |reason: &str, party: Option<&str>| {
        let mut q = vec![("reden", reason.to_owned())];
        if let Some(p) = party {
            q.push(("partij", p.to_owned()));
        }
        if let Some(k) = &key {
            q.push(("traject", k.clone()));
        }
        format!("/vastgelopen/casussen?{}", query_string(&q))
    };
    let rows: Vec<Value> = groups
        .iter()
        .map(|(total, parties)| {
            json!({
                "reason": stall_reason(&total.reason), "code": total.reason,
                "count": total.count, "median": total.median_days, "oldest": total.oldest_days,
                "oldest_since": date(total.oldest_since),
                "link": is_manager.then(|| link(&total.reason, None)),
                "parties": parties.iter().map(|p| json!({
                    "party": p.party.clone().unwrap_or_else(|| "(geen partij genoemd)".into()),
                    "count": p.count, "median": p.median_days, "oldest": p.oldest_days,
                    "link": is_manager.then(|| link(&p.reason, p.party.as_deref())),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let total: i64 = groups.iter().map(|(g, _)| g.count).sum();
    let mut data = base(
        &viewer,
        "Vastgelopen",
        if is_manager { "analyse" } else { "vastgelopen" },
    );
    data.insert("tab_vastgelopen".into(), json!(true));
    data.insert("is_manager".into(), json!(is_manager));
    data.insert("groups".into(), json!(rows));
    data.insert("total".into(), json!(total));
    let names = app.pathway_names.get(&app.engine).await?;
    data.insert(
        "pathways".into(),
        json!(
            names
                .iter()
                .map(|(k, n)| json!({"key": k, "name": n, "selected": key.as_deref() == Some(k.as_str())}))
                .collect::<Vec<_>>()
        ),
    );
    if is_manager {
        // Residents out of sight: nobody has work for them and nothing happened for weeks.
        let after = app.engine.out_of_sight_after();
        let org = crate::access::org_filter(&viewer.user);
        let people = store.out_of_sight(now - after, org.as_ref(), 200).await?;
        let found: Vec<_> = people.iter().map(|(r, _)| r.clone()).collect();
        app.access_log
            .record_search(&viewer.user, "vastgelopen: uit beeld", "uit beeld", &found)
            .await?;
        let rows: Vec<Value> = people
            .iter()
            .map(|(r, last)| {
                json!({
                    "id": r.id, "name": r.display_name(), "reference": r.reference,
                    "municipality": r.municipality, "last": date(*last),
                    "weeks": (now - *last).num_weeks(),
                })
            })
            .collect();
        data.insert("out_of_sight".into(), Value::Array(rows));
        data.insert("out_of_sight_weeks".into(), json!(after.num_weeks()));
    }
    Ok(page(StatusCode::OK, "stalls", Value::Object(data)))
}

/// The cases behind one group of the stuck view, oldest first (managers only).
pub async fn stuck_cases(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    let reason = f
        .reden
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| WebError::BadRequest("Kies een reden.".into()))?;
    let key = f.traject.clone().filter(|k| !k.is_empty());
    let now = app.clock.now();
    let rows: Vec<_> = app
        .engine
        .store()
        .open_stalls(crate::access::org_filter(&viewer.user).as_ref())
        .await?
        .into_iter()
        .filter(|s| s.reason == reason)
        .filter(|s| f.partij.is_none() || s.party == f.partij)
        .filter(|s| key.as_deref().is_none_or(|k| s.pathway_key == k))
        .collect();
    let mut names: HashMap<(String, String), String> = HashMap::new();
    for s in rows.iter().take(500) {
        if let Some(step) = &s.step
            && !names.contains_key(&(s.pathway_key.clone(), step.clone()))
        {
            let pv = app.engine.pathway(&s.pathway_key, None).await?;
            for st in &pv.pathway.steps {
                names.insert(
                    (s.pathway_key.clone(), st.id.clone()),
                    st.display_name().to_owned(),
                );
            }
        }
    }
    // Residents by name and pathways by name, as people know them.
    let case_ids: Vec<String> = rows.iter().take(500).map(|s| s.case_id.clone()).collect();
    let residents = crate::residents::names_of_cases(&app, &case_ids).await?;
    let pathway_names = app.pathway_names.get(&app.engine).await?;
    let list: Vec<Value> = rows
        .iter()
        .take(500)
        .map(|s| {
            json!({
                "case_id": s.case_id, "short_id": short(&s.case_id),
                "resident": residents.get(&s.case_id),
                "pathway": crate::views::pathway_name(&pathway_names, &s.pathway_key),
                "step": s.step.as_ref().map(|id| names.get(&(s.pathway_key.clone(), id.clone())).cloned().unwrap_or_else(|| id.clone())),
                "party": s.party, "since": date(s.since), "days": (now - s.since).num_days(),
            })
        })
        .collect();
    let mut data = base(&viewer, "Vastgelopen casussen", "analyse");
    data.insert("tab_vastgelopen".into(), json!(true));
    data.insert("reason".into(), json!(stall_reason(&reason)));
    data.insert("party".into(), json!(f.partij));
    data.insert("count".into(), json!(rows.len()));
    data.insert("more".into(), json!(rows.len() > 500));
    data.insert("cases".into(), json!(list));
    Ok(page(StatusCode::OK, "stalled_cases", Value::Object(data)))
}

// ---- bottlenecks ----

struct StepFigures {
    open: BTreeMap<String, i64>,
    spreads: BTreeMap<String, Spread>,
    lost: i64,
}

/// The figures per step of one version, or (`all`) of every version as steps of `pv` (the
/// latest), following renamed steps; `lost` counts work on old steps without a place in it.
async fn step_figures(app: &AppState, pv: &PathwayVersion, p: &Period, all: bool) -> WebResult<StepFigures> {
    let store = app.engine.store();
    if all {
        let lineage = Lineage::new(store.lineage(pv.key()).await?);
        let open = lineage::open_work_in(pv, &lineage, &store.open_work_by_version(pv.key()).await?);
        let rows = store.step_times_by_version(pv.key(), &p.from, &p.to).await?;
        let (times, lost) = lineage::step_times_in(pv, &lineage, &rows);
        return Ok(StepFigures {
            open,
            spreads: figures::spreads_by_step(&times),
            lost,
        });
    }
    let open = store
        .open_work_by_step(pv.key(), pv.version)
        .await?
        .into_iter()
        .collect();
    let times = store
        .step_times(pv.key(), Some(pv.version), &p.from, &p.to)
        .await?;
    Ok(StepFigures {
        open,
        spreads: figures::spreads_by_step(&times),
        lost: 0,
    })
}

fn colour(f: &Filter, s: &Spread) -> (u32, u32) {
    let (green, red) = f.thresholds();
    let hours = if f.colour_by_median() {
        s.median_hours
    } else {
        s.p90_hours
    };
    let days = hours / 24;
    if days <= i64::from(green) {
        graph::GOOD
    } else if days <= i64::from(red) {
        graph::WARN
    } else {
        graph::BAD
    }
}

fn marks(f: &Filter, pv: &PathwayVersion, figs: &StepFigures) -> Marks {
    let mut marks = Marks::default();
    for step in pv.pathway.steps.iter().filter(|s| s.kind.is_human()) {
        let open = figs.open.get(&step.id).copied().unwrap_or(0);
        let spread = figs.spreads.get(&step.id);
        let mut lines = vec![format!("nu: {open}")];
        if let Some(s) = spread {
            lines.push(format!(
                "mediaan {} · p90 {}",
                duration_nl(s.median_hours),
                duration_nl(s.p90_hours)
            ));
        }
        marks.steps.insert(
            step.id.clone(),
            Mark {
                lines,
                colour: spread.map(|s| colour(f, s)),
            },
        );
    }
    marks
}

fn query_of(f: &Filter, pv: &PathwayVersion, p: &Period) -> String {
    let (green, red) = f.thresholds();
    let mut q = vec![
        ("traject", pv.key().to_owned()),
        ("versie", pv.version.to_string()),
        ("van", p.from.clone()),
        ("tot", p.to.clone()),
        ("groen", green.to_string()),
        ("rood", red.to_string()),
    ];
    if f.colour_by_median() {
        q.push(("kleur", "mediaan".into()));
    }
    if f.all_versions() {
        q.push(("alle", "1".into()));
    }
    query_string(&q)
}

pub async fn bottlenecks(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    // Every version is shown on the latest one's drawing.
    let f = if f.all_versions() {
        Filter { versie: None, ..f }
    } else {
        f
    };
    let pv = chosen_pathway(&app, &f).await?;
    let mut data = frame(&app, &viewer, "Knelpunten", "knelpunten", &f, pv.as_deref()).await?;
    data.insert("all_versions".into(), json!(f.all_versions()));
    let (green, red) = f.thresholds();
    data.insert("groen".into(), json!(green));
    data.insert("rood".into(), json!(red));
    data.insert("by_median".into(), json!(f.colour_by_median()));
    if let Some(pv) = pv {
        let p = f.period(app.clock.now())?;
        let figs = step_figures(&app, &pv, &p, f.all_versions()).await?;
        data.insert("lost".into(), json!((figs.lost > 0).then_some(figs.lost)));
        let versions: Vec<u32> = app
            .engine
            .store()
            .pathways()
            .await?
            .iter()
            .filter(|s| s.key == pv.key())
            .map(|s| s.version)
            .collect();
        data.insert(
            "versions".into(),
            json!(
                versions
                    .iter()
                    .rev()
                    .map(|v| json!({"v": v, "selected": *v == pv.version && !f.all_versions()}))
                    .collect::<Vec<_>>()
            ),
        );
        let rows: Vec<Value> = pv
            .pathway
            .steps
            .iter()
            .filter(|s| s.kind.is_human())
            .map(|s| {
                let spread = figs.spreads.get(&s.id);
                let class = spread.map(|sp| match colour(&f, sp) {
                    c if c == graph::GOOD => "good",
                    c if c == graph::WARN => "warn",
                    _ => "bad",
                });
                json!({
                    "id": s.id, "name": s.display_name(), "party": s.party,
                    "open": figs.open.get(&s.id).copied().unwrap_or(0),
                    "left": spread.map_or(0, |sp| sp.count),
                    "median": spread.map(|sp| duration_nl(sp.median_hours)),
                    "p90": spread.map(|sp| duration_nl(sp.p90_hours)),
                    "class": class,
                })
            })
            .collect();
        data.insert("steps".into(), json!(rows));
        data.insert(
            "graph".into(),
            json!(format!("/analyse/knelpunten/graaf.svg?{}", query_of(&f, &pv, &p))),
        );
    }
    Ok(page(StatusCode::OK, "bottlenecks", Value::Object(data)))
}

pub async fn bottleneck_graph(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    let f = if f.all_versions() {
        Filter { versie: None, ..f }
    } else {
        f
    };
    let pv = chosen_pathway(&app, &f).await?.ok_or(WebError::NotFound)?;
    let p = f.period(app.clock.now())?;
    let figs = step_figures(&app, &pv, &p, f.all_versions()).await?;
    let drawing = app.graphs.get_or_draw_marked(&pv, &marks(&f, &pv, &figs)).await?;
    Ok(svg_response(drawing.svg.clone(), "private, no-cache"))
}

// ---- outcomes ----

struct OutcomeView {
    figures: figures::Outcomes,
    outcomes: Vec<String>,
    months: Vec<String>,
}

fn outcome_view(groups: &[doorloop_engine::store::CaseGroup], p: &Period) -> OutcomeView {
    let o = figures::outcomes(groups, &p.from, &p.to);
    let mut outcomes: Vec<String> = doorloop_engine::pathway::model::KNOWN_OUTCOMES
        .iter()
        .filter(|k| !["verhuisd", "overleden", "overgedragen"].contains(k))
        .map(|s| (*s).to_owned())
        .collect();
    for k in o
        .by_outcome
        .keys()
        .chain(o.outflow.values().flat_map(|m| m.keys()))
    {
        if !outcomes.contains(k) {
            outcomes.push(k.clone());
        }
    }
    let months = o.outflow.keys().cloned().collect();
    OutcomeView {
        figures: o,
        outcomes,
        months,
    }
}

/// The value of the `gemeente` choice that means the region as a whole.
const REGION: &str = "regio";

/// Whose outcome figures a manager reads. A municipality's managers read their own
/// municipality's and the region's as a whole — never another municipality's on its own; the
/// regional coordination (and a manager of no municipality) reads every municipality's, side
/// by side, and the region's.
struct Scope {
    /// The municipality chosen; `None` for the region as a whole.
    chosen: Option<String>,
    /// What may be chosen: (value, label), the region last.
    options: Vec<(String, String)>,
    /// The rows of the side-by-side table: (label, municipality or `None` for the region).
    columns: Vec<(String, Option<String>)>,
}

impl Scope {
    async fn of(app: &AppState, viewer: &Viewer, f: &Filter) -> WebResult<Scope> {
        use doorloop_engine::chain::OrganisationKind;
        let user = &viewer.user;
        let municipalities: Vec<(String, String)> = app
            .engine
            .store()
            .organisations()
            .await?
            .into_iter()
            .filter(|o| o.kind == OrganisationKind::Gemeente)
            .map(|o| (o.id, o.name))
            .collect();
        let region = (REGION.to_owned(), "Hele regio (alle gemeenten samen)".to_owned());
        let own = (user.organisation_kind == Some(OrganisationKind::Gemeente))
            .then(|| {
                municipalities
                    .iter()
                    .find(|(id, _)| *id == user.organisation)
                    .cloned()
            })
            .flatten();
        let mut options: Vec<(String, String)> = match &own {
            Some(m) => vec![m.clone()],
            None if matches!(user.organisation_kind, None | Some(OrganisationKind::Regio)) => {
                municipalities.clone()
            }
            None => Vec::new(),
        };
        options.push(region);
        let asked = f.gemeente.as_deref().map(str::trim).filter(|g| !g.is_empty());
        let chosen = match asked {
            None => own.as_ref().map(|(id, _)| id.clone()),
            Some(REGION) => None,
            Some(g) if options.iter().any(|(v, _)| v == g) => Some(g.to_owned()),
            Some(_) => {
                return Err(WebError::Forbidden(
                    "U ziet de cijfers van uw eigen gemeente en die van de regio als geheel, niet die van een andere gemeente apart."
                        .into(),
                ));
            }
        };
        let columns = options
            .iter()
            .map(|(v, label)| (label.clone(), (v != REGION).then(|| v.clone())))
            .collect();
        Ok(Scope {
            chosen,
            options,
            columns,
        })
    }

    fn label(&self) -> String {
        self.options
            .iter()
            .find(|(v, _)| Some(v) == self.chosen.as_ref() || (self.chosen.is_none() && v == REGION))
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }

    fn value(&self) -> String {
        self.chosen.clone().unwrap_or_else(|| REGION.to_owned())
    }
}

/// The groups of one municipality (`None`: all).
fn of_municipality(
    groups: &[doorloop_engine::store::CaseGroup],
    m: Option<&str>,
) -> Vec<doorloop_engine::store::CaseGroup> {
    groups
        .iter()
        .filter(|g| m.is_none_or(|m| g.municipality == m))
        .cloned()
        .collect()
}

pub async fn outcomes(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    let pv = chosen_pathway(&app, &f).await?;
    let mut data = frame(&app, &viewer, "Uitkomsten", "uitkomsten", &f, pv.as_deref()).await?;
    let sup = f.suppress();
    data.insert("suppressed".into(), json!(sup));
    let scope = Scope::of(&app, &viewer, &f).await?;
    data.insert(
        "municipalities".into(),
        json!(
            scope
                .options
                .iter()
                .map(|(v, l)| json!({"value": v, "name": l, "selected": *v == scope.value()}))
                .collect::<Vec<_>>()
        ),
    );
    data.insert("scope_name".into(), json!(scope.label()));
    if let Some(pv) = pv {
        let p = f.period(app.clock.now())?;
        let all = app.engine.store().case_groups(Some(pv.key())).await?;
        let v = outcome_view(&of_municipality(&all, scope.chosen.as_deref()), &p);
        let o = &v.figures;
        // Side by side: each municipality the viewer may read on its own, and the region.
        // Within a column one small count could follow from the total and the others, so a
        // second one is hidden with it; a share is shown only beside a count that is shown.
        let per: Vec<(String, Option<String>, figures::Outcomes)> = scope
            .columns
            .iter()
            .map(|(label, m)| {
                let o = figures::outcomes(&of_municipality(&all, m.as_deref()), &p.from, &p.to);
                (label.clone(), m.clone(), o)
            })
            .collect();
        let column = |get: fn(&figures::Outcomes) -> i64| -> Vec<String> {
            let counts: Vec<i64> = per
                .iter()
                .filter(|(_, m, _)| m.is_some())
                .map(|(_, _, o)| get(o))
                .collect();
            let mut cells = cells_of_group(&counts, sup).into_iter();
            per.iter()
                .map(|(_, m, o)| match m {
                    Some(_) => cells.next().unwrap_or_default(),
                    None => cell(get(o), sup),
                })
                .collect()
        };
        let participants = column(|o| o.participants);
        let up = column(|o| o.stepped_up);
        let work = column(|o| o.to_work);
        let running = column(|o| o.still_running);
        let pct = |shown: &str, n: i64, of: i64| {
            if shown.parse::<i64>().is_ok() {
                share(n, of, sup)
            } else {
                "–".to_owned()
            }
        };
        let side: Vec<Value> = per
            .iter()
            .enumerate()
            .map(|(i, (label, m, o))| {
                json!({
                    "name": label, "region": m.is_none(),
                    "participants": participants[i],
                    "stepped_up": up[i], "stepped_up_pct": pct(&up[i], o.stepped_up, o.participants),
                    "to_work": work[i], "to_work_pct": pct(&work[i], o.to_work, o.participants),
                    "running": running[i],
                })
            })
            .collect();
        data.insert("side_by_side".into(), Value::Array(side));
        data.insert(
            "summary".into(),
            json!({
                "participants": cell(o.participants, sup),
                "stepped_up": cell(o.stepped_up, sup), "stepped_up_pct": share(o.stepped_up, o.participants, sup),
                "to_work": cell(o.to_work, sup), "to_work_pct": share(o.to_work, o.participants, sup),
                "measured": cell(o.measured, sup), "stepped_down": cell(o.stepped_down, sup),
                "running": cell(o.still_running, sup),
            }),
        );
        let ladder: Vec<Value> = (1u8..=6)
            .map(|from| {
                json!({
                    "rung": from, "name": RUNG_NAMES[usize::from(from) - 1],
                    "cells": (1u8..=6).map(|to| {
                        let n = o.ladder.get(&(from, to)).copied().unwrap_or(0);
                        json!({"n": cell(n, sup), "up": to > from && n > 0, "down": to < from && n > 0})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        data.insert("ladder".into(), json!(ladder));
        // The outcomes add up to the participants who ended: one hidden count would follow
        // from the others.
        let counts: Vec<i64> = v
            .outcomes
            .iter()
            .map(|k| o.by_outcome.get(k).copied().unwrap_or(0))
            .collect();
        data.insert(
            "by_outcome".into(),
            json!(
                v.outcomes
                    .iter()
                    .zip(cells_of_group(&counts, sup))
                    .map(|(k, n)| json!({"name": outcome_nl(k), "n": n}))
                    .collect::<Vec<_>>()
            ),
        );
        data.insert(
            "outcome_names".into(),
            json!(v.outcomes.iter().map(|k| outcome_nl(k)).collect::<Vec<_>>()),
        );
        data.insert(
            "outflow".into(),
            json!(v
                .months
                .iter()
                .map(|m| json!({
                    "month": month_nl(m),
                    "cells": v.outcomes.iter().map(|k| cell(o.outflow[m].get(k).copied().unwrap_or(0), sup)).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>()),
        );
        let mut q = vec![
            ("traject", pv.key().to_owned()),
            ("van", p.from.clone()),
            ("tot", p.to.clone()),
            ("gemeente", scope.value()),
        ];
        if !sup {
            q.push(("klein", "tonen".into()));
        }
        data.insert(
            "csv".into(),
            json!(format!("/analyse/uitkomsten.csv?{}", query_string(&q))),
        );
    }
    Ok(page(StatusCode::OK, "outcomes", Value::Object(data)))
}

/// The outcome figures as CSV for Excel: UTF-8 with a byte-order mark (so Excel reads the
/// accents), semicolons, Dutch labels; one row per start month and a total row, every figure
/// a column.
pub async fn outcomes_csv(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    let pv = chosen_pathway(&app, &f).await?.ok_or(WebError::NotFound)?;
    let p = f.period(app.clock.now())?;
    let scope = Scope::of(&app, &viewer, &f).await?;
    let groups = of_municipality(
        &app.engine.store().case_groups(Some(pv.key())).await?,
        scope.chosen.as_deref(),
    );
    let v = outcome_view(&groups, &p);
    let sup = f.suppress();
    // Ladder moves that occur in the period, as columns ("trede 2 → 3").
    let moves: Vec<(u8, u8)> = v
        .figures
        .ladder
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| *k)
        .collect();
    let mut header = vec![
        "traject".to_owned(),
        "gemeente".to_owned(),
        "startmaand".to_owned(),
        "deelnemers".to_owned(),
        "minstens één trede omhoog".to_owned(),
        "omlaag".to_owned(),
        "met twee metingen".to_owned(),
        "uitgestroomd naar werk".to_owned(),
        "lopen nog".to_owned(),
    ];
    header.extend(
        v.outcomes
            .iter()
            .map(|k| format!("afgesloten: {}", outcome_nl(k))),
    );
    header.extend(moves.iter().map(|(a, b)| format!("trede {a} → {b}")));
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    let fail = |e: csv::Error| WebError::Internal(e.to_string());
    w.write_record(&header).map_err(fail)?;
    let mut row = |label: String, o: &figures::Outcomes| {
        let counts: Vec<i64> = v
            .outcomes
            .iter()
            .map(|k| o.by_outcome.get(k).copied().unwrap_or(0))
            .collect();
        let mut r = vec![
            pv.pathway.name.clone(),
            scope.label(),
            label,
            cell(o.participants, sup),
            cell(o.stepped_up, sup),
            cell(o.stepped_down, sup),
            cell(o.measured, sup),
            cell(o.to_work, sup),
            cell(o.still_running, sup),
        ];
        r.extend(cells_of_group(&counts, sup));
        r.extend(
            moves
                .iter()
                .map(|m| cell(o.ladder.get(m).copied().unwrap_or(0), sup)),
        );
        w.write_record(&r)
    };
    for month in months(&p.from, &p.to) {
        let o = figures::outcomes(&groups, &month, &month);
        if o.participants > 0 {
            row(month_nl(&month), &o).map_err(fail)?;
        }
    }
    row("totaal".to_owned(), &v.figures).map_err(fail)?;
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend(w.into_inner().map_err(|e| WebError::Internal(e.to_string()))?);
    let name = format!(
        "attachment; filename=\"uitkomsten-{}-{}-{}-{}.csv\"",
        pv.key(),
        scope.value(),
        p.from,
        p.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// The months `from..=to` (`YYYY-MM`), at most 120.
fn months(from: &str, to: &str) -> Vec<String> {
    let parse = |m: &str| {
        let (y, mm) = m.split_once('-')?;
        Some((y.parse::<i32>().ok()?, mm.parse::<u32>().ok()?))
    };
    let (Some((mut y, mut m)), Some(end)) = (parse(from), parse(to)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while (y, m) <= end && out.len() < 120 {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

// ---- funnel ----

pub async fn funnel(
    State(app): Shared,
    viewer: Viewer,
    PageQuery(f): PageQuery<Filter>,
) -> WebResult<Response> {
    manager(&viewer)?;
    let pv = chosen_pathway(&app, &f).await?;
    let mut data = frame(
        &app,
        &viewer,
        "Instroom per cohort",
        "instroom",
        &f,
        pv.as_deref(),
    )
    .await?;
    let sup = f.suppress();
    data.insert("suppressed".into(), json!(sup));
    if let Some(pv) = pv {
        let p = f.period(app.clock.now())?;
        let store = app.engine.store();
        // Kept by step id over every version: renamed steps follow into this version.
        let lineage = Lineage::new(store.lineage(pv.key()).await?);
        let cells = lineage::funnel_in(&pv, &lineage, &store.funnel(pv.key(), &p.from, &p.to).await?);
        let groups = store.case_groups(Some(pv.key())).await?;
        let steps: Vec<String> = pv
            .pathway
            .steps
            .iter()
            .filter(|s| s.kind.is_human())
            .map(|s| s.id.clone())
            .collect();
        let fun = figures::funnel(&cells, &groups, &p.from, &p.to, &steps);
        // Drawn: every cohort of the period together, a bar per step as a share of those who
        // started. A small count gets no bar (its length would give the number away).
        let total: i64 = fun.started.iter().sum();
        let drawn: Vec<Value> = std::iter::once(("Gestart".to_owned(), total))
            .chain(fun.steps.iter().map(|(id, counts)| {
                let name = pv
                    .step(id)
                    .map(|s| s.display_name().to_owned())
                    .unwrap_or_else(|| id.clone());
                (name, counts.iter().sum::<i64>().min(total))
            }))
            .map(|(name, n)| {
                let shown = cell(n, sup);
                let width = (shown.parse::<i64>().is_ok() && total > 0)
                    .then(|| format!("{:.1}", n as f64 * 100.0 / total as f64));
                json!({"name": name, "n": shown, "pct": share(n, total, sup), "width": width})
            })
            .collect();
        data.insert("drawn".into(), Value::Array(drawn));
        data.insert(
            "cohorts".into(),
            json!(fun.cohorts.iter().map(|c| month_nl(c)).collect::<Vec<_>>()),
        );
        data.insert(
            "started".into(),
            // The drawn funnel shows each row's total: one small count would follow from it
            // and the others, so a second is hidden with it.
            json!(cells_of_group(&fun.started, sup)),
        );
        data.insert(
            "rows".into(),
            json!(fun
                .steps
                .iter()
                .map(|(id, counts)| {
                    let shown = cells_of_group(counts, sup);
                    json!({
                        "name": pv.step(id).map(|s| s.display_name().to_owned()).unwrap_or_else(|| id.clone()),
                        "cells": counts.iter().zip(&fun.started).zip(shown).map(|((n, all), shown)| {
                            let pct = if shown.parse::<i64>().is_ok() { share(*n, *all, sup) } else { "–".to_owned() };
                            json!({"n": shown, "pct": pct})
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>()),
        );
    }
    Ok(page(StatusCode::OK, "funnel", Value::Object(data)))
}
