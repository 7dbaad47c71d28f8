//! Conditions and `set` expressions in CEL (Common Expression Language) over case variables.
//!
//! CEL is small, side-effect free and has comparisons, `&&`/`||`/`!`, strings, numbers and
//! lists: JUEL, FEEL and Python-style BPMN conditions translate onto it cleanly.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, LazyLock};

use cel::{Context, Env, Program, Value as CelValue};
use serde_json::Value;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// An expression that failed to parse or evaluate; the message comes from CEL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

/// A compiled expression with the variable names it reads.
pub struct Expr {
    program: Program,
    variables: Vec<String>,
}

impl Expr {
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let program = ENV.compile(source).map_err(|e| ExprError {
            message: e.to_string().trim().to_owned(),
        })?;
        let mut variables: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .map(str::to_owned)
            .collect();
        variables.sort();
        variables.dedup();
        Ok(Expr { program, variables })
    }

    /// A compiled expression from a per-thread cache: pathways repeat the same few
    /// conditions, and compiling is far slower than evaluating.
    pub fn cached(source: &str) -> Result<Rc<Expr>, ExprError> {
        thread_local! {
            static CACHE: RefCell<HashMap<String, Rc<Expr>>> = RefCell::new(HashMap::new());
        }
        if let Some(hit) = CACHE.with(|c| c.borrow().get(source).cloned()) {
            return Ok(hit);
        }
        let compiled = Rc::new(Expr::compile(source)?);
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 4096 {
                c.clear();
            }
            c.insert(source.to_owned(), compiled.clone());
        });
        Ok(compiled)
    }

    /// Variable names the expression reads.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates against case variables. Variables the expression reads but the case does
    /// not have are bound to `null`, so `x == true` on an unset `x` is simply false.
    pub fn eval(&self, vars: &BTreeMap<String, Value>) -> Result<Value, ExprError> {
        let mut ctx = Context::with_env(ENV.clone());
        for name in &self.variables {
            let v = vars.get(name).map(to_cel).unwrap_or(CelValue::Null);
            ctx.add_variable_from_value(name.clone(), v);
        }
        let out = self.program.execute(&ctx).map_err(|e| ExprError {
            message: e.to_string(),
        })?;
        from_cel(&out)
    }

    /// Evaluates a condition; anything but a boolean is an error.
    pub fn eval_bool(&self, vars: &BTreeMap<String, Value>) -> Result<bool, ExprError> {
        match self.eval(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(ExprError {
                message: format!("condition gave {other}, not true or false"),
            }),
        }
    }
}

fn to_cel(v: &Value) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => CelValue::Int(i),
            None => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(a) => CelValue::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: std::collections::HashMap<String, CelValue> =
                o.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            CelValue::from(map)
        }
    }
}

fn from_cel(v: &CelValue) -> Result<Value, ExprError> {
    Ok(match v {
        CelValue::Null => Value::Null,
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Int(i) => Value::from(*i),
        CelValue::UInt(u) => Value::from(*u),
        CelValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| ExprError {
                message: format!("result {f} is not a finite number"),
            })?,
        CelValue::String(s) => Value::String(s.as_str().to_owned()),
        CelValue::List(l) => Value::Array(l.iter().map(from_cel).collect::<Result<_, _>>()?),
        other => {
            return Err(ExprError {
                message: format!(
                    "result of type {:?} cannot be stored in a case variable",
                    other.type_of()
                ),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conditions_read_variables() {
        let e = Expr::compile("wia && !benutbaar || ladder >= 4").unwrap();
        assert_eq!(e.variables(), ["benutbaar", "ladder", "wia"]);
        assert!(
            e.eval_bool(&vars(json!({"wia": true, "benutbaar": false, "ladder": 2})))
                .unwrap()
        );
        assert!(
            !e.eval_bool(&vars(json!({"wia": false, "benutbaar": false, "ladder": 3})))
                .unwrap()
        );
    }

    #[test]
    fn unset_variables_are_null() {
        let e = Expr::compile("advies == true").unwrap();
        assert!(!e.eval_bool(&BTreeMap::new()).unwrap());
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(Expr::compile("a ==").is_err());
        let e = Expr::compile("1 + 1").unwrap();
        assert!(e.eval_bool(&BTreeMap::new()).is_err());
    }

    #[test]
    fn set_expressions_compute_values() {
        let e = Expr::compile("uren * 2").unwrap();
        assert_eq!(e.eval(&vars(json!({"uren": 12}))).unwrap(), json!(24));
        let e = Expr::compile("'ja'").unwrap();
        assert_eq!(e.eval(&BTreeMap::new()).unwrap(), json!("ja"));
    }
}
