//! The configuration variables are one table (`mindful_core::config::vars`): the README and the
//! stack's environment (`infra/base.yaml`) are checked against it, so a variable renamed on any
//! side fails here (a secret's ARN variable was once read under another name than the stack set).

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use lambda_harness::stack::{base_template, environment_output, render_environment};
use mindful_core::config::vars;

use mindful_core::FUNCTIONS;

/// The READMEs and docs/configuration.md, where the configuration tables live.
fn readme() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    [
        "README.md",
        "docs/configuration.md",
        "crates/ocw-phrase/README.md",
        "crates/datastore-proxy/README.md",
        "crates/agent-answer/README.md",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(format!("{root}/{f}")).unwrap_or_else(|e| panic!("{f}: {e}")))
    .collect::<Vec<_>>()
    .join("\n")
}

/// Upper-case names in backticks in the first cell of the rows of tables under a heading that
/// says "Configuration" (`| \`NAME\` ...`).
fn readme_table_variables(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_configuration = false;
    for line in text.lines() {
        if line.starts_with('#') {
            in_configuration = line.contains("Configuration");
            continue;
        }
        if !in_configuration || !line.starts_with("| `") {
            continue;
        }
        let first_cell = line.trim_start_matches('|').split('|').next().unwrap_or("");
        for part in first_cell.split('`').skip(1).step_by(2) {
            if part.len() > 3
                && part.contains('_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.insert(part.to_string());
            }
        }
    }
    names
}

#[test]
fn every_variable_is_documented_in_the_readme() {
    let text = readme();
    for (name, _) in vars::ALL {
        assert!(
            text.contains(&format!("`{name}`")),
            "README does not document `{name}`"
        );
    }
}

#[test]
fn the_readme_documents_no_variable_the_code_does_not_read() {
    let known: BTreeSet<&str> = vars::ALL
        .iter()
        .map(|(n, _)| *n)
        .chain(vars::PLATFORM.iter().copied())
        .collect();
    for name in readme_table_variables(&readme()) {
        assert!(
            known.contains(name.as_str()),
            "README documents `{name}`, which no function reads"
        );
    }
}

#[test]
fn the_stack_sets_only_variables_its_function_reads() {
    let template = std::fs::read_to_string(base_template()).expect("infra/base.yaml");
    // Every parameter filled in, so no variable is dropped as empty.
    let filled: Vec<(String, String)> = lambda_harness::stack::parameter_defaults(&template)
        .into_keys()
        .map(|k| (k, "x".to_string()))
        .collect();
    let filled: Vec<(&str, &str)> = filled
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for function in FUNCTIONS {
        assert!(environment_output(function).is_some());
        let env = render_environment(&template, function, &filled).expect("renders");
        let reads: BTreeSet<&str> = vars::read_by(function).collect();
        for name in env.keys() {
            assert!(
                reads.contains(name.as_str()) || vars::PLATFORM.contains(&name.as_str()),
                "infra/base.yaml sets {name} for {function}, which it does not read"
            );
        }
        // The secrets the stack manages reach the function under the names it reads.
        let secret = match function {
            "datastore-proxy" => Some(vars::DATASTORE_TOKEN),
            "agent-answer" => Some(vars::MINDFUL_CLIENT_SECRET),
            _ => None,
        };
        if let Some(s) = secret {
            assert!(
                env.contains_key(s.secret_arn),
                "{function}: no {}",
                s.secret_arn
            );
            assert!(
                env.contains_key(s.secret_key),
                "{function}: no {}",
                s.secret_key
            );
        }
    }
}

#[test]
fn the_readme_table_reader_finds_variables() {
    let names = readme_table_variables(
        "## Configuration\n| `AB_C` / `C_D_E` | x |\n| `lower` | y |\n## Other\n| `NOT_THIS` | z |\n",
    );
    assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["AB_C", "C_D_E"]);
}

#[test]
fn cargo_lambda_builds_exactly_the_functions() {
    // The deploy scripts (infra/deploy_helper.py lambda_functions) read this list.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../CargoLambda.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let bin_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("bin"))
        .expect("CargoLambda.toml has a bin = [...] line");
    let listed: Vec<&str> = bin_line
        .split(['[', ']', ','])
        .skip(1)
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect();
    assert_eq!(listed, FUNCTIONS, "{bin_line}");
}
