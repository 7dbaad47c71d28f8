//! Reading and writing pathway files (YAML), with the source line of every step so that
//! validation messages can point at it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::model::Pathway;

/// A pathway file that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{message}")]
    Structure { message: String },
    #[error("cannot write the pathway: {message}")]
    Write { message: String },
}

/// A pathway plus where its steps stand in the source.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub pathway: Pathway,
    /// Step index → 1-based line of the step in the source.
    pub step_lines: HashMap<usize, usize>,
}

impl Loaded {
    /// The source line of the step with this id (the first one, if ids repeat).
    pub fn line_of(&self, step_id: &str) -> Option<usize> {
        self.pathway
            .steps
            .iter()
            .position(|s| s.id == step_id)
            .and_then(|i| self.step_lines.get(&i).copied())
    }
}

/// Reads a pathway from YAML text.
pub fn from_yaml(source: &str) -> Result<Loaded, DefinitionError> {
    let pathway: Pathway = serde_yaml_ng::from_str(source).map_err(|e| match e.location() {
        Some(loc) => DefinitionError::Syntax {
            line: loc.line(),
            column: loc.column(),
            message: strip_location(&e.to_string()),
        },
        None => DefinitionError::Structure {
            message: e.to_string(),
        },
    })?;
    Ok(Loaded {
        pathway,
        step_lines: step_lines(source),
    })
}

/// Writes a pathway as YAML.
pub fn to_yaml(pathway: &Pathway) -> Result<String, DefinitionError> {
    serde_yaml_ng::to_string(pathway).map_err(|e| DefinitionError::Write {
        message: e.to_string(),
    })
}

fn strip_location(message: &str) -> String {
    // serde_yaml_ng appends " at line L column C"; the variant carries those fields.
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Finds the line of each item of the top-level `steps` sequence by walking the YAML
/// event stream (the serde model has no spans).
fn step_lines(source: &str) -> HashMap<usize, usize> {
    enum Frame {
        Map {
            expecting_key: bool,
            key: Option<String>,
        },
        Seq {
            is_steps: bool,
        },
    }
    struct Walk {
        stack: Vec<Frame>,
        index: usize,
        lines: HashMap<usize, usize>,
    }
    impl Walk {
        /// Called when a node starts; returns (is the `steps` value at the root, is a step item).
        fn node_starts(&mut self, scalar: Option<&str>) -> (bool, bool) {
            let root = self.stack.len() == 1;
            match self.stack.last_mut() {
                Some(Frame::Map { expecting_key, key }) => {
                    let was_key = *expecting_key;
                    *expecting_key = !was_key;
                    if was_key {
                        *key = scalar.map(str::to_owned);
                        (false, false)
                    } else {
                        (root && key.as_deref() == Some("steps"), false)
                    }
                }
                Some(Frame::Seq { is_steps }) => (false, *is_steps),
                None => (false, false),
            }
        }
    }
    impl MarkedEventReceiver for Walk {
        fn on_event(&mut self, ev: Event, mark: Marker) {
            match ev {
                Event::MappingStart(..) => {
                    let (_, is_step) = self.node_starts(None);
                    if is_step {
                        self.lines.insert(self.index, mark.line());
                        self.index += 1;
                    }
                    self.stack.push(Frame::Map {
                        expecting_key: true,
                        key: None,
                    });
                }
                Event::SequenceStart(..) => {
                    let (is_steps, _) = self.node_starts(None);
                    self.stack.push(Frame::Seq { is_steps });
                }
                Event::Scalar(value, ..) => {
                    let (_, is_step) = self.node_starts(Some(&value));
                    if is_step {
                        // a scalar where a step should be: count it so indexes stay aligned
                        self.index += 1;
                    }
                }
                Event::Alias(..) => {
                    self.node_starts(None);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    self.stack.pop();
                }
                _ => {}
            }
        }
    }
    let mut walk = Walk {
        stack: Vec::new(),
        index: 0,
        lines: HashMap::new(),
    };
    let mut parser = Parser::new_from_str(source);
    // A syntax error was already reported by serde; lines are best effort.
    let _ = parser.load(&mut walk, false);
    walk.lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "key: k\nname: K\nroles:\n  r: { name: R }\nsteps:\n  - id: start\n    kind: start\n    next: a\n  - id: a\n    kind: task\n    role: r\n    fields:\n      - { name: x, type: boolean }\n    next: end\n  - id: end\n    kind: end\n    outcome: gestopt\n";

    #[test]
    fn reads_steps_and_their_lines() {
        let l = from_yaml(SMALL).unwrap();
        assert_eq!(l.pathway.steps.len(), 3);
        assert_eq!(l.line_of("start"), Some(6));
        assert_eq!(l.line_of("a"), Some(9));
        assert_eq!(l.line_of("end"), Some(15));
    }

    #[test]
    fn malformed_yaml_gives_line_and_column() {
        let err = from_yaml("key: k\nname: [unclosed\nsteps: []\n").unwrap_err();
        match err {
            DefinitionError::Syntax { line, column, .. } => {
                assert!(line >= 2, "line {line}");
                assert!(column >= 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_attributes_are_named() {
        let err = from_yaml("key: k\nname: K\nsteps:\n  - id: a\n    kind: task\n    rol: r\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `rol`"), "{text}");
        assert!(text.starts_with("line 6"), "{text}");
    }

    #[test]
    fn yaml_round_trips() {
        let l = from_yaml(SMALL).unwrap();
        let again = from_yaml(&to_yaml(&l.pathway).unwrap()).unwrap();
        assert_eq!(l.pathway, again.pathway);
    }
}
