//! The environment `infra/base.yaml` gives each function, rendered the way a deploy does it:
//! the stack outputs `<Function>Environment` as a `!Sub` JSON object, `infra/deploy_helper.py
//! envfiles` writes it to `infra/env/<function>.env` leaving out empty values, and
//! `cargo lambda deploy --env-file` sets exactly those variables. Tests run the built binaries
//! under this environment so a variable renamed on either side (stack or code) fails them.
//!
//! The template is read by `cfn-template`, the dev tools' one template reader.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The base stack template in this repository.
pub fn base_template() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/base.yaml"
    ))
}

/// The stack output holding `function`'s environment: `<Function>Environment`, the function's
/// name in CamelCase (`ocw-phrase` → `OcwPhraseEnvironment`), the rule base.yaml's outputs and
/// `deploy_helper.py env_output` follow; `None` for a name that is not one of the functions.
pub fn environment_output(function: &str) -> Option<String> {
    if !mindful_core::FUNCTIONS.contains(&function) {
        return None;
    }
    let camel: String = function
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    Some(format!("{camel}Environment"))
}

/// `{parameter: default}` of the template's `Parameters:` block (an unreadable template has none).
pub fn parameter_defaults(template: &str) -> BTreeMap<String, String> {
    cfn_template::parse(template)
        .map(|t| t.parameter_defaults())
        .unwrap_or_default()
}

/// The environment of `function` with the template's defaults overridden by `parameters`,
/// empty values left out as the deploy does.
pub fn render_environment(
    template: &str,
    function: &str,
    parameters: &[(&str, &str)],
) -> Result<BTreeMap<String, String>, String> {
    let output = environment_output(function).ok_or(format!("no function {function}"))?;
    let output = output.as_str();
    let template = cfn_template::parse(template).map_err(|e| e.to_string())?;
    let mut values = template.parameter_defaults();
    let declared = template.parameters();
    for (k, v) in parameters {
        if !declared.contains_key(*k) {
            return Err(format!("the template declares no parameter {k}"));
        }
        values.insert(k.to_string(), v.to_string());
    }
    let raw = template
        .output_value(output)
        .and_then(cfn_template::sub_text)
        .ok_or(format!("no output {output} with !Sub"))?;
    let rendered = cfn_template::substitute_in_json(raw, |name| {
        values.get(name).cloned().ok_or(format!(
            "{output} uses ${{{name}}}, which is not a parameter"
        ))
    })?;
    let object: BTreeMap<String, String> = serde_json::from_str(&rendered)
        .map_err(|e| format!("{output} is not a JSON object of strings: {e}"))?;
    Ok(object.into_iter().filter(|(_, v)| !v.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_has_its_camel_case_environment_output() {
        assert_eq!(
            environment_output("ocw-phrase").as_deref(),
            Some("OcwPhraseEnvironment")
        );
        assert_eq!(
            environment_output("datastore-proxy").as_deref(),
            Some("DatastoreProxyEnvironment")
        );
        assert_eq!(environment_output("journey"), None);
        let template = std::fs::read_to_string(base_template()).expect("infra/base.yaml");
        let t = cfn_template::parse(&template).expect("base.yaml reads");
        for f in mindful_core::FUNCTIONS {
            let output = environment_output(f).expect("a function");
            assert!(
                t.output_value(&output).is_some(),
                "base.yaml has no {output}"
            );
        }
    }

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
