//! The pathway drawn as an SVG graph (layered, top to bottom, laid out by layout-rs): each
//! step kind its own shape, roles, deadlines and outside parties in the labels, and marks
//! on steps: where a case is now, validation problems, or the figures of the bottleneck
//! view with a colour per threshold. The case page draws only the neighbourhood of the
//! current steps, so it is readable at its own size. `static/graph.js` fits the drawing to
//! its box without letting text fall below 10 px, with zoom and pan.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use doorloop_engine::pathway::model::{Pathway, PathwayVersion, StepKind};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

const INK: u32 = 0x334155ff;
const MUTED: u32 = 0x94a3b8ff;
/// Node labels are drawn at this size, edge labels one pixel smaller; `static/graph.js`
/// never fits a drawing below a scale that keeps them at 10 px.
const FONT: usize = 13;
/// Where a case is now: orange, with a thick line and "nu hier" in the label.
pub const ACTIVE: (u32, u32) = (0xfed7aaff, 0xea580cff);
/// Waiting on an outside party: teal, clearly apart from the current step's orange.
pub const WAITING: (u32, u32) = (0xccfbf1ff, 0x0f766eff);
/// A joint visit: indigo.
pub const VISIT: (u32, u32) = (0xe0e7ffff, 0x4338caff);

fn look(line: u32, width: usize, fill: u32, rounded: usize) -> StyleAttr {
    StyleAttr::new(Color::new(line), width, Some(Color::new(fill)), rounded, FONT)
}

/// Wraps a label into lines of about `width` characters.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

/// A drawn pathway: the SVG, its size, and the centre of the highlighted steps.
#[derive(Debug, Clone)]
pub struct Drawing {
    pub svg: String,
    pub width: f64,
    pub height: f64,
    /// (x, y) in the SVG's own pixels: the middle of the active steps, where a page
    /// scrolls the drawing to.
    pub focus: Option<(f64, f64)>,
}

/// Colours of marks: (fill, line).
pub const GOOD: (u32, u32) = (0xdcfce7ff, 0x16a34aff);
pub const WARN: (u32, u32) = (0xffedd5ff, 0xea580cff);
pub const BAD: (u32, u32) = (0xfee2e2ff, 0xdc2626ff);

/// What a step carries beyond its own label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Extra lines under the label (boxes only).
    pub lines: Vec<String>,
    /// (fill, line) colours.
    pub colour: Option<(u32, u32)>,
}

/// Marks for a whole drawing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Marks {
    /// Steps where a case is now (highlighted).
    pub active: BTreeSet<String>,
    pub steps: BTreeMap<String, Mark>,
    /// Draw only the steps at most (back, ahead) steps before and after the active ones;
    /// gateways are passed through without counting. Edges to steps left out end in one
    /// "andere stappen" node above and one below, never in nowhere.
    pub around: Option<(usize, usize)>,
}

impl Marks {
    pub fn active(active: &BTreeSet<String>) -> Marks {
        Marks {
            active: active.clone(),
            ..Marks::default()
        }
    }

    /// The active steps and their neighbourhood, as the case page shows them.
    pub fn around(active: &BTreeSet<String>, back: usize, ahead: usize) -> Marks {
        Marks {
            active: active.clone(),
            around: Some((back, ahead)),
            ..Marks::default()
        }
    }
}

/// The steps within `back` steps before and `ahead` steps after `active` (gateways, splits
/// and joins do not count as a step).
fn neighbourhood(
    pathway: &Pathway,
    active: &BTreeSet<String>,
    back: usize,
    ahead: usize,
) -> BTreeSet<String> {
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut prev: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut counts: HashMap<&str, bool> = HashMap::new();
    for step in &pathway.steps {
        counts.insert(step.id.as_str(), !is_junction(&step.kind));
        for t in step.transitions() {
            next.entry(step.id.as_str()).or_default().push(t.to);
            prev.entry(t.to).or_default().push(step.id.as_str());
        }
    }
    let mut kept: BTreeSet<String> = active.clone();
    for (edges, limit) in [(&next, ahead), (&prev, back)] {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut queue: VecDeque<(&str, usize)> = active.iter().map(|a| (a.as_str(), 0)).collect();
        while let Some((id, used)) = queue.pop_front() {
            for &to in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
                let cost = used + usize::from(counts.get(to).copied().unwrap_or(true));
                if cost > limit || seen.get(to).is_some_and(|&c| c <= cost) {
                    continue;
                }
                seen.insert(to, cost);
                kept.insert(to.to_owned());
                queue.push_back((to, cost));
            }
        }
    }
    kept
}

