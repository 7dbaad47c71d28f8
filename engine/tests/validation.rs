//! Each kind of broken pathway gets a message that names the step (and its line).

use doorloop_engine::pathway::definition::from_yaml;
use doorloop_engine::pathway::validate::{Problem, validate};

const HEAD: &str = "key: k\nname: K\nroles:\n  r: { name: R }\n  s: { name: S }\nvariables:\n  - { name: x, type: boolean }\nsteps:\n";

fn problems(steps: &str) -> Vec<Problem> {
    let src = format!("{HEAD}{steps}");
    let loaded = from_yaml(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    validate(&loaded)
}

fn expect(steps: &str, step: Option<&str>, fragment: &str) {
    let found = problems(steps);
    assert!(
        found
            .iter()
            .any(|p| p.step.as_deref() == step && p.to_string().contains(fragment)),
        "expected a problem at {step:?} containing {fragment:?}, got:\n{}",
        found.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
    );
}

const OK: &str = "
  - { id: begin, kind: start, next: a }
  - { id: a, kind: task, role: r, next: g }
  - id: g
    kind: gateway
    branches: [{ when: 'x == true', to: a }]
    default: stop
  - { id: stop, kind: end, outcome: gestopt }
";

#[test]
fn a_good_pathway_has_no_problems() {
    assert_eq!(problems(OK), vec![]);
}

#[test]
fn missing_and_double_start() {
    expect(
        "  - { id: a, kind: task, role: r, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        None,
        "no start step",
    );
    expect(
        "  - { id: s1, kind: start, next: e }\n  - { id: s2, kind: start, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("s2"),
        "2 start steps (s1, s2)",
    );
}

#[test]
fn unreachable_step_is_named_with_its_line() {
    let found = problems(&format!(
        "{OK}  - {{ id: island, kind: task, role: r, next: stop }}\n"
    ));
    let p = found
        .iter()
        .find(|p| p.step.as_deref() == Some("island"))
        .expect("island reported");
    assert!(p.to_string().contains("cannot be reached"), "{p}");
    // HEAD has 8 lines, OK 8 after its leading empty line: the step is on line 17.
    assert_eq!(p.line, Some(17), "{p}");
    assert!(p.to_string().starts_with("line 17: step `island`"), "{p}");
}

#[test]
fn a_trap_is_named_where_it_closes_not_at_every_step_before_it() {
    let steps = "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: b }\n  - { id: b, kind: task, role: r, next: a }\n  - id: g\n    kind: gateway\n    branches: [{ when: 'x', to: e }]\n    default: e\n  - { id: e, kind: end, outcome: gestopt }\n";
    expect(steps, Some("a"), "the cycle a → b has no way out");
    let found = problems(steps);
    assert!(
        !found.iter().any(|p| p.step.as_deref() == Some("begin")),
        "the start is trapped only because of the cycle: {found:?}"
    );
    // A wrong target: that step, and the first step left unreached, nothing more.
    let found = problems(&OK.replacen("next: g", "next: gg", 1));
    let named: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{named:?}");
    assert!(named[0].contains("unknown step `gg`"), "{named:?}");
    assert!(
        named[1].contains("step `g`: cannot be reached from the start step, nor can the 1 step(s)"),
        "{named:?}"
    );
}

#[test]
fn cycle_without_exit_and_cycle_without_people() {
    let steps = "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: b }\n  - { id: b, kind: task, role: r, next: a }\n  - { id: e, kind: end, outcome: gestopt }\n";
    expect(steps, Some("a"), "the cycle a → b has no way out");
    let busy = "  - { id: begin, kind: start, next: g1 }\n  - id: g1\n    kind: gateway\n    branches: [{ when: 'x == true', to: auto }]\n    default: e\n  - { id: auto, kind: automatic, next: g1 }\n  - { id: e, kind: end, outcome: gestopt }\n";
    expect(busy, Some("g1"), "no task, wait or visit step");
}

#[test]
fn a_gateway_without_default_is_valid() {
    // No condition holding is an incident at run time (a stall), not a fault of the model.
    let steps = "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: g }\n  - id: g\n    kind: gateway\n    branches: [{ when: 'x == true', to: e }]\n  - { id: e, kind: end, outcome: gestopt }\n";
    assert_eq!(problems(steps), vec![]);
}

#[test]
fn joins_must_match_their_splits() {
    // An inclusive join closing a parallel split.
    expect(
        "  - { id: begin, kind: start, next: p }\n  - { id: p, kind: parallel_split, next: [a, b] }\n  - { id: a, kind: task, role: r, next: j }\n  - { id: b, kind: task, role: r, next: j }\n  - { id: j, kind: inclusive_join, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("j"),
        "the nearest split `p` is a parallel_split",
    );
    // A join with no split before it.
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: j }\n  - { id: j, kind: parallel_join, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("j"),
        "no split comes before it",
    );
    // A branch that leaves the split through an end.
    expect(
        "  - { id: begin, kind: start, next: p }\n  - { id: p, kind: parallel_split, next: [a, b] }\n  - { id: a, kind: task, role: r, next: j }\n  - id: b\n    kind: gateway\n    branches: [{ when: 'x', to: early }]\n    default: j\n  - { id: early, kind: end, outcome: gestopt }\n  - { id: j, kind: parallel_join, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("early"),
        "lies inside a branch of `p`",
    );
    // A split nobody closes whose branches meet again (the work after it would run twice).
    expect(
        "  - { id: begin, kind: start, next: p }\n  - { id: p, kind: parallel_split, next: [a, b] }\n  - { id: a, kind: task, role: r, next: c }\n  - { id: b, kind: task, role: r, next: c }\n  - { id: c, kind: task, role: r, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("p"),
        "has no matching parallel_join",
    );
}

