//! Prompt templates from `prompts/`: loaded once, checked for unknown and missing placeholders, rendered.

use std::collections::BTreeMap;
use std::path::Path;

/// A template and the placeholders it must and may use.
struct Spec {
    file: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

const SPECS: [Spec; 4] = [
    Spec {
        file: "system.md",
        required: &[],
        optional: &[],
    },
    Spec {
        file: "planner.md",
        required: &["ticket"],
        optional: &["agents_md", "conversation", "tools"],
    },
    // A monitoring agent's briefing; a bot file may name another file checked against this spec.
    Spec {
        file: "briefing.md",
        required: &["facts"],
        optional: &["bot", "date", "time_zone"],
    },
    Spec {
        file: "investigate.md",
        required: &["question", "findings"],
        optional: &["tools", "max_turns"],
    },
];

/// The agent's loaded templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    templates: BTreeMap<&'static str, String>,
}

fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

impl Prompts {
    /// Loads every template from `dir`; the error lists every problem (`aura check` prints them).
    pub fn load(dir: &Path) -> Result<Prompts, Vec<String>> {
        let mut problems = Vec::new();
        let mut templates = BTreeMap::new();
        for spec in &SPECS {
            let path = dir.join(spec.file);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("prompts: cannot read {}: {e}", path.display()));
                    continue;
                }
            };
            let used = placeholders(&text);
            for p in &used {
                if !spec.required.contains(&p.as_str()) && !spec.optional.contains(&p.as_str()) {
                    problems.push(format!(
                        "prompts/{}: unknown placeholder {{{{{p}}}}}",
                        spec.file
                    ));
                }
            }
            for r in spec.required {
                if !used.iter().any(|u| u == r) {
                    problems.push(format!(
                        "prompts/{}: missing placeholder {{{{{r}}}}}",
                        spec.file
                    ));
                }
            }
            templates.insert(spec.file, text);
        }
        if problems.is_empty() {
            Ok(Prompts { templates })
        } else {
            Err(problems)
        }
    }

    /// Renders a template with `values` (placeholders without a value render empty).
    pub fn render(&self, file: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.templates.get(file).cloned().unwrap_or_default();
        for name in placeholders(&text.clone()) {
            let value = values
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, v)| v);
            text = text.replace(&format!("{{{{{name}}}}}"), value);
        }
        text
    }
}

/// Problems with `text` used as a template of the kind `spec_file` (e.g. `briefing.md`), named `name` in messages.
pub fn check_as(spec_file: &str, name: &str, text: &str) -> Vec<String> {
    let Some(spec) = SPECS.iter().find(|s| s.file == spec_file) else {
        return vec![format!("prompts: no template kind {spec_file}")];
    };
    let used = placeholders(text);
    let mut problems: Vec<String> = used
        .iter()
        .filter(|p| !spec.required.contains(&p.as_str()) && !spec.optional.contains(&p.as_str()))
        .map(|p| format!("prompts/{name}: unknown placeholder {{{{{p}}}}}"))
        .collect();
    for r in spec.required {
        if !used.iter().any(|u| u == r) {
            problems.push(format!("prompts/{name}: missing placeholder {{{{{r}}}}}"));
        }
    }
    problems
}

/// Renders a template's `text` with `values` (placeholders without a value render empty).
pub fn render_text(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for name in placeholders(text) {
        let value = values
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v);
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_prompts_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let p = Prompts::load(&dir).expect("shipped prompts are valid");
        let out = p.render("planner.md", &[("ticket", "#1 scale podinfo")]);
        assert!(out.contains("#1 scale podinfo") && !out.contains("{{"));
    }

    #[test]
    fn unknown_and_missing_placeholders_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("system.md"), "hi {{nme}}").expect("write");
        std::fs::write(dir.path().join("planner.md"), "no ticket here").expect("write");
        std::fs::write(dir.path().join("briefing.md"), "{{facts}}").expect("write");
        std::fs::write(
            dir.path().join("investigate.md"),
            "{{question}} {{findings}}",
        )
        .expect("write");
        let problems = Prompts::load(dir.path()).expect_err("invalid");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("unknown placeholder {{nme}}"));
        assert!(problems[1].contains("missing placeholder {{ticket}}"));
    }
}