fn is_junction(kind: &StepKind) -> bool {
    matches!(
        kind,
        StepKind::Gateway
            | StepKind::ParallelSplit
            | StepKind::ParallelJoin
            | StepKind::InclusiveSplit
            | StepKind::InclusiveJoin
    )
}

/// Renders the pathway; `active` are the step ids to highlight.
pub fn svg(pathway: &PathwayVersion, active: &BTreeSet<String>) -> String {
    draw(pathway, active).svg
}

/// Lays out and renders the pathway; `active` are the step ids to highlight.
pub fn draw(pathway: &PathwayVersion, active: &BTreeSet<String>) -> Drawing {
    draw_marked(pathway, &Marks::active(active))
}

/// The most steps drawn: layout time grows with about the cube of the steps (a chain of
/// 200 steps takes 0.1 s, of 1,000 steps over 10 s); the shipped pathways have 8 to 40.
pub const MAX_DRAWN_STEPS: usize = 250;

/// What stands in for a pathway too large to draw.
fn too_large(steps: usize) -> Drawing {
    let (width, height) = (640., 60.);
    let text =
        format!("Dit traject heeft {steps} stappen: te veel om te tekenen (hoogstens {MAX_DRAWN_STEPS}).");
    Drawing {
        svg: format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"><text x=\"10\" y=\"35\" font-family=\"sans-serif\" font-size=\"15\" fill=\"#334155\">{text}</text></svg>"
        ),
        width,
        height,
        focus: None,
    }
}

