//! Gateway conditions as BPMN tools write them, translated to Doorloop's expression
//! language (CEL): JUEL (`${x == true}`, Camunda 7), FEEL (`=x = true`, Camunda 8),
//! Python (`x == True and n < max_n`, SpiffWorkflow) and JavaScript-style variable access
//! (`${environment.variables.x}`, bpmn-engine). Only comparisons, `and`/`or`/`not`,
//! booleans, numbers and strings are translated; anything else is refused, so a condition
//! never silently means something else.

use std::collections::BTreeMap;

use logos::Logos;

use crate::pathway::expr::Expr;
use crate::pathway::model::FieldType;

#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r\n]+")]
enum Token<'a> {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")]
    Ident(&'a str),
    #[regex(r"[0-9]+(\.[0-9]+)?")]
    Number(&'a str),
    #[regex(r#""([^"\\]|\\.)*""#, |lex| unquote(lex.slice()))]
    #[regex(r"'([^'\\]|\\.)*'", |lex| unquote(lex.slice()))]
    Str(String),
    #[token("==")]
    Eq,
    #[token("!=")]
    Ne,
    #[token("<=")]
    Le,
    #[token(">=")]
    Ge,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Assign,
    #[token("&&")]
    And,
    #[token("||")]
    Or,
    #[token("!")]
    Not,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("(")]
    Open,
    #[token(")")]
    Close,
}

fn unquote(quoted: &str) -> String {
    let inner = &quoted[1..quoted.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Which tool's language a condition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Juel,
    Feel,
    Python,
}

/// A condition in Doorloop's language, with the variables it reads and the type each is
/// compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub cel: String,
    pub variables: BTreeMap<String, FieldType>,
    /// The strings each variable is compared with (`uitkering == 'wia'` → `wia`).
    pub literals: BTreeMap<String, Vec<String>>,
}

/// Why a condition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition `{condition}` cannot be translated: {reason}")]
pub struct ConditionError {
    pub condition: String,
    pub reason: String,
}

/// Translates one condition.
pub fn translate(source: &str) -> Result<Translated, ConditionError> {
    translate_with(source, &BTreeMap::new())
}

