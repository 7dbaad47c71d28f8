//! The pathway drawn as an SVG graph (layered, left to right, laid out by layout-rs): each
//! step kind its own shape, roles, deadlines and outside parties in the labels, and marks
//! on steps: where a case is now, validation problems, or the figures of the bottleneck
//! view with a colour per threshold.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use doorloop_engine::pathway::model::{PathwayVersion, StepKind};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

const INK: u32 = 0x334155ff;
const MUTED: u32 = 0x94a3b8ff;

fn look(line: u32, width: usize, fill: u32, rounded: usize) -> StyleAttr {
    StyleAttr::new(Color::new(line), width, Some(Color::new(fill)), rounded, 13)
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

/// A drawn pathway: the SVG, its size, and the box around the highlighted steps.
#[derive(Debug, Clone)]
pub struct Drawing {
    pub svg: String,
    pub width: f64,
    pub height: f64,
    /// (left, top, right, bottom) around the highlighted steps.
    pub focus: Option<(f64, f64, f64, f64)>,
}

impl Drawing {
    /// A window of at most `w`×`h` around the highlighted steps (the whole drawing when it
    /// is smaller), as an SVG of its own: the case page shows where the case is at a
    /// readable size.
    pub fn window(&self, w: f64, h: f64) -> String {
        let w = w.min(self.width);
        let h = h.min(self.height);
        let (cx, cy) = match self.focus {
            Some((l, t, r, b)) => ((l + r) / 2., (t + b) / 2.),
            None => (w / 2., self.height / 2.),
        };
        let x = (cx - w / 2.).clamp(0., (self.width - w).max(0.));
        let y = (cy - h / 2.).clamp(0., (self.height - h).max(0.));
        let inner = self.svg.find("<svg").map(|i| &self.svg[i..]).unwrap_or(&self.svg);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"{x:.1} {y:.1} {w:.1} {h:.1}\">{inner}</svg>"
        )
    }
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
}

impl Marks {
    pub fn active(active: &BTreeSet<String>) -> Marks {
        Marks {
            active: active.clone(),
            steps: BTreeMap::new(),
        }
    }
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
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let mut handles = HashMap::new();
    for step in &pathway.pathway.steps {
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
            StepKind::Gateway
            | StepKind::ParallelSplit
            | StepKind::ParallelJoin
            | StepKind::InclusiveSplit
            | StepKind::InclusiveJoin => {
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
                let fill = match kind {
                    StepKind::JointVisit => 0xe0e7ffff,
                    StepKind::Wait => 0xffedd5ff,
                    StepKind::Automatic => 0xf1f5f9ff,
                    _ => 0xffffffff,
                };
                // Roles as the pathway names them, wrapped like the step's name.
                let roles = wrap(&crate::views::role_labels(pathway, &step.responsible_roles()), 30);
                let mut label = wrap(step.display_name(), 22);
                if !roles.is_empty() {
                    label.push('\n');
                    label.push_str(&roles);
                }
                if let Some(party) = &step.party {
                    label.push_str(&format!("\nwacht op: {party}"));
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
                    look(INK, 1, fill, 8),
                )
            }
        };
        let style = if let Some((fill, line)) = mark.and_then(|m| m.colour) {
            StyleAttr::new(Color::new(line), 3, Some(Color::new(fill)), style.rounded, 13)
        } else if is_active {
            StyleAttr::new(
                Color::new(0xea580cff),
                4,
                Some(Color::new(0xfed7aaff)),
                style.rounded,
                13,
            )
        } else {
            style
        };
        let handle = vg.add_node(Element::create(shape, style, Orientation::LeftToRight, size));
        handles.insert(step.id.clone(), handle);
    }
    for step in &pathway.pathway.steps {
        let Some(&from) = handles.get(&step.id) else {
            continue;
        };
        for t in step.transitions() {
            let Some(&to) = handles.get(t.to) else { continue };
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
                &StyleAttr::new(Color::new(color), 1, None, 0, 11),
                &None,
                &None,
            );
            vg.add_edge(arrow, from, to);
        }
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    let (mut width, mut height) = (0f64, 0f64);
    let mut focus: Option<(f64, f64, f64, f64)> = None;
    for (id, handle) in &handles {
        let (top_left, bottom_right) = vg.pos(*handle).bbox(false);
        width = width.max(bottom_right.x);
        height = height.max(bottom_right.y);
        if active.contains(id) {
            focus = Some(match focus {
                None => (top_left.x, top_left.y, bottom_right.x, bottom_right.y),
                Some((l, t, r, b)) => (
                    l.min(top_left.x),
                    t.min(top_left.y),
                    r.max(bottom_right.x),
                    b.max(bottom_right.y),
                ),
            });
        }
    }
    let svg = writer.finalize().replace(
        "font-family: Times, serif",
        "font-family: system-ui, 'Segoe UI', Roboto, sans-serif",
    );
    Drawing {
        svg,
        width: width + 20.,
        height: height + 20.,
        focus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorloop_engine::pathway::definition;

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
        let drawing = draw(&version, &BTreeSet::from([first_task]));
        let (l, _, r, _) = drawing.focus.unwrap();
        assert!(l < r && r < drawing.width, "the focus lies inside the drawing");
        let window = drawing.window(800., 400.);
        assert!(window.starts_with("<svg") && window.contains("viewBox=") && window.contains("#ea580c"));
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
