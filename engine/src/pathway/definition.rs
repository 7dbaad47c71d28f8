//! Reading and writing pathway files (YAML), with the source line of every step so that
//! validation messages can point at it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

use crate::pathway::model::Pathway;

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
    #[error("the file is {bytes} bytes; a pathway file may have at most {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("line {line}: the file nests deeper than {limit} levels")]
    TooDeep { line: usize, limit: usize },
    #[error("the pathway has {count} steps; at most {limit} are allowed")]
    TooManySteps { count: usize, limit: usize },
}

/// The most bytes a pathway file may have.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// The deepest nesting (maps and lists inside each other) a pathway file may have; a real
/// pathway needs about eight.
pub const MAX_NESTING: usize = 32;
/// The most steps a pathway may have (the shipped ones have 8 to 40).
pub const MAX_STEPS: usize = 1_000;

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
///
/// Hostile input is refused before the real parse: files over [`MAX_SOURCE_BYTES`],
/// nesting deeper than [`MAX_NESTING`] (found by one linear pass over the event stream,
/// which stops at the first level too deep) and more than [`MAX_STEPS`] steps.
pub fn from_yaml(source: &str) -> Result<Loaded, DefinitionError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(DefinitionError::TooLarge {
            bytes: source.len(),
            limit: MAX_SOURCE_BYTES,
        });
    }
    let step_lines = scan(source)?;
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
    if pathway.steps.len() > MAX_STEPS {
        return Err(DefinitionError::TooManySteps {
            count: pathway.steps.len(),
            limit: MAX_STEPS,
        });
    }
    Ok(Loaded { pathway, step_lines })
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

/// One pass over the YAML event stream: refuses nesting deeper than [`MAX_NESTING`] and
/// finds the line of each item of the top-level `steps` sequence (the serde model has no
/// spans). Nesting too deep for this parser (255 levels) is refused here and never handed
/// to libyaml (under serde), which costs quadratic time on deep flow nesting; any other
/// syntax error ends the pass and is reported by the serde parse that follows.
fn scan(source: &str) -> Result<HashMap<usize, usize>, DefinitionError> {
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
    let mut walk = Walk {
        stack: Vec::new(),
        index: 0,
        lines: HashMap::new(),
    };
    let mut parser = Parser::new_from_str(source);
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                let line = e.marker().line();
                if e.info().contains("recursion limit") {
                    return Err(DefinitionError::TooDeep {
                        line,
                        limit: MAX_NESTING,
                    });
                }
                // Any other syntax error: the serde parse reports it (with the messages
                // and positions users know); nesting here is under 255 levels, which
                // libyaml parses quickly.
                break;
            }
        };
        match ev {
            Event::MappingStart(..) => {
                let (_, is_step) = walk.node_starts(None);
                if is_step {
                    walk.lines.insert(walk.index, mark.line());
                    walk.index += 1;
                }
                walk.stack.push(Frame::Map {
                    expecting_key: true,
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let (is_steps, _) = walk.node_starts(None);
                walk.stack.push(Frame::Seq { is_steps });
            }
            Event::Scalar(value, ..) => {
                let (_, is_step) = walk.node_starts(Some(&value));
                if is_step {
                    // a scalar where a step should be: count it so indexes stay aligned
                    walk.index += 1;
                }
            }
            Event::Alias(..) => {
                walk.node_starts(None);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                walk.stack.pop();
            }
            Event::StreamEnd => break,
            _ => {}
        }
        if walk.stack.len() > MAX_NESTING {
            return Err(DefinitionError::TooDeep {
                line: mark.line(),
                limit: MAX_NESTING,
            });
        }
    }
    Ok(walk.lines)
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