/// Translates an expression in which the variables of `earlier` stand for the expressions
/// they were just assigned (a script's lines run in order; a step's `set` all at once).
pub fn translate_with(
    source: &str,
    earlier: &BTreeMap<String, String>,
) -> Result<Translated, ConditionError> {
    let fail = |reason: String| ConditionError {
        condition: source.to_owned(),
        reason,
    };
    // XPath's `bpmn:getDataObject('approved')` (the BPMN spec's own examples) reads a
    // variable.
    let unwrapped = data_object_reads(source.trim());
    let text = unwrapped.as_str();
    let (dialect_guess, body) = if let Some(inner) = text
        .strip_prefix("${")
        .or_else(|| text.strip_prefix("#{"))
        .and_then(|t| t.strip_suffix('}'))
    {
        (Dialect::Juel, inner)
    } else if let Some(rest) = text.strip_prefix('=') {
        (Dialect::Feel, rest)
    } else {
        (Dialect::Python, text)
    };
    if body.trim().is_empty() {
        return Err(fail("ze is leeg".into()));
    }
    // Unmarked text that compares with a single `=` is FEEL as modellers write it; FEEL
    // names may hold spaces (`Vacation Approval`), which become `Vacation_Approval`.
    let (dialect, normalized);
    let body = {
        let plain_feel = dialect_guess == Dialect::Python && {
            let lexed: Vec<_> = Token::lexer(body).collect();
            lexed.iter().any(|t| matches!(t, Ok(Token::Assign)))
                && !lexed.iter().any(|t| matches!(t, Ok(Token::Eq)))
        };
        dialect = if plain_feel { Dialect::Feel } else { dialect_guess };
        // Two names in a row are never valid Python either: they are one name with a space
        // (`Service Level == 'Premium'`).
        if dialect != Dialect::Juel {
            normalized = join_feel_names(body);
            normalized.as_str()
        } else {
            body
        }
    };
    let mut tokens = Vec::new();
    for (token, span) in Token::lexer(body).spanned() {
        match token {
            Ok(t) => tokens.push(t),
            Err(()) => return Err(fail(format!("`{}` is niet te begrijpen", &body[span]))),
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut variables: BTreeMap<String, FieldType> = BTreeMap::new();
    let mut literals: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, token) in tokens.iter().enumerate() {
        let piece = match token {
            Token::Ident(name) => match *name {
                "true" | "True" => "true".to_owned(),
                "false" | "False" => "false".to_owned(),
                "and" => "&&".to_owned(),
                "or" => "||".to_owned(),
                "not" => "!".to_owned(),
                "eq" if dialect == Dialect::Juel => "==".to_owned(),
                "ne" if dialect == Dialect::Juel => "!=".to_owned(),
                "lt" if dialect == Dialect::Juel => "<".to_owned(),
                "gt" if dialect == Dialect::Juel => ">".to_owned(),
                "le" if dialect == Dialect::Juel => "<=".to_owned(),
                "ge" if dialect == Dialect::Juel => ">=".to_owned(),
                "null" | "None" => return Err(fail("vergelijken met null wordt niet ondersteund".into())),
                _ => {
                    if let Some(cel) = variable(name).and_then(|v| earlier.get(v)) {
                        out.push(format!("({cel})"));
                        continue;
                    }
                    let var = variable(name).ok_or_else(|| {
                        fail(format!(
                            "`{name}` is geen gewone variabele (velden van objecten en aanroepen worden niet ondersteund)"
                        ))
                    })?;
                    let ty = type_near(&tokens, i);
                    if let Some(text) = literal_near(&tokens, i) {
                        let list = literals.entry(var.to_owned()).or_default();
                        if !list.contains(&text) {
                            list.push(text);
                        }
                    }
                    let slot = variables.entry(var.to_owned()).or_insert(ty);
                    if *slot != ty && ty != FieldType::Boolean {
                        *slot = ty;
                    }
                    var.to_owned()
                }
            },
            Token::Number(n) => (*n).to_owned(),
            Token::Str(s) => serde_json::to_string(s).map_err(|e| fail(e.to_string()))?,
            Token::Eq => "==".to_owned(),
            Token::Ne => "!=".to_owned(),
            Token::Le => "<=".to_owned(),
            Token::Ge => ">=".to_owned(),
            Token::Lt => "<".to_owned(),
            Token::Gt => ">".to_owned(),
            Token::Assign if dialect == Dialect::Feel => "==".to_owned(),
            Token::Assign => return Err(fail("`=` kent een waarde toe; vergelijk met `==`".into())),
            Token::And => "&&".to_owned(),
            Token::Or => "||".to_owned(),
            Token::Not => "!".to_owned(),
            Token::Plus => "+".to_owned(),
            Token::Minus => "-".to_owned(),
            Token::Star => "*".to_owned(),
            Token::Slash => "/".to_owned(),
            Token::Open => "(".to_owned(),
            Token::Close => ")".to_owned(),
        };
        out.push(piece);
    }
    let cel = out
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("! ", "!");
    Expr::compile(&cel).map_err(|e| {
        fail(format!(
            "het resultaat `{cel}` is geen geldige expressie: {}",
            e.message
        ))
    })?;
    Ok(Translated {
        cel,
        variables,
        literals,
    })
}

/// `x`, or `x` from `environment.variables.x` / `variables.x` (JavaScript-style access).
/// `bpmn:getDataObject('x')` → `x`.
fn data_object_reads(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("getDataObject(") {
        let (before, call) = rest.split_at(at);
        let args = &call["getDataObject(".len()..];
        let Some(close) = args.find(')') else { break };
        let name = args[..close].trim().trim_matches(['\'', '"']);
        out.push_str(before.strip_suffix("bpmn:").unwrap_or(before));
        out.push_str(name);
        rest = &args[close + 1..];
    }
    out.push_str(rest);
    out
}

/// FEEL names with spaces joined by `_`: `Vacation Approval = "x"` → `Vacation_Approval = "x"`.
fn join_feel_names(body: &str) -> String {
    let keyword = |w: &str| {
        matches!(
            w,
            "and"
                | "or"
                | "not"
                | "true"
                | "false"
                | "null"
                | "in"
                | "between"
                | "is"
                | "if"
                | "else"
                | "True"
                | "False"
                | "None"
        )
    };
    let mut out = String::with_capacity(body.len());
    let mut last_ident: Option<&str> = None;
    let mut cursor = 0;
    for (token, span) in Token::lexer(body).spanned() {
        let between = &body[cursor..span.start];
        let ident = match token {
            Ok(Token::Ident(w)) if !keyword(w) => Some(w),
            _ => None,
        };
        if ident.is_some() && last_ident.is_some() && between.trim().is_empty() && !between.is_empty() {
            out.push('_');
        } else {
            out.push_str(between);
        }
        out.push_str(&body[span.clone()]);
        last_ident = ident;
        cursor = span.end;
    }
    out.push_str(&body[cursor..]);
    out
}

fn variable(name: &str) -> Option<&str> {
    let plain = name
        .strip_prefix("environment.variables.")
        .or_else(|| name.strip_prefix("variables."))
        .unwrap_or(name);
    (!plain.contains('.')).then_some(plain)
}

/// The string literal a variable is compared with, if any.
fn literal_near(tokens: &[Token<'_>], i: usize) -> Option<String> {
    let other = match (tokens.get(i + 1), i.checked_sub(1).and_then(|j| tokens.get(j))) {
        (Some(Token::Eq | Token::Ne | Token::Assign), _) => tokens.get(i + 2),
        (_, Some(Token::Eq | Token::Ne | Token::Assign)) => i.checked_sub(2).and_then(|j| tokens.get(j)),
        _ => None,
    };
    match other {
        Some(Token::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The type a variable is compared with: the literal on the other side of a comparison,
/// boolean when it stands alone.
fn type_near(tokens: &[Token<'_>], i: usize) -> FieldType {
    let comparison = |t: &Token<'_>| {
        matches!(
            t,
            Token::Eq | Token::Ne | Token::Le | Token::Ge | Token::Lt | Token::Gt | Token::Assign
        ) || matches!(t, Token::Ident("eq" | "ne" | "lt" | "gt" | "le" | "ge"))
    };
    let literal = |t: Option<&Token<'_>>| match t {
        Some(Token::Number(_)) => Some(FieldType::Number),
        Some(Token::Str(_)) => Some(FieldType::Text),
        Some(Token::Ident("true" | "True" | "false" | "False")) => Some(FieldType::Boolean),
        _ => None,
    };
    if tokens.get(i + 1).is_some_and(comparison) {
        return literal(tokens.get(i + 2)).unwrap_or(FieldType::Number);
    }
    if i >= 1 && tokens.get(i - 1).is_some_and(comparison) {
        return literal(i.checked_sub(2).and_then(|j| tokens.get(j))).unwrap_or(FieldType::Number);
    }
    FieldType::Boolean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cel(s: &str) -> String {
        translate(s).map(|t| t.cel).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_dialects_real_files_use() {
        assert_eq!(cel("${approved == true}"), "approved == true");
        assert_eq!(cel("${!approved}"), "!approved");
        assert_eq!(
            cel("${amount gt 1000 && type eq 'wia'}"),
            "amount > 1000 && type == \"wia\""
        );
        assert_eq!(cel("=approved = true"), "approved == true");
        assert_eq!(
            cel("= score >= 3 and not(afgewezen)"),
            "score >= 3 && !(afgewezen)"
        );
        assert_eq!(cel("x == True and n < max_n"), "x == true && n < max_n");
        assert_eq!(cel("${environment.variables.akkoord}"), "akkoord");
        assert_eq!(
            cel("uitkering == \"wia\" or uitkering == 'wajong'"),
            "uitkering == \"wia\" || uitkering == \"wajong\""
        );
    }

    #[test]
    fn variables_get_the_type_they_are_compared_with() {
        let t = translate("${akkoord && trede >= 3 || uitkering == 'wia' || 2 < score}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.variables["akkoord"], FieldType::Boolean);
        assert_eq!(t.variables["trede"], FieldType::Number);
        assert_eq!(t.variables["uitkering"], FieldType::Text);
        assert_eq!(t.variables["score"], FieldType::Number);
        assert_eq!(t.literals["uitkering"], ["wia"]);
    }

    #[test]
    fn feel_as_modellers_write_it_compares_with_one_equals_sign() {
        let t = translate("Service Level == 'Premium'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.cel, "Service_Level == \"Premium\"");
        let t = translate("not x and y or z").unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.cel.contains('_'), "keywords are not joined: {}", t.cel);
        let t = translate("Vacation Approval = \"Approved\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.cel, "Vacation_Approval == \"Approved\"");
        assert_eq!(t.literals["Vacation_Approval"], ["Approved"]);
        let t = translate("= score >= 3 and not(blocked)").unwrap_or_else(|e| panic!("{e}"));
        assert!(t.cel.contains("&&"), "{}", t.cel);
        // The BPMN specification's XPath reads of data objects.
        let t = translate("bpmn:getDataObject('clarified') = 'yes'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.cel, "clarified == \"yes\"");
        let t = translate("not(bpmn:getDataObject('approved'))").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.variables["approved"], FieldType::Boolean, "{}", t.cel);
    }

    #[test]
    fn what_cannot_be_translated_is_refused_with_a_reason() {
        for (src, why) in [
            ("${execution.getVariable('x')}", "geen gewone variabele"),
            ("${x = 1}", "`=` kent een waarde toe"),
            ("${}", "leeg"),
            ("x == None", "null"),
            ("x ~= 3", "niet te begrijpen"),
            ("${x == }", "geen geldige expressie"),
        ] {
            let e = translate(src)
                .err()
                .unwrap_or_else(|| panic!("{src} was accepted"));
            assert!(e.to_string().contains(why), "{src}: {e}");
        }
    }
}
