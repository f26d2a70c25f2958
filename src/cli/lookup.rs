//! `priorauth rules ...` and `priorauth codes ...`: what payer staff ask
//! without a claim in hand ("does 70551 need PA for medicare on this date?",
//! "what does CARC 197 mean?", "will this rule file load?").

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;

use super::adjudicate::{load_rules, rules_in_force};
use crate::model::carc as codes;
use crate::rules::query::{check_answer, rule_json, CheckQuery};
use crate::rules::{RuleSet, RulesIndex};

/// The rule set a `rules` command answers from (SPEC §3.4): `--rules`, else
/// with `--database` the store's active set, else the bundled one.
fn rule_set(rules: Option<&Path>, database: Option<&str>) -> Result<RuleSet> {
    match (rules, database) {
        (Some(_), _) | (None, None) => load_rules(rules),
        (None, Some(url)) => {
            let s = super::store_commands::StoreSession::open(url)?;
            let set = rules_in_force(None, Some(&s.store), s.runtime());
            drop(s);
            set
        }
    }
}

/// `rules validate FILE`: loads the file and says so, or lists every problem.
pub fn validate(path: &Path) -> Result<i32> {
    let set = load_rules(Some(path))?;
    println!(
        "{}",
        json!({"valid": true, "version": set.version, "rules": set.rules.len()})
    );
    Ok(super::EXIT_OK)
}

/// `rules check`: the first rule that requires PA for the described line.
pub fn check(rules: Option<&Path>, database: Option<&str>, q: &CheckQuery) -> Result<i32> {
    let index = RulesIndex::new(rule_set(rules, database)?);
    match check_answer(&index, q) {
        Ok(answer) => println!("{answer}"),
        Err(why) => bail!("{why}"),
    }
    Ok(super::EXIT_OK)
}

/// `rules list`: every rule in file order.
pub fn list(rules: Option<&Path>, database: Option<&str>) -> Result<i32> {
    let set = rule_set(rules, database)?;
    let mut out = std::io::stdout().lock();
    for r in &set.rules {
        // A closed pipe (`| head`) ends the listing; main treats it as success.
        writeln!(out, "{}", rule_json(r))?;
    }
    Ok(super::EXIT_OK)
}

/// `codes carc|rarc CODE`: the catalogue entry, or exit 2 when unknown.
pub fn code(list: &str, code: &str) -> Result<i32> {
    match codes::lookup(list, code) {
        Some(info) => {
            println!("{}", serde_json::to_string(info)?);
            Ok(super::EXIT_OK)
        }
        None => bail!("{list} {code} is not in priorauth's catalogue (it knows the codes it emits, and CARC 15 and 62)"),
    }
}