#[test]
fn branches_that_each_end_on_their_own_need_no_join() {
    // BPMN's split without a join: the case ends when the last branch has ended.
    let apart = "  - { id: begin, kind: start, next: p }\n  - { id: p, kind: parallel_split, next: [a, b] }\n  - { id: a, kind: task, role: r, next: e }\n  - { id: b, kind: task, role: r, next: e2 }\n  - { id: e, kind: end, outcome: gestopt }\n  - { id: e2, kind: end, outcome: gestopt }\n";
    assert_eq!(problems(apart), vec![]);
    let same_end = apart.replace("next: e2", "next: e");
    let same_end = same_end.replace("  - { id: e2, kind: end, outcome: gestopt }\n", "");
    assert_eq!(problems(&same_end), vec![]);
}

#[test]
fn undeclared_role_and_variable_and_bad_condition() {
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: onbekend, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "role `onbekend` is not declared",
    );
    expect(
        "  - { id: begin, kind: start, next: g }\n  - id: g\n    kind: gateway\n    branches: [{ when: 'y > 3', to: e }]\n    default: e\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("g"),
        "reads `y`, which is neither",
    );
    expect(
        "  - { id: begin, kind: start, next: g }\n  - id: g\n    kind: gateway\n    branches: [{ when: 'x ==', to: e }]\n    default: e\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("g"),
        "does not parse",
    );
}

#[test]
fn duplicate_ids_unknown_kinds_unknown_targets() {
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: e }\n  - { id: a, kind: task, role: r, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "step id `a` is used more than once",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: sprong, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "unknown step kind `sprong`",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, next: nergens }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "transition to unknown step `nergens`",
    );
}

#[test]
fn step_shapes_are_checked() {
    expect(
        "  - { id: begin, kind: start, next: v }\n  - { id: v, kind: joint_visit, roles: [r], next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("v"),
        "at least 2 roles",
    );
    expect(
        "  - { id: begin, kind: start, next: w }\n  - { id: w, kind: wait, role: r, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("w"),
        "needs `party`",
    );
    expect(
        "  - { id: begin, kind: start, next: e }\n  - { id: e, kind: end, outcome: rijk }\n",
        Some("e"),
        "unknown outcome `rijk`",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, rung: 9, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "rung 9 is outside 1–6",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - id: a\n    kind: task\n    role: r\n    fields:\n      - { name: u, type: choice, options: [wia, geen], option_labels: { wia: WIA-uitkering, wajong: Wajong } }\n    next: e\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "label for `wajong`, which is not one of its options",
    );
}

