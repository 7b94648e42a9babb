//! The environment `infra/base.yaml` gives each function, rendered the way a deploy does it:
//! the stack outputs `<Function>Environment` as a `!Sub` JSON object, `infra/deploy_helper.py
//! envfiles` writes it to `infra/env/<function>.env` leaving out empty values, and
//! `cargo lambda deploy --env-file` sets exactly those variables. Tests run the built binaries
//! under this environment so a variable renamed on either side (stack or code) fails them.
//!
//! A line-based reader for the two shapes used there (a top-level `Parameters:` block with
//! two-space keys and `Default:` values, and `Outputs:` entries whose `Value: !Sub >-` folds a
//! JSON object over the following lines), like `deploy_helper.py`'s: no YAML dependency.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The base stack template in this repository.
pub fn base_template() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/base.yaml"
    ))
}

/// The stack output holding `function`'s environment.
pub fn environment_output(function: &str) -> Option<&'static str> {
    match function {
        "ocw-phrase" => Some("OcwPhraseEnvironment"),
        "datastore-proxy" => Some("DatastoreProxyEnvironment"),
        "agent-answer" => Some("AgentAnswerEnvironment"),
        _ => None,
    }
}

/// `{parameter: default}` of the template's `Parameters:` block (quotes removed).
pub fn parameter_defaults(template: &str) -> BTreeMap<String, String> {
    let mut defaults = BTreeMap::new();
    let mut inside = false;
    let mut current: Option<String> = None;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.starts_with("Parameters:");
            current = None;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(name) = two_space_key(line) {
            current = Some(name.to_string());
            continue;
        }
        if let (Some(name), Some(value)) = (&current, line.strip_prefix("    Default:")) {
            defaults.insert(name.clone(), unquote(value.trim()));
        }
    }
    defaults
}

/// The environment of `function` with the template's defaults overridden by `parameters`,
/// empty values left out as the deploy does.
pub fn render_environment(
    template: &str,
    function: &str,
    parameters: &[(&str, &str)],
) -> Result<BTreeMap<String, String>, String> {
    let output = environment_output(function).ok_or(format!("no function {function}"))?;
    let mut values = parameter_defaults(template);
    for (k, v) in parameters {
        if !values.contains_key(*k) {
            return Err(format!("the template declares no parameter {k}"));
        }
        values.insert(k.to_string(), v.to_string());
    }
    let raw = sub_value(template, output).ok_or(format!("no output {output} with !Sub"))?;
    let mut rendered = String::new();
    let mut rest = raw.as_str();
    while let Some(start) = rest.find("${") {
        rendered.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or(format!("unclosed ${{ in {output}"))?;
        let name = &rest[start + 2..start + end];
        let value = values.get(name).ok_or(format!(
            "{output} uses ${{{name}}}, which is not a parameter"
        ))?;
        // Substituted inside a JSON string: escape like the JSON it lands in.
        let quoted = serde_json::to_string(value).map_err(|e| e.to_string())?;
        rendered.push_str(&quoted[1..quoted.len() - 1]);
        rest = &rest[start + end + 1..];
    }
    rendered.push_str(rest);
    let object: BTreeMap<String, String> = serde_json::from_str(&rendered)
        .map_err(|e| format!("{output} is not a JSON object of strings: {e}"))?;
    Ok(object.into_iter().filter(|(_, v)| !v.is_empty()).collect())
}

/// The folded `Value: !Sub >-` text of output `name`.
fn sub_value(template: &str, name: &str) -> Option<String> {
    let mut lines = template
        .lines()
        .skip_while(|l| !l.starts_with("Outputs:"))
        .skip_while(|l| two_space_key(l) != Some(name))
        .skip(1);
    let value_line = lines.next()?;
    if !value_line.trim().starts_with("Value: !Sub >-") {
        return None;
    }
    let folded: Vec<&str> = lines
        .take_while(|l| l.starts_with("      "))
        .map(str::trim)
        .collect();
    Some(folded.join(" "))
}

fn two_space_key(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("  ")?;
    if rest.starts_with(' ') {
        return None;
    }
    let key = rest.trim_end().strip_suffix(':')?;
    key.chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then_some(key)
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_base_stack_environment() {
        let template = std::fs::read_to_string(base_template()).expect("infra/base.yaml");
        let defaults = parameter_defaults(&template);
        assert_eq!(
            defaults.get("DefaultCountry").map(String::as_str),
            Some("US")
        );
        assert_eq!(
            defaults.get("MindfulClientId").map(String::as_str),
            Some("")
        );
        let env = render_environment(
            &template,
            "agent-answer",
            &[("MindfulClientId", "client \"x\"")],
        )
        .expect("renders");
        assert_eq!(
            env.get("MINDFUL_CLIENT_ID").map(String::as_str),
            Some("client \"x\"")
        );
        assert_eq!(env.get("DEFAULT_COUNTRY").map(String::as_str), Some("US"));
        // Empty values are left out, as the deploy's env files do.
        assert!(!env.contains_key("MINDFUL_CLIENT_SECRET_ARN"), "{env:?}");
        assert!(render_environment(&template, "agent-answer", &[("NoSuchParam", "")]).is_err());
        assert!(render_environment(&template, "nope", &[]).is_err());
    }
}