/// Lays out and renders the pathway with marks on its steps.
pub fn draw_marked(pathway: &PathwayVersion, marks: &Marks) -> Drawing {
    if pathway.pathway.steps.len() > MAX_DRAWN_STEPS {
        return too_large(pathway.pathway.steps.len());
    }
    let active = &marks.active;
    let shown = marks
        .around
        .filter(|_| !active.is_empty())
        .map(|(back, ahead)| neighbourhood(&pathway.pathway, active, back, ahead));
    let drawn = |id: &str| shown.as_ref().is_none_or(|s| s.contains(id));
    let orientation = Orientation::TopToBottom;
    let mut vg = VisualGraph::new(orientation);
    let mut handles = HashMap::new();
    for step in pathway.pathway.steps.iter().filter(|s| drawn(&s.id)) {
        let is_active = active.contains(&step.id);
        let mark = marks.steps.get(&step.id);
        let (shape, size, style) = match &step.kind {
            StepKind::Start => (
                ShapeKind::new_circle(""),
                Point::new(28., 28.),
                look(INK, 2, 0xdcfce7ff, 0),
            ),
            StepKind::End => {
                let label = step.outcome.clone().unwrap_or_default().replace('_', " ");
                (
                    ShapeKind::new_double_circle(&wrap(&label, 10)),
                    Point::new(86., 86.),
                    look(INK, 2, 0xf1f5f9ff, 0),
                )
            }
            kind if is_junction(kind) => {
                let mark = match step.kind {
                    StepKind::Gateway => "X",
                    StepKind::ParallelSplit | StepKind::ParallelJoin => "+",
                    _ => "O",
                };
                (
                    ShapeKind::new_circle(mark),
                    Point::new(34., 34.),
                    look(INK, 2, 0xfef9c3ff, 0),
                )
            }
            kind => {
                let ((fill, line), width) = match kind {
                    StepKind::JointVisit => (VISIT, 2),
                    StepKind::Wait => (WAITING, 2),
                    StepKind::Automatic => ((0xf1f5f9ff, INK), 1),
                    _ => ((0xffffffff, INK), 1),
                };
                let mut label = String::new();
                if is_active {
                    label.push_str("▶ nu hier\n");
                }
                // The phase it belongs to (the innermost), with the phase's term.
                if let Some(phase) = pathway
                    .pathway
                    .phases
                    .iter()
                    .filter(|p| p.contains(&step.id))
                    .min_by_key(|p| p.steps.len())
                {
                    let name = if phase.name.trim().is_empty() {
                        &phase.id
                    } else {
                        &phase.name
                    };
                    let line = match &phase.deadline {
                        Some(term) => format!("fase {name} ({term})"),
                        None => format!("fase {name}"),
                    };
                    label.push_str(&wrap(&line, 26));
                    label.push('\n');
                }
                label.push_str(&wrap(step.display_name(), 22));
                // Roles as the pathway names them, wrapped like the step's name.
                let roles = wrap(&crate::views::role_labels(pathway, &step.responsible_roles()), 26);
                if !roles.is_empty() {
                    label.push('\n');
                    label.push_str(&roles);
                }
                if let Some(party) = &step.party {
                    label.push('\n');
                    label.push_str(&wrap(&format!("wacht op: {party}"), 26));
                }
                if let Some(deadline) = &step.deadline {
                    label.push_str(&format!("\ntermijn: {}", deadline.term()));
                }
                for line in mark.map(|m| m.lines.as_slice()).unwrap_or_default() {
                    label.push('\n');
                    label.push_str(line);
                }
                let lines = label.lines().count() as f64;
                let widest = label.lines().map(|l| l.chars().count()).max().unwrap_or(4) as f64;
                (
                    ShapeKind::new_box(&label),
                    Point::new((widest * 7.4 + 24.).max(110.), lines * 17. + 20.),
                    look(line, width, fill, 8),
                )
            }
        };
        let style = if let Some((fill, line)) = mark.and_then(|m| m.colour) {
            StyleAttr::new(Color::new(line), 3, Some(Color::new(fill)), style.rounded, FONT)
        } else if is_active {
            StyleAttr::new(
                Color::new(ACTIVE.1),
                4,
                Some(Color::new(ACTIVE.0)),
                style.rounded,
                FONT,
            )
        } else {
            style
        };
        let handle = vg.add_node(Element::create(shape, style, orientation, size));
        handles.insert(step.id.clone(), handle);
    }
    // Steps left out of a neighbourhood: one node for where the drawn steps come from, one
    // for where they lead, so no edge ends in nowhere.
    let elsewhere = |vg: &mut VisualGraph, text: &str| {
        vg.add_node(Element::create(
            ShapeKind::new_box(text),
            StyleAttr::new(Color::new(MUTED), 1, Some(Color::new(0xf8fafcff)), 8, FONT),
            orientation,
            Point::new(text.chars().count() as f64 * 7.4 + 24., 37.),
        ))
    };
    let (mut from_elsewhere, mut to_elsewhere) = (None, None);
    let mut linked: BTreeSet<(String, bool)> = BTreeSet::new();
    for step in &pathway.pathway.steps {
        let here = handles.get(&step.id).copied();
        for t in step.transitions() {
            let there = handles.get(t.to).copied();
            let (from, to) = match (here, there) {
                (Some(from), Some(to)) => (from, to),
                (None, Some(to)) => {
                    if !linked.insert((t.to.to_owned(), true)) {
                        continue;
                    }
                    let node =
                        *from_elsewhere.get_or_insert_with(|| elsewhere(&mut vg, "⋯ van andere stappen"));
                    vg.add_edge(faint_arrow(), node, to);
                    continue;
                }
                (Some(from), None) => {
                    if !linked.insert((step.id.clone(), false)) {
                        continue;
                    }
                    let node =
                        *to_elsewhere.get_or_insert_with(|| elsewhere(&mut vg, "⋯ naar andere stappen"));
                    vg.add_edge(faint_arrow(), from, node);
                    continue;
                }
                (None, None) => continue,
            };
            let label = if step.on_deadline.as_deref() == Some(t.to) && t.when.is_none() && !t.is_default {
                "termijn verstreken".to_owned()
            } else if t.is_default {
                "anders".to_owned()
            } else {
                step.branches
                    .iter()
                    .find(|b| b.to == t.to)
                    .and_then(|b| b.label.clone())
                    .unwrap_or_default()
            };
            let color = if t.is_default { MUTED } else { INK };
            let arrow = Arrow::new(
                LineEndKind::None,
                LineEndKind::Arrow,
                LineStyleKind::Normal,
                &label,
                &StyleAttr::new(Color::new(color), 1, None, 0, FONT - 1),
                &None,
                &None,
            );
            vg.add_edge(arrow, from, to);
        }
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    // layout-rs makes the canvas generously tall (a quarter of it can be empty below the
    // last step): end it under the lowest step. Its width stays: edges that go around the
    // steps are drawn out there.
    let (mut right, mut bottom) = (0f64, 0f64);
    for handle in handles
        .values()
        .chain(from_elsewhere.iter())
        .chain(to_elsewhere.iter())
    {
        let (_, bottom_right) = vg.pos(*handle).bbox(false);
        right = right.max(bottom_right.x);
        bottom = bottom.max(bottom_right.y);
    }
    let centres: Vec<Point> = active
        .iter()
        .filter_map(|id| handles.get(id))
        .map(|h| vg.pos(*h).center())
        .collect();
    let focus = (!centres.is_empty()).then(|| {
        let n = centres.len() as f64;
        (
            centres.iter().map(|p| p.x).sum::<f64>() / n,
            centres.iter().map(|p| p.y).sum::<f64>() / n,
        )
    });
    let svg = writer.finalize().replace(
        "font-family: Times, serif",
        "font-family: system-ui, 'Segoe UI', Roboto, sans-serif",
    );
    if right <= 0. {
        return Drawing {
            svg,
            width: 0.,
            height: 0.,
            focus,
        };
    }
    let (width, height) = (canvas_width(&svg).unwrap_or(right + 40.), bottom + 40.);
    let svg = crop(&svg, width, height);
    Drawing {
        svg,
        width,
        height,
        focus,
    }
}

/// The width of the canvas layout-rs wrote (its root element opens with `<svg width=".."`).
fn canvas_width(svg: &str) -> Option<f64> {
    let start = svg.find("<svg width=\"")? + "<svg width=\"".len();
    let end = svg[start..].find('"')? + start;
    svg[start..end].parse().ok()
}

/// Gives the SVG layout-rs wrote (its root element opens with `<svg width=".." height=".."
/// viewBox=".."`) another canvas size, from the top left corner.
fn crop(svg: &str, width: f64, height: f64) -> String {
    let Some(start) = svg.find("<svg width=") else {
        return svg.to_owned();
    };
    let Some(end) = svg[start..].find(" xmlns=").map(|i| start + i) else {
        return svg.to_owned();
    };
    format!(
        "{}<svg width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.1} {height:.1}\"{}",
        &svg[..start],
        &svg[end..]
    )
}

/// A dashed arrow to or from the steps a neighbourhood leaves out.
fn faint_arrow() -> Arrow {
    Arrow::new(
        LineEndKind::None,
        LineEndKind::Arrow,
        LineStyleKind::Dashed,
        "",
        &StyleAttr::new(Color::new(MUTED), 1, None, 0, FONT - 1),
        &None,
        &None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorloop_engine::pathway::definition;

    #[test]
    fn steps_in_a_phase_name_it_and_its_term() {
        let yaml = include_str!("../../engine/tests/bpmn/phases.yaml");
        let pathway = definition::from_yaml(yaml).unwrap().pathway;
        let drawn = svg(&PathwayVersion { version: 1, pathway }, &BTreeSet::new());
        assert_eq!(
            drawn.matches("fase Onderzoek (8 weken)").count(),
            2,
            "gesprek and dossier"
        );
        assert!(drawn.contains("fase Afronding (2 weken)"));
    }

    #[test]
    fn every_shipped_pathway_draws_with_its_steps_and_highlights() {
        let yaml = include_str!("../../workflows/van-zorg-naar-werk.yaml");
        let pathway = definition::from_yaml(yaml).unwrap().pathway;
        let version = PathwayVersion { version: 1, pathway };
        let first_task = version
            .pathway
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Task)
            .unwrap()
            .id
            .clone();
        let plain = svg(&version, &BTreeSet::new());
        assert!(plain.starts_with("<svg") || plain.contains("<svg"));
        assert!(plain.contains("<rect"));
        assert!(!plain.contains("#ea580c"), "nothing highlighted");
        let lit = svg(&version, &BTreeSet::from([first_task.clone()]));
        assert!(lit.contains("#ea580c"), "the current step is highlighted");
        assert!(
            lit.contains("nu hier"),
            "the current step says so in words, not only in colour"
        );
    }

    #[test]
    fn the_case_page_draws_the_neighbourhood_of_the_current_step_without_loose_edges() {
        let yaml = include_str!("../../workflows/van-zorg-naar-werk.yaml");
        let pathway = definition::from_yaml(yaml).unwrap().pathway;
        let version = PathwayVersion { version: 1, pathway };
        let wait = version
            .pathway
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Wait)
            .unwrap()
            .id
            .clone();
        let whole = draw_marked(&version, &Marks::active(&BTreeSet::from([wait.clone()])));
        let near = draw_marked(&version, &Marks::around(&BTreeSet::from([wait.clone()]), 1, 1));
        let boxes = |svg: &str| svg.matches("<rect").count();
        assert!(
            boxes(&near.svg) < boxes(&whole.svg) / 2,
            "{} of {} boxes",
            boxes(&near.svg),
            boxes(&whole.svg)
        );
        assert!(near.height < whole.height / 2.);
        assert!(near.svg.contains("nu hier"));
        let (x, y) = near.focus.expect("the current step's place");
        assert!(x > 0. && x < near.width && y > 0. && y < near.height, "{x},{y}");
        assert!(near.svg.contains("van andere stappen") && near.svg.contains("naar andere stappen"));
        // The drawn steps are the current one and those at most one step away from it.
        let shown = neighbourhood(&version.pathway, &BTreeSet::from([wait.clone()]), 1, 1);
        assert!(shown.contains(&wait));
        let steps: BTreeMap<&str, &StepKind> = version
            .pathway
            .steps
            .iter()
            .map(|s| (s.id.as_str(), &s.kind))
            .collect();
        let tasks = shown.iter().filter(|id| !is_junction(steps[id.as_str()])).count();
        assert!((2..=6).contains(&tasks), "{shown:?}");
        // No current step: the whole pathway, whatever the window asks.
        let none = draw_marked(&version, &Marks::around(&BTreeSet::new(), 1, 1));
        assert_eq!(boxes(&none.svg), boxes(&whole.svg));
    }

    #[test]
    fn waiting_and_the_current_step_have_different_colours() {
        assert_ne!(ACTIVE, WAITING);
        assert_ne!(ACTIVE.0, WAITING.0);
        assert_ne!(ACTIVE.1, WAITING.1);
    }

    #[test]
    fn a_pathway_too_large_to_draw_is_named_not_laid_out() {
        let yaml = include_str!("../../workflows/simpel-switchen.yaml");
        let mut pathway = definition::from_yaml(yaml).unwrap().pathway;
        let template = pathway.steps[1].clone();
        while pathway.steps.len() <= MAX_DRAWN_STEPS {
            let mut extra = template.clone();
            extra.id = format!("extra-{}", pathway.steps.len());
            pathway.steps.push(extra);
        }
        let drawing = draw(&PathwayVersion { version: 1, pathway }, &BTreeSet::new());
        assert!(drawing.svg.contains("te veel om te tekenen"), "{}", drawing.svg);
        assert!(!drawing.svg.contains("<rect"));
    }

    #[test]
    fn labels_are_escaped() {
        let yaml = include_str!("../../workflows/simpel-switchen.yaml");
        let mut pathway = definition::from_yaml(yaml).unwrap().pathway;
        pathway.steps[1].name = "<script>alert(1)</script>".into();
        let out = svg(&PathwayVersion { version: 1, pathway }, &BTreeSet::new());
        assert!(!out.contains("<script>"));
        assert!(out.contains("&lt;script&gt;"));
    }
}