#[test]
fn escalations_and_interrupting_deadlines_are_checked() {
    expect(
        "  - { id: begin, kind: start, next: a }\n  - id: a\n    kind: task\n    role: r\n    deadline: 5 werkdagen\n    escalations: [{ after: 1 werkdagen, to: wethouder }]\n    next: e\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "goes to `wethouder`",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, on_deadline: e, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "`on_deadline` needs a `deadline`",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - id: a\n    kind: task\n    role: r\n    deadline: 5 werkdagen\n    escalations: [{ before: 1 werkdagen, after: 1 werkdagen, to: manager }]\n    next: e\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "has both `before` and `after`",
    );
    expect(
        "  - { id: begin, kind: start, next: a }\n  - { id: a, kind: task, role: r, deadline: 5 werkdagen, on_deadline: nergens, next: e }\n  - { id: e, kind: end, outcome: gestopt }\n",
        Some("a"),
        "transition to unknown step `nergens`",
    );
}

#[test]
fn malformed_yaml_and_bad_terms_give_line_and_column() {
    let err = from_yaml(&format!(
        "{HEAD}  - {{ id: a, kind: task, role: r, deadline: tien dagen }}\n"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("line 9"), "{text}");
    assert!(text.contains("tien dagen"), "{text}");
    let err = from_yaml("key: k\nname: K\nsteps:\n  - id: a\n   kind: task\n").unwrap_err();
    assert!(err.to_string().starts_with("line "), "{err}");
}

/// A straight chain of `n` task steps between a start and an end.
fn chain(key: &str, n: usize) -> String {
    let mut s = format!(
        "key: {key}\nname: Keten\nroles:\n  r: {{ name: R }}\nsteps:\n  - id: s0\n    kind: start\n    next: t1\n"
    );
    for i in 1..n {
        s.push_str(&format!(
            "  - id: t{i}\n    kind: task\n    role: r\n    next: t{}\n",
            i + 1
        ));
    }
    s.push_str(&format!("  - id: t{n}\n    kind: end\n    outcome: gestopt\n"));
    s
}

#[test]
fn a_long_chain_is_validated_without_recursion() {
    // The largest pathway allowed, validated on a thread with a 128 KiB stack: a recursive
    // graph walk (Tarjan's SCC in petgraph) overflows it and aborts the whole process.
    let loaded = from_yaml(&chain(
        "keten",
        doorloop_engine::pathway::definition::MAX_STEPS - 1,
    ))
    .unwrap();
    let problems = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || validate(&loaded))
        .unwrap()
        .join()
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn too_many_steps_too_deep_or_too_large_is_refused_with_its_reason() {
    use doorloop_engine::pathway::definition::{DefinitionError, MAX_NESTING, MAX_SOURCE_BYTES, MAX_STEPS};
    // Like what the probe published (~23,500 short steps in one request under 1 MB).
    match from_yaml(&chain("keten", 15_000)) {
        Err(DefinitionError::TooManySteps { count, limit }) => {
            assert_eq!((count, limit), (15_001, MAX_STEPS));
        }
        other => panic!("unexpected {other:?}"),
    }
    // 100,000 levels of flow nesting cost libyaml 89 s; refused at the first level too deep.
    let deep = format!("key: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    match from_yaml(&deep) {
        Err(DefinitionError::TooDeep { line, limit }) => assert_eq!((line, limit), (1, MAX_NESTING)),
        other => panic!("unexpected {other:?}"),
    }
    // Block nesting as well.
    let mut block = String::from("key: k\n");
    for level in 0..40 {
        block.push_str(&format!("{}a{level}:\n", "  ".repeat(level)));
    }
    block.push_str(&format!("{}x: 1\n", "  ".repeat(40)));
    assert!(matches!(from_yaml(&block), Err(DefinitionError::TooDeep { .. })));
    let large = format!("key: k\n# {}\n", "x".repeat(MAX_SOURCE_BYTES));
    assert!(matches!(from_yaml(&large), Err(DefinitionError::TooLarge { .. })));
    let text = doorloop_engine::text::problems::definition(&from_yaml(&deep).unwrap_err());
    assert!(text.contains("dieper genest dan 32 niveaus"), "{text}");
}

#[test]
fn keys_fit_for_urls_and_files_only() {
    for bad in [
        "''",
        "'../../etc'",
        "\"a\\nb\"",
        "'<b>x</b>'",
        "Hoofdletters",
        "-begint-met-streep",
    ] {
        let source = chain(bad, 2);
        let loaded = from_yaml(&source).unwrap_or_else(|e| panic!("{bad}: {e}"));
        let problems = validate(&loaded);
        assert!(
            problems.iter().any(|p| matches!(
                p.kind,
                doorloop_engine::pathway::validate::ProblemKind::BadKey { .. }
            )),
            "{bad}: {problems:?}"
        );
    }
    assert!(validate(&from_yaml(&chain("van-zorg-naar-werk_2", 2)).unwrap()).is_empty());
}

#[test]
fn a_linked_pathway_is_started_from_a_wait_or_automatic_step_only() {
    let on_task = "
  - { id: begin, kind: start, next: a }
  - { id: a, kind: task, role: r, start_pathway: ander, next: stop }
  - { id: stop, kind: end, outcome: gestopt }
";
    expect(on_task, Some("a"), "start_pathway");
    let bad_key = "
  - { id: begin, kind: start, next: a }
  - { id: a, kind: automatic, start_pathway: '../x', next: stop }
  - { id: stop, kind: end, outcome: gestopt }
";
    expect(bad_key, Some("a"), "../x");
    // A wait on it gives `{step}_uitkomst` to the conditions after it.
    let waits = "
  - { id: begin, kind: start, next: w }
  - { id: w, kind: wait, role: r, party: Ander traject, expected: 3 maanden, start_pathway: ander, next: g }
  - id: g
    kind: gateway
    branches: [{ when: \"w_uitkomst == 'betaald_werk'\", to: stop }]
    default: stop
  - { id: stop, kind: end, outcome: gestopt }
";
    assert_eq!(problems(waits), vec![]);
}

#[test]
fn summary_and_dates_name_fields_that_exist() {
    let from_text = "
  - { id: begin, kind: start, next: a }
  - id: a
    kind: task
    role: r
    fields: [{ name: notitie, type: text }]
    next: w
  - { id: w, kind: wait, role: r, party: P, expected: 2 weken, deadline: { term: 8 weken, from: notitie }, next: stop }
  - { id: stop, kind: end, outcome: gestopt }
";
    expect(
        from_text,
        Some("w"),
        "`deadline from` names `notitie`, which is not a date field",
    );
    let src = format!("{HEAD}{OK}").replace("steps:\n", "summary: [bestaat_niet]\nsteps:\n");
    let loaded = from_yaml(&src).unwrap();
    let found = validate(&loaded);
    assert!(
        found
            .iter()
            .any(|p| p.to_string().contains("`summary` names `bestaat_niet`")),
        "{found:?}"
    );
}

#[test]
fn started_by_names_roles_of_the_pathway() {
    let src = format!("{HEAD}{OK}").replace("steps:\n", "started_by: [r, jobcoach]\nsteps:\n");
    let loaded = from_yaml(&src).unwrap();
    let found = validate(&loaded);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].to_string().contains("`started_by` names `jobcoach`"),
        "{found:?}"
    );
    assert!(loaded.pathway.may_start(&["r".into()]));
    assert!(!loaded.pathway.may_start(&["s".into()]));
    let open = from_yaml(&format!("{HEAD}{OK}")).unwrap();
    assert!(open.pathway.may_start(&[]), "no started_by: any consultant");
}
